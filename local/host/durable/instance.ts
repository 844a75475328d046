// What an instance is, apart from how it is stored (store.ts): its state, history events and statuses.

/** A Durable Task history event as the durable-functions library reads it (PascalCase, JSON strings). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [key: string]: unknown;
}

/** The runtime statuses of an instance (OrchestrationRuntimeStatus of the extension). */
export const RUNTIME_STATUSES = [
  'Pending',
  'Running',
  'Suspended',
  'Completed',
  'Failed',
  'Terminated',
  'ContinuedAsNew',
] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

export interface InstanceState {
  instanceId: string;
  name: string;
  status: RuntimeStatus;
  /** The orchestration input as JSON text (as the start request carried it). */
  input: string | undefined;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  parentInstanceId: string | undefined;
  /** EventId of the SubOrchestrationInstanceCreated event in the parent. */
  parentTaskId: number | undefined;
  /**
   * The execution's id, new at every start and continue-as-new (DTFx's `OrchestrationInstance.ExecutionId`).
   * Work an execution scheduled answers to it: an answer for another execution is dropped. Absent in a
   * log written before the host kept it, and then nothing is dropped.
   */
  executionId?: string | undefined;
  /** The parent's execution that created this child, for the same rule on the child's result. */
  parentExecutionId?: string | undefined;
  /** Events of every finished episode of the current execution, in order. */
  history: HistoryEvent[];
  /** Which inbox journal holds this instance's not-yet-processed events. */
  inboxGeneration: number;
}

/**
 * Whether an answer for execution `a` belongs to execution `b` of the same instance (an id missing on
 * either side, from a log written before the host kept them, matches any).
 */
export function sameExecution(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/** The statuses of a finished instance: nothing of it runs any more. */
export const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];
