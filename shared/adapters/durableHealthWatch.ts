import type { DurableClient } from 'durable-functions';
import { HEALTH_WATCH_INSTANCE_ID, HEALTH_WATCH_NAMES, type HealthWatchInput } from '../domain/healthWatch';
import { isActive, type InstanceInfo } from '../ports/rotations';
import type { HealthWatchInstances } from '../triggers/healthWatch';
import { DurableRotationInstances } from './durableRotations';

// As in durableRotations.ts: the task hub's refusal to overwrite a running instance (NonRunningStates).
const CONFLICT = /unexpected status code: 409|instance with the status \w+ already exists/;

/** The health watch's instance over the Durable Functions client of the current invocation. */
export class DurableHealthWatch implements HealthWatchInstances {
  private readonly instances: DurableRotationInstances;

  constructor(private readonly client: DurableClient) {
    this.instances = new DurableRotationInstances(client);
  }

  /** With its input only when the pass did not complete (a failed pass's starting point). */
  async status(): Promise<(InstanceInfo & { readonly input?: unknown }) | undefined> {
    const info = await this.instances.status(HEALTH_WATCH_INSTANCE_ID);
    if (info === undefined || info.runtimeStatus === 'Completed' || isActive(info.runtimeStatus)) return info;
    const full = await this.client.getStatus(HEALTH_WATCH_INSTANCE_ID, {
      showHistory: false,
      showInput: true,
    });
    return { ...info, input: full.input };
  }

  async start(input: HealthWatchInput): Promise<'started' | 'alreadyRunning'> {
    try {
      await this.client.startNew(HEALTH_WATCH_NAMES.orchestrator, {
        instanceId: HEALTH_WATCH_INSTANCE_ID,
        input,
      });
      return 'started';
    } catch (e) {
      if (e instanceof Error && CONFLICT.test(e.message)) return 'alreadyRunning';
      throw e;
    }
  }
}
