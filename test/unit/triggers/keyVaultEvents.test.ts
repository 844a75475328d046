import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import { DuplicateRecords } from '../../../shared/triggers/duplicateRecords';
import { handleKeyVaultEvent } from '../../../shared/triggers/keyVaultEvents';
import { loadConfig } from '../../../shared/config';
import { AuditDeliveryError } from '../../../shared/ports/errors';
import type { AuditTrail } from '../../../shared/ports/auditTrail';
import { FakeInstances, MemoryAudit, SUB, config, FakeKeys } from './fakes';

/** The security subscription vaults live in: not a server subscription. */
const SECURITY_SUB = '3f9a1c7e-5b2d-4e8f-a1c3-7d9e0b2f4a6c';

const V3 = '0123456789abcdef0123456789abcdef';
/** The intake's real event reader (pure, no I/O): the trigger is tested with what production runs. */
const events = new EventGridKeyVaultEvents();

function event(
  overrides: { type?: string; vault?: string; sub?: string; version?: string; host?: string } = {},
) {
  const vault = overrides.vault ?? 'contoso-pg-kv';
  const host = overrides.host ?? `${vault}.vault.azure.net`;
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
      Id: `https://${host}/keys/pg-cmk/${version}`,
      VaultName: vault,
      ObjectType: 'Key',
      ObjectName: 'pg-cmk',
      Version: version,
      NBF: null,
      EXP: null,
    },
  };
}

const baseEnv = {
  CMK_SUBSCRIPTIONS: SUB,
  CMK_ALLOWED_VAULTS: 'contoso-pg-kv',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
};

/** A task hub in memory: what the durable client would see. */
const ID = 'cmk-rotation:contoso-pg-kv:pg-cmk';

async function intake(raw: unknown, instances = new FakeInstances(), cfg = config) {
  const audit = new MemoryAudit();
  const keys = new FakeKeys({
    'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk': V3,
    'https://contoso-pg-kv.managedhsm.azure.net/keys/pg-cmk': V3,
  });
  const outcome = await handleKeyVaultEvent(raw, instances, {
    config: cfg,
    audit,
    events,
    keys,
    invocationId: 'inv-1',
  });
  return { outcome, audit: audit.records, instances, keyReads: keys.reads.length };
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

  describe('an instance that completes right after the raise (its last signal check already passed)', () => {
    const OLD = 'fedcba9876543210fedcba9876543210';
    const running = { runtimeStatus: 'Running' as const, output: undefined };
    const completedOn = (targetVersion: string) => ({
      runtimeStatus: 'Completed' as const,
      output: {
        status: 'completedWithFailures',
        targetVersion,
        openIncidents: [{ dedupKey: 'k1', kind: 'server' }],
      },
    });

    it('starts a new run for the event it never took in, carrying its open incidents', async () => {
      const instances = new FakeInstances(running);
      instances.afterRaise = completedOn(OLD);
      const { outcome, audit } = await intake(event(), instances);
      expect(outcome).toEqual({ kind: 'started', instanceId: ID });
      expect(instances.raised).toHaveLength(1);
      expect(instances.started).toEqual([
        {
          id: ID,
          input: expect.objectContaining({
            hintVersion: V3,
            reason: 'KeyNewVersionCreated',
            openIncidents: [{ dedupKey: 'k1', kind: 'server' }],
          }),
        },
      ]);
      expect(audit[0]).toMatchObject({ step: 'EventReceived', reason: 'rotation started' });
    });

    it('starts nothing when the run that ended handled the event version', async () => {
      const instances = new FakeInstances(running);
      instances.afterRaise = completedOn(V3);
      const { outcome } = await intake(event(), instances);
      expect(outcome.kind).toBe('signalled');
      expect(instances.started).toEqual([]);
    });

    it('still running after the raise: signalled, nothing started', async () => {
      const instances = new FakeInstances(running);
      const { outcome } = await intake(event(), instances);
      expect(outcome.kind).toBe('signalled');
      expect(instances.started).toEqual([]);
    });

    it('another delivery started it in between: signals that run (no second instance)', async () => {
      const instances = new FakeInstances(running, 'alreadyRunning');
      instances.afterRaise = completedOn(OLD);
      const { outcome } = await intake(event(), instances);
      expect(outcome.kind).toBe('signalled');
      expect(instances.raised).toHaveLength(2);
    });
  });

  it('signals when another delivery started the instance between the status read and the start', async () => {
    const { outcome, instances } = await intake(event(), new FakeInstances(undefined, 'alreadyRunning'));
    expect(outcome.kind).toBe('signalled');
    expect(instances.raised).toHaveLength(1);
  });

  it.each<[string, unknown, string, 'duplicate' | 'signalled']>([
    // name, the running run's custom status, the event's version, outcome
    [
      'rolling out this very version: dropped, nothing raised',
      { phase: 'rollout', targetVersion: V3 },
      V3,
      'duplicate',
    ],
    [
      'the same version in other letter case: dropped',
      { phase: 'canary', targetVersion: V3.toUpperCase() },
      V3,
      'duplicate',
    ],
    [
      'rolling out another version: signalled (the run decides)',
      { phase: 'rollout', targetVersion: 'fedcba9876543210fedcba9876543210' },
      V3,
      'signalled',
    ],
    [
      'still planning (the run can still stop early and continue as new for it): signalled',
      { phase: 'planning', targetVersion: V3 },
      V3,
      'signalled',
    ],
    ['finishing this very version: dropped', { phase: 'finishing', targetVersion: V3 }, V3, 'duplicate'],
    ['still reading the key (no target yet): signalled', { phase: 'reading' }, V3, 'signalled'],
    ['no custom status: signalled', undefined, V3, 'signalled'],
  ])('a key event while the key rotation runs, %s', async (_, customStatus, version, kind) => {
    const instances = new FakeInstances({ runtimeStatus: 'Running', output: undefined, customStatus });
    const { outcome, audit } = await intake(event({ version }), instances);
    expect(outcome.kind).toBe(kind);
    expect(instances.raised).toHaveLength(kind === 'signalled' ? 1 : 0);
    expect(instances.started).toEqual([]);
    expect(audit[0]).toMatchObject({
      step: 'EventReceived',
      outcome: kind === 'duplicate' ? 'skipped' : 'info',
      ...(kind === 'duplicate'
        ? { reason: 'the running rotation is rolling out this version: duplicate ignored' }
        : {}),
    });
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

  describe('a redelivery told from the instance alone: Key Vault is not read, the status once', () => {
    const OTHER = 'fedcba9876543210fedcba9876543210';
    it.each([
      [
        'the same event id as the running execution’s trigger',
        { runtimeStatus: 'Running' as const, output: undefined, input: { trigger: 'event:e-1' } },
        'this event (same id) already started the rotation: duplicate ignored',
      ],
      [
        'the same event id as the completed execution’s trigger (its run handled another version)',
        {
          runtimeStatus: 'Completed' as const,
          output: { status: 'completed', targetVersion: OTHER },
          input: { trigger: 'event:e-1' },
        },
        'this event (same id) already started the rotation: duplicate ignored',
      ],
      [
        'the version the running run rolls out',
        {
          runtimeStatus: 'Running' as const,
          output: undefined,
          customStatus: { phase: 'rollout', targetVersion: V3 },
        },
        'the running rotation is rolling out this version: duplicate ignored',
      ],
      [
        'the version the last run handled',
        { runtimeStatus: 'Completed' as const, output: { status: 'stopped', targetVersion: V3 } },
        'the last rotation already handled this version: duplicate ignored',
      ],
    ])('%s', async (_, current, reason) => {
      const instances = new FakeInstances(current);
      const { outcome, audit, keyReads } = await intake(event(), instances);
      expect(outcome.kind).toBe('duplicate');
      expect(keyReads).toBe(0);
      expect(instances.statusReads).toBe(1);
      expect(instances.raised).toEqual([]);
      expect(instances.started).toEqual([]);
      expect(audit).toEqual([
        expect.objectContaining({
          step: 'EventReceived',
          outcome: 'skipped',
          trigger: 'event:e-1',
          toVersion: V3,
          reason,
          details: { eventType: 'KeyNewVersionCreated' },
        }),
      ]);
    });

    it.each([
      ['a new event (no instance yet): started', undefined, 'started'],
      [
        'an event naming another version than the last run’s: started',
        { runtimeStatus: 'Completed' as const, output: { status: 'completed', targetVersion: OTHER } },
        'started',
      ],
      [
        'the same event id as an execution that Failed (it did not do what the event asked): started again',
        {
          runtimeStatus: 'Failed' as const,
          output: undefined,
          input: { trigger: 'event:e-1' },
          customStatus: { phase: 'rollout', targetVersion: V3 },
        },
        'started',
      ],
      [
        'an event while the run still plans: signalled',
        {
          runtimeStatus: 'Running' as const,
          output: undefined,
          customStatus: { phase: 'planning', targetVersion: V3 },
        },
        'signalled',
      ],
    ])('not a redelivery, %s: Key Vault is read as before', async (_, current, kind) => {
      const { outcome, keyReads } = await intake(event(), new FakeInstances(current));
      expect(outcome.kind).toBe(kind);
      expect(keyReads).toBe(1);
    });

    it('a version-less event is resolved from Key Vault first, then judged (the same id is a duplicate)', async () => {
      const e = event();
      const versionless = {
        ...e,
        data: { ...e.data, Id: 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk' },
      };
      delete (versionless.data as { Version?: unknown }).Version;
      const running = new FakeInstances({
        runtimeStatus: 'Running',
        output: undefined,
        input: { trigger: 'event:e-1' },
      });
      const { outcome, audit, keyReads } = await intake(versionless, running);
      expect(outcome).toMatchObject({ kind: 'duplicate', sameEvent: true });
      expect(keyReads).toBe(1);
      expect(audit[0]).toMatchObject({ toVersion: V3, details: { versionFrom: 'KeyVault' } });
    });
  });

  it('deliveries of one event judged duplicates at the same time share one audit write, acknowledged once it is accepted', async () => {
    let writes = 0;
    let accept: () => void = () => undefined;
    const gated: AuditTrail = {
      record: () => {
        writes++;
        return new Promise<void>((resolve) => (accept = resolve));
      },
    };
    const running = new FakeInstances({
      runtimeStatus: 'Running',
      output: undefined,
      input: { trigger: 'event:e-1' },
    });
    const deps = {
      config,
      audit: gated,
      events,
      keys: new FakeKeys(),
      invocationId: 'inv-1',
      duplicates: new DuplicateRecords(gated),
    };
    const deliveries = [1, 2, 3].map(() => handleKeyVaultEvent(event(), running, deps));
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toBe(1);
    accept();
    expect((await Promise.all(deliveries)).map((o) => o.kind)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
  });

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

  it('accepts a vault in a security subscription outside CMK_SUBSCRIPTIONS (vaults are scoped by URL)', async () => {
    const { outcome } = await intake(event({ sub: SECURITY_SUB }));
    expect(outcome).toEqual({ kind: 'started', instanceId: ID });
  });

  it('accepts a Managed HSM named by URL in CMK_ALLOWED_VAULTS, under an id of its own', async () => {
    const hsm = loadConfig({
      ...baseEnv,
      CMK_ALLOWED_VAULTS: 'https://contoso-pg-kv.vault.azure.net,https://contoso-pg-kv.managedhsm.azure.net',
    });
    const { outcome, instances } = await intake(
      event({ host: 'contoso-pg-kv.managedhsm.azure.net' }),
      new FakeInstances(),
      hsm,
    );
    expect(outcome).toMatchObject({ kind: 'started' });
    expect(instances.started[0]?.id).toMatch(/^cmk-rotation:contoso-pg-kv~[0-9a-f]{6}:pg-cmk$/);
    expect(instances.started[0]?.input.vaultUrl).toBe('https://contoso-pg-kv.managedhsm.azure.net');
  });

  it('checks the vault subscription against CMK_VAULT_SUBSCRIPTIONS when it is set', async () => {
    const scoped = loadConfig({ ...baseEnv, CMK_VAULT_SUBSCRIPTIONS: SECURITY_SUB });
    expect((await intake(event({ sub: SECURITY_SUB }), new FakeInstances(), scoped)).outcome).toMatchObject({
      kind: 'started',
    });
    const { outcome, audit } = await intake(event({ sub: SUB }), new FakeInstances(), scoped);
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'SubscriptionNotInScope' });
    expect(audit[0]?.reason).toContain('CMK_VAULT_SUBSCRIPTIONS');
  });

  it('throws when the audit trail does not accept the record, so Event Grid redelivers', async () => {
    const refusing: AuditTrail = {
      record: () => Promise.reject(new AuditDeliveryError('accepted 0 of 1', '503', 503, true)),
    };
    await expect(
      handleKeyVaultEvent(event(), new FakeInstances(), {
        config,
        audit: refusing,
        events,
        keys: new FakeKeys(),
        invocationId: 'inv-1',
      }),
    ).rejects.toThrow(AuditDeliveryError);
  });

  it.each([
    ['a vault outside CMK_ALLOWED_VAULTS', event({ vault: 'other-kv' }), 'VaultNotInScope', 'failure'],
    [
      'an allowed vault name on another host (a Managed HSM of the same name)',
      event({ host: 'contoso-pg-kv.managedhsm.azure.net' }),
      'VaultNotInScope',
      'failure',
    ],
    [
      'an allowed vault name in another cloud',
      event({ host: 'contoso-pg-kv.vault.azure.cn' }),
      'VaultNotInScope',
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
        keys: new FakeKeys(),
        invocationId: 'inv-1',
      }),
    ).rejects.toThrow('ECONNREFUSED');
    expect(audit.records).toEqual([]);
  });
});
