import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import { handleKeyVaultEvent } from '../../../shared/triggers/keyVaultEvents';
import { FakeInstances, MemoryAudit, SUB, config } from './fakes';

const V3 = '0123456789abcdef0123456789abcdef';
/** The intake's real event reader (pure, no I/O): the trigger is tested with what production runs. */
const events = new EventGridKeyVaultEvents();

function event(overrides: { type?: string; vault?: string; sub?: string; version?: string } = {}) {
  const vault = overrides.vault ?? 'contoso-pg-kv';
  const version = overrides.version ?? V3;
  return {
    id: 'e-1',
    topic: `/subscriptions/${overrides.sub ?? SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${vault}`,
    subject: 'pg-cmk',
    eventType: `Microsoft.KeyVault.${overrides.type ?? 'KeyNewVersionCreated'}`,
    eventTime: '2026-11-24T10:00:00Z',
    dataVersion: '1',
    metadataVersion: '1',
    data: {
      Id: `https://${vault}.vault.azure.net/keys/pg-cmk/${version}`,
      VaultName: vault,
      ObjectType: 'Key',
      ObjectName: 'pg-cmk',
      Version: version,
      NBF: null,
      EXP: null,
    },
  };
}

/** A task hub in memory: what the durable client would see. */
const ID = 'cmk-rotation:contoso-pg-kv:pg-cmk';

async function intake(raw: unknown, instances = new FakeInstances()) {
  const audit = new MemoryAudit();
  const outcome = await handleKeyVaultEvent(raw, instances, { config, audit, events, invocationId: 'inv-1' });
  return { outcome, audit: audit.records, instances };
}

describe('the Key Vault event intake', () => {
  it('starts one rotation per key under a deterministic instance id, with the settings in its input', async () => {
    const { outcome, audit, instances } = await intake(event());
    expect(outcome).toEqual({ kind: 'started', instanceId: ID });
    expect(instances.started).toEqual([
      {
        id: ID,
        input: expect.objectContaining({
          vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
          keyName: 'pg-cmk',
          trigger: 'event:e-1',
          reason: 'KeyNewVersionCreated',
          hintVersion: V3,
          generation: 0,
          settings: expect.objectContaining({ maxParallelUpdates: 100, optOutTag: 'cmk-rotation-optout' }),
        }),
      },
    ]);
    expect(audit).toEqual([
      expect.objectContaining({ step: 'EventReceived', correlationId: ID, outcome: 'info' }),
    ]);
  });

  it.each([
    ['Running', 'signalled'],
    ['Pending', 'signalled'],
  ] as const)(
    'signals an instance that is %s instead of starting a second one',
    async (runtimeStatus, kind) => {
      const { outcome, instances } = await intake(
        event(),
        new FakeInstances({ runtimeStatus, output: undefined }),
      );
      expect(outcome.kind).toBe(kind);
      expect(instances.started).toEqual([]);
      expect(instances.raised).toEqual([
        {
          id: ID,
          name: 'keyEvent',
          payload: { trigger: 'event:e-1', reason: 'KeyNewVersionCreated', version: V3 },
        },
      ]);
    },
  );

  it('signals when another delivery started the instance between the status read and the start', async () => {
    const { outcome, instances } = await intake(event(), new FakeInstances(undefined, 'alreadyRunning'));
    expect(outcome.kind).toBe('signalled');
    expect(instances.raised).toHaveLength(1);
  });

  it('ignores a redelivered event for the version the last rotation completed on', async () => {
    const done = new FakeInstances({
      runtimeStatus: 'Completed',
      output: { status: 'completed', targetVersion: V3, openIncidents: [] },
    });
    const { outcome, audit } = await intake(event(), done);
    expect(outcome.kind).toBe('duplicate');
    expect(done.started).toEqual([]);
    expect(audit[0]).toMatchObject({ step: 'EventReceived', outcome: 'skipped' });
  });

  it.each(['completedWithFailures', 'stopped'])(
    'ignores a redelivered event for the version the last rotation handled, even though it ended %s (no second PATCH or page)',
    async (status) => {
      const done = new FakeInstances({
        runtimeStatus: 'Completed',
        output: { status, targetVersion: V3, openIncidents: [{ dedupKey: 'k1', kind: 'server' }] },
      });
      const { outcome, audit } = await intake(event(), done);
      expect(outcome.kind).toBe('duplicate');
      expect(done.started).toEqual([]);
      expect(audit[0]).toMatchObject({ step: 'EventReceived', outcome: 'skipped' });
    },
  );

  it('hands the open incidents of the previous run to the next one, so it can resolve them', async () => {
    const previous = new FakeInstances({
      runtimeStatus: 'Completed',
      output: {
        status: 'completedWithFailures',
        targetVersion: V3,
        openIncidents: [{ dedupKey: 'k1', kind: 'server' }, { bogus: true }],
      },
    });
    const { instances } = await intake(event({ type: 'KeyNearExpiry' }), previous);
    expect(instances.started[0]?.input.openIncidents).toEqual([{ dedupKey: 'k1', kind: 'server' }]);
  });

  it.each([
    ['a vault outside CMK_ALLOWED_VAULTS', event({ vault: 'other-kv' }), 'VaultNotInScope', 'failure'],
    [
      'a subscription outside CMK_SUBSCRIPTIONS',
      event({ sub: 'b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c' }),
      'SubscriptionNotInScope',
      'failure',
    ],
    ['a secret event', { ...event({ type: 'SecretNewVersionCreated' }) }, 'NotAKeyEvent', 'skipped'],
    ['a malformed event', { id: 'x' }, 'Malformed', 'failure'],
  ])('rejects %s: audited, nothing started', async (_what, raw, code, outcome) => {
    const { outcome: result, audit, instances } = await intake(raw);
    expect(result).toMatchObject({ kind: 'rejected', code });
    expect(instances.started).toEqual([]);
    expect(instances.raised).toEqual([]);
    expect(audit).toEqual([expect.objectContaining({ step: 'EventRejected', reasonCode: code, outcome })]);
  });

  it('throws when the task hub cannot be reached, so Event Grid redelivers; nothing is audited as received', async () => {
    const audit = new MemoryAudit();
    await expect(
      handleKeyVaultEvent(event(), new FakeInstances(undefined, new Error('ECONNREFUSED')), {
        config,
        audit,
        events,
        invocationId: 'inv-1',
      }),
    ).rejects.toThrow('ECONNREFUSED');
    expect(audit.records).toEqual([]);
  });
});
