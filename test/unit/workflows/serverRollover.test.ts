import type { AuditRecord } from '../../../shared/domain/audit';
import type { Incident } from '../../../shared/domain/incident';
import type { ServerOutcome, ServerRolloverInput } from '../../../shared/domain/rotation';
import type {
  BeginServerUpdateOutput,
  PollServerUpdateOutput,
  PrepareServerOutput,
  VerifyServerOutput,
} from '../../../shared/domain/steps';
import { serverRolloverOrchestrator } from '../../../shared/workflows/serverRollover';
import { runOrchestration, type Run } from '../../support/orchestration';
import { NOW, SETTINGS, V1, V2, VAULT_URL, inDays, keyWith, planned, version } from './fixtures';

const TARGET = `${VAULT_URL}/keys/pg-cmk/${V2}`;
const FROM = `${VAULT_URL}/keys/pg-cmk/${V1}`;
const IDENTITY =
  '/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a';

const input: ServerRolloverInput = {
  correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
  trigger: 'event:e1',
  key: keyWith(version(V1, 300, 65), version(V2, 1, 365)),
  targetVersion: V2,
  expiresOn: inDays(65),
  server: planned('pg-a'),
  settings: SETTINGS,
};

const update: Extract<PrepareServerOutput, { kind: 'update' }> = {
  kind: 'update',
  patch: {
    properties: {
      dataEncryption: {
        type: 'AzureKeyVault',
        primaryKeyURI: TARGET,
        primaryUserAssignedIdentityId: IDENTITY,
      },
    },
  },
  snapshot: {
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: FROM, primaryUserAssignedIdentityId: IDENTITY },
    identity: undefined,
  },
  expected: { primary: TARGET },
  from: { primary: FROM },
};

interface Script {
  prepare?: PrepareServerOutput;
  begin?: BeginServerUpdateOutput[];
  poll?: PollServerUpdateOutput[];
  verify?: VerifyServerOutput[];
}

const accepted: BeginServerUpdateOutput = {
  ok: true,
  handle: { serverId: input.server.serverId, pollerState: '{}' },
};
const throttled = (retryAfterSeconds: number | undefined): BeginServerUpdateOutput => ({
  ok: false,
  code: 'TooManyRequests',
  message: 'Throttled',
  retryable: true,
  retryAfterSeconds,
});
const valid: VerifyServerOutput = { ok: true, dataEncryption: { primaryKeyURI: TARGET } };

function run(script: Script, settings = SETTINGS): Promise<Run> {
  const queues = {
    begin: [...(script.begin ?? [accepted])],
    poll: [...(script.poll ?? [{ status: 'Succeeded' }])],
    verify: [...(script.verify ?? [valid])],
  };
  const next = <T>(q: T[]): T => {
    const v = q.length > 1 ? q.shift() : q[0];
    if (v === undefined) throw new Error('script exhausted');
    return v;
  };
  return runOrchestration(
    serverRolloverOrchestrator,
    { ...input, settings },
    (call) => {
      switch (call.name) {
        case 'prepareServer':
          return { result: script.prepare ?? update };
        case 'beginServerUpdate':
          return { result: next(queues.begin) };
        case 'pollServerUpdate':
          return { result: next(queues.poll) };
        case 'verifyServer':
          return { result: next(queues.verify) };
        case 'pageOperator':
          return { result: { delivered: true, channels: [] } };
        default:
          return { result: null };
      }
    },
    { start: NOW },
  );
}

const timersAfter = (r: Run): number[] => {
  // Seconds each timer waits, measured from the episode that created it.
  const out: number[] = [];
  for (const e of r.history.filter((h) => h.EventType === 10))
    out.push((Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000);
  return out;
};
const called = (r: Run, name: string) => r.calls.filter((c) => c.name === name);
const pageOf = (r: Run) =>
  called(r, 'pageOperator').map((c) => c.input as { incident: Incident; audit: AuditRecord });

describe('serverRollover orchestrator, driven by durable histories', () => {
  it('PATCHes the full body, polls on durable timers, verifies, and audits the last-known-good snapshot', async () => {
    const r = await run({
      poll: [{ status: 'InProgress' }, { status: 'InProgress' }, { status: 'Succeeded' }],
    });
    const out = r.output as ServerOutcome;
    expect(out).toMatchObject({ outcome: 'updated', slots: [{ slot: 'primary', from: V1, to: V2 }] });
    expect(called(r, 'beginServerUpdate').map((c) => c.input)).toEqual([
      { serverId: input.server.serverId, patch: update.patch },
    ]);
    expect(called(r, 'pollServerUpdate')).toHaveLength(3);
    expect(timersAfter(r)).toEqual([10, 10, 10]);
    const audits = called(r, 'recordAudit').flatMap((c) => c.input as AuditRecord[]);
    expect(audits.map((a) => a.step)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
    expect(JSON.parse(audits[0]?.details?.['lastKnownGood'] ?? '{}')).toMatchObject({
      dataEncryption: { primaryKeyURI: FROM },
    });
  });

  it('honours Retry-After when ARM throttles the PATCH, and backs off exponentially when it sends none', async () => {
    const r = await run({ begin: [throttled(7), throttled(undefined), throttled(undefined), accepted] });
    expect(called(r, 'beginServerUpdate')).toHaveLength(4);
    expect(timersAfter(r).slice(0, 3)).toEqual([7, 10, 20]);
    expect((r.output as ServerOutcome).outcome).toBe('updated');
  });

  it('gives up after maxWriteAttempts of retryable refusals and pages RetriesExhausted', async () => {
    const busy: BeginServerUpdateOutput = {
      ok: false,
      code: 'ServerBusy',
      message: 'busy',
      retryable: true,
      retryAfterSeconds: 1,
    };
    const r = await run({ begin: [busy] });
    expect(called(r, 'beginServerUpdate')).toHaveLength(SETTINGS.maxWriteAttempts);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'RetriesExhausted' });
    expect(pageOf(r)).toHaveLength(1);
  });

  it.each([
    ['AuthorizationFailed', 'custom role'],
    ['AzureKeyVaultKeyDisabled', 'Enable the version'],
  ])('stops at once on the permanent error %s and pages what to do (%s)', async (code, words) => {
    const r = await run({
      begin: [
        { ok: false, code, message: `rejected: ${code}`, retryable: false, retryAfterSeconds: undefined },
      ],
    });
    expect(called(r, 'beginServerUpdate')).toHaveLength(1);
    expect(called(r, 'verifyServer')).toHaveLength(0);
    const [page] = pageOf(r);
    expect(page?.incident.nextStep).toContain(words);
    expect(page?.audit).toMatchObject({ step: 'ServerFailed', reasonCode: code, outcome: 'failure' });
  });

  it('diagnoses an operation that failed because the identity lacks grants, paging once per server and version', async () => {
    const r = await run({
      poll: [
        { status: 'InProgress' },
        {
          status: 'Failed',
          code: 'AzureKeyVaultMissingPermissions',
          message: 'missing get, wrapKey or unwrapKey',
        },
      ],
    });
    const out = r.output as ServerOutcome;
    expect(out.outcome).toBe('failed');
    expect(out.incident?.dedupKey).toMatch(
      new RegExp(`^cmk:contoso-pg-kv:pg-cmk:${V2}:server:pg-a:[0-9a-f]{12}$`),
    );
    const [page] = pageOf(r);
    expect(page?.incident).toMatchObject({
      severity: 'error',
      source: input.server.serverId,
      deadline: inDays(65),
    });
    expect(page?.incident.summary).toContain('identity id-a of pg-a may not use key pg-cmk');
    expect(page?.incident.nextStep).toContain('Key Vault Crypto Service Encryption User');
  });

  it('waits while verification is still settling, then fails if the key status is not Valid', async () => {
    const settling: VerifyServerOutput = {
      ok: false,
      pending: true,
      code: 'VerificationFailed',
      message: 'server state is Updating',
      identityId: undefined,
    };
    const invalid: VerifyServerOutput = {
      ok: false,
      pending: false,
      code: 'VerificationFailed',
      message: 'primary key status is Invalid',
      identityId: IDENTITY,
    };
    const r = await run({ verify: [settling, invalid] });
    expect(called(r, 'verifyServer')).toHaveLength(2);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'VerificationFailed' });
  });

  it('diagnoses an operation still running after operationTimeoutMinutes as stuck', async () => {
    const settings = { ...SETTINGS, operationTimeoutMinutes: 2 };
    const r = await run({ poll: [{ status: 'InProgress' }] }, settings);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'OperationTimedOut' });
    // A poll cycle is the 10 s timer plus the activity (1 s in this driver): the first poll past the
    // 2-minute deadline (the 11th, at 3 s + 11 × 11 s = 124 s) gives up.
    expect(called(r, 'pollServerUpdate')).toHaveLength(11);
  });

  it('only verifies a server that is already on the target (idempotent: no second PATCH)', async () => {
    const r = await run({ prepare: { kind: 'verify', expected: { primary: TARGET } } });
    expect(called(r, 'beginServerUpdate')).toHaveLength(0);
    expect(r.output).toMatchObject({ outcome: 'verified', slots: [{ from: V2, to: V2 }] });
  });

  it('skips a server that no longer needs or allows the change, without touching it', async () => {
    const r = await run({ prepare: { kind: 'skip', code: 'excluded', reason: 'opted out by tag' } });
    expect(r.calls.map((c) => c.name)).toEqual(['prepareServer', 'recordAudit']);
    expect(r.output).toMatchObject({ outcome: 'skipped', reasonCode: 'excluded' });
  });
});
