import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { FUNCTION_NAMES } from '../../domain/names';
import { log } from '../../workflows/activityCalls';
import type { QuotaReading, Reservation, ReserveRequest } from '../governor';
import { ARM_REQUESTS_PER_SERVER, type ArmQuota } from '../pacing';
import { callEntityWithin } from './entityCalls';

/**
 * How the rotation's orchestrations talk to the subscription's quota governor (the durable entity of
 * ../entities/armQuotaGovernor.ts): a batch asks for its servers' start times once, a server's
 * rollover reports a 429 at once.
 */

/** How long a batch waits for the governor's answer before it paces itself (the entity is down or stuck). */
export const GOVERNOR_ANSWER_SECONDS = 60;

/**
 * Reads a server is charged with while nobody has timed the subscription's operations: its two (the
 * read before the PATCH, the look that verifies) and one more, for a first look that comes at a guess
 * (the poll interval), often before the operation ended. Measured at 3,000 servers and 50 keys, charged
 * two throughout: 100–200 reads answered 429, all in the first half minute, when the rotations that
 * reserved before any duration was reported looked early. Once durations are known, two.
 */
export const UNTIMED_READS_PER_SERVER = ARM_REQUESTS_PER_SERVER.reads + 1;

/** One governor per subscription for the whole app. */
export function governorOf(subscriptionId: string): df.EntityId {
  return new df.EntityId(FUNCTION_NAMES.armQuotaGovernor, subscriptionId.toLowerCase());
}

/**
 * Start times (epoch ms) for `servers` servers of the subscription, one per server in order
 * (`firstLooksTimed`: the caller times its servers' first looks by durations it measured), and the
 * subscription's typical operation duration as other rotations reported it; undefined
 * when the governor failed or did not answer in `GOVERNOR_ANSWER_SECONDS`: the caller then paces
 * itself from ARM's remaining-quota headers (../pacing.ts `nextWindow`) as it did before there was a
 * governor, so a broken governor slows a rollout, never stops it.
 */
export function* reserveStarts(
  context: OrchestrationContext,
  subscriptionId: string,
  servers: number,
  { firstLooksTimed }: { readonly firstLooksTimed: boolean },
): Generator<Task, Reservation | undefined, unknown> {
  const request: ReserveRequest = {
    servers,
    readsPerServer: ARM_REQUESTS_PER_SERVER.reads,
    // Servers whose first look the batch times itself (its rotation measured operations already, in
    // its canaries or earlier batches) cost their two reads even where the governor knows no duration
    // yet: charged three, the first 200 servers of each subscription of a 10,000-server rotation were
    // paced by the reads (8.3 a second, not the writes' 10), 13 s more before the rest could start.
    ...(firstLooksTimed ? {} : { untimedReadsPerServer: UNTIMED_READS_PER_SERVER }),
    writesPerServer: ARM_REQUESTS_PER_SERVER.writes,
    requester: context.df.instanceId,
  };
  const call = yield* callEntityWithin(
    context,
    governorOf(subscriptionId),
    'reserve',
    request,
    GOVERNOR_ANSWER_SECONDS,
  );
  if (!call.answered) {
    log(context, `quota governor of ${subscriptionId} ${call.why}; pacing alone`);
    return undefined;
  }
  const answer = call.value as Partial<Reservation> | undefined;
  const slots = answer?.slots;
  const valid =
    Array.isArray(slots) &&
    slots.length === servers &&
    slots.every((t): t is number => typeof t === 'number' && Number.isFinite(t));
  if (!valid) {
    log(context, `quota governor of ${subscriptionId} answered no usable start times; pacing alone`);
    return undefined;
  }
  const typical = answer?.operationSeconds;
  const reporting = answer?.reportArrival;
  return {
    slots,
    ...(typeof typical === 'number' && Number.isFinite(typical) && typical >= 0
      ? { operationSeconds: typical }
      : {}),
    // Indexes of the servers asked to report when they reached ARM; a garbled list asks nobody.
    ...(Array.isArray(reporting) && reporting.every((i) => Number.isInteger(i) && i >= 0 && i < servers)
      ? { reportArrival: reporting }
      : {}),
  };
}

/**
 * Tells the subscription's governor what ARM said (fire and forget: a signal). A 429 is reported by
 * the server that got it, when it got it, so the hold starts on time for every rotation; a batch
 * reports its first operation durations (and its remaining-quota reading now and then); a server the
 * governor named (the last of a reservation to take from a full bucket) reports when it reached ARM
 * (`slot`, its start time, and `at`).
 */
export function reportQuota(
  context: OrchestrationContext,
  subscriptionId: string,
  quota: ArmQuota & {
    readonly operationSeconds?: number | undefined;
    readonly slot?: number | undefined;
    readonly at?: number | undefined;
  },
): void {
  const reading: QuotaReading = {
    at: quota.at ?? context.df.currentUtcDateTime.getTime(),
    ...(quota.slot !== undefined ? { slot: quota.slot } : {}),
    ...(quota.operationSeconds !== undefined ? { operationSeconds: quota.operationSeconds } : {}),
    ...(quota.reads !== undefined ? { reads: quota.reads } : {}),
    ...(quota.writes !== undefined ? { writes: quota.writes } : {}),
    ...(quota.retryAfterSeconds !== undefined ? { retryAfterSeconds: quota.retryAfterSeconds } : {}),
  };
  context.df.signalEntity(governorOf(subscriptionId), 'observe', reading);
}
