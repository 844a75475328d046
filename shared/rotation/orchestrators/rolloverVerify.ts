import type { Task } from 'durable-functions';
import { diagnose } from '../../domain/diagnosis';
import { callStep, log, pageOperator, recordAudit, waitSeconds } from '../../workflows/activityCalls';
import type { OperationRef, VerifyServerOutput } from '../activityIo';
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
  type Expected,
  type Failure,
  type Rollover,
} from './rolloverRun';

/** The end of a server's rollover: wait for ARM's operation, prove the result, record the outcome. */

/**
 * Polls ARM's operation on durable timers until it is done. A poll that fails after its read retries
 * never re-sends the PATCH: the server itself is watched instead (as when ARM gave no operation URL).
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
  // The first look when the operations before it typically ended (one read instead of several
  // "InProgress" ones), never past the operation's deadline; the poll interval after that.
  let wait = Math.min(
    input.firstPollSeconds ?? settings.pollIntervalSeconds,
    Math.max(settings.pollIntervalSeconds, (r.deadline - now(r)) / 1000),
  );
  for (;;) {
    yield* waitSeconds(context, wait);
    wait = settings.pollIntervalSeconds;
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
      return { watchServer: true };
    }
    const p = saw(r, s.value);
    if (p.status === 'Succeeded') {
      // ARM's own timing only: a duration seen from here includes the wait itself, so the typical
      // duration could only grow, never come back down.
      r.operationSeconds = p.operationSeconds;
      return { watchServer: false, verification: p.verification };
    }
    if (p.status === 'Failed') return { failure: { code: p.code, message: p.message }, watchServer: false };
    if (now(r) > r.deadline)
      return {
        failure: {
          code: 'OperationTimedOut',
          message: `still running after ${settings.operationTimeoutMinutes} minutes`,
        },
        watchServer: false,
      };
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
): Generator<Task, Failure | undefined, unknown> {
  const { context, input } = r;
  let reading = first;
  for (let attempt = 1; ; attempt++) {
    if (reading === undefined) {
      const v = yield* callStep(
        context,
        'verifyServer',
        { serverId: input.server.serverId, expected },
        readOptions(r, 'verifyServer'),
      );
      if (!v.ok) return stepFailure(v.error);
      reading = saw(r, v.value);
    }
    const result = reading;
    reading = undefined;
    if (result.ok) return undefined;
    const { pending, code, message, identityId } = result;
    if (!pending) return { code, message, identityId };
    if (watchServer ? now(r) > r.deadline : attempt >= VERIFY_ATTEMPTS)
      return watchServer
        ? {
            code: 'OperationTimedOut',
            message: `${message} after ${input.settings.operationTimeoutMinutes} minutes`,
          }
        : { code, message, identityId };
    yield* waitSeconds(context, input.settings.pollIntervalSeconds);
  }
}

export function* verified(
  r: Rollover,
  kind: 'updated' | 'verified',
): Generator<Task, ServerOutcome, unknown> {
  yield* recordAudit(r.context, [
    {
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
      durationMs: now(r) - r.started,
    },
  ]);
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
  );
  return outcome(r, 'failed', { reasonCode: failure.code, reason, incident });
}
