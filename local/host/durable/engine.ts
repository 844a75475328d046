import { requestOfEvent } from './entities';
import { DEFAULT_ENTITY_BATCH_SIZE, EntityScheduler } from './entities-runtime';
import type { EntityStore } from './entities-store';
import { EventType, ev, played } from './history';
import { OrchestrationRuntime, type EngineOptions } from './runtime';
import { TERMINAL, type HistoryEvent, type RuntimeStatus } from './store';

export type { EngineOptions } from './runtime';

export interface DurableEngineOptions extends EngineOptions {
  readonly entityStore: EntityStore;
  /** host.json `extensions.durableTask.maxEntityOperationBatchSize`. */
  readonly maxEntityOperationBatchSize?: number;
}

/**
 * The durable orchestration engine of the local host: the runtime (episodes, activities, durable
 * timers, external events, sub-orchestrations, continue-as-new, crash recovery; see
 * `OrchestrationRuntime`) and what clients and the Durable HTTP API do to an instance: raise an event,
 * terminate, suspend, resume, restart and purge.
 */
export class DurableEngine extends OrchestrationRuntime {
  readonly entities: EntityScheduler;

  constructor(options: DurableEngineOptions) {
    super(options);
    this.entities = new EntityScheduler({
      registry: options.registry,
      store: options.entityStore,
      slots: this.orchestrationSlots,
      batchSize: options.maxEntityOperationBatchSize ?? DEFAULT_ENTITY_BATCH_SIZE,
      log: options.log,
      now: () => this.now(),
      respond: (instanceId, requestId, response) => this.answerEntityCall(instanceId, requestId, response),
    });
  }

  protected override sendToEntity(e: HistoryEvent): void {
    const sent = requestOfEvent(e);
    if (sent === undefined) return;
    this.entities.send(sent.target, sent.request).catch((err: unknown) => {
      this.options.log(`entity ${sent.target}: request ${sent.request.id} not queued: ${String(err)}`);
    });
  }

  override recover(): void {
    // Entities first: each delivers its last outbox before anything the orchestrations re-send runs.
    this.entities.recover();
    super.recover();
  }

  override stop(): void {
    super.stop();
    this.entities.stop();
  }

  /**
   * Answers an entity call: the EventRaised named by the request id, once. An answer already in the
   * instance's history or inbox (a batch's outbox delivered again after a restart) is not added twice;
   * a finished or unknown instance has nobody waiting.
   */
  private answerEntityCall(instanceId: string, requestId: string, response: string) {
    return this.withLiveInstance(instanceId, async (state) => {
      const answered = [...state.history, ...this.store.inbox(instanceId, state.inboxGeneration)].some(
        (e) => e.EventType === EventType.EventRaised && e['Name'] === requestId,
      );
      if (answered) return 'ok' as const;
      await this.store.append(instanceId, state.inboxGeneration, [
        ev(EventType.EventRaised, this.now(), { Name: requestId, Input: response }),
      ]);
      this.schedule(instanceId);
      return 'ok' as const;
    });
  }
  raiseEvent(
    instanceId: string,
    name: string,
    dataJson: string | undefined,
  ): Promise<'ok' | 'notFound' | 'gone'> {
    return this.deliver(instanceId, [
      ev(EventType.EventRaised, this.now(), { Name: name, Input: dataJson === '' ? undefined : dataJson }),
    ]);
  }

  terminate(instanceId: string, reason: string): Promise<'ok' | 'notFound' | 'gone'> {
    return this.withLiveInstance(instanceId, async (state) => {
      const now = this.now();
      const terminated = played(ev(EventType.ExecutionTerminated, now, { Input: JSON.stringify(reason) }));
      await this.finish(
        { ...state, history: [...state.history, terminated] },
        [terminated],
        'Terminated',
        reason,
        now,
      );
      return 'ok' as const;
    });
  }

  purge(instanceId: string): Promise<boolean> {
    return this.withLock(instanceId, () => {
      const state = this.store.load(instanceId);
      if (state === undefined || !TERMINAL.includes(state.status)) return Promise.resolve(false);
      this.store.delete(instanceId);
      return Promise.resolve(true);
    });
  }

  /**
   * Suspends an instance: no episode runs until it is resumed; results, timers and events that arrive
   * meanwhile wait in its inbox. A finished instance is 'gone' (410), as the extension's HTTP API answers.
   */
  suspend(instanceId: string, reason: string): Promise<'ok' | 'notFound' | 'gone'> {
    return this.withLiveInstance(instanceId, async (state) => {
      if (state.status === 'Suspended') return 'ok' as const;
      const now = this.now();
      const suspended = played(ev(EventType.ExecutionSuspended, now, { Reason: reason }));
      await this.store.commit(
        { ...state, status: 'Suspended', history: [...state.history, suspended], lastUpdatedTime: now },
        [suspended],
      );
      this.options.log(`orchestration ${state.name} (${instanceId}) Suspended`);
      return 'ok' as const;
    });
  }

  /** Resumes a suspended instance: what waited in its inbox is processed by the next episode. */
  resume(instanceId: string, reason: string): Promise<'ok' | 'notFound' | 'gone'> {
    return this.withLiveInstance(instanceId, async (state) => {
      if (state.status !== 'Suspended') return 'ok' as const;
      const now = this.now();
      const resumed = played(ev(EventType.ExecutionResumed, now, { Reason: reason }));
      const started = state.history.some((e) => e.EventType === EventType.ExecutionStarted);
      await this.store.commit(
        {
          ...state,
          status: started ? 'Running' : 'Pending',
          history: [...state.history, resumed],
          lastUpdatedTime: now,
        },
        [resumed],
      );
      this.options.log(`orchestration ${state.name} (${instanceId}) Resumed`);
      this.schedule(instanceId);
      return 'ok' as const;
    });
  }

  /**
   * Starts the orchestration again with the input it was started with, under a new instance id or
   * (`newInstanceId` false) the same one, as the extension's RestartAsync does (default: a new id).
   */
  async restart(
    instanceId: string,
    newInstanceId: boolean,
  ): Promise<{ instanceId: string; created: boolean } | 'notFound'> {
    const state = this.store.load(instanceId);
    if (state === undefined) return 'notFound';
    return this.start(state.name, newInstanceId ? undefined : instanceId, state.input);
  }

  /**
   * Purges the finished instances created in [from, to] whose status is one of `statuses` (any finished
   * status when none is given). Pending, Running and Suspended instances are never purged: their work
   * is still in flight. Returns how many were deleted.
   */
  async purgeMany(
    fromMs: number,
    toMs: number,
    statuses: readonly RuntimeStatus[] | undefined,
  ): Promise<number> {
    let deleted = 0;
    for (const s of this.list()) {
      const created = Date.parse(s.createdTime);
      if (created < fromMs || created > toMs) continue;
      if (statuses !== undefined && !statuses.includes(s.status)) continue;
      if (await this.purge(s.instanceId)) deleted++;
    }
    return deleted;
  }
}
