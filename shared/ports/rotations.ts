import type { RotationInput } from '../rotation/contract';

/** Runtime status of a durable instance, as the Durable Functions client reports it. */
export type InstanceRuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

export interface InstanceInfo {
  readonly runtimeStatus: InstanceRuntimeStatus;
  /** The orchestration's output once it completed (a `RotationOutput`, unchecked). */
  readonly output: unknown;
  /** What the orchestration last published with setCustomStatus (a `RotationProgress`, unchecked). */
  readonly customStatus?: unknown;
  /**
   * The input of the instance's current execution (a `RotationInput`, unchecked): its `trigger` names
   * the event that started it (or that its continue-as-new took in), so a redelivery of that event is
   * recognised by its id across host restarts. Absent from listings.
   */
  readonly input?: unknown;
  /** ISO times the task hub reports; absent from fakes that do not track them. */
  readonly createdTime?: string | undefined;
  readonly lastUpdatedTime?: string | undefined;
}

/** One instance in a listing of the task hub. */
export interface ListedInstance extends InstanceInfo {
  readonly instanceId: string;
  /** The orchestrator function's name. */
  readonly name: string;
}

/** Durable rotations as the intake, the sweep and the operator API need them (over the durable client). */
export interface RotationInstances {
  /** Undefined when no instance with this id exists. */
  status(instanceId: string): Promise<InstanceInfo | undefined>;
  /**
   * Starts the rotation under this id. `alreadyRunning` when the task hub refused because an instance
   * with the id is running (host.json `overridableExistingInstanceStates: NonRunningStates`).
   */
  start(instanceId: string, input: RotationInput): Promise<'started' | 'alreadyRunning'>;
  /** Delivers an external event to a running instance. */
  raise(instanceId: string, eventName: string, payload: unknown): Promise<void>;
  /** Every instance of the task hub (all pages), without inputs or histories. */
  list(): Promise<ListedInstance[]>;
}

/** Is an instance in this state still going to act (so a new trigger is signalled to it, not started)? */
export function isActive(status: InstanceRuntimeStatus): boolean {
  return (
    status === 'Pending' || status === 'Running' || status === 'ContinuedAsNew' || status === 'Suspended'
  );
}
