import type { RotationInput } from '../../../shared/domain/rotation';
import { RetryRefusedError, requestServerRetry, summarizeRotations } from '../../../shared/triggers/operator';
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

  it.each([
    ['no rotation ever ran', undefined, 'pg-b', /No rotation has run/],
    ['the rotation is running', { runtimeStatus: 'Running' as const, output: null }, 'pg-b', /is running/],
    ['the server did not fail', lastRun, 'pg-a', /did not fail .*updated/],
    ['the server is unknown', lastRun, 'pg-z', /did not fail/],
  ])('is refused (409) when %s, and starts nothing', async (_name, current, name, message) => {
    const instances = new FakeInstances(current);
    await expect(
      requestServerRetry(
        instances,
        { config, audit: new MemoryAudit() },
        'contoso-pg-kv',
        'pg-cmk',
        name,
        'alice',
      ),
    ).rejects.toThrow(RetryRefusedError);
    await expect(
      requestServerRetry(
        instances,
        { config, audit: new MemoryAudit() },
        'contoso-pg-kv',
        'pg-cmk',
        name,
        'alice',
      ),
    ).rejects.toThrow(message);
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
