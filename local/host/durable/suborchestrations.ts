import { EventType, ev, json } from './history';
import { invalidInstanceId } from './instanceId';
import { TERMINAL, sameExecution, type HistoryEvent, type InstanceState } from './store';

/** The event that fails a parent's sub-orchestration task. */
export function subOrchestrationFailed(taskId: number, reason: string, now: string): HistoryEvent {
  return ev(EventType.SubOrchestrationInstanceFailed, now, {
    TaskScheduledId: taskId,
    Reason: reason,
    Details: '',
  });
}

/** What to do with the child a SubOrchestrationInstanceCreated event names. */
export type ChildStart =
  | { kind: 'start' }
  /** The child created for this very task already exists (after a restart). */
  | { kind: 'ours'; child: InstanceState }
  /** The parent's task fails with this reason; no child is created. */
  | { kind: 'refuse'; reason: string };

/**
 * Whether the child of a SubOrchestrationInstanceCreated event may be created. An id the extension
 * refuses fails the parent's task. An explicit child id may name an instance that exists: a finished one
 * (Completed, Failed, Terminated) is replaced by a new execution, which is what a retry of a failed
 * child with the same id needs; a Pending, Running or Suspended one is never replaced and the parent's
 * task fails. That is the Durable Task Framework's rule for sub-orchestration ids
 * (microsoft/durabletask-mssql PR #330 "sub-orchestrations cannot reuse existing instance ids", bringing
 * the SQL provider to the Azure Storage behaviour: terminal targets are overwritten, active ones
 * untouched; its test RetryFailedSubOrchestration(userSpecifiedInstanceId) retries a failed child under
 * the same explicit id). A child may not use its parent's id
 * (Azure/azure-functions-durable-extension#747). After a restart the child created for this very task
 * is left alone (re-linked, or its result re-delivered).
 */
export function childStart(
  parent: InstanceState,
  created: HistoryEvent,
  load: (instanceId: string) => InstanceState | undefined,
): ChildStart {
  const childId = String(created['InstanceId']);
  const invalid = invalidInstanceId(childId);
  if (invalid !== undefined)
    return { kind: 'refuse', reason: `Invalid sub-orchestration instance id: ${invalid}` };
  if (childId === parent.instanceId)
    return {
      kind: 'refuse',
      reason: `A sub-orchestration cannot use the instance id of its parent ('${childId}').`,
    };
  const child = load(childId);
  // Task ids start at 0 in every execution: a child of an earlier execution of the parent is not ours.
  const ours =
    child?.parentInstanceId === parent.instanceId &&
    child.parentTaskId === created.EventId &&
    sameExecution(child.parentExecutionId, parent.executionId);
  if (child !== undefined && ours) return { kind: 'ours', child };
  if (child !== undefined && !TERMINAL.includes(child.status))
    return {
      kind: 'refuse',
      reason: `An orchestration with instance id '${childId}' is ${child.status}: a sub-orchestration cannot replace an instance that has not finished.`,
    };
  return { kind: 'start' };
}

/** The event that hands a finished child's result (or failure) to its parent's task. */
export function childResultEvent(child: InstanceState, parentTaskId: number, now: string): HistoryEvent {
  return child.status === 'Completed'
    ? ev(EventType.SubOrchestrationInstanceCompleted, now, {
        TaskScheduledId: parentTaskId,
        Result: json(child.output) ?? 'null',
      })
    : subOrchestrationFailed(
        parentTaskId,
        `Sub-orchestration ${child.name} (${child.instanceId}) ${child.status.toLowerCase()}: ${String(child.output)}`,
        now,
      );
}
