import { RETRY_POLICIES } from '../../../../shared/rotation/policy';
import type { ServerOutcome, ServerRolloverInput } from '../../../../shared/rotation/contract';
import type { VerifyServerOutput } from '../../../../shared/rotation/activityIo';
import { stepFailed } from '../../../support/orchestration';
import { V2, inDays } from './fixtures';
import {
  HANDLE,
  IDENTITY,
  TARGET,
  input,
  accepted,
  busy,
  onOld,
  onTarget,
  valid,
  updating,
  succeeded,
  run,
  timerWaits,
  called,
  pageOf,
  audits,
  steps,
} from './rolloverHarness';

/**
 * A server's rollover after the PATCH (rolloverVerify.ts): the server looked at on durable timers (one
 * read that is both the look at the operation and the proof: Ready, key status Valid, on the target);
 * ARM's operation status read only when the server ended off the target, for ARM's error.
 */
describe('serverRollover: waiting for the operation and verifying (rolloverVerify.ts)', () => {
  it.each<[string, Partial<ServerRolloverInput>, VerifyServerOutput[], number[], number]>([
    // name, input, what the looks at the server find, timer waits, operationSeconds of the outcome
    [
      'without a hint: every look after the poll interval; found at a later look, the time seen since the PATCH (two 10 s timers and two 1 s reads)',
      {},
      [updating, valid],
      [10, 10],
      22,
    ],
    [
      'with firstPollSeconds: found at the first look (95 s timer, 1 s read), 0.9 of the time seen, so the typical duration can come down',
      { firstPollSeconds: 95 },
      [valid],
      [95],
      86.4,
    ],
  ])('looks at the server, not the operation: %s', async (_, extra, looks, waits, seconds) => {
    const r = await run({ verify: looks }, {}, extra);
    expect(timerWaits(r)).toEqual(waits);
    expect(r.output).toMatchObject({ outcome: 'updated' });
    expect(called(r, 'pollServerUpdate')).toHaveLength(0);
    expect(called(r, 'verifyServer')).toHaveLength(looks.length);
    expect((r.output as ServerOutcome).operationSeconds).toBe(seconds);
  });

  it('never waits for a first look past the operation deadline: a first look of 290 s with a 1-minute timeout looks at the deadline, and a server still Updating times out there', async () => {
    const r = await run({ verify: [updating] }, { operationTimeoutMinutes: 1 }, { firstPollSeconds: 290 });
    // The deadline is 60 s after the start; the write step's answer and ServerUpdateStarted (a first
    // look this far off does not carry it: STARTED_RECORD_MAX_WAIT_SECONDS) land a second each.
    expect(timerWaits(r)).toEqual([58]);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'OperationTimedOut' });
    expect(called(r, 'pollServerUpdate')).toHaveLength(0);
  });

  it("an operation that failed (the server Ready on its old key): ARM's operation status is read once, and the page carries ARM's error and its diagnosis", async () => {
    const r = await run({
      verify: [updating, onOld],
      poll: [
        {
          status: 'Failed',
          code: 'AzureKeyVaultMissingPermissions',
          message: 'missing get, wrapKey or unwrapKey',
        },
      ],
    });
    expect(called(r, 'updateServer')).toHaveLength(1);
    expect(called(r, 'pollServerUpdate').map((c) => c.input)).toEqual([
      { handle: HANDLE, expected: { primary: TARGET } },
    ]);
    const out = r.output as ServerOutcome;
    expect(out).toMatchObject({ outcome: 'failed', reasonCode: 'AzureKeyVaultMissingPermissions' });
    expect(out.reason).toContain('missing get, wrapKey or unwrapKey');
    expect(out.incident?.dedupKey).toMatch(
      new RegExp(`^cmk:contoso-pg-kv:pg-cmk:${V2}:server:pg-a:[0-9a-f]{12}$`),
    );
    const [page] = pageOf(r);
    expect(pageOf(r)).toHaveLength(1);
    expect(page).toMatchObject({ severity: 'error', source: input.server.serverId, deadline: inDays(65) });
    expect(page?.summary).toContain('identity id-a of pg-a may not use key pg-cmk');
    expect(page?.nextStep).toContain('Key Vault Crypto Service Encryption User');
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerFailed', 'OperatorPaged']);
  });

  it('a server that does not show the operation yet (Ready on its old key, ARM says InProgress) is looked at again, not failed', async () => {
    const r = await run({ verify: [onOld, updating, valid], poll: [{ status: 'InProgress' }] });
    expect(called(r, 'pollServerUpdate')).toHaveLength(1);
    expect(called(r, 'verifyServer')).toHaveLength(3);
    expect(r.output).toMatchObject({ outcome: 'updated' });
  });

  it('an operation that succeeded with the server off the target fails the verification, as read after it', async () => {
    const r = await run({ verify: [onOld], poll: [{ ...succeeded, verification: onOld }] });
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'VerificationFailed' });
    expect(pageOf(r)).toHaveLength(1);
  });

  it('waits while verification is still settling (Ready on the target, key status not reported yet), then fails if the key status is not Valid', async () => {
    const settling: VerifyServerOutput = {
      ok: false,
      pending: true,
      code: 'VerificationFailed',
      message: 'primary key status is not reported',
      identityId: IDENTITY,
    };
    const invalid: VerifyServerOutput = {
      ok: false,
      pending: false,
      code: 'VerificationFailed',
      message: 'primary key status is Invalid',
      identityId: IDENTITY,
    };
    const r = await run({
      verify: [settling, invalid],
      poll: [{ status: 'Succeeded', verification: settling, operationSeconds: 40 }],
    });
    // The look, then one more read of the settling verification after the operation Succeeded.
    expect(called(r, 'verifyServer')).toHaveLength(2);
    expect(called(r, 'pollServerUpdate')).toHaveLength(1);
    expect(r.output).toMatchObject({
      outcome: 'failed',
      reasonCode: 'VerificationFailed',
      operationSeconds: 40,
    });
  });

  it('diagnoses a server still Updating after operationTimeoutMinutes as stuck, without reading the operation', async () => {
    const r = await run({ verify: [updating] }, { operationTimeoutMinutes: 2 });
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'OperationTimedOut' });
    expect(pageOf(r)).toHaveLength(1);
    // A look is the 10 s timer plus the read (1 s in this driver): the first look past the 2-minute
    // deadline (the 11th, at 2 s + 11 × 11 s = 123 s) gives up.
    expect(called(r, 'verifyServer')).toHaveLength(11);
    expect(called(r, 'pollServerUpdate')).toHaveLength(0);
    expect(called(r, 'updateServer')).toHaveLength(1);
  });

  describe("failure paths: every failure becomes this server's outcome, never a throw to the parent", () => {
    it('4 × 500 on the look at the server after an accepted PATCH: retried as a read, the PATCH is sent once', async () => {
      const r = await run({
        verify: [...Array.from({ length: 4 }, () => stepFailed('InternalServerError', true)), valid],
      });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(called(r, 'verifyServer')).toHaveLength(5);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
      expect(
        audits(r)
          .filter((a) => a.step === 'ServerUpdateRetried')
          .map((a) => a.details?.['step']),
      ).toEqual(['verifyServer', 'verifyServer', 'verifyServer', 'verifyServer']);
    });

    it('a server that stays unreadable after the PATCH was accepted: failed and paged once with the read error, never a second PATCH', async () => {
      const r = await run({ verify: [stepFailed('InternalServerError', true)] });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(called(r, 'verifyServer')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(called(r, 'pollServerUpdate')).toHaveLength(0);
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'InternalServerError' });
      expect(pageOf(r)).toHaveLength(1);
    });

    it('an operation status that stays unreadable once the server ended off the target: the server as read decides (never a second PATCH)', async () => {
      const r = await run({ verify: [onOld], poll: [stepFailed('InternalServerError', true)] });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(called(r, 'pollServerUpdate')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'VerificationFailed' });
      expect(pageOf(r)).toHaveLength(1);
    });

    it('a crash between the PATCH and the first look (the write step re-run): it reads first, finds the server Updating, then on the target, and never PATCHes again', async () => {
      const r = await run({ update: [{ error: 'host: worker died' }, busy, onTarget] });
      expect(called(r, 'updateServer')).toHaveLength(3);
      expect(called(r, 'pollServerUpdate')).toHaveLength(0);
      expect(called(r, 'verifyServer')).toHaveLength(0);
      expect(r.output).toMatchObject({ outcome: 'verified', slots: [{ from: V2, to: V2 }] });
    });

    it('a 202 without a usable operation handle: no poll, the server is read until it is Ready on the target', async () => {
      const r = await run({
        update: [{ ...accepted, handle: undefined }],
        verify: [updating, updating, updating, updating, updating, updating, valid],
      });
      expect(called(r, 'pollServerUpdate')).toHaveLength(0);
      // Watching the server is patient up to the operation timeout, not the 5 looks of a settling verify.
      expect(called(r, 'verifyServer')).toHaveLength(7);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
    });
  });
});
