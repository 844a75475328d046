import { randomUUID } from 'node:crypto';
import type { FunctionRegistry } from '../core';
import type { Invoker } from '../invoke';
import { KeyedLock, Semaphore } from './concurrency';
import { timed, type EngineCounters } from './counters';
import { refusedEntityAction } from './entities';
import { episodeOutcome, openingEvents } from './episode';
import {
  durableFunction,
  replayHere,
  replayOrchestrator,
  runActivityFunction,
  type Replayer,
} from './functions';
import { EventType, ev } from './history';
import { InvalidInstanceIdError, invalidInstanceId } from './instanceId';
import {
  TERMINAL,
  sameExecution,
  type HistoryEvent,
  type InstanceState,
  type InstanceStore,
  type RuntimeStatus,
} from './store';
import { childResultEvent, childStart, subOrchestrationFailed } from './suborchestrations';

export interface EngineOptions {
  readonly registry: FunctionRegistry;
  readonly store: InstanceStore;
  readonly maxConcurrentActivities: number;
  readonly maxConcurrentOrchestrations: number;
  readonly log: (line: string) => void;
  readonly now?: () => Date;
  /** Where activities run (worker processes, worker/pool.ts); by default in this process. */
  readonly activityInvoker?: Invoker;
  /** Where orchestrators replay (worker processes); by default in this process. */
  readonly replayer?: Replayer;
}

/**
 * What runs the instances: episodes replayed with durable-functions' own executor through the
 * registered orchestrator function, activities with bounded concurrency, durable timers,
 * sub-orchestrations and continue-as-new. State lives in `InstanceStore`; after a crash `recover()`
 * resumes every instance: unfinished activities run again (at-least-once), timers are re-armed, and
 * decisions already in history never change.
 */
export class OrchestrationRuntime {
  private readonly locks = new KeyedLock();
  private readonly activitySlots: Semaphore;
  /** Shared by orchestration episodes and entity batches, as the extension counts both as orchestrator work. */
  protected readonly orchestrationSlots: Semaphore;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Set<string>();
  private readonly waitingEpisodes = new Set<string>();
  private stopped = false;
  /** `storeMs`: event-loop time inside the instance store (see `timed`). */
  readonly counters: EngineCounters = { episodes: 0, activityExecutions: 0, replayMs: 0, storeMs: 0 };
  protected readonly store: InstanceStore;
  private readonly replayer: Replayer;

  constructor(protected readonly options: EngineOptions) {
    this.store = timed(options.store, this.counters);
    this.activitySlots = new Semaphore(options.maxConcurrentActivities);
    this.replayer = options.replayer ?? replayHere(options.registry);
    this.orchestrationSlots = new Semaphore(options.maxConcurrentOrchestrations);
  }

  protected now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  /** Serializes every mutation of one instance. */
  protected withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(instanceId, fn);
  }

  get(instanceId: string): InstanceState | undefined {
    return this.store.load(instanceId);
  }

  list(): InstanceState[] {
    return this.store
      .list()
      .map((id) => this.store.load(id))
      .filter((s): s is InstanceState => s !== undefined);
  }

  /**
   * Starts an instance. Refuses (returns 'conflict') when one with the id is Pending or Running, as
   * `overridableExistingInstanceStates: NonRunningStates` does; a finished one is replaced, and reads
   * as it was until the new execution is written.
   */
  start(
    name: string,
    instanceId: string | undefined,
    inputJson: string | undefined,
    parent?: { instanceId: string; taskId: number; executionId: string | undefined },
  ): Promise<{ instanceId: string; created: boolean }> {
    durableFunction(this.options.registry, name, 'orchestrationTrigger');
    const invalid = instanceId === undefined ? undefined : invalidInstanceId(instanceId);
    if (invalid !== undefined) return Promise.reject(new InvalidInstanceIdError(invalid));
    const id = instanceId ?? randomUUID().replace(/-/g, '');
    return this.withLock<{ instanceId: string; created: boolean }>(id, async () => {
      const existing = this.store.load(id);
      if (existing !== undefined && !TERMINAL.includes(existing.status))
        return { instanceId: id, created: false };
      if (existing !== undefined) this.store.clearForNewExecution(existing);
      const now = this.now();
      const state: InstanceState = {
        instanceId: id,
        name,
        status: 'Pending',
        input: inputJson === '' ? undefined : inputJson,
        output: undefined,
        customStatus: undefined,
        createdTime: now,
        lastUpdatedTime: now,
        parentInstanceId: parent?.instanceId,
        parentTaskId: parent?.taskId,
        executionId: newExecutionId(),
        parentExecutionId: parent?.executionId,
        history: [],
        inboxGeneration: 0,
      };
      await this.store.commit(state, [], true);
      this.options.log(`orchestration ${name} (${id}) Pending`);
      this.schedule(id);
      return { instanceId: id, created: true };
    });
  }

  /**
   * Runs `fn` with the instance's state under its lock, unless the instance is unknown ('notFound') or
   * finished ('gone').
   */
  protected withLiveInstance<T>(
    instanceId: string,
    fn: (state: InstanceState) => Promise<T>,
  ): Promise<T | 'notFound' | 'gone'> {
    return this.withLock(instanceId, async () => {
      const state = this.store.load(instanceId);
      if (state === undefined) return 'notFound' as const;
      if (TERMINAL.includes(state.status)) return 'gone' as const;
      return fn(state);
    });
  }

  /**
   * Adds events to an instance's inbox (durably) and schedules an episode. `executionId`: the execution
   * the events answer (an activity's result, a timer, a child's result); for another execution of the
   * instance (it continued as new, or was started again) they are dropped, as DTFx drops them
   * (Azure/durabletask, DurableTask.Core TaskOrchestrationDispatcher.ReconcileMessagesWithState: "eat up
   * any events for previous executions"); events for no execution in particular (raised events, entity
   * responses) go to the current one.
   */
  protected deliver(
    instanceId: string,
    events: HistoryEvent[],
    executionId?: string,
  ): Promise<'ok' | 'notFound' | 'gone'> {
    return this.withLiveInstance(instanceId, async (state) => {
      if (!sameExecution(executionId, state.executionId)) {
        this.options.log(
          `orchestration ${state.name} (${instanceId}): dropped ${events.length} event(s) of an earlier execution`,
        );
        return 'gone' as const;
      }
      await this.store.append(instanceId, state.inboxGeneration, events);
      this.schedule(instanceId);
      return 'ok' as const;
    });
  }

  /** After a restart: re-arm timers, re-run unfinished activities, re-create children, run episodes. */
  recover(): void {
    for (const state of this.list()) {
      if (TERMINAL.includes(state.status)) {
        void this.notifyParent(state);
        // Signals of its last episode may not have reached their entity before the crash (entities
        // drop a request id they already have).
        for (const e of state.history) if (e.EventType === EventType.EventSent) this.dispatch(state, e);
        continue;
      }
      const inbox = this.store.inbox(state.instanceId, state.inboxGeneration);
      const done = new Set<number>();
      for (const e of [...state.history, ...inbox]) {
        if (typeof e['TaskScheduledId'] === 'number') done.add(e['TaskScheduledId']);
        if (typeof e['TimerId'] === 'number') done.add(e['TimerId']);
      }
      for (const e of state.history) {
        if (done.has(e.EventId)) continue;
        this.dispatch(state, e);
      }
      this.schedule(state.instanceId);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /**
   * Runs an episode soon. One waiting episode per instance is enough: it reads the whole inbox when it
   * runs, so deliveries before then need no episode of their own (a fan-in of N results is one or a few
   * episodes, not N that find nothing to do).
   */
  protected schedule(instanceId: string): void {
    if (this.stopped || this.waitingEpisodes.has(instanceId)) return;
    this.waitingEpisodes.add(instanceId);
    setImmediate(() => void this.runEpisode(instanceId));
  }

  private async runEpisode(instanceId: string): Promise<void> {
    if (this.stopped) return;
    await this.orchestrationSlots.acquire();
    try {
      await this.withLock(instanceId, () => this.episode(instanceId));
    } catch (e) {
      this.options.log(
        `orchestration ${instanceId}: episode failed in the host: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      this.orchestrationSlots.release();
    }
  }

  private async episode(instanceId: string): Promise<void> {
    // From here on, a delivery needs an episode after this one.
    this.waitingEpisodes.delete(instanceId);
    const state = this.store.load(instanceId);
    if (state === undefined || TERMINAL.includes(state.status)) return;
    // Suspended: nothing runs; what arrives waits in the inbox until resume (DTFx buffers it likewise).
    if (state.status === 'Suspended') return;
    const inbox = this.store.inbox(instanceId, state.inboxGeneration);
    // The first episode starts the execution (a suspend before it may already have left an event).
    const first = !state.history.some((e) => e.EventType === EventType.ExecutionStarted);
    if (!first && inbox.length === 0) return;
    const now = this.now();
    const fresh = openingEvents(state, inbox, first, now);
    // Committed events are stored played; only this episode's are new to the orchestrator.
    const history = [...state.history, ...fresh.map((e) => ({ ...e, IsPlayed: false }))];
    const fn = durableFunction(this.options.registry, state.name, 'orchestrationTrigger');
    const replay = await replayOrchestrator(this.replayer, fn, state, history, first, (line) =>
      this.options.log(line),
    );
    this.counters.replayMs += replay.replayMs;
    this.counters.episodes++;

    const outcome = episodeOutcome(state, fresh, replay, now, (actions) =>
      refusedEntityAction(this.options.registry, actions),
    );
    if (outcome.kind === 'Failed' || outcome.kind === 'Completed') {
      await this.finish(outcome.next, outcome.appended, outcome.kind, outcome.output, now);
      // A signal sent just before returning still goes out (the orchestration no longer waits for it).
      for (const e of outcome.appended)
        if (e.EventType === EventType.EventSent) this.dispatch(outcome.next, e);
    } else if (outcome.kind === 'ContinuedAsNew') {
      const next: InstanceState = { ...outcome.next, executionId: newExecutionId() };
      await this.store.commit(next, [], true);
      for (const e of outcome.sent) this.dispatch(next, e);
      this.options.log(`orchestration ${state.name} (${instanceId}) ContinuedAsNew`);
      this.schedule(instanceId);
    } else {
      await this.store.commit(outcome.next, outcome.appended);
      if (state.status === 'Pending') this.options.log(`orchestration ${state.name} (${instanceId}) Running`);
      for (const e of outcome.scheduled) this.dispatch(outcome.next, e);
    }
  }

  protected async finish(
    next: InstanceState,
    appended: readonly HistoryEvent[],
    status: RuntimeStatus,
    output: unknown,
    now: string,
  ): Promise<void> {
    const state: InstanceState = { ...next, status, output, lastUpdatedTime: now };
    await this.store.commit(state, appended);
    this.options.log(`orchestration ${state.name} (${state.instanceId}) ${status}`);
    void this.notifyParent(state);
  }

  /** Starts the work a scheduling event stands for. Idempotent enough for recovery: children by id. */
  private dispatch(state: InstanceState, e: HistoryEvent): void {
    if (this.stopped) return;
    // Task ids start at 0 in every execution: the execution tells two executions' tasks apart.
    const key = `${state.instanceId}#${state.executionId ?? ''}#${e.EventId}`;
    if (this.inflight.has(key)) return;
    if (e.EventType === EventType.TaskScheduled) {
      this.inflight.add(key);
      void this.runActivity(state.instanceId, state.executionId, e).finally(() => this.inflight.delete(key));
    } else if (e.EventType === EventType.TimerCreated) {
      this.armTimer(state.instanceId, state.executionId, e.EventId, String(e['FireAt']));
    } else if (e.EventType === EventType.SubOrchestrationInstanceCreated) {
      this.startChild(state, e);
    } else if (e.EventType === EventType.EventSent) {
      this.sendToEntity(e);
    }
  }

  /** Hands an orchestration's entity request (an EventSent event) to its entity; see DurableEngine. */
  protected sendToEntity(_e: HistoryEvent): void {
    // The orchestration runtime alone has no entities.
  }

  /** Creates the child of a SubOrchestrationInstanceCreated event, by the rules of `childStart`. */
  private startChild(state: InstanceState, e: HistoryEvent): void {
    const fail = (reason: string) =>
      void this.deliver(
        state.instanceId,
        [subOrchestrationFailed(e.EventId, reason, this.now())],
        state.executionId,
      );
    const rule = childStart(state, e, (id) => this.store.load(id));
    if (rule.kind === 'refuse') {
      fail(rule.reason);
      return;
    }
    if (rule.kind === 'ours') {
      if (TERMINAL.includes(rule.child.status)) void this.notifyParent(rule.child);
      return;
    }
    const childId = String(e['InstanceId']);
    const name = String(e['Name']);
    let started: Promise<{ created: boolean }>;
    try {
      started = this.start(name, childId, e['Input'] as string | undefined, {
        instanceId: state.instanceId,
        taskId: e.EventId,
        executionId: state.executionId,
      });
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
      return;
    }
    started.then(
      (r) => {
        if (!r.created)
          fail(`An orchestration with instance id '${childId}' was started meanwhile and has not finished.`);
      },
      (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
    );
  }

  private armTimer(
    instanceId: string,
    executionId: string | undefined,
    timerId: number,
    fireAt: string,
  ): void {
    const key = `${instanceId}#${executionId ?? ''}#${timerId}`;
    if (this.timers.has(key)) return;
    const fire = () => {
      const wait = Date.parse(fireAt) - (this.options.now?.() ?? new Date()).getTime();
      if (wait > 0) {
        // setTimeout caps at ~24.8 days: re-arm until due. A custom clock can jump ahead, so look again
        // every second rather than trusting one long wait.
        const cap = this.options.now === undefined ? 2_000_000_000 : 1_000;
        this.timers.set(key, setTimeout(fire, Math.min(wait, cap)));
        return;
      }
      this.timers.delete(key);
      void this.deliver(
        instanceId,
        [ev(EventType.TimerFired, this.now(), { TimerId: timerId, FireAt: fireAt })],
        executionId,
      );
    };
    fire();
  }

  private async runActivity(
    instanceId: string,
    executionId: string | undefined,
    scheduled: HistoryEvent,
  ): Promise<void> {
    await this.activitySlots.acquire();
    let outcome: HistoryEvent | undefined;
    try {
      if (!this.stopped)
        outcome = await runActivityFunction(
          this.options.registry,
          instanceId,
          scheduled,
          this.counters,
          (line) => this.options.log(line),
          () => this.now(),
          this.options.activityInvoker,
        );
    } finally {
      this.activitySlots.release();
    }
    // stop() may have come while the activity ran: then its outcome is not delivered.
    if (outcome !== undefined && !this.stopped) await this.deliver(instanceId, [outcome], executionId);
  }

  private async notifyParent(child: InstanceState): Promise<void> {
    if (child.parentInstanceId === undefined || child.parentTaskId === undefined) return;
    const parent = this.store.load(child.parentInstanceId);
    if (parent === undefined || TERMINAL.includes(parent.status)) return;
    // The execution that created the child has ended (continued as new, started again): not its result.
    if (!sameExecution(child.parentExecutionId, parent.executionId)) return;
    const already = [...parent.history, ...this.store.inbox(parent.instanceId, parent.inboxGeneration)].some(
      (e) => e['TaskScheduledId'] === child.parentTaskId,
    );
    if (already) return;
    await this.deliver(
      parent.instanceId,
      [childResultEvent(child, child.parentTaskId, this.now())],
      child.parentExecutionId,
    );
  }
}

/** A new execution's id: 32 hex digits, as DTFx's `Guid.NewGuid().ToString("N")`. */
function newExecutionId(): string {
  return randomUUID().replace(/-/g, '');
}
