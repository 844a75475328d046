import type { OrchestrationContext, Task } from 'durable-functions';
import { movingFrom, slotChanges, updateStartedRecord } from '../../domain/serverUpdate';
import { callStep, inputOf, log, recordAudit, waitSeconds } from '../../workflows/activityCalls';
import { ROTATION_SCHEMA_VERSION, type ServerOutcome } from '../contract';
import { retryDelaySeconds } from '../policy';
import { reportQuota } from './governed';
import {
  STARTED_RECORD_MAX_WAIT_SECONDS,
  now,
  outcome,
  readOptions,
  retriedRecord,
  saw,
  stepFailure,
  type Rollover,
} from './rolloverRun';
import { awaitOperation, failed, verified, verify } from './rolloverVerify';

/**
 * One server: re-read it, PATCH the full encryption body if it still needs it, wait for ARM's operation
 * on durable timers (looking at the server), prove the result (Ready, key status Valid, URIs on the target), and on failure
 * page with a diagnosis. It never throws to its parent: every failure inside — a step that still fails
 * after its retries, a permanent refusal, an unexpected exception — becomes this server's `failed`
 * outcome, audited and paged once, so one server cannot fail the rotation of the others.
 */
export function* serverRolloverOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ServerOutcome, unknown> {
  const input = inputOf(context, 'serverRollover');
  if (input.schemaVersion !== ROTATION_SCHEMA_VERSION)
    // Started by another deployment: end at once, touching nothing (its parent ends too; the next
    // run of the key starts again under this version).
    return {
      serverId: input.server.serverId,
      serverName: input.server.serverName,
      subscriptionId: input.server.subscriptionId,
      outcome: 'skipped',
      slots: [],
      reasonCode: 'SchemaVersionChanged',
      reason: 'started by another deployment; the next run of the key handles this server',
    };
  // The start time the subscription's quota governor gave this server: nothing is read or written before.
  if (input.notBefore !== undefined && input.notBefore > context.df.currentUtcDateTime.getTime())
    yield context.df.createTimer(new Date(input.notBefore));
  const started = context.df.currentUtcDateTime.getTime();
  const r: Rollover = {
    context,
    input,
    started,
    deadline: started + input.settings.operationTimeoutMinutes * 60_000,
    base: {
      step: 'ServerUpdateStarted',
      correlationId: input.correlationId,
      trigger: input.trigger,
      outcome: 'info',
      vault: input.key.vaultName,
      key: input.key.name,
      toVersion: input.targetVersion,
      serverId: input.server.serverId,
      subscriptionId: input.server.subscriptionId,
    },
    slots: [],
    fromVersion: undefined,
    identityId: undefined,
    quota: undefined,
    operationSeconds: undefined,
    stepCalls: {},
    unrecorded: [],
  };
  try {
    return yield* rollover(r);
  } catch (e) {
    return yield* failed(r, {
      code: 'UnexpectedError',
      message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    });
  }
}

/**
 * The rollover, on the happy path three ARM requests: one read and the PATCH (`updateServer`), and
 * one read of the server once its operation typically ended, which is both the look at the operation
 * and the verification (ARM's operation status is read only when the server ended off the target).
 *
 * 1. Read the server and, if it needs it, PATCH it (`updateServer`). Busy with an operation
 *    (someone else's, or an earlier PATCH of ours whose answer was lost): wait on durable timers and
 *    read again, never PATCH over it. A refused PATCH worth retrying (throttled, busy, 5xx — which may
 *    hide an accepted PATCH) waits (Retry-After, else backoff, audited as `ServerUpdateRetried`) and
 *    goes through the same read first, so it finds the server Updating or on the target if ARM had
 *    in fact taken it. One case a read cannot tell: a hidden PATCH whose operation already ended and
 *    failed leaves the server as it was, Ready and behind, and it is PATCHed again (a write decided
 *    on a fresh read, not a blind resend; ARM answers no list of a server's operations to ask).
 * 2. Look at the server until it is no longer Updating (`awaitOperation`); a look that keeps failing
 *    is a read failure and never re-sends the PATCH.
 * 3. Verify (from that look, or ARM's operation status and a read of its own when it ended off the
 *    target).
 */
function* rollover(r: Rollover): Generator<Task, ServerOutcome, unknown> {
  const { context, input } = r;
  const { server, settings } = input;
  let refusals = 0;
  /** 429s: the quota asking to wait. Counted apart from `refusals`: they cost no write attempt. */
  let throttles = 0;
  let started = false;
  let arrivalReported = false;
  for (;;) {
    const step = yield* callStep(
      context,
      'updateServer',
      {
        serverId: server.serverId,
        key: input.key,
        targetVersion: input.targetVersion,
        optOutTag: settings.optOutTag,
        holdTag: settings.holdTag,
      },
      readOptions(r, 'updateServer'),
    );
    if (!step.ok) return yield* failed(r, stepFailure(step.error));
    const u = saw(r, step.value);
    if (input.reportArrival === true && input.notBefore !== undefined && !arrivalReported) {
      // The governor's model counted its full bucket's refill from this server's start time; ARM's
      // bucket sat full until this step's requests reached it (when ARM accepted the PATCH, else when
      // the step answered: later than its read, so the model moves a little more than ARM lost).
      arrivalReported = true;
      reportQuota(context, server.subscriptionId, {
        slot: input.notBefore,
        at: u.kind === 'accepted' && u.acceptedAt !== undefined ? u.acceptedAt : now(r),
      });
    }
    switch (u.kind) {
      case 'updating':
        if (now(r) > r.deadline)
          return yield* failed(r, {
            code: 'ServerBusy',
            message: `still Updating after ${settings.operationTimeoutMinutes} minutes`,
          });
        log(context, `${server.serverName}: Updating; waiting before re-reading it`);
        yield* waitSeconds(context, settings.pollIntervalSeconds);
        continue;
      case 'skip':
        yield* recordAudit(context, [
          { ...r.base, step: 'ServerSkipped', outcome: 'skipped', reasonCode: u.code, reason: u.reason },
        ]);
        return outcome(r, 'skipped', { reasonCode: u.code, reason: u.reason });
      case 'inaccessible':
        r.slots = slotChanges(u.from, u.from);
        r.fromVersion = r.slots[0]?.from;
        return yield* failed(r, { code: 'ServerInaccessible', message: u.reason });
      case 'verify': {
        if (r.slots.length === 0) {
          r.slots = slotChanges(u.expected, u.expected);
          r.fromVersion = r.slots[0]?.from;
        }
        // Found on the target after a PATCH of ours that looked refused (a 5xx it had in fact taken),
        // or behind at discovery and on the target now (our PATCH re-run after a crash lost its answer).
        const kind = refusals > 0 || input.server.behind === true ? 'updated' : 'verified';
        const done = yield* verify(r, u.expected, false, u.verification, kind);
        return done.failure === undefined
          ? yield* verified(r, kind, done.audited)
          : yield* failed(r, done.failure);
      }
      case 'accepted':
      case 'refused': {
        r.slots = slotChanges(u.from, u.expected);
        r.fromVersion = movingFrom(r.slots);
        r.identityId = u.snapshot.dataEncryption.primaryUserAssignedIdentityId;
        // On record once the write step's answer is in this history: a crash before that re-runs the
        // step, which reads the server again first. The step itself records nothing (see updateServer).
        // Accepted, it goes with the first look at the server when that look is due soon (one activity
        // and one episode fewer per server), saying when ARM accepted the PATCH; refused, or the first
        // look far off (STARTED_RECORD_MAX_WAIT_SECONDS), it goes now.
        const firstLook = input.firstPollSeconds ?? settings.pollIntervalSeconds;
        if (!started && u.kind === 'accepted' && firstLook <= STARTED_RECORD_MAX_WAIT_SECONDS)
          r.unrecorded.push(updateStartedRecord(r.base, u, u.acceptedAt ?? now(r)));
        else if (!started) yield* recordAudit(context, [updateStartedRecord(r.base, u)]);
        started = true;
        if (u.kind === 'accepted') {
          log(context, `${server.serverName}: PATCHed dataEncryption to ${input.targetVersion}`);
          const looked = yield* awaitOperation(r, u.handle, u.expected);
          if (looked.failure !== undefined) return yield* failed(r, looked.failure);
          const done = yield* verify(r, u.expected, looked.watchServer, looked.verification, 'updated');
          return done.failure === undefined
            ? yield* verified(r, 'updated', done.audited)
            : yield* failed(r, done.failure);
        }
        const { error } = u;
        if (error.throttled === true) {
          // 429: the quota asking us to wait, not a failed write. Learn, "Request limits and
          // throttling" (azure-resource-manager/management/request-limits-and-throttling): past the
          // limit ARM answers 429 with Retry-After and the request "isn't processed"; a resource
          // provider's own 429 (e.g. RetryableErrorDueToAnotherOperation) reports a temporary state
          // of the resource. Neither starts an operation (that is a 201/202 with an operation URL).
          // And the next attempt re-reads the server first (`updateServer`), so even so it would find
          // the server Updating or on the target, never PATCH blind. It costs no write attempt; the
          // waits are bounded by the operation's deadline, and only that deadline fails (and pages).
          throttles++;
          const wait = retryDelaySeconds(throttles, error.retryAfterSeconds);
          if (now(r) + wait * 1000 > r.deadline)
            return yield* failed(r, {
              code: 'ThrottledPastDeadline',
              message: `${throttles} throttled attempt(s) (429) over ${Math.round((now(r) - r.started) / 1000)}s; Retry-After ${wait}s would pass the ${settings.operationTimeoutMinutes}-minute deadline`,
            });
          log(context, `${server.serverName}: throttled (429), retrying in ${wait}s`);
          yield* recordAudit(context, [
            retriedRecord(r, 'updateServer', error, refusals + throttles, wait, 'writeRefused'),
          ]);
          yield* waitSeconds(context, wait);
          continue;
        }
        refusals++;
        if (!error.retryable) return yield* failed(r, { code: error.code, message: error.message });
        if (refusals >= settings.maxWriteAttempts)
          return yield* failed(r, {
            code: 'RetriesExhausted',
            message: `${refusals} attempts, last: ${error.code}`,
          });
        const wait = retryDelaySeconds(refusals, error.retryAfterSeconds);
        log(context, `${server.serverName}: ${error.code}, retrying in ${wait}s`);
        yield* recordAudit(context, [
          retriedRecord(r, 'updateServer', error, refusals + throttles, wait, 'writeRefused'),
        ]);
        yield* waitSeconds(context, wait);
        continue;
      }
    }
  }
}
