import { ActionType, actionInput, flatActions, type OrchestratorState } from './actions';
import { entityRequestEvent } from './entities';
import type { ExecutorTask, ExecutorView, FireAndForget, RetryOptions } from './executor';
import { EVENT_NAMES, EventType, ev } from './history';
import type { HistoryEvent, InstanceState } from './store';

/** Marks the timers and re-schedules the host adds for retries, which have no action of their own. */
const RETRY_MARK = 'RetryAttempt';
const SCHEDULING = [
  EventType.TaskScheduled,
  EventType.TimerCreated,
  EventType.SubOrchestrationInstanceCreated,
  EventType.EventSent,
] as number[];

/**
 * History events for the tasks the executor opened this episode that the host has not scheduled yet,
 * and for the signals (fire-and-forget, no task) it has not sent yet, in sequence order.
 */
export function newWork(
  state: InstanceState,
  executor: ExecutorView,
  now: string,
  fireAndForget: readonly FireAndForget[] = [],
): HistoryEvent[] {
  const known = new Set(state.history.filter((e) => e.EventId >= 0).map((e) => e.EventId));
  const out: HistoryEvent[] = [];
  const tasks = Object.values(executor.openTasks).filter(
    (t): t is ExecutorTask & { id: number } => typeof t.id === 'number' && !known.has(t.id),
  );
  tasks.sort((a, b) => a.id - b.id);
  for (const task of tasks) {
    const retry = task.parent?.retryOptions !== undefined ? task.parent : undefined;
    const isNoOp = typeof task.actionObj !== 'object';
    if (retry !== undefined && isNoOp) {
      if (retry.isWaitingOnTimer === true) {
        out.push(
          ev(
            EventType.TimerCreated,
            now,
            { FireAt: new Date(Date.parse(now) + retryDelay(retry)).toISOString(), [RETRY_MARK]: true },
            task.id,
          ),
        );
        continue;
      }
      const inner = retry.innerTask?.actionObj;
      if (typeof inner === 'object')
        out.push({ ...scheduleEvent(state, inner, task.id, now), [RETRY_MARK]: true });
      continue;
    }
    if (typeof task.actionObj === 'object') out.push(scheduleEvent(state, task.actionObj, task.id, now));
  }
  for (const f of fireAndForget)
    if (f.action['actionType'] === ActionType.SignalEntity && !known.has(f.id))
      out.push(entityRequestEvent(state.instanceId, f.action, f.id, now));
  return out.sort((a, b) => a.EventId - b.EventId);
}

function scheduleEvent(
  state: InstanceState,
  action: Record<string, unknown>,
  id: number,
  now: string,
): HistoryEvent {
  const type = action['actionType'];
  if (type === ActionType.CallActivity || type === ActionType.CallActivityWithRetry) {
    return ev(EventType.TaskScheduled, now, { Name: action['functionName'], Input: actionInput(action) }, id);
  }
  if (type === ActionType.CreateTimer) {
    const fireAt =
      action['fireAt'] instanceof Date ? action['fireAt'].toISOString() : String(action['fireAt']);
    return ev(EventType.TimerCreated, now, { FireAt: fireAt }, id);
  }
  if (type === ActionType.CallSubOrchestrator || type === ActionType.CallSubOrchestratorWithRetry) {
    const child =
      typeof action['instanceId'] === 'string' && action['instanceId'] !== ''
        ? action['instanceId']
        : `${state.instanceId}:${id}`;
    return ev(
      EventType.SubOrchestrationInstanceCreated,
      now,
      { Name: action['functionName'], InstanceId: child, Input: actionInput(action) },
      id,
    );
  }
  if (type === ActionType.CallEntity) return entityRequestEvent(state.instanceId, action, id, now);
  throw new Error(`action type ${String(type)} is not supported by the local host`);
}

function retryDelay(task: ExecutorTask): number {
  const o = task.retryOptions as RetryOptions;
  const attempt = Math.max(1, (task.attemptNumber ?? 2) - 1);
  const delay = o.firstRetryIntervalInMilliseconds * Math.pow(o.backoffCoefficient ?? 1, attempt - 1);
  return Math.min(delay, o.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER);
}

/**
 * Replay must make the same decisions: the orchestrator's actions, in order, must match the
 * scheduling events already in history. A mismatch fails the instance the way the Durable Task
 * Framework does ("Non-Deterministic workflow detected") instead of feeding results to the wrong task.
 */
export function checkDeterminism(state: InstanceState, s: OrchestratorState): string | undefined {
  const recorded = state.history
    .filter((e) => SCHEDULING.includes(e.EventType) && e[RETRY_MARK] !== true)
    .sort((a, b) => a.EventId - b.EventId);
  const actions = flatActions(s).filter((a) =>
    [
      ActionType.CallActivity,
      ActionType.CallActivityWithRetry,
      ActionType.CallSubOrchestrator,
      ActionType.CallSubOrchestratorWithRetry,
      ActionType.CreateTimer,
      ActionType.CallEntity,
      ActionType.SignalEntity,
    ].includes(a['actionType'] as 0),
  );
  const expectedType = (a: Record<string, unknown>): number =>
    a['actionType'] === ActionType.CallEntity || a['actionType'] === ActionType.SignalEntity
      ? EventType.EventSent
      : a['actionType'] === ActionType.CreateTimer
        ? EventType.TimerCreated
        : a['actionType'] === ActionType.CallSubOrchestrator ||
            a['actionType'] === ActionType.CallSubOrchestratorWithRetry
          ? EventType.SubOrchestrationInstanceCreated
          : EventType.TaskScheduled;
  for (const [i, e] of recorded.entries()) {
    const a = actions[i];
    // An entity request (EventSent) must meet an entity action at its position; its target and
    // operation are not compared, as DTFx's TaskOrchestrationContext.HandleEventSentEvent looks up the
    // sequence number only.
    const name = e.EventType === EventType.EventSent ? undefined : e['Name'];
    const replayed = a?.['functionName'] ?? (a?.['instanceId'] !== undefined ? a['instanceId'] : undefined);
    if (
      a === undefined ||
      expectedType(a) !== e.EventType ||
      (name !== undefined && a['functionName'] !== name)
    ) {
      return `Non-Deterministic workflow detected: ${EVENT_NAMES[e.EventType] ?? e.EventType}: ${e.EventId} ${typeof name === 'string' ? name : ''} was in history, but replay ${a === undefined ? 'scheduled nothing' : `scheduled ${typeof replayed === 'string' ? replayed : 'a timer'}`}. Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O).`;
    }
  }
  return undefined;
}
