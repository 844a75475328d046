import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import type { Incident } from '../domain/incident';
import { ACTIVITY_NAMES, type PageOperatorOutput } from '../domain/steps';

/**
 * Activities that only read or record are retried by the durable retry policy: a throttled read or a
 * flaky ingestion endpoint is worth a few more tries with backoff. Writes handle their own retries
 * (they honour Retry-After, which a retry policy cannot).
 */
export const READ_RETRY = new df.RetryOptions(5_000, 5);
READ_RETRY.backoffCoefficient = 2;
READ_RETRY.maxRetryIntervalInMilliseconds = 60_000;

/** A typed activity call: `const x = yield* callStep<X>(context, name, input)`. */
export function* callStep<T>(
  context: OrchestrationContext,
  name: string,
  input: unknown,
): Generator<Task, T, unknown> {
  return (yield context.df.callActivityWithRetry(name, READ_RETRY, input)) as T;
}

/** Waits on a durable timer (never a sleep: the orchestrator is unloaded while it waits). */
export function* waitSeconds(context: OrchestrationContext, seconds: number): Generator<Task, void, unknown> {
  const fireAt = new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000);
  yield context.df.createTimer(fireAt);
}

export function* recordAudit(
  context: OrchestrationContext,
  records: readonly AuditRecord[],
): Generator<Task, void, unknown> {
  if (records.length === 0) return;
  yield* callStep<undefined>(context, ACTIVITY_NAMES.recordAudit, records);
}

/**
 * Pages; a page that still fails after the retries is already in the audit trail (PageFailed), and the
 * rotation goes on: losing the rest of the rollout to a pager outage would be worse.
 */
export function* pageOperator(
  context: OrchestrationContext,
  incident: Incident,
  audit: AuditRecord,
): Generator<Task, boolean, unknown> {
  try {
    const out = yield* callStep<PageOperatorOutput>(context, ACTIVITY_NAMES.pageOperator, {
      incident,
      audit,
    });
    return out.delivered;
  } catch {
    return false;
  }
}

/** Logs only on the first execution of this code, never again on replays. */
export function log(context: OrchestrationContext, message: string): void {
  if (!context.df.isReplaying) context.log(message);
}
