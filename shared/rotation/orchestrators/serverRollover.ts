import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../../domain/audit';
import { diagnose } from '../../domain/diagnosis';
import type { Slot } from '../../domain/model';
import { incidentKeys } from '../ids';
import { ROTATION_SCHEMA_VERSION, type ServerOutcome, type ServerRolloverInput } from '../contract';
import { retryDelaySeconds } from '../policy';
import { type SlotChange } from '../../domain/serverUpdate';
import { movingFrom, slotChanges, updateStartedRecord } from '../../domain/serverUpdate';
import type { OperationRef, StepError, VerifyServerOutput } from '../activityIo';
import { mergeQuota, type ArmQuota } from '../pacing';
import {
  callStep,
  inputOf,
  log,
  pageOperator,
  recordAudit,
  undeliveredAudit,
  waitSeconds,
  type StepOptions,
} from '../../workflows/activityCalls';

/** How often a verification that is still settling (Updating, status not yet reported) is looked at again. */
const VERIFY_ATTEMPTS = 5;

type Failure = { code: string; message: string; identityId?: string | undefined };
type Expected = Partial<Record<Slot, string>>;

/** One server's rollover: its context, and what it learned so far (for the audit and the page). */
interface Rollover {
  readonly context: OrchestrationContext;
  readonly input: ServerRolloverInput;
  readonly started: number;
  readonly deadline: number;
  readonly base: AuditRecord;
  slots: SlotChange[];
  fromVersion: string | undefined;
  identityId: string | undefined;
  /** ARM's quota as this server's steps saw it last: handed to the parent, which paces the rollout by it. */
  quota: ArmQuota | undefined;
  /** How long ARM's operation for our PATCH ran (ARM's clock, else as this rollover saw it). */
  operationSeconds: number | undefined;
}

const now = (r: Rollover): number => r.context.df.currentUtcDateTime.getTime();

/**
 * One server: re-read it, PATCH the full encryption body if it still needs it, wait for ARM's operation
 * on durable timers, prove the result (Ready, key status Valid, URIs on the target), and on failure
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

function outcome(
  r: Rollover,
  kind: ServerOutcome['outcome'],
  extra: Partial<ServerOutcome> = {},
): ServerOutcome {
  const { server } = r.input;
  const auditUndelivered = undeliveredAudit(r.context);
  return {
    serverId: server.serverId,
    serverName: server.serverName,
    subscriptionId: server.subscriptionId,
    outcome: kind,
    slots: r.slots,
    ...(r.quota !== undefined ? { armQuota: r.quota } : {}),
    ...(r.operationSeconds !== undefined ? { operationSeconds: r.operationSeconds } : {}),
    ...extra,
    ...(auditUndelivered > 0 ? { auditUndelivered } : {}),
  };
}

/** Read steps of this server: retried on durable timers, each retry visible in the audit trail. */
function readOptions(r: Rollover, step: string): StepOptions {
  return {
    onRetry: function* (error: StepError, attempt: number, wait: number) {
      yield* recordAudit(r.context, [retriedRecord(r, step, error, attempt, wait)]);
    },
  };
}

function retriedRecord(
  r: Rollover,
  step: string,
  error: StepError,
  attempt: number,
  wait: number,
): AuditRecord {
  return {
    ...r.base,
    step: 'ServerUpdateRetried',
    outcome: 'info',
    fromVersion: r.fromVersion,
    reasonCode: error.code,
    reason: `${step} attempt ${attempt} failed (${error.message}); next attempt in ${wait}s`,
    details: { step, attempt: String(attempt), waitSeconds: String(wait) },
  };
}

const stepFailure = (e: StepError): Failure => ({
  code: e.code,
  message:
    e.attempts !== undefined && e.attempts > 1 ? `${e.message} (after ${e.attempts} attempts)` : e.message,
});

/** Keeps the latest quota reading a step brought back. */
function saw<T extends { readonly quota?: ArmQuota | undefined }>(r: Rollover, value: T): T {
  r.quota = mergeQuota(r.quota, value.quota);
  return value;
}

/**
 * The rollover, on the happy path four ARM requests: one read (prepare), the PATCH (same activity),
 * ARM's operation status until done, and one read of the server that is the verification.
 *
 * 1. Read the server and, if it needs it, PATCH it (`updateServer`). Busy with an operation
 *    (someone else's, or an earlier PATCH of ours whose answer was lost): wait on durable timers and
 *    read again, never PATCH over it. A refused PATCH worth retrying (throttled, busy, 5xx — which may
 *    hide an accepted PATCH) waits (Retry-After, else backoff, audited as `ServerUpdateRetried`) and
 *    goes through the same read first, so it finds the server Updating or on the target if ARM had
 *    in fact taken it.
 * 2. Poll ARM's operation; a poll that keeps failing is a read failure and never re-sends the PATCH:
 *    the server itself is watched instead.
 * 3. Verify (from the read that followed the operation, or a read of its own).
 */
function* rollover(r: Rollover): Generator<Task, ServerOutcome, unknown> {
  const { context, input } = r;
  const { server, settings } = input;
  let refusals = 0;
  /** 429s: the quota asking to wait. Counted apart from `refusals`: they cost no write attempt. */
  let throttles = 0;
  let started = false;
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
      readOptions(r, 'prepareServer'),
    );
    if (!step.ok) return yield* failed(r, stepFailure(step.error));
    const u = saw(r, step.value);
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
        const failure = yield* verify(r, u.expected, false, u.verification);
        // Found on the target after a PATCH of ours that looked refused (a 5xx it had in fact taken),
        // or behind at discovery and on the target now (our PATCH re-run after a crash lost its answer).
        const kind = refusals > 0 || input.server.behind === true ? 'updated' : 'verified';
        return failure === undefined ? yield* verified(r, kind) : yield* failed(r, failure);
      }
      case 'accepted':
      case 'refused': {
        r.slots = slotChanges(u.from, u.expected);
        r.fromVersion = movingFrom(r.slots);
        r.identityId = u.snapshot.dataEncryption.primaryUserAssignedIdentityId;
        // On record once the write step's answer is in this history: a crash before that re-runs the
        // step, which reads the server again first.
        if (!started) yield* recordAudit(context, [updateStartedRecord(r.base, u)]);
        started = true;
        if (u.kind === 'accepted') {
          log(context, `${server.serverName}: PATCHed dataEncryption to ${input.targetVersion}`);
          const done = yield* awaitOperation(r, u.handle, u.expected);
          if (done.failure !== undefined) return yield* failed(r, done.failure);
          const failure = yield* verify(r, u.expected, done.watchServer, done.verification);
          return failure === undefined ? yield* verified(r, 'updated') : yield* failed(r, failure);
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
            retriedRecord(r, 'beginServerUpdate', error, refusals + throttles, wait),
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
          retriedRecord(r, 'beginServerUpdate', error, refusals + throttles, wait),
        ]);
        yield* waitSeconds(context, wait);
        continue;
      }
    }
  }
}

/**
 * Polls ARM's operation on durable timers until it is done. A poll that fails after its read retries
 * never re-sends the PATCH: the server itself is watched instead (as when ARM gave no operation URL).
 */
function* awaitOperation(
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
function* verify(
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

function* verified(r: Rollover, kind: 'updated' | 'verified'): Generator<Task, ServerOutcome, unknown> {
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
function* failed(r: Rollover, failure: Failure): Generator<Task, ServerOutcome, unknown> {
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
    {
      dedupKey: incident.dedupKey,
      summary: `CMK rotation of ${server.serverName} to ${key.name}/${input.targetVersion} failed: ${diagnosis.what}`,
      severity: failure.code === 'ServerInaccessible' ? 'critical' : 'error',
      source: server.serverId,
      since: new Date(r.started).toISOString(),
      deadline: input.server.expiresOn,
      nextStep: diagnosis.nextStep,
      correlationId: input.correlationId,
      facts: {
        vault: key.vaultName,
        key: key.name,
        targetVersion: input.targetVersion,
        fromVersion: r.fromVersion ?? '-',
        reasonCode: failure.code,
        subscription: server.subscriptionId,
      },
    },
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
