import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import { diagnose } from '../domain/diagnosis';
import { tryParseKeyUri } from '../domain/keyId';
import type { Slot } from '../domain/model';
import {
  incidentKeys,
  RETRY_POLICIES,
  ROTATION_SCHEMA_VERSION,
  retryDelaySeconds,
  type ServerOutcome,
  type ServerRolloverInput,
  type SlotChange,
} from '../domain/rotation';
import type { OperationRef, PrepareServerOutput, StepError } from '../domain/steps';
import {
  callStep,
  inputOf,
  log,
  pageOperator,
  recordAudit,
  undeliveredAudit,
  waitSeconds,
  type StepOptions,
} from './steps';

/** How often a verification that is still settling (Updating, status not yet reported) is looked at again. */
const VERIFY_ATTEMPTS = 5;

type Failure = { code: string; message: string; identityId?: string | undefined };
type Expected = Partial<Record<Slot, string>>;

const versionOf = (uri: string | undefined): string | undefined =>
  uri === undefined ? undefined : (tryParseKeyUri(uri)?.version ?? 'versionless');

function changes(from: Expected, to: Expected): SlotChange[] {
  return (['primary', 'geoBackup'] as const)
    .filter((slot) => to[slot] !== undefined || from[slot] !== undefined)
    .map((slot) => ({ slot, from: versionOf(from[slot]), to: versionOf(to[slot]) }));
}

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

function* rollover(r: Rollover): Generator<Task, ServerOutcome, unknown> {
  const { context, input } = r;
  const { server, settings } = input;

  // 1. The server as it is now. Busy with an operation (someone else's, or an earlier PATCH of ours
  //    whose answer was lost): wait for it on durable timers, never PATCH over it.
  let prep: PrepareServerOutput;
  for (;;) {
    const p = yield* callStep(
      context,
      'prepareServer',
      {
        serverId: server.serverId,
        key: input.key,
        targetVersion: input.targetVersion,
        optOutTag: settings.optOutTag,
        holdTag: settings.holdTag,
      },
      readOptions(r, 'prepareServer'),
    );
    if (!p.ok) return yield* failed(r, stepFailure(p.error));
    prep = p.value;
    if (prep.kind !== 'updating') break;
    if (now(r) > r.deadline)
      return yield* failed(r, {
        code: 'ServerBusy',
        message: `still Updating after ${settings.operationTimeoutMinutes} minutes`,
      });
    log(context, `${server.serverName}: Updating; waiting before re-reading it`);
    yield* waitSeconds(context, settings.pollIntervalSeconds);
  }

  switch (prep.kind) {
    case 'skip':
      yield* recordAudit(context, [
        { ...r.base, step: 'ServerSkipped', outcome: 'skipped', reasonCode: prep.code, reason: prep.reason },
      ]);
      return outcome(r, 'skipped', { reasonCode: prep.code, reason: prep.reason });
    case 'inaccessible':
      r.slots = changes(prep.from, prep.from);
      r.fromVersion = r.slots[0]?.from;
      return yield* failed(r, { code: 'ServerInaccessible', message: prep.reason });
    case 'verify': {
      r.slots = changes(prep.expected, prep.expected);
      r.fromVersion = r.slots[0]?.from;
      const failure = yield* verify(r, prep.expected, false);
      return failure === undefined ? yield* verified(r, 'verified') : yield* failed(r, failure);
    }
    case 'update': {
      r.slots = changes(prep.from, prep.expected);
      r.fromVersion = r.slots.find((s) => s.from !== s.to)?.from ?? r.slots[0]?.from;
      r.identityId = prep.snapshot.dataEncryption.primaryUserAssignedIdentityId;
      log(context, `${server.serverName}: PATCH dataEncryption to ${input.targetVersion}`);
      yield* recordAudit(context, [
        {
          ...r.base,
          fromVersion: r.fromVersion,
          reason: `moving ${r.slots.map((s) => `${s.slot} ${s.from ?? '-'} -> ${s.to ?? '-'}`).join(', ')}`,
          details: { lastKnownGood: JSON.stringify(prep.snapshot) },
        },
      ]);
      const written = yield* write(r, prep);
      if (written.failure !== undefined) return yield* failed(r, written.failure);
      const failure = yield* verify(r, prep.expected, written.watchServer);
      return failure === undefined ? yield* verified(r, 'updated') : yield* failed(r, failure);
    }
  }
  return yield* failed(r, { code: 'UnexpectedError', message: 'unknown preparation' });
}

/**
 * The PATCH, sent at most once per attempt and only after the activity re-read the server: a refusal
 * worth retrying (throttled, busy, 5xx — which may hide an accepted PATCH) waits (Retry-After, else
 * backoff, audited as `ServerUpdateRetried`) and tries again, finding the server Updating or on the
 * target if ARM had in fact taken it. Then ARM's operation is polled; a poll that keeps failing is a
 * read failure and never re-sends the PATCH: the server itself is watched instead.
 */
function* write(
  r: Rollover,
  prep: Extract<PrepareServerOutput, { kind: 'update' }>,
): Generator<Task, { failure?: Failure; watchServer: boolean }, unknown> {
  const { context, input } = r;
  const { settings, server } = input;
  let handle: OperationRef | undefined;
  for (let attempt = 1; ; attempt++) {
    const b = yield* callStep(
      context,
      'beginServerUpdate',
      { serverId: server.serverId, patch: prep.patch, expected: prep.expected },
      { policy: RETRY_POLICIES.once },
    );
    if (b.ok) {
      if (b.value.kind === 'onTarget') return { watchServer: false };
      if (b.value.kind === 'updating') return { watchServer: true };
      handle = b.value.handle;
      break;
    }
    if (!b.error.retryable)
      return { failure: { code: b.error.code, message: b.error.message }, watchServer: false };
    if (attempt >= settings.maxWriteAttempts)
      return {
        failure: { code: 'RetriesExhausted', message: `${attempt} attempts, last: ${b.error.code}` },
        watchServer: false,
      };
    const wait = retryDelaySeconds(attempt, b.error.retryAfterSeconds);
    log(context, `${server.serverName}: ${b.error.code}, retrying in ${wait}s`);
    yield* recordAudit(context, [retriedRecord(r, 'beginServerUpdate', b.error, attempt, wait)]);
    yield* waitSeconds(context, wait);
  }
  // ARM accepted the PATCH without an operation to poll: watch the server.
  if (handle === undefined) return { watchServer: true };

  for (;;) {
    yield* waitSeconds(context, settings.pollIntervalSeconds);
    const s = yield* callStep(context, 'pollServerUpdate', { handle }, readOptions(r, 'pollServerUpdate'));
    if (!s.ok) {
      log(
        context,
        `${server.serverName}: operation status unreadable (${s.error.code}); watching the server`,
      );
      return { watchServer: true };
    }
    if (s.value.status === 'Succeeded') return { watchServer: false };
    if (s.value.status === 'Failed')
      return { failure: { code: s.value.code, message: s.value.message }, watchServer: false };
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
): Generator<Task, Failure | undefined, unknown> {
  const { context, input } = r;
  for (let attempt = 1; ; attempt++) {
    const v = yield* callStep(
      context,
      'verifyServer',
      { serverId: input.server.serverId, expected },
      readOptions(r, 'verifyServer'),
    );
    if (!v.ok) return stepFailure(v.error);
    if (v.value.ok) return undefined;
    const { pending, code, message, identityId } = v.value;
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
      deadline: input.expiresOn,
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
