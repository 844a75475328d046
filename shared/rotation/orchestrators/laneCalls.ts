import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { FUNCTION_NAMES } from '../../domain/names';
import { log } from '../../workflows/activityCalls';
import type { AcquireRequest, HolderReport } from '../lane';
import { callEntityWithin } from './entityCalls';
import { GOVERNOR_ANSWER_SECONDS } from './governed';

/**
 * How a batch talks to its lane (the in-flight budget its subscription's batches share in one rollout
 * phase, ../entities/rolloutLane.ts): it asks before it starts servers, says when its servers
 * finished while it had nothing to start, and lets go when it ends.
 */

function laneOf(key: string): df.EntityId {
  return new df.EntityId(FUNCTION_NAMES.rolloutLane, key);
}

/**
 * How many of `want` servers the batch may start now; undefined when the lane failed or did not answer
 * in `GOVERNOR_ANSWER_SECONDS`: the batch then starts nothing at that look and asks again at the next,
 * and only after `LANE_ATTEMPTS` looks in a row keeps to its even share of the setting
 * (`RolloutBatchInput.maxInFlight`) alone (rolloutBatch.ts), so a broken lane slows a rollout, never
 * stops it.
 */
export function* acquireLane(
  context: OrchestrationContext,
  key: string,
  request: AcquireRequest,
): Generator<Task, number | undefined, unknown> {
  const call = yield* callEntityWithin(context, laneOf(key), 'acquire', request, GOVERNOR_ANSWER_SECONDS);
  const answer = call.answered ? call.value : undefined;
  if (typeof answer === 'number' && Number.isInteger(answer) && answer >= 0 && answer <= request.want)
    return answer;
  const why = call.answered ? 'answered no usable count' : call.why;
  log(context, `in-flight lane ${key} ${why}; starting nothing at this look`);
  return undefined;
}

/** The batch's count of servers in flight, when fewer than the lane last heard (a signal). */
export function reportLane(context: OrchestrationContext, key: string, r: HolderReport): void {
  context.df.signalEntity(laneOf(key), 'report', r);
}

/** The batch ended (or failed, said by its rotation): what it held goes back (a signal). */
export function closeLane(context: OrchestrationContext, key: string, holder: string): void {
  context.df.signalEntity(laneOf(key), 'close', { holder });
}

/** The phase is over: the lane's state goes (a signal, by the rotation). */
export function endLane(context: OrchestrationContext, key: string): void {
  context.df.signalEntity(laneOf(key), 'end');
}
