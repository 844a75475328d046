import type { DurableClient } from 'durable-functions';
import { HEALTH_WATCH_INSTANCE_ID, HEALTH_WATCH_NAMES, type HealthWatchInput } from '../domain/healthWatch';
import type { InstanceInfo } from '../ports/rotations';
import type { HealthWatchInstances } from '../triggers/healthWatch';
import { DurableRotationInstances, isAlreadyRunning } from './durableRotations';

/** The health watch's instance over the Durable Functions client of the current invocation. */
export class DurableHealthWatch implements HealthWatchInstances {
  private readonly instances: DurableRotationInstances;

  constructor(private readonly client: DurableClient) {
    this.instances = new DurableRotationInstances(client);
  }

  /** One read: the instance's status with its input (a failed pass's starting point). */
  status(): Promise<(InstanceInfo & { readonly input?: unknown }) | undefined> {
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
      if (isAlreadyRunning(e)) return 'alreadyRunning';
      throw e;
    }
  }
}
