import type * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';

/** An entity's answer, or why there is none: the caller then falls back on its own (and logs why). */
export type EntityAnswer =
  { readonly answered: true; readonly value: unknown } | { readonly answered: false; readonly why: string };

/**
 * Calls an entity operation and waits at most `seconds` for its answer (a durable timer beside it).
 * Both the governor and a lane are asked this way: an entity that is down or stuck must slow the
 * rotation that asks, never hold it forever.
 */
export function* callEntityWithin(
  context: OrchestrationContext,
  entity: df.EntityId,
  operation: string,
  input: unknown,
  seconds: number,
): Generator<Task, EntityAnswer, unknown> {
  const call = context.df.callEntity(entity, operation, input);
  const timeout = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + seconds * 1000));
  const winner = (yield context.df.Task.any([call, timeout])) as Task;
  if (winner === timeout) return { answered: false, why: `did not answer in ${seconds}s` };
  timeout.cancel();
  if (call.isFaulted) {
    const e = call.result;
    return { answered: false, why: `failed (${e instanceof Error ? e.message : String(e)})` };
  }
  return { answered: true, value: call.result };
}
