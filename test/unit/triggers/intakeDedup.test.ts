import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import type { RotationInput } from '../../../shared/rotation/contract';
import { ForbiddenError, TransientError } from '../../../shared/ports/errors';
import type { InstanceInfo, ListedInstance, RotationInstances } from '../../../shared/ports/rotations';
import { isActive } from '../../../shared/ports/rotations';
import { handleKeyVaultEvent } from '../../../shared/triggers/keyVaultEvents';
import { EventVersionNotListedError } from '../../../shared/triggers/rotationRequests';
import { fuzzedBodies, mulberry32, validKeyEvent } from '../../support/eventFuzz';
import { CURRENT_VERSION, FakeKeys, MemoryAudit, SUB, config } from './fakes';

/**
 * Issue 23, item 1: a key event without a version (or with an `Id` without one) was never judged a
 * duplicate, so every delivery — even of the same event id — started the rollout again. Driven here
 * against a task hub that keeps what the real one keeps: each execution's input (its trigger) and
 * custom status, and the output once it completed.
 */
class TaskHub implements RotationInstances {
  readonly executions: { id: string; input: RotationInput }[] = [];
  private readonly state = new Map<string, InstanceInfo>();
  status(id: string): Promise<InstanceInfo | undefined> {
    return Promise.resolve(this.state.get(id));
  }
  start(id: string, input: RotationInput): Promise<'started' | 'alreadyRunning'> {
    const now = this.state.get(id);
    if (now !== undefined && isActive(now.runtimeStatus)) return Promise.resolve('alreadyRunning');
    this.executions.push({ id, input });
    this.state.set(id, {
      runtimeStatus: 'Running',
      output: null,
      input,
      customStatus: { phase: 'reading', trigger: input.trigger },
    });
    return Promise.resolve('started');
  }
  raise(): Promise<void> {
    return Promise.resolve();
  }
  list(): Promise<ListedInstance[]> {
    return Promise.resolve([]);
  }
  /** The running execution ends: it handled the key's current version (and its broken server failed). */
  complete(id: string, targetVersion = CURRENT_VERSION): void {
    const now = this.state.get(id);
    if (now === undefined) throw new Error(`no instance ${id}`);
    this.state.set(id, {
      ...now,
      runtimeStatus: 'Completed',
      customStatus: null,
      output: { status: 'completedWithFailures', targetVersion },
    });
  }
}

const ID = 'cmk-rotation:contoso-pg-kv:pg-cmk';
const OLDER = 'fedcba9876543210fedcba9876543210';
const events = new EventGridKeyVaultEvents();
const opts = { vault: 'contoso-pg-kv', key: 'pg-cmk', version: CURRENT_VERSION, subscriptionId: SUB };

/** A KeyNewVersionCreated whose data names no version (both the `Id` and `Version`). */
function versionless(id: string): Record<string, unknown> {
  const e = validKeyEvent('EventGrid', opts);
  const data = e['data'] as Record<string, unknown>;
  data['Id'] = 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk';
  delete data['Version'];
  return { ...e, id };
}

async function deliver(raw: unknown, hub: TaskHub, keys = new FakeKeys(), audit = new MemoryAudit()) {
  return handleKeyVaultEvent(raw, hub, { config, audit, events, keys, invocationId: 'inv' });
}

describe('the intake judges every key event against Key Vault and the task hub', () => {
  it('resolves a version-less event to the key’s current version: a duplicate of the run that handled it, a start when the last run handled an older one', async () => {
    const hub = new TaskHub();
    await hub.start(ID, { trigger: 'event:first' } as RotationInput);
    hub.complete(ID);
    const audit = new MemoryAudit();
    expect(await deliver(versionless('v-1'), hub, new FakeKeys(), audit)).toMatchObject({
      kind: 'duplicate',
    });
    expect(hub.executions).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({
      step: 'EventReceived',
      outcome: 'skipped',
      toVersion: CURRENT_VERSION,
      details: expect.objectContaining({ versionFrom: 'KeyVault', eventVersion: 'none' }),
    });

    hub.complete(ID, OLDER);
    expect(await deliver(versionless('v-2'), hub)).toMatchObject({ kind: 'started' });
    expect(hub.executions[1]?.input).toMatchObject({ trigger: 'event:v-2', hintVersion: CURRENT_VERSION });
  });

  it('never acts twice on one event id, whatever its type or version, running or ended', async () => {
    const hub = new TaskHub();
    const nearExpiry = {
      ...validKeyEvent('EventGrid', opts),
      id: 'same',
      eventType: 'Microsoft.KeyVault.KeyNearExpiry',
    };
    expect(await deliver(nearExpiry, hub)).toMatchObject({ kind: 'started' });
    expect(await deliver(nearExpiry, hub)).toMatchObject({
      kind: 'duplicate',
      sameEvent: true,
      running: true,
    });
    hub.complete(ID, OLDER);
    const audit = new MemoryAudit();
    expect(await deliver(nearExpiry, hub, new FakeKeys(), audit)).toMatchObject({
      kind: 'duplicate',
      sameEvent: true,
    });
    expect(audit.records[0]?.reason).toContain('same id');
    expect(hub.executions).toHaveLength(1);
  });

  it('keeps a version Key Vault does not list yet (list lag): never rewritten to the latest nor judged a duplicate of its run; redelivered until listed, then started for it; its own redelivery a duplicate', async () => {
    const LAGGING = '99999999999999999999999999999999';
    const hub = new TaskHub();
    await hub.start(ID, { trigger: 'event:first' } as RotationInput);
    hub.complete(ID); // handled the key's newest listed version
    const e = { ...validKeyEvent('EventGrid', { ...opts, version: LAGGING }), id: 'lag-1' };
    // Key Vault does not list it yet: not "duplicate", nothing started; Event Grid redelivers.
    const audit = new MemoryAudit();
    const early = deliver(e, hub, new FakeKeys(), audit);
    await expect(early).rejects.toBeInstanceOf(EventVersionNotListedError);
    await expect(early).rejects.toMatchObject({ retryable: true });
    expect(audit.records).toEqual([]);
    expect(hub.executions).toHaveLength(1);
    // Redelivered once Key Vault lists it: a real new version, started for it.
    const listing = new FakeKeys({ 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk': LAGGING });
    expect(await deliver(e, hub, listing)).toMatchObject({ kind: 'started' });
    expect(hub.executions[1]?.input).toMatchObject({ trigger: 'event:lag-1', hintVersion: LAGGING });
    // The same event id never acts twice, running or ended.
    expect(await deliver(e, hub, listing)).toMatchObject({ kind: 'duplicate', sameEvent: true });
    hub.complete(ID, LAGGING);
    expect(await deliver(e, hub, new FakeKeys())).toMatchObject({ kind: 'duplicate', sameEvent: true });
    expect(hub.executions).toHaveLength(2);
  });

  it('an unlisted version while the last run handled an older one: started with the event’s own version (the run reads Key Vault itself)', async () => {
    const LAGGING = '99999999999999999999999999999999';
    const hub = new TaskHub();
    await hub.start(ID, { trigger: 'event:first' } as RotationInput);
    hub.complete(ID, OLDER);
    const audit = new MemoryAudit();
    const e = { ...validKeyEvent('EventGrid', { ...opts, version: LAGGING }), id: 'lag-2' };
    expect(await deliver(e, hub, new FakeKeys(), audit)).toMatchObject({ kind: 'started' });
    expect(hub.executions[1]?.input).toMatchObject({ hintVersion: LAGGING });
    expect(audit.records[0]).toMatchObject({
      toVersion: LAGGING,
      details: expect.objectContaining({ versionListed: 'no' }),
    });
  });

  it('fuzz: 3,000 deliveries of version-less bodies, repeated ids and mutated events start at most one rollout', async () => {
    const hub = new TaskHub();
    const rnd = mulberry32(23);
    const bodies: unknown[] = [
      ...Array.from({ length: 1_000 }, (_, i) => versionless(`vl-${i % 50}`)),
      ...fuzzedBodies(23, 2_000, { ...opts, poisoned: false }).map((t): unknown => {
        try {
          return JSON.parse(t);
        } catch {
          return t;
        }
      }),
    ].sort(() => rnd() - 0.5);
    for (const [i, body] of bodies.entries()) {
      for (const raw of Array.isArray(body) ? (body as unknown[]) : [body]) await deliver(raw, hub);
      // The run ends now and then: deliveries meet both a running and a completed rotation.
      if (i % 7 === 0 && hub.executions.length > 0 && (await hub.status(ID))?.runtimeStatus === 'Running')
        hub.complete(ID);
    }
    expect(hub.executions.length).toBeLessThanOrEqual(1);
  });

  it('refuses an event for a key the vault does not have, audited, nothing started (as the operator API answers 404)', async () => {
    const hub = new TaskHub();
    const audit = new MemoryAudit();
    const outcome = await deliver(validKeyEvent('EventGrid', opts), hub, new FakeKeys({}), audit);
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'KeyNotFound' });
    expect(hub.executions).toEqual([]);
    expect(audit.records).toEqual([
      expect.objectContaining({
        step: 'EventRejected',
        outcome: 'failure',
        reasonCode: 'KeyNotFound',
        key: 'pg-cmk',
      }),
    ]);
  });

  it('handles the event as it came while Key Vault cannot answer (503, 403): the run reads the key itself and pages if it still cannot', async () => {
    for (const error of [
      new TransientError('Key Vault 503', 'ServiceUnavailable', 503),
      new ForbiddenError('Forbidden', 'Forbidden', 403),
    ]) {
      const hub = new TaskHub();
      expect(
        await deliver(validKeyEvent('EventGrid', opts), hub, new FakeKeys(undefined, error)),
      ).toMatchObject({
        kind: 'started',
      });
      expect(hub.executions[0]?.input.hintVersion).toBe(opts.version);
    }
    // Anything else is a bug: it throws (Event Grid redelivers) instead of acting on a guess.
    const broken = new FakeKeys(undefined, new TypeError('x is undefined'));
    await expect(deliver(validKeyEvent('EventGrid', opts), new TaskHub(), broken)).rejects.toThrow(TypeError);
  });

  it('rejects an Id with user:password@ in its authority, without echoing it', async () => {
    const e = validKeyEvent('EventGrid', opts);
    (e['data'] as Record<string, unknown>)['Id'] =
      `https://admin:s3cret@contoso-pg-kv.vault.azure.net/keys/pg-cmk/${CURRENT_VERSION}`;
    const audit = new MemoryAudit();
    expect(await deliver(e, new TaskHub(), new FakeKeys(), audit)).toMatchObject({
      kind: 'rejected',
      code: 'InvalidKeyIdentifier',
    });
    expect(JSON.stringify(audit.records)).not.toContain('s3cret');
  });
});
