import type { OrchestrationContext } from 'durable-functions';
import type { AuditRecord } from '../../domain/audit';
import type { Slot } from '../../domain/model';
import type { SlotChange } from '../../domain/serverUpdate';
import { recordAudit, undeliveredAudit, type StepOptions } from '../../workflows/activityCalls';
import type { StepError } from '../activityIo';
import type { ServerOutcome, ServerRolloverInput, StepName } from '../contract';
import { mergeQuota, type ArmQuota } from '../pacing';
import { reportQuota } from './governed';

/** One server's rollover as its steps share it: its state, its outcome and its retries' records. */

/** How often a verification that is still settling (Updating, status not yet reported) is looked at again. */
export const VERIFY_ATTEMPTS = 5;

export type Failure = { code: string; message: string; identityId?: string | undefined };
export type Expected = Partial<Record<Slot, string>>;

/** One server's rollover: its context, and what it learned so far (for the audit and the page). */
export interface Rollover {
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
  /**
   * How many times each step was called so far. A step called again on a later pass (the server was
   * Updating; the next poll) counts its attempts from 1 again, so its retry records carry the call too:
   * without it two retries could share an audit id and the trail would collapse them into one.
   */
  readonly stepCalls: Partial<Record<StepName, number>>;
  /**
   * Records earned but not on the trail yet: the `ServerUpdateStarted` of a PATCH ARM accepted, which
   * goes with the first look at the server (`verifyServer`), one activity and one episode fewer per
   * server than a `recordAudit` of its own. Whatever writes records next for this server takes them
   * first (a retry's record, the proof, the failure), in the same write.
   */
  unrecorded: AuditRecord[];
}

/**
 * How long an accepted PATCH's `ServerUpdateStarted` may wait for the first look to carry it; a longer
 * wait sends it at once, through an activity of its own. A rollover ended before its first look never
 * sends what waits: a deploy that changes `ROTATION_SCHEMA_VERSION` ends a running rollover at its next
 * replay, as an operator's terminate does. This bounds that window while the trail takes the record
 * (it was one episode before the record waited at all); refused, it waits for the next write.
 */
export const STARTED_RECORD_MAX_WAIT_SECONDS = 30;

/** The first `count` waiting records are on the trail now (a write that carried them was accepted). */
export function recordedEarlier(r: Rollover, count: number): void {
  r.unrecorded = r.unrecorded.slice(count);
}

/** The records not on the trail yet, handed to the write about to be made (and so no longer pending). */
export function takeUnrecorded(r: Rollover): AuditRecord[] {
  const records = r.unrecorded;
  r.unrecorded = [];
  return records;
}

export const now = (r: Rollover): number => r.context.df.currentUtcDateTime.getTime();

export function outcome(
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

/**
 * Steps of this server retried on durable timers, each retry visible in the audit trail under the
 * activity's name (`details.step`: typed, so a label that is not an activity does not compile).
 */
export function readOptions(r: Rollover, step: StepName): StepOptions {
  const call = (r.stepCalls[step] ?? 0) + 1;
  r.stepCalls[step] = call;
  return {
    onRetry: function* (error: StepError, attempt: number, wait: number) {
      // What still waits goes first; refused, it keeps waiting (only the retry's record is lost).
      const earlier = r.unrecorded;
      const retried = retriedRecord(r, step, error, attempt, wait, 'stepFailed', call);
      if (yield* recordAudit(r.context, [...earlier, retried], 1)) recordedEarlier(r, earlier.length);
    },
  };
}

/**
 * What was retried: the step itself failed (`stepFailed`: a read, or a worker that died), or the step
 * answered that ARM refused its PATCH (`writeRefused`: throttled, busy, transient). Both are attempts of
 * `updateServer`; this keeps their records (and their audit ids) apart.
 */
export type RetriedWhat = 'stepFailed' | 'writeRefused';

export function retriedRecord(
  r: Rollover,
  step: StepName,
  error: StepError,
  attempt: number,
  wait: number,
  what: RetriedWhat = 'stepFailed',
  call?: number,
): AuditRecord {
  return {
    ...r.base,
    step: 'ServerUpdateRetried',
    outcome: 'info',
    fromVersion: r.fromVersion,
    reasonCode: error.code,
    reason: `${step} attempt ${attempt} failed (${error.message}); next attempt in ${wait}s`,
    details: {
      step,
      what,
      attempt: String(attempt),
      waitSeconds: String(wait),
      ...(call !== undefined ? { call: String(call) } : {}),
    },
  };
}

export const stepFailure = (e: StepError): Failure => ({
  code: e.code,
  message:
    e.attempts !== undefined && e.attempts > 1 ? `${e.message} (after ${e.attempts} attempts)` : e.message,
});

/** Keeps the latest quota reading a step brought back. */
export function saw<T extends { readonly quota?: ArmQuota | undefined }>(r: Rollover, value: T): T {
  r.quota = mergeQuota(r.quota, value.quota);
  // A 429 goes to the subscription's governor at once, so every rotation holds its next starts.
  const retryAfter = value.quota?.retryAfterSeconds;
  if (r.input.notBefore !== undefined && retryAfter !== undefined && retryAfter > 0)
    reportQuota(r.context, r.input.server.subscriptionId, { retryAfterSeconds: retryAfter });
  return value;
}
