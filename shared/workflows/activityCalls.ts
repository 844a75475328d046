import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import type { Incident } from '../domain/incident';
import { backoffSeconds, RETRY_POLICIES, type RetryPolicy } from '../rotation/policy';
import {
  ACTIVITY_NAMES,
  type OrchestrationContract,
  type StepInput,
  type StepName,
  type StepOutput,
} from '../rotation/contract';
import { type StepError, type StepResult } from '../rotation/activityIo';

/**
 * The durable helpers every orchestrator uses: a typed activity call with its retry policy (`callStep`),
 * the audit and page steps, the input reader and replay-safe logging. They live here, not in
 * shared/rotation/orchestrators, because the health watch (./healthWatch.ts, not part of the rotation)
 * calls them too: both import this file and it imports only the pure rotation contract and policy,
 * so neither orchestrator folder imports the other and no cycle can form.
 */

export interface StepOptions {
  /** Default: `RETRY_POLICIES.read`. Writes pass `RETRY_POLICIES.once` and decide themselves. */
  readonly policy?: RetryPolicy;
  /** Called before each wait, e.g. to put the retry in the audit trail. */
  readonly onRetry?: (
    error: StepError,
    attempt: number,
    waitSeconds: number,
  ) => Generator<Task, void, unknown>;
}

/**
 * A typed activity call: `const r = yield* callStep(context, 'readKey', input)`. Never throws: the
 * answer is the step's output or its error. A retryable error is tried again on durable timers
 * within the policy's budget; a permanent one is returned at once. An activity that failed without
 * an answer (the worker died, the host timed it out) counts as retryable: the step may run twice, so
 * every activity is idempotent or re-reads before it writes. `input` may be built for each attempt (a
 * function): what an attempt carries can depend on what the retries before it did.
 */
export function* callStep<K extends StepName>(
  context: OrchestrationContext,
  name: K,
  input: StepInput<K> | (() => StepInput<K>),
  options: StepOptions = {},
): Generator<Task, StepResult<StepOutput<K>>, unknown> {
  const policy = options.policy ?? RETRY_POLICIES.read;
  for (let attempt = 1; ; attempt++) {
    let result: StepResult<StepOutput<K>>;
    const attemptInput = typeof input === 'function' ? input() : input;
    try {
      result = (yield context.df.callActivity(ACTIVITY_NAMES[name], attemptInput)) as StepResult<
        StepOutput<K>
      >;
    } catch (e) {
      result = {
        ok: false,
        error: {
          code: 'ActivityFailed',
          message: e instanceof Error ? e.message : String(e),
          retryable: true,
        },
      };
    }
    if (result.ok) return result;
    if (!result.error.retryable || attempt >= policy.maxAttempts)
      return { ok: false, error: { ...result.error, attempts: attempt } };
    const wait = backoffSeconds(policy, attempt, result.error.retryAfterSeconds);
    log(
      context,
      `${name}: ${result.error.code}, attempt ${attempt} of ${policy.maxAttempts}, retrying in ${wait}s`,
    );
    if (options.onRetry !== undefined) yield* options.onRetry(result.error, attempt, wait);
    yield* waitSeconds(context, wait);
  }
}

/**
 * The same step for many inputs, side by side, each answered on its own: one activity that failed
 * without an answer (after the host's own handling: the worker died, it timed out) becomes that input's
 * `ActivityFailed` result and never the others'. `Task.all` fails fast, so when one faults the others
 * may still run: they are seen through their tasks' state after a short durable timer (a task is never
 * yielded twice: durable-functions would schedule it again, Azure/azure-functions-durable-js#574).
 * Not retried here: the caller decides (the health watch tries again on its next pass).
 */
export function* settledSteps<K extends StepName>(
  context: OrchestrationContext,
  name: K,
  inputs: readonly StepInput<K>[],
  lookAgainSeconds = 5,
): Generator<Task, StepResult<StepOutput<K>>[], unknown> {
  if (inputs.length === 0) return [];
  const tasks = inputs.map((input) => context.df.callActivity(ACTIVITY_NAMES[name], input));
  try {
    yield context.df.Task.all(tasks);
  } catch {
    // One faulted: each task's own state below says what became of it.
  }
  while (tasks.some((t) => !t.isCompleted && !t.isFaulted)) yield* waitSeconds(context, lookAgainSeconds);
  return tasks.map((t): StepResult<StepOutput<K>> => {
    if (!t.isFaulted) return t.result as StepResult<StepOutput<K>>;
    const e = t.result;
    return {
      ok: false,
      error: {
        code: 'ActivityFailed',
        message: e instanceof Error ? e.message : String(e),
        retryable: true,
        attempts: 1,
      },
    };
  });
}

/** The typed input of this orchestration. */
export function inputOf<K extends keyof OrchestrationContract>(
  context: OrchestrationContext,
  _name: K,
): OrchestrationContract[K]['input'] {
  return context.df.getInput<OrchestrationContract[K]['input']>();
}

/** Waits on a durable timer (never a sleep: the orchestrator is unloaded while it waits). */
export function* waitSeconds(context: OrchestrationContext, seconds: number): Generator<Task, void, unknown> {
  const fireAt = new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000);
  yield context.df.createTimer(fireAt);
}

/**
 * Records the trail refused, per orchestration execution. Rebuilt on every replay (the generator runs
 * from the start with a fresh context each episode and sees the same step results), so it is as
 * deterministic as the history it is derived from.
 */
const undelivered = new WeakMap<OrchestrationContext, number>();

/** How many audit records this execution could not deliver (after the retries). */
export function undeliveredAudit(context: OrchestrationContext): number {
  return undelivered.get(context) ?? 0;
}

/**
 * Records audit records; true once the trail accepted them. A trail still refusing after the retry
 * budget is logged and the rotation goes on (a lost rollout would be worse than a late record); the
 * records are not claimed sent: they are counted (`undeliveredAudit`) into the run's output, all of
 * them unless `lost` says how many are lost with the refusal (the caller keeps the rest, to send later).
 */
export function* recordAudit(
  context: OrchestrationContext,
  records: readonly AuditRecord[],
  lost: number = records.length,
): Generator<Task, boolean, unknown> {
  if (records.length === 0) return true;
  const r = yield* callStep(context, 'recordAudit', records);
  if (!r.ok) {
    undelivered.set(context, undeliveredAudit(context) + lost);
    log(context, `audit trail refused ${records.length} record(s): ${r.error.code}`);
  }
  return r.ok;
}

/**
 * Records the step that pages first (so a pager or audit outage never loses it), then pages, then
 * records what became of the page: `OperatorPaged`, or `PageFailed` with the error code (no pager
 * configured, every channel refusing after the retries). The rotation goes on either way.
 */
export function* pageOperator(
  context: OrchestrationContext,
  incident: Incident,
  audit: AuditRecord,
  /** Records the caller earned earlier and has not put on the trail yet: written first, in the same write. */
  earlier: readonly AuditRecord[] = [],
): Generator<Task, boolean, unknown> {
  yield* recordAudit(context, [...earlier, audit]);
  const r = yield* callStep(context, 'pageOperator', { incident });
  const base = {
    ...audit,
    details: { dedupKey: incident.dedupKey, severity: incident.severity, summary: incident.summary },
    durationMs: undefined,
  };
  const records: AuditRecord[] = [];
  if (r.ok && r.value.delivered)
    records.push({
      ...base,
      step: 'OperatorPaged',
      outcome: 'info',
      reason: `paged via ${r.value.channels
        .filter((c) => c.ok)
        .map((c) => c.channel)
        .join(', ')}`,
    });
  const refused = r.ok ? r.value.channels.filter((c) => !c.ok) : [];
  if (!r.ok || r.value.channels.length === 0 || refused.length > 0)
    records.push({
      ...base,
      step: 'PageFailed',
      outcome: 'failure',
      reasonCode: !r.ok ? r.error.code : refused.length > 0 ? 'PagerUnavailable' : 'NoPagerConfigured',
      reason: !r.ok
        ? `${r.error.message} (${r.error.attempts ?? 1} attempt(s))`
        : refused.length > 0
          ? refused.map((c) => `${c.channel}: ${c.reason ?? 'refused'}`).join('; ')
          : 'no pager is configured; the incident is recorded here only',
    });
  yield* recordAudit(context, records);
  return r.ok && r.value.delivered;
}

/** Logs only on the first execution of this code, never again on replays. */
export function log(context: OrchestrationContext, message: string): void {
  if (!context.df.isReplaying) context.log(message);
}
