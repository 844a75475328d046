import { RETRY_POLICIES } from '../../../../shared/rotation/policy';
import type { ServerOutcome, ServerRolloverInput } from '../../../../shared/rotation/contract';
import type { PollServerUpdateOutput, VerifyServerOutput } from '../../../../shared/rotation/activityIo';
import { stepFailed } from '../../../support/orchestration';
import { V2, inDays } from './fixtures';
import {
  IDENTITY,
  input,
  accepted,
  valid,
  updating,
  succeeded,
  run,
  timerWaits,
  called,
  pageOf,
  audits,
} from './rolloverHarness';

/**
 * A server's rollover after the PATCH (rolloverVerify.ts): ARM's operation polled on durable timers,
 * then the result proved (Ready, key status Valid, on the target) or diagnosed.
 */
describe('serverRollover: waiting for the operation and verifying (rolloverVerify.ts)', () => {
  it.each<[string, Partial<ServerRolloverInput>, PollServerUpdateOutput, number[], number | undefined]>([
    // name, input, the answer that succeeds, timer waits, operationSeconds of the outcome
    [
      'without a hint: every look after the poll interval; no duration when ARM reported none (one seen from here would include the wait)',
      {},
      succeeded,
      [10, 10],
      undefined,
    ],
    [
      'with firstPollSeconds: the first look after it, the next after the poll interval; the duration ARM reported',
      { firstPollSeconds: 95 },
      { ...succeeded, operationSeconds: 97.5 },
      [95, 10],
      97.5,
    ],
  ])('paces the polls: %s', async (_, extra, done, waits, seconds) => {
    const r = await run({ poll: [{ status: 'InProgress' }, done] }, {}, extra);
    expect(timerWaits(r)).toEqual(waits);
    expect(r.output).toMatchObject({ outcome: 'updated' });
    expect((r.output as ServerOutcome).operationSeconds).toBe(seconds);
  });

  it('never waits for a first poll past the operation deadline: a first poll of 290 s with a 1-minute timeout looks at the deadline, and a still-running operation times out there', async () => {
    const r = await run(
      { poll: [{ status: 'InProgress' }] },
      { operationTimeoutMinutes: 1 },
      { firstPollSeconds: 290 },
    );
    expect(timerWaits(r)).toEqual([58]);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'OperationTimedOut' });
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
    expect(page).toMatchObject({ severity: 'error', source: input.server.serverId, deadline: inDays(65) });
    expect(page?.summary).toContain('identity id-a of pg-a may not use key pg-cmk');
    expect(page?.nextStep).toContain('Key Vault Crypto Service Encryption User');
  });

  it('waits while verification is still settling, then fails if the key status is not Valid', async () => {
    const invalid: VerifyServerOutput = {
      ok: false,
      pending: false,
      code: 'VerificationFailed',
      message: 'primary key status is Invalid',
      identityId: IDENTITY,
    };
    const r = await run({ poll: [{ status: 'Succeeded', verification: updating }], verify: [invalid] });
    expect(called(r, 'verifyServer')).toHaveLength(1);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'VerificationFailed' });
  });

  it('verifies with a read of its own when the read after the operation failed', async () => {
    const r = await run({ poll: [{ status: 'Succeeded', verification: undefined }] });
    expect(called(r, 'verifyServer')).toHaveLength(1);
    expect((r.output as ServerOutcome).outcome).toBe('updated');
  });

  it('diagnoses an operation still running after operationTimeoutMinutes as stuck', async () => {
    const r = await run({ poll: [{ status: 'InProgress' }] }, { operationTimeoutMinutes: 2 });
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'OperationTimedOut' });
    // A poll cycle is the 10 s timer plus the activity (1 s in this driver): the first poll past the
    // 2-minute deadline (the 11th, at 1 s + 11 × 11 s = 122 s) gives up.
    expect(called(r, 'pollServerUpdate')).toHaveLength(11);
  });

  describe("failure paths: every failure becomes this server's outcome, never a throw to the parent", () => {
    it('4 × 500 on the operation status after an accepted PATCH: the poll is retried as a read, the PATCH is sent once', async () => {
      const r = await run({
        poll: [...Array.from({ length: 4 }, () => stepFailed('InternalServerError', true)), succeeded],
      });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(called(r, 'pollServerUpdate')).toHaveLength(5);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
      expect(
        audits(r)
          .filter((a) => a.step === 'ServerUpdateRetried')
          .map((a) => a.details?.['step']),
      ).toEqual(['pollServerUpdate', 'pollServerUpdate', 'pollServerUpdate', 'pollServerUpdate']);
    });

    it('an operation status that stays unreadable: watches the server itself (never a second PATCH)', async () => {
      const r = await run({
        poll: [stepFailed('InternalServerError', true)],
        verify: [updating, updating, valid],
      });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(called(r, 'pollServerUpdate')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(called(r, 'verifyServer')).toHaveLength(3);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
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
