import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { FUNCTION_NAMES } from '../domain/names';
import type { RotationInput } from '../rotation/contract';
import type {
  InstanceInfo,
  InstanceRuntimeStatus,
  ListedInstance,
  RotationInstances,
} from '../ports/rotations';

// durable-functions 3.5 reports these outcomes only through error messages (DurableClient.getStatus and
// createGenericError); matching them here keeps the knowledge in one place.
const NOT_FOUND = /HTTP 404 response/;
// The task hub refuses to overwrite a running instance (NonRunningStates). The Azure Storage backend
// reports it as a 500 whose ExceptionMessage says "An Orchestration instance with the status Pending
// already exists" (azure-functions-durable-python#410); the local host answers 409. Both mean the same.
const CONFLICT = /unexpected status code: 409|instance with the status \w+ already exists/;

/** Is this the task hub refusing to start an instance id that is already running (see CONFLICT)? */
export function isAlreadyRunning(e: unknown): boolean {
  return e instanceof Error && CONFLICT.test(e.message);
}

const KNOWN: readonly InstanceRuntimeStatus[] = [
  'Pending',
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Canceled',
  'Terminated',
  'Suspended',
];

/** `RotationInstances` over the Durable Functions client of the current invocation. */
export class DurableRotationInstances implements RotationInstances {
  constructor(private readonly client: DurableClient) {}

  async status(instanceId: string): Promise<InstanceInfo | undefined> {
    try {
      // The input (small: settings, open incidents) carries the trigger that started this execution.
      const s = await this.client.getStatus(instanceId, { showHistory: false, showInput: true });
      return { ...info(s), input: s.input };
    } catch (e) {
      if (e instanceof Error && NOT_FOUND.test(e.message)) return undefined;
      throw e;
    }
  }

  async start(instanceId: string, input: RotationInput): Promise<'started' | 'alreadyRunning'> {
    try {
      await this.client.startNew(FUNCTION_NAMES.keyRotation, { instanceId, input });
      return 'started';
    } catch (e) {
      if (isAlreadyRunning(e)) return 'alreadyRunning';
      throw e;
    }
  }

  raise(instanceId: string, eventName: string, payload: unknown): Promise<void> {
    return this.client.raiseEvent(instanceId, eventName, payload);
  }

  /**
   * The Durable HTTP API's instance query (`GET .../instances`), through the client's getStatusAll; the
   * client follows `x-ms-continuation-token` until the last page.
   */
  async list(): Promise<ListedInstance[]> {
    const all = await this.client.getStatusAll();
    return all.map((s) => ({ ...info(s), instanceId: s.instanceId, name: s.name }));
  }
}

function iso(d: unknown): string | undefined {
  if (d instanceof Date) return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  return typeof d === 'string' ? d : undefined;
}

function info(s: DurableOrchestrationStatus): InstanceInfo {
  const runtimeStatus = KNOWN.find((k) => k === (s.runtimeStatus as string)) ?? 'Running';
  return {
    runtimeStatus,
    output: s.output,
    customStatus: s.customStatus,
    createdTime: iso(s.createdTime),
    lastUpdatedTime: iso(s.lastUpdatedTime),
  };
}
