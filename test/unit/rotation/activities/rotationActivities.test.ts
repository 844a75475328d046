import {
  CrossTenantUndeterminedError,
  type FederatedIdentityClientIds,
} from '../../../../shared/domain/crossTenant';
import {
  PagingFailedError,
  asStep,
  createRotationActivities,
  toStepError,
} from '../../../../shared/rotation/activities/rotationActivities';
import type { AuditRecord } from '../../../../shared/domain/audit';
import type { Incident } from '../../../../shared/domain/incident';
import type { AuditTrail } from '../../../../shared/ports/auditTrail';
import type {
  EncryptionPatchBody,
  KeyInfo,
  KeyVersionInfo,
  ServerSnapshot,
} from '../../../../shared/domain/model';
import { PlanInputError } from '../../../../shared/domain/plan';
import { serverNameOf } from '../../../../shared/domain/resourceId';
import { unpackIds } from '../../../../shared/rotation/packing';
import type { ArmQuota } from '../../../../shared/rotation/pacing';
import {
  ConflictError,
  NotFoundError,
  ThrottledError,
  TransientError,
} from '../../../../shared/ports/errors';
import type { KeyVaultKeys } from '../../../../shared/ports/keyVaultKeys';
import type { PageOutcome, Pager } from '../../../../shared/ports/pager';
import type {
  InvalidServerRow,
  OperationHandle,
  OperationStatus,
  ServerFleet,
  ServerPage,
} from '../../../../shared/ports/serverFleet';
import { keyInfo, keyVersion } from '../../../support/keys';
import { serverSnapshot, userAssigned } from '../../../support/servers';
import { MemoryAudit } from '../../triggers/fakes';

const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const V3 = '0123456789abcdef0123456789abcdef';
const ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a`;
const uri = (v: string) => `${VAULT_URL}/keys/pg-cmk/${v}`;
const idOf = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;
const OPERATION = 'https://management.azure.com/op/1';

const version = (v: string, createdOn: string): KeyVersionInfo => keyVersion(v, createdOn);

function server(name: string, over: Partial<ServerSnapshot> = {}, primary = uri(V1)): ServerSnapshot {
  return serverSnapshot(name, {
    subscriptionId: SUB,
    identity: userAssigned({ [ID]: undefined }),
    dataEncryption: { primaryKeyURI: primary, primaryUserAssignedIdentityId: ID },
    ...over,
  });
}

/** Key Vault in memory: versions by creation time, rotations counted. */
class Keys implements KeyVaultKeys {
  rotations = 0;
  constructor(public key: KeyInfo) {}
  listKeys(): Promise<string[]> {
    return Promise.resolve([this.key.name]);
  }
  readKey(): Promise<KeyInfo> {
    return Promise.resolve(this.key);
  }
  readKeyVersion(_v: string, _k: string, v: string): Promise<KeyVersionInfo> {
    const found = this.key.versions.find((x) => x.version === v);
    return found === undefined
      ? Promise.reject(new NotFoundError('no', 'KeyNotFound', 404))
      : Promise.resolve(found);
  }
  rotateKey(): Promise<KeyVersionInfo> {
    this.rotations++;
    const made = version(V3, '2026-11-24T10:00:00Z');
    this.key = { ...this.key, versions: [...this.key.versions, made], currentVersion: V3 };
    return Promise.resolve(made);
  }
}

/** ARM in memory: a PATCH puts the server in Updating, as ARM does; PATCHes are counted. */
class Fleet implements ServerFleet {
  readonly patches: { serverId: string; body: EncryptionPatchBody }[] = [];
  invalid: InvalidServerRow[] = [];
  operationUrl: string | undefined = OPERATION;
  operation: OperationStatus | Error = new TransientError('operation status 500', 'InternalServerError', 500);
  quota: ArmQuota | undefined;
  constructor(readonly servers: Map<string, ServerSnapshot>) {}
  findServersReferencingKey(): Promise<ServerPage> {
    return Promise.resolve({
      servers: [...this.servers.values()],
      continuationToken: undefined,
      invalid: this.invalid,
    });
  }
  findServersWithCustomerManagedKeys(): Promise<ServerPage> {
    return this.findServersReferencingKey();
  }
  /** No server here uses cross-tenant CMK unless a test says so: what the preview read adds. */
  federated = new Map<string, FederatedIdentityClientIds>();
  /** Servers whose preview read ARM refuses (the adapter fails closed: `CrossTenantUndeterminedError`). */
  previewRefused = new Set<string>();
  async getServerForUpdate(serverId: string): Promise<ServerSnapshot> {
    if (this.previewRefused.has(serverId))
      throw new CrossTenantUndeterminedError(`api-version refused for ${serverId}`);
    const s = await this.getServer(serverId);
    const ids = this.federated.get(serverId);
    return ids === undefined
      ? s
      : {
          ...s,
          dataEncryption: {
            ...s.dataEncryption,
            primaryFederatedIdentityClientId: ids.primary,
            geoBackupFederatedIdentityClientId: ids.geoBackup,
          },
        };
  }
  getServer(serverId: string): Promise<ServerSnapshot> {
    const s = this.servers.get(serverId);
    return s === undefined
      ? Promise.reject(new NotFoundError('gone', 'ResourceNotFound', 404))
      : Promise.resolve(s);
  }
  beginEncryptionUpdate(serverId: string, body: EncryptionPatchBody): Promise<OperationHandle> {
    this.patches.push({ serverId, body });
    const s = this.servers.get(serverId);
    if (s !== undefined) this.servers.set(serverId, { ...s, state: 'Updating' });
    return Promise.resolve({ serverId, operationUrl: this.operationUrl });
  }
  pollOperation(): Promise<OperationStatus> {
    return this.operation instanceof Error ? Promise.reject(this.operation) : Promise.resolve(this.operation);
  }
  armQuota(): ArmQuota | undefined {
    return this.quota;
  }
}

class Pagers implements Pager {
  constructor(private readonly outcomes: PageOutcome[]) {}
  trigger(): Promise<PageOutcome[]> {
    return Promise.resolve(this.outcomes);
  }
  resolve(): Promise<PageOutcome[]> {
    return Promise.resolve(this.outcomes);
  }
}

const key: KeyInfo = keyInfo([version(V1, '2026-01-01T00:00:00Z'), version(V2, '2026-11-01T00:00:00Z')]);

function setup(servers: ServerSnapshot[], pager: PageOutcome[] = [{ channel: 'pagerduty', ok: true }]) {
  const fleet = new Fleet(new Map(servers.map((s) => [s.id, s])));
  const keys = new Keys(key);
  const audit = new MemoryAudit();
  const steps = createRotationActivities({ keys, fleet, pager: new Pagers(pager), audit });
  return { fleet, keys, audit, steps };
}

describe('activity errors as the orchestrator sees them', () => {
  it.each([
    [
      'a 5xx',
      new TransientError('x', 'InternalServerError', 500),
      { code: 'InternalServerError', retryable: true },
    ],
    [
      'throttling',
      new ThrottledError('x', 'TooManyRequests', 429, 7),
      { code: 'TooManyRequests', retryable: true, retryAfterSeconds: 7, throttled: true },
    ],
    [
      'a 409 busy (not throttled: it spends a write attempt)',
      new ConflictError('x', 'ServerBusy', 409),
      { code: 'ServerBusy', retryable: true },
    ],
    [
      'not found',
      new NotFoundError('x', 'ResourceNotFound', 404),
      { code: 'ResourceNotFound', retryable: false },
    ],
    [
      'a domain validation error',
      new PlanInputError('no identity'),
      { code: 'InvalidPlanInput', retryable: false },
    ],
    [
      'a bug on malformed data (TypeError)',
      new TypeError('x is undefined'),
      { code: 'UnexpectedError', retryable: false },
    ],
    ['no pager accepting', new PagingFailedError('none'), { code: 'PagingFailed', retryable: true }],
  ])('%s', (_what, error, want) => {
    expect(toStepError(error)).toMatchObject(want);
    expect(toStepError(error).throttled === true).toBe(error instanceof ThrottledError);
  });

  it('asStep answers with the output or the classified error, never a throw', async () => {
    await expect(asStep(() => Promise.resolve(3))(undefined)).resolves.toEqual({ ok: true, value: 3 });
    await expect(asStep(() => Promise.reject(new TypeError('boom')))(undefined)).resolves.toMatchObject({
      ok: false,
      error: { code: 'UnexpectedError', retryable: false },
    });
  });
});

describe('updateServer: one read of the server, then the PATCH only when that read says so', () => {
  const input = (s: ServerSnapshot) => ({
    serverId: s.id,
    key,
    targetVersion: V2,
    optOutTag: 'cmk-rotation-optout',
  });

  it('PATCHes a Ready server once, handing back the last-known-good; a re-run (crash, lost answer) finds it Updating and does not PATCH again', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    fleet.quota = { reads: 200, writes: 150 };
    const before = Date.now();
    const accepted = await steps.updateServer(input(a));
    // When ARM's acceptance reached the step: the time ServerUpdateStarted names (detail.acceptedAt).
    expect(accepted.kind === 'accepted' ? accepted.acceptedAt : undefined).toBeGreaterThanOrEqual(before);
    expect(accepted).toMatchObject({
      kind: 'accepted',
      handle: { serverId: a.id, operationUrl: OPERATION },
      expected: { primary: uri(V2) },
      from: { primary: uri(V1) },
      snapshot: { dataEncryption: { primaryKeyURI: uri(V1) } },
      quota: { reads: 200, writes: 150 },
    });
    expect(accepted.kind === 'accepted' ? accepted.acceptedAt : 0).toBeLessThanOrEqual(Date.now());
    await expect(steps.updateServer(input(a))).resolves.toMatchObject({ kind: 'updating' });
    expect(fleet.patches).toHaveLength(1);
    expect(fleet.patches[0]?.body.properties.dataEncryption.primaryKeyURI).toBe(uri(V2));
  });

  it('does not PATCH a server already on the target, and proves it from the same read', async () => {
    const a = server('pg-a', {}, uri(V2));
    const { fleet, steps } = setup([a]);
    await expect(steps.updateServer(input(a))).resolves.toMatchObject({
      kind: 'verify',
      verification: { ok: true },
    });
    expect(fleet.patches).toEqual([]);
  });

  it('answers a refused PATCH as `refused` with its classified error (the orchestrator decides the retry)', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    fleet.beginEncryptionUpdate = () => Promise.reject(new ThrottledError('429', 'TooManyRequests', 429, 7));
    await expect(steps.updateServer(input(a))).resolves.toMatchObject({
      kind: 'refused',
      error: { code: 'TooManyRequests', retryable: true, retryAfterSeconds: 7 },
    });
  });

  it('a failed read throws (retried as a read) and sends nothing', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    fleet.getServer = () => Promise.reject(new TransientError('500', 'InternalServerError', 500));
    await expect(steps.updateServer(input(a))).rejects.toThrow(TransientError);
    expect(fleet.patches).toEqual([]);
  });

  it('reports an accepted PATCH without a usable operation handle (watch the server instead)', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    fleet.operationUrl = undefined;
    await expect(steps.updateServer(input(a))).resolves.toMatchObject({
      kind: 'accepted',
      handle: undefined,
    });
  });
});

describe('the verifying read puts its own record on the trail (issue 22: one step, not two); the write step records nothing', () => {
  const base: AuditRecord = {
    step: 'ServerUpdateStarted',
    correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    trigger: 'event:e1',
    outcome: 'info',
    vault: 'contoso-pg-kv',
    key: 'pg-cmk',
    toVersion: V2,
  };
  const refusingTrail = (): AuditTrail => ({
    record: () => Promise.reject(new TransientError('ingestion 503', 'ServiceUnavailable', 503)),
  });

  // Anything between ARM's answer to the PATCH and the step's own answer widens the window in which a
  // crash re-runs the step; a re-run after our operation already failed PATCHes again (chaos seed 23
  // caught it with the record riding here, the trail's retries holding the window open for seconds).
  it.each([
    ['an accepted PATCH', undefined, 'accepted'],
    [
      'a refused PATCH',
      (f: Fleet) =>
        (f.beginEncryptionUpdate = () => Promise.reject(new ConflictError('x', 'ServerBusy', 409))),
      'refused',
    ],
    ['a server already on the target', undefined, 'verify'],
    [
      'a server Updating',
      (f: Fleet) => f.servers.set(idOf('pg-a'), server('pg-a', { state: 'Updating' })),
      'updating',
    ],
  ] as const)('the write step answers %s without recording anything', async (_what, arrange, kind) => {
    const a = kind === 'verify' ? server('pg-a', {}, uri(V2)) : server('pg-a');
    const { fleet, steps, audit } = setup([a]);
    arrange?.(fleet);
    const out = await steps.updateServer({
      serverId: a.id,
      key,
      targetVersion: V2,
      optOutTag: 'cmk-rotation-optout',
    });
    expect(out.kind).toBe(kind);
    expect('audited' in out).toBe(false);
    expect(audit.records).toEqual([]);
  });

  it('a look that proves the server records ServerVerified with the time since the rollover started; one that does not records nothing', async () => {
    const onTarget = server('pg-a', {}, uri(V2));
    const { steps, audit } = setup([onTarget]);
    const record: AuditRecord = {
      ...base,
      step: 'ServerVerified',
      outcome: 'success',
      serverId: onTarget.id,
    };
    const startedAt = Date.now() - 5_000;
    const proven = await steps.verifyServer({
      serverId: onTarget.id,
      expected: { primary: uri(V2) },
      audit: { record, startedAt },
    });
    expect(proven).toMatchObject({ ok: true, audited: true });
    expect(audit.records).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({ step: 'ServerVerified', serverId: onTarget.id });
    expect(audit.records[0]?.durationMs).toBeGreaterThanOrEqual(5_000);

    const behind = await steps.verifyServer({
      serverId: onTarget.id,
      expected: { primary: uri(V3) },
      audit: { record, startedAt },
    });
    expect(behind.ok).toBe(false);
    expect('audited' in behind).toBe(false);
    expect(audit.records).toHaveLength(1);
  });

  it.each([
    ['a look that proves the server', V2, ['ServerUpdateStarted', 'ServerVerified']],
    ['a look that does not', V3, ['ServerUpdateStarted']],
  ] as const)(
    '%s records the earlier records it carries first, in one write after its read',
    async (_what, target, written) => {
      const onTarget = server('pg-a', {}, uri(V2));
      const { steps, audit } = setup([onTarget]);
      const started: AuditRecord = { ...base, step: 'ServerUpdateStarted', serverId: onTarget.id };
      const out = await steps.verifyServer({
        serverId: onTarget.id,
        expected: { primary: uri(target) },
        audit: { record: { ...base, step: 'ServerVerified', outcome: 'success' }, startedAt: Date.now() },
        along: [started],
      });
      expect(out).toMatchObject({ audited: true, alongRecorded: 1 });
      expect(audit.records.map((r) => r.step)).toEqual(written);
      expect(audit.writes).toBe(1);
    },
  );

  it('a look whose read fails sends none of the records it carries (its retry sends them once)', async () => {
    const a = server('pg-a');
    const { fleet, steps, audit } = setup([a]);
    fleet.getServer = () => Promise.reject(new TransientError('500', 'InternalServerError', 500));
    await expect(
      steps.verifyServer({
        serverId: a.id,
        expected: { primary: uri(V2) },
        along: [{ ...base, step: 'ServerUpdateStarted', serverId: a.id }],
      }),
    ).rejects.toThrow();
    expect(audit.records).toEqual([]);
  });

  it('a proving look whose record the trail refused still answers the proof, with `audited` false', async () => {
    const a = server('pg-a', {}, uri(V2));
    const fleet = new Fleet(new Map([[a.id, a]]));
    const steps = createRotationActivities({
      keys: new Keys(key),
      fleet,
      pager: new Pagers([]),
      audit: refusingTrail(),
    });
    await expect(
      steps.verifyServer({
        serverId: a.id,
        expected: { primary: uri(V2) },
        audit: { record: { ...base, step: 'ServerVerified', outcome: 'success' }, startedAt: Date.now() },
      }),
    ).resolves.toMatchObject({ ok: true, audited: false });
  });
});

describe('updateServer: a cross-tenant CMK server is never PATCHed', () => {
  const input = (s: ServerSnapshot) => ({
    serverId: s.id,
    key,
    targetVersion: V2,
    optOutTag: 'cmk-rotation-optout',
  });
  const CLIENT = '3c3c3c3c-0000-4000-8000-000000000001';
  it.each([
    ['primary', { primary: CLIENT }, /cross-tenant CMK on primary \(federated client 3c3c/],
    ['geo-backup', { geoBackup: CLIENT }, /cross-tenant CMK on geo-backup \(federated client 3c3c/],
  ])(
    'the read before the write shows a %s federated id: refused as CrossTenantCmk, permanent, no PATCH',
    async (_slot, ids, reason) => {
      const a = server('pg-a');
      const { fleet, steps } = setup([a]);
      fleet.federated.set(a.id, ids);
      const r = await asStep(steps.updateServer)(input(a));
      expect(r).toMatchObject({ ok: false, error: { code: 'CrossTenantCmk', retryable: false } });
      expect(r.ok ? '' : r.error.message).toMatch(reason);
      expect(fleet.patches).toEqual([]);
    },
  );

  it('the read before the write cannot tell (preview api-version refused): CrossTenantUndetermined, permanent, no PATCH', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    fleet.previewRefused.add(a.id);
    const r = await asStep(steps.updateServer)(input(a));
    expect(r).toMatchObject({ ok: false, error: { code: 'CrossTenantUndetermined', retryable: false } });
    expect(fleet.patches).toEqual([]);
  });

  it('a same-tenant server is PATCHed as before', async () => {
    const a = server('pg-a');
    const { fleet, steps } = setup([a]);
    await expect(steps.updateServer(input(a))).resolves.toMatchObject({ kind: 'accepted' });
    expect(fleet.patches).toHaveLength(1);
  });
});

describe('pollServerUpdate: one read of the operation; once it succeeded, the one verifying read', () => {
  const handle = { serverId: idOf('pg-a'), operationUrl: OPERATION };
  const expected = { primary: uri(V2) };

  it('a failed operation-status read throws a retryable error (retried as a read, never as the PATCH)', async () => {
    const { fleet, steps } = setup([server('pg-a')]);
    await expect(steps.pollServerUpdate({ handle, expected })).rejects.toThrow(TransientError);
    expect(fleet.patches).toEqual([]);
  });

  it('on success reads the server once and hands back the verification', async () => {
    const { fleet, steps } = setup([server('pg-a', {}, uri(V2))]);
    fleet.operation = { status: 'Succeeded' };
    let reads = 0;
    const get = fleet.getServer.bind(fleet);
    fleet.getServer = (id) => {
      reads++;
      return get(id);
    };
    await expect(steps.pollServerUpdate({ handle, expected })).resolves.toMatchObject({
      status: 'Succeeded',
      verification: { ok: true },
    });
    expect(reads).toBe(1);
  });

  it('does not read the server while the operation runs', async () => {
    const { fleet, steps } = setup([server('pg-a')]);
    fleet.operation = { status: 'InProgress' };
    fleet.getServer = () => Promise.reject(new Error('must not read'));
    await expect(steps.pollServerUpdate({ handle, expected })).resolves.toMatchObject({
      status: 'InProgress',
    });
  });

  it('a verifying read that fails after success leaves the verification to verifyServer', async () => {
    const { fleet, steps } = setup([server('pg-a')]);
    fleet.operation = { status: 'Succeeded' };
    fleet.getServer = () => Promise.reject(new TransientError('500', 'InternalServerError', 500));
    await expect(steps.pollServerUpdate({ handle, expected })).resolves.toEqual({
      status: 'Succeeded',
      verification: undefined,
      quota: undefined,
    });
  });
});

describe('rotateKey compares before it rotates', () => {
  it('rotates while fromVersion is still the newest', async () => {
    const { keys, steps } = setup([]);
    await expect(
      steps.rotateKey({ vaultUrl: VAULT_URL, keyName: 'pg-cmk', fromVersion: V2 }),
    ).resolves.toMatchObject({
      rotated: true,
      version: { version: V3 },
    });
    expect(keys.rotations).toBe(1);
  });

  it('a retry after Key Vault already made the version (timeout) returns that version and does not rotate again', async () => {
    const { keys, steps } = setup([]);
    await steps.rotateKey({ vaultUrl: VAULT_URL, keyName: 'pg-cmk', fromVersion: V2 });
    await expect(
      steps.rotateKey({ vaultUrl: VAULT_URL, keyName: 'pg-cmk', fromVersion: V2 }),
    ).resolves.toMatchObject({
      rotated: false,
      version: { version: V3 },
    });
    expect(keys.rotations).toBe(1);
  });
});

describe('planRollout plans server by server', () => {
  const input = { key, targetVersion: V2, optOutTag: 'cmk-rotation-optout', canaryTag: 'cmk-rotation-ring' };

  it('a server without a primary identity is unplannable (InvalidConfiguration); the others are planned', async () => {
    const good = server('pg-good');
    const bad = server('pg-bad', {
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: uri(V1), primaryEncryptionKeyStatus: 'Valid' },
    });
    const { steps } = setup([good, bad]);
    const out = await steps.planRollout(input);
    expect(out.servers.map((s) => [serverNameOf(s.serverId), s.action])).toEqual([['pg-good', 'update']]);
    expect(out.unplannable).toEqual([
      expect.objectContaining({ serverId: bad.id, serverName: 'pg-bad', code: 'InvalidConfiguration' }),
    ]);
    expect(out.discovered).toBe(2);
  });

  it('a malformed discovery row is reported as unplannable with what it still says about itself', async () => {
    const { fleet, steps } = setup([server('pg-good')]);
    fleet.invalid = [{ id: idOf('pg-weird'), name: 'pg-weird', reason: 'server is not a JSON object' }];
    const out = await steps.planRollout(input);
    expect(out.unplannable).toEqual([
      expect.objectContaining({ serverId: idOf('pg-weird'), serverName: 'pg-weird', subscriptionId: SUB }),
    ]);
    expect(out.servers).toHaveLength(1);
  });

  it('answers the compact plan: ids front-coded, no name or subscription, a reason only for a skipped server', async () => {
    const optedOut = server('pg-c', { tags: { 'cmk-rotation-optout': 'true' } });
    const { steps } = setup([server('pg-a'), server('pg-b'), optedOut]);
    const out = await steps.planRollout(input);
    expect(unpackIds(out.servers).map((s) => s.serverId)).toEqual([idOf('pg-a'), idOf('pg-b'), optedOut.id]);
    expect(out.servers[1]).toMatchObject({ serverId: 'b', shared: idOf('pg-').length });
    for (const s of out.servers) expect(s).not.toHaveProperty('serverName');
    expect(out.servers.map((s) => s.slots.map((x) => x.reason !== undefined))).toEqual([
      [false],
      [false],
      [true],
    ]);
  });

  it('a target that is not a version of the key fails the whole step, permanently', async () => {
    const { steps } = setup([server('pg-good')]);
    const e = await steps.planRollout({ ...input, targetVersion: V3 }).catch((x: unknown) => x);
    expect(toStepError(e)).toMatchObject({ code: 'InvalidPlanInput', retryable: false });
  });
});

describe('pageOperator only pages; the orchestrator records', () => {
  const incident: Incident = {
    dedupKey: 'cmk:x',
    summary: 's',
    severity: 'error',
    source: 'src',
    since: '2026-11-24T10:00:00Z',
    deadline: undefined,
    nextStep: 'n',
    correlationId: 'c',
    facts: {},
  };

  it('throws a retryable PagingFailed when no configured channel accepted, and records nothing itself', async () => {
    const { audit, steps } = setup([], [{ channel: 'pagerduty', ok: false, reason: 'HTTP 503' }]);
    await expect(steps.pageOperator({ incident })).rejects.toThrow(PagingFailedError);
    expect(audit.records).toEqual([]);
  });

  it('answers delivered: false with no channel when no pager is configured', async () => {
    const { steps } = setup([], []);
    await expect(steps.pageOperator({ incident })).resolves.toEqual({ delivered: false, channels: [] });
  });
});

describe('resolvePages: each key answers whether the pager accepted its resolve', () => {
  const audit = {
    correlationId: 'c-1',
    trigger: 'health:t',
    step: 'PageResolved' as const,
    outcome: 'success' as const,
  };
  it.each([
    ['every channel accepting', [{ channel: 'pagerduty', ok: true }], true, 'success'],
    ['no pager configured', [], true, 'success'],
    ['the pager refusing', [{ channel: 'pagerduty', ok: false, reason: 'HTTP 503' }], false, 'failure'],
    [
      'one of two channels refusing',
      [
        { channel: 'pagerduty', ok: false, reason: 'HTTP 400' },
        { channel: 'teams', ok: true },
      ],
      false,
      'failure',
    ],
  ] as [string, PageOutcome[], boolean, string][])('%s', async (_name, outcomes, accepted, outcome) => {
    const { steps, audit: trail } = setup([], outcomes);
    await expect(
      steps.resolvePages({ dedupKeys: ['k-1'], summary: 'pg-a is Ready', audit }),
    ).resolves.toEqual({
      resolved: [{ dedupKey: 'k-1', accepted }],
    });
    expect(trail.records).toEqual([
      expect.objectContaining({
        step: 'PageResolved',
        outcome,
        ...(accepted ? {} : { reasonCode: 'PagerUnavailable' }),
      }),
    ]);
  });
});
