import type { DurableClient } from 'durable-functions';
import { HEALTH_WATCH_INSTANCE_ID, HEALTH_WATCH_NAMES, type HealthWatchInput } from '../domain/healthWatch';
import type { InstanceInfo } from '../ports/rotations';
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

  status(): Promise<InstanceInfo | undefined> {
    return this.instances.status(HEALTH_WATCH_INSTANCE_ID);
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
