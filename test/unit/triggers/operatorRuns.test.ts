import type { RotationInput } from '../../../shared/rotation/contract';
import { RetryRefusedError, requestServerRetry, summarizeRotations } from '../../../shared/triggers/operator';
import { requestRotation } from '../../../shared/triggers/rotationRequests';
import { SETTINGS } from '../rotation/orchestrators/fixtures';
import { FakeInstances, MemoryAudit, config } from './fakes';

const ID = 'cmk-rotation:contoso-pg-kv:pg-cmk';
const server = (name: string, outcome: string, extra: object = {}) => ({
  serverId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`,
  serverName: name,
  subscriptionId: 's',
  outcome,
  slots: [],
  ...extra,
});
const lastRun = {
  runtimeStatus: 'Completed' as const,
  output: {
    status: 'completedWithFailures',
    targetVersion: 'v2',
    servers: [
      server('pg-a', 'updated'),
      server('pg-b', 'failed', {
        reasonCode: 'AzureKeyVaultMissingPermissions',
        incident: { dedupKey: 'd-b', kind: 'server' },
      }),
    ],
    openIncidents: [{ dedupKey: 'd-b', kind: 'server', serverId: 'x' }],
  },
};

describe('retry of one server', () => {
  it('starts a run limited to the failed server, carrying the open incidents, attributed and audited', async () => {
    const instances = new FakeInstances(lastRun);
    const audit = new MemoryAudit();
    const r = await requestServerRetry(
      instances,
      { config, audit },
      'contoso-pg-kv',
      'pg-cmk',
      'PG-B',
      'alice',
    );
    expect(r).toMatchObject({ kind: 'started', instanceId: ID });
    const input = instances.started[0]?.input as RotationInput;
    expect(input.onlyServers).toEqual([server('pg-b', 'failed').serverId.toLowerCase()]);
    expect(input).toMatchObject({ reason: 'Operator', trigger: 'operator:alice', generation: 0 });
    expect(input.openIncidents.map((i) => i.dedupKey)).toEqual(['d-b']);
    expect(audit.records[0]).toMatchObject({ step: 'EventReceived', reasonCode: 'Operator' });
  });

  it('records the operator’s reason and ticket in the retry’s request record', async () => {
    const instances = new FakeInstances(lastRun);
    const audit = new MemoryAudit();
    await requestServerRetry(instances, { config, audit }, 'contoso-pg-kv', 'pg-cmk', 'pg-b', 'alice', {
      reason: 'grant restored',
      ticket: 'INC-42',
    });
    expect(audit.records[0]?.details).toEqual({ operatorReason: 'grant restored', ticket: 'INC-42' });
  });

  it('hands the key’s run history to the retry run, and an event’s run gets it too', async () => {
    const history = [
      {
        kind: 'event',
        trigger: 'event:e1',
        startedAt: '2026-11-24T10:00:00.000Z',
        endedAt: '2026-11-24T10:05:00.000Z',
        status: 'completedWithFailures',
        targetVersion: 'v2',
        counts: { done: 1, failed: 1, skipped: 0 },
      },
    ];
    const withHistory = { ...lastRun, output: { ...lastRun.output, history } };
    const instances = new FakeInstances(withHistory);
    await requestServerRetry(
      instances,
      { config, audit: new MemoryAudit() },
      'contoso-pg-kv',
      'pg-cmk',
      'pg-b',
      'alice',
    );
    expect(instances.started[0]?.input.history).toMatchObject(history);
    const event = new FakeInstances(withHistory);
    await requestRotation(
      event,
      {
        vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
        vaultName: 'contoso-pg-kv',
        keyName: 'pg-cmk',
        trigger: 'event:e2',
        reason: 'KeyNewVersionCreated',
        version: 'v3',
      },
      SETTINGS,
    );
    expect(event.started[0]?.input.history).toMatchObject(history);
  });

  it.each([
    ['no rotation ever ran', undefined, 'pg-b', /No rotation has run/],
    ['the rotation is running', { runtimeStatus: 'Running' as const, output: null }, 'pg-b', /is running/],
    ['the server did not fail', lastRun, 'pg-a', /did not fail .*updated/],
    ['the server is unknown', lastRun, 'pg-z', /did not fail/],
  ])('is refused (409) when %s, and starts nothing', async (_name, current, name, message) => {
    const instances = new FakeInstances(current);
    const retry = requestServerRetry(
      instances,
      { config, audit: new MemoryAudit() },
      'contoso-pg-kv',
      'pg-cmk',
      name,
      'alice',
    );
    await expect(retry).rejects.toThrow(RetryRefusedError);
    await expect(retry).rejects.toThrow(message);
    expect(instances.started).toEqual([]);
  });
});

describe('listing rotations', () => {
  it('lists one row per key (sub-orchestrations and other instances left out), running first, outputs read defensively', () => {
    const rows = summarizeRotations([
      { ...lastRun, instanceId: 'cmk-rotation:v1:k1', name: 'keyRotation' },
      {
        runtimeStatus: 'Running',
        output: null,
        customStatus: {
          phase: 'canary',
          trigger: 't',
          counts: { total: 3, done: 0, failed: 0, skipped: 0, remaining: 3 },
          current: ['pg-a'],
        },
        instanceId: 'cmk-rotation:v2:k2',
        name: 'keyRotation',
      },
      {
        runtimeStatus: 'Completed',
        output: 'garbage',
        instanceId: 'cmk-rotation:v3:k3',
        name: 'keyRotation',
      },
      {
        runtimeStatus: 'Running',
        output: null,
        instanceId: 'cmk-rotation:v2:k2:server:abc',
        name: 'serverRollover',
      },
    ]);
    expect(rows.map((r) => [r.instanceId, r.running, r.progress?.phase, r.result?.status])).toEqual([
      ['cmk-rotation:v2:k2', true, 'canary', undefined],
      ['cmk-rotation:v1:k1', false, undefined, 'completedWithFailures'],
      ['cmk-rotation:v3:k3', false, undefined, undefined],
    ]);
    expect(rows[1]?.result).toMatchObject({
      counts: { total: 2, done: 1, failed: 1 },
      failedServers: ['pg-b'],
      openIncidents: 1,
    });
  });
});

/**
 * The same run as written by an older deployment (format 1: every server listed) and by this one
 * (format 2: counts, and only the servers that need attention). Instances of both live in a deployed
 * task hub: every reader gives the same answers for both.
 */
describe('reading a rotation output of either format', () => {
  const failed = server('pg-b', 'failed', {
    reasonCode: 'AzureKeyVaultMissingPermissions',
    incident: { dedupKey: 'd-b', kind: 'server' },
  });
  const common = {
    status: 'completedWithFailures',
    targetVersion: 'v2',
    openIncidents: [{ dedupKey: 'd-b', kind: 'server', serverId: 'x' }],
  };
  const formats = [
    [
      'format 1 (every server listed)',
      {
        ...common,
        servers: [
          server('pg-a', 'updated'),
          server('pg-c', 'verified'),
          server('pg-d', 'skipped', { reasonCode: 'excluded' }),
          failed,
        ],
      },
    ],
    [
      'format 2 (counts, failures listed)',
      {
        ...common,
        outputVersion: 2,
        counts: { updated: 1, verified: 1, failed: 1, skipped: 1, skippedBy: { excluded: 1 } },
        servers: [failed],
      },
    ],
  ] as const;

  it.each(formats)('%s: the listing counts every server and names the failed one', (_, output) => {
    const [row] = summarizeRotations([
      { runtimeStatus: 'Completed', output, instanceId: ID, name: 'keyRotation' },
    ]);
    expect(row?.result).toEqual({
      status: 'completedWithFailures',
      targetVersion: 'v2',
      reasonCode: undefined,
      completedAt: undefined,
      counts: { total: 4, done: 2, failed: 1, skipped: 1, remaining: 0 },
      failedServers: ['pg-b'],
      openIncidents: 1,
    });
  });

  it.each(formats)(
    '%s: the failed server can be retried, a server that went well cannot',
    async (_, output) => {
      const instances = new FakeInstances({ runtimeStatus: 'Completed', output });
      const deps = { config, audit: new MemoryAudit() };
      const r = await requestServerRetry(instances, deps, 'contoso-pg-kv', 'pg-cmk', 'pg-b', 'alice');
      expect(r.serverId).toBe(failed.serverId);
      const again = new FakeInstances({ runtimeStatus: 'Completed', output });
      await expect(
        requestServerRetry(again, deps, 'contoso-pg-kv', 'pg-cmk', 'pg-a', 'alice'),
      ).rejects.toThrow(RetryRefusedError);
      expect(again.started).toEqual([]);
    },
  );

  it('format 2 with malformed counts falls back to counting the servers it lists', () => {
    const [row] = summarizeRotations([
      {
        runtimeStatus: 'Completed',
        output: { ...common, outputVersion: 2, counts: { updated: -1 }, servers: [failed] },
        instanceId: ID,
        name: 'keyRotation',
      },
    ]);
    expect(row?.result?.counts).toEqual({ total: 1, done: 0, failed: 1, skipped: 0, remaining: 0 });
  });
});
