import { ActionType, INPUT_ENCODED, actionInput, entityInput } from './actions';
import type { ExecutorTask, ExecutorView, FireAndForget } from './executor';

/**
 * An action as the host reads it, made where the live values are (a worker process): its input already
 * the text the host writes into history (`actionInput`, `entityInput`: a Date or a value with its own
 * `toJSON` encodes as it does in the host's process), a timer's `fireAt` its ISO string (an invalid
 * date throws here as it throws in `scheduling.ts`), the rest plain JSON. A compound action's parts are
 * not copied: the host never reads them from the executor.
 */
function wireAction(action: Record<string, unknown>): Record<string, unknown> {
  const type = action['actionType'];
  const input =
    type === ActionType.CallEntity || type === ActionType.SignalEntity
      ? entityInput(action)
      : actionInput(action);
  const fireAt = action['fireAt'];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(action))
    if (k !== 'input' && k !== 'fireAt' && k !== 'compoundActions') out[k] = v;
  if (input !== undefined) out['input'] = input;
  if (fireAt !== undefined) out['fireAt'] = fireAt instanceof Date ? fireAt.toISOString() : fireAt;
  out[INPUT_ENCODED] = true;
  return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
}

const wireTask = (actionObj: ExecutorTask['actionObj']): ExecutorTask['actionObj'] =>
  typeof actionObj === 'object' ? wireAction(actionObj) : actionObj;

/**
 * What the host needs of an executor (`scheduling.ts`, `newWork`), as plain JSON: the open tasks it has
 * not scheduled yet (ids not on a played event of `history`: the committed history, the host's `known`),
 * each with its action and, for a retry, what the retry needs of its parent; and the signals not sent
 * yet. A worker process (worker/main.ts) sends this instead of the executor, as an out-of-process
 * worker sends the Functions host its actions. Only the new tasks, and no compound parent: a batch's
 * replay holds a hundred open tasks under one `Task.all`, and copying each with all its siblings on every
 * replay cost more than the replay (and grew with the square of a fan-out).
 */
export function snapshotEpisode(
  view: ExecutorView,
  fireAndForget: readonly FireAndForget[],
  history: unknown,
): { executor: ExecutorView; fireAndForget: FireAndForget[] } {
  const known = new Set<number>();
  if (Array.isArray(history))
    for (const e of history as { EventId?: unknown; IsPlayed?: unknown }[])
      if (e.IsPlayed === true && typeof e.EventId === 'number' && e.EventId >= 0) known.add(e.EventId);
  const openTasks: Record<string, ExecutorTask> = {};
  for (const [key, task] of Object.entries(view.openTasks)) {
    if (typeof task.id !== 'number' || known.has(task.id)) continue;
    const retry = task.parent?.retryOptions !== undefined ? task.parent : undefined;
    openTasks[key] = {
      id: task.id,
      actionObj: wireTask(task.actionObj),
      ...(retry !== undefined
        ? {
            parent: {
              id: retry.id,
              actionObj: undefined,
              retryOptions: JSON.parse(JSON.stringify(retry.retryOptions)) as ExecutorTask['retryOptions'],
              ...(retry.isWaitingOnTimer !== undefined ? { isWaitingOnTimer: retry.isWaitingOnTimer } : {}),
              ...(retry.attemptNumber !== undefined ? { attemptNumber: retry.attemptNumber } : {}),
              ...(retry.innerTask !== undefined
                ? { innerTask: { id: retry.innerTask.id, actionObj: wireTask(retry.innerTask.actionObj) } }
                : {}),
            },
          }
        : {}),
    };
  }
  return {
    executor: { openTasks },
    fireAndForget: fireAndForget
      .filter((f) => !known.has(f.id))
      .map((f) => ({ id: f.id, action: wireAction(f.action) })),
  };
}
