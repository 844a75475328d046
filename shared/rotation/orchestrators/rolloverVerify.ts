import type { Task } from 'durable-functions';
import type { AuditRecord } from '../../domain/audit';
import { diagnose } from '../../domain/diagnosis';
import { callStep, log, pageOperator, recordAudit, waitSeconds } from '../../workflows/activityCalls';
import type { OperationRef, StepResult, VerifyServerOutput } from '../activityIo';
import type { ServerOutcome } from '../contract';
import { incidentKeys } from '../ids';
import { serverFailedIncident } from '../incidentText';
import {
  VERIFY_ATTEMPTS,
  now,
  outcome,
  readOptions,
  saw,
  stepFailure,
  recordedEarlier,
  takeUnrecorded,
  type Expected,
  type Failure,
  type Rollover,
} from './rolloverRun';

/** The end of a server's rollover: wait for ARM's operation, prove the result, record the outcome. */

/**
 * A server found verified at the first look after its PATCH says only that ARM's operation took at most
 * that long; it is reported as this share of the wait, so the typical duration the batch paces its
 * first looks by (the median, pacing.ts `firstPollSeconds`) can come down when operations get faster.
 * Found at a later look, the time seen is reported: at most one poll interval more than the operation.
 * Without the share, a first look could only ever move later (it never finds an operation done sooner
 * than it looks), and one slow stretch would slow every later server of the batch.
 */
export const DONE_AT_FIRST_LOOK_SHARE = 0.9;

/**
 * After ARM accepted the PATCH, the server itself is looked at on durable timers (one read that is
 * both the look at the operation and the verification): first when operations typically ended
 * (`firstPollSeconds`), then every poll interval.
 * - Ready on the target URIs, key status Valid: verified, no read of ARM's operation.
 * - Updating (the flexible server API's state while an operation runs on it): looked at again, up to
 *   the operation's deadline.
 * - Anything else (the operation ended, or has not started to show, and the server is not on the
 *   target): only then ARM's operation status is read, for ARM's own error (what the page needs) or
 *   "InProgress" (the server does not show the operation yet: looked at again). An operation that
 *   Succeeded leaves the failure to the verification (`verify`, settling as before).
 * A read that fails after its retries never re-sends the PATCH: a failed look at the server fails the
 * server (paged); a failed read of the operation status falls back to watching the server.
 */
export function* awaitOperation(
  r: Rollover,
  handle: OperationRef | undefined,
  expected: Expected,
): Generator<
  Task,
  { failure?: Failure; watchServer: boolean; verification?: VerifyServerOutput | undefined },
  unknown
> {
  const { context, input } = r;
  const { settings, server } = input;
  // ARM accepted the PATCH without an operation to poll: watch the server.
  if (handle === undefined) return { watchServer: true };
  const acceptedAt = now(r);
  const timedOut = (): Failure => ({
    code: 'OperationTimedOut',
    message: `still running after ${settings.operationTimeoutMinutes} minutes`,
  });
  // The first look when the operations before it typically ended (one read instead of several of a
  // server still Updating), never past the operation's deadline; the poll interval after that.
  let wait = Math.min(
    input.firstPollSeconds ?? settings.pollIntervalSeconds,
    Math.max(settings.pollIntervalSeconds, (r.deadline - now(r)) / 1000),
  );
  for (let look = 1; ; look++) {
    yield* waitSeconds(context, wait);
    wait = settings.pollIntervalSeconds;
    const v = yield* lookAt(r, expected, 'updated');
    if (!v.ok) return { failure: stepFailure(v.error), watchServer: false };
    const reading = saw(r, v.value);
    if (reading.ok) {
      const seen = (now(r) - acceptedAt) / 1000;
      r.operationSeconds = Math.round((look === 1 ? seen * DONE_AT_FIRST_LOOK_SHARE : seen) * 10) / 10;
      return { watchServer: false, verification: reading };
    }
    if (reading.updating !== true) {
      const s = yield* callStep(
        context,
        'pollServerUpdate',
        { handle, expected },
        readOptions(r, 'pollServerUpdate'),
      );
      if (!s.ok) {
        log(
          context,
          `${server.serverName}: operation status unreadable (${s.error.code}); watching the server`,
        );
        return { watchServer: true, verification: reading };
      }
      const p = saw(r, s.value);
      if (p.status === 'Failed') return { failure: { code: p.code, message: p.message }, watchServer: false };
      if (p.status === 'Succeeded') {
        r.operationSeconds = p.operationSeconds;
        return { watchServer: false, verification: p.verification ?? reading };
      }
    }
    if (now(r) > r.deadline) return { failure: timedOut(), watchServer: false };
    log(context, `${server.serverName}: operation still running; looking again`);
  }
}

/**
 * Proves the server works on the expected key URIs. Settles briefly if Azure is still reporting;
 * when watching the server (no operation to poll), waits while it is Updating up to the deadline.
 */
export function* verify(
  r: Rollover,
  expected: Expected,
  watchServer: boolean,
  first: VerifyServerOutput | undefined,
  kind: Verified,
): Generator<Task, { failure?: Failure; audited?: boolean | undefined }, unknown> {
  const { context, input } = r;
  let reading = first;
  for (let attempt = 1; ; attempt++) {
    if (reading === undefined) {
      const v = yield* lookAt(r, expected, kind);
      if (!v.ok) return { failure: stepFailure(v.error) };
      reading = saw(r, v.value);
    }
    const result = reading;
    reading = undefined;
    if (result.ok) return { audited: result.audited };
    const { pending, code, message, identityId } = result;
    if (!pending) return { failure: { code, message, identityId } };
    if (watchServer ? now(r) > r.deadline : attempt >= VERIFY_ATTEMPTS)
      return {
        failure: watchServer
          ? {
              code: 'OperationTimedOut',
              message: `${message} after ${input.settings.operationTimeoutMinutes} minutes`,
            }
          : { code, message, identityId },
      };
    yield* waitSeconds(context, input.settings.pollIntervalSeconds);
  }
}

/** How a server that went well went: moved by this rollover, or found on the target. */
export type Verified = 'updated' | 'verified';

/** The server's `ServerVerified` record, but for its `durationMs` (the time of the proof). */
function verifiedRecord(r: Rollover, kind: Verified): AuditRecord {
  return {
    ...r.base,
    step: 'ServerVerified',
    outcome: 'success',
    fromVersion: r.fromVersion,
    reason:
      kind === 'updated'
        ? 'Ready, key status Valid, on the target version'
        : 'Ready, key status Valid (no change needed)',
    // The rotation's output only counts the servers that went well: this record is the proof per
    // server, so it says which (customDimensions["detail.outcome"]).
    details: { outcome: kind },
  };
}

/**
 * One look at the server (`verifyServer`): it puts on record the `ServerVerified` when it proves the
 * server, and before it the records still waiting (`Rollover.unrecorded`), which stop waiting once the
 * trail took them. Refused there, they wait for the next write (a later look, the proof, the failure).
 */
function* lookAt(
  r: Rollover,
  expected: Expected,
  kind: Verified,
): Generator<Task, StepResult<VerifyServerOutput>, unknown> {
  // Built per attempt: a retry of the look carries only what its retry record did not already send.
  let along: AuditRecord[] = [];
  const v = yield* callStep(
    r.context,
    'verifyServer',
    () => {
      along = r.unrecorded;
      return {
        serverId: r.input.server.serverId,
        expected,
        audit: { record: verifiedRecord(r, kind), startedAt: r.started },
        ...(along.length > 0 ? { along } : {}),
      };
    },
    readOptions(r, 'verifyServer'),
  );
  // Only what the step says it put on record stops waiting (a step that ignored `along` says nothing).
  if (v.ok && v.value.audited === true && along.length > 0 && v.value.alongRecorded === along.length)
    recordedEarlier(r, along.length);
  return v;
}

/**
 * The server went well. `audited`: the look that proved it already put `ServerVerified` on record
 * (true: the trail took it; false: refused there, recorded here; undefined: nothing recorded there,
 * e.g. proven by ARM's operation status read or by the write step's own read). Records still waiting
 * (`Rollover.unrecorded`) are written here too, first, whatever `audited` says.
 */
export function* verified(
  r: Rollover,
  kind: Verified,
  audited: boolean | undefined,
): Generator<Task, ServerOutcome, unknown> {
  const earlier = takeUnrecorded(r);
  if (audited !== true || earlier.length > 0) {
    if (audited === false)
      log(r.context, `${r.input.server.serverName}: the look could not record ServerVerified; recording it`);
    yield* recordAudit(r.context, [
      ...earlier,
      ...(audited === true ? [] : [{ ...verifiedRecord(r, kind), durationMs: now(r) - r.started }]),
    ]);
  }
  return outcome(r, kind);
}

/** The server's failure: diagnosed, recorded (first), paged once per server and target version. */
export function* failed(r: Rollover, failure: Failure): Generator<Task, ServerOutcome, unknown> {
  const { context, input } = r;
  const { server, key } = input;
  const diagnosis = diagnose(failure.code, {
    vaultName: key.vaultName,
    keyName: key.name,
    serverName: server.serverName,
    identityId: failure.identityId ?? r.identityId,
    fromVersion: r.fromVersion,
  });
  const reason = `${diagnosis.what} (${failure.message})`;
  const incident = {
    dedupKey: incidentKeys.server(
      key.vaultName,
      key.name,
      input.targetVersion,
      server.serverName,
      server.serverId,
    ),
    kind: 'server' as const,
    serverId: server.serverId,
    version: input.targetVersion,
  };
  log(context, `${server.serverName}: failed with ${failure.code}`);
  yield* pageOperator(
    context,
    serverFailedIncident(
      {
        since: new Date(r.started).toISOString(),
        correlationId: input.correlationId,
        key,
        targetVersion: input.targetVersion,
        fromVersion: r.fromVersion,
        server,
      },
      incident.dedupKey,
      failure.code,
      diagnosis,
    ),
    {
      ...r.base,
      step: 'ServerFailed',
      outcome: 'failure',
      fromVersion: r.fromVersion,
      reasonCode: failure.code,
      reason,
      durationMs: now(r) - r.started,
    },
    takeUnrecorded(r),
  );
  return outcome(r, 'failed', { reasonCode: failure.code, reason, incident });
}
