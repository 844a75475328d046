import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FunctionRegistry, RegisteredFunction } from '../core';
import { invokeFunction, typed, untyped } from '../invoke';
import { withExecutor, type ExecutorTask, type ExecutorView, type RetryOptions } from './executor';
import type { HistoryEvent, InstanceState, InstanceStore, RuntimeStatus } from './store';
import { InvalidInstanceIdError, invalidInstanceId } from './instanceId';

/** Event types of the Durable Task history (durable-functions' HistoryEventType). */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
} as const;
/** Actions the host understands (compound WhenAny 11 / WhenAll 12 are walked into, never run). */
const SUPPORTED_ACTIONS = new Set<unknown>(Object.values(ActionType));
/**
 * What the host does not run, by durable-functions' ActionType, with the feature it belongs to. An
 * orchestrator that asks for one fails at once with this reason (never Pending forever, never dropped).
 */
const UNSUPPORTED_ACTIONS: Record<number, string> = {
  7: 'CallEntity (durable entities)',
  8: 'CallHttp (durable HTTP calls)',
  9: 'SignalEntity (durable entities)',
  13: 'LockEntities (durable entity critical sections)',
  14: 'ReleaseEntities (durable entity critical sections)',
};
export const EVENT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(EventType).map(([k, v]) => [v, k]),
);
const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];
const OUT_OF_PROC_LABEL = '$OutOfProcData$:';
/** Marks the timers and re-schedules the host adds for retries, which have no action of their own. */
const RETRY_MARK = 'RetryAttempt';
const SCHEDULING = [
  EventType.TaskScheduled,
  EventType.TimerCreated,
  EventType.SubOrchestrationInstanceCreated,
] as number[];

export interface EngineOptions {
  readonly registry: FunctionRegistry;
  readonly store: InstanceStore;
  readonly maxConcurrentActivities: number;
  readonly maxConcurrentOrchestrations: number;
  readonly log: (line: string) => void;
  readonly now?: () => Date;
}

interface OrchestratorState {
  isDone: boolean;
  actions: unknown[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/** A small counting semaphore for bounded concurrency. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

function ev(
  type: number,
  timestamp: string,
  fields: Record<string, unknown> = {},
  eventId = -1,
): HistoryEvent {
  return { EventType: type, EventId: eventId, IsPlayed: false, Timestamp: timestamp, ...fields };
}

function played(e: HistoryEvent): HistoryEvent {
  return { ...e, IsPlayed: true };
}

function json(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/**
 * The JSON text of an action's input, as durable-functions 3.x encodes each action: CallActivity,
 * CallActivityWithRetry and ContinueAsNew pass their input through `Utils.processInput`, which
 * JSON-encodes a string and leaves other values raw (lib/src/actions/CallActivityAction.js,
 * ContinueAsNewAction.js); CallSubOrchestrator(WithRetry) keep the input as given
 * (CallSubOrchestratorAction.js), so a string there is a plain value to encode, never JSON text.
 */
function actionInput(action: Record<string, unknown>): string | undefined {
  const value = action['input'];
  const preEncoded =
    action['actionType'] === ActionType.CallActivity ||
    action['actionType'] === ActionType.CallActivityWithRetry ||
    action['actionType'] === ActionType.ContinueAsNew;
  return preEncoded && typeof value === 'string' ? value : json(value);
}

/** A stored JSON text as a value; text that is not JSON is handed over as the string it is. */
export function parseStored(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The durable orchestration engine of the local host: episodes replayed with durable-functions' own
 * executor through the registered orchestrator function, activities with bounded concurrency,
 * durable timers, external events, sub-orchestrations, continue-as-new, terminate and purge. State
 * lives in `InstanceStore`; after a crash `recover()` resumes every instance: unfinished activities run
 * again (at-least-once), timers are re-armed, and decisions already in history never change.
 */
export class DurableEngine {
  private readonly locks = new Map<string, Promise<void>>();
  private readonly activitySlots: Semaphore;
  private readonly orchestrationSlots: Semaphore;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Set<string>();
  private readonly waitingEpisodes = new Set<string>();
  private stopped = false;
  /** `storeMs`: event-loop time inside the instance store (see `timed`). */
  readonly counters = { episodes: 0, activityExecutions: 0, replayCpuMs: 0, storeMs: 0 };
  private readonly store: InstanceStore;

  constructor(private readonly options: EngineOptions) {
    this.store = timed(options.store, this.counters);
    this.activitySlots = new Semaphore(options.maxConcurrentActivities);
    this.orchestrationSlots = new Semaphore(options.maxConcurrentOrchestrations);
  }

  private now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  /** Serializes every mutation of one instance. */
  private withLock<T>(instanceId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(instanceId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(instanceId, tail);
    void tail.then(() => {
      if (this.locks.get(instanceId) === tail) this.locks.delete(instanceId);
    });
    return next;
  }

  private fn(name: string, kind: 'orchestrationTrigger' | 'activityTrigger'): RegisteredFunction {
    const fn = this.options.registry.get(name);
    if (fn === undefined || fn.trigger.type !== kind)
      throw new Error(
        `no ${kind === 'orchestrationTrigger' ? 'orchestrator' : 'activity'} function named ${name}`,
      );
    return fn;
  }

  get(instanceId: string): InstanceState | undefined {
    return this.store.load(instanceId);
  }

  /**
   * Starts an instance. Refuses (returns 'conflict') when one with the id is Pending or Running, as
   * `overridableExistingInstanceStates: NonRunningStates` does; a finished one is replaced.
   */
  start(
    name: string,
    instanceId: string | undefined,
    inputJson: string | undefined,
    parent?: { instanceId: string; taskId: number },
  ): Promise<{ instanceId: string; created: boolean }> {
    this.fn(name, 'orchestrationTrigger');
    const invalid = instanceId === undefined ? undefined : invalidInstanceId(instanceId);
    if (invalid !== undefined) return Promise.reject(new InvalidInstanceIdError(invalid));
    const id = instanceId ?? randomUUID().replace(/-/g, '');
    return this.withLock<{ instanceId: string; created: boolean }>(id, async () => {
      const existing = this.store.load(id);
      if (existing !== undefined && !TERMINAL.includes(existing.status))
        return { instanceId: id, created: false };
      if (existing !== undefined) this.store.delete(id);
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
        history: [],
        inboxGeneration: 0,
      };
      await this.store.commit(state, [], true);
      this.options.log(`orchestration ${name} (${id}) Pending`);
      this.schedule(id);
      return { instanceId: id, created: true };
    });
  }

  /** Adds events to an instance's inbox (durably) and schedules an episode. */
  private deliver(instanceId: string, events: HistoryEvent[]): Promise<'ok' | 'notFound' | 'gone'> {
    return this.withLock(instanceId, async () => {
      const state = this.store.load(instanceId);
      if (state === undefined) return 'notFound' as const;
      if (TERMINAL.includes(state.status)) return 'gone' as const;
      await this.store.append(instanceId, state.inboxGeneration, events);
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
    return this.withLock(instanceId, async () => {
      const state = this.store.load(instanceId);
      if (state === undefined) return 'notFound' as const;
      if (TERMINAL.includes(state.status)) return 'gone' as const;
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
    return this.withLock(instanceId, async () => {
      const state = this.store.load(instanceId);
      if (state === undefined) return 'notFound' as const;
      if (TERMINAL.includes(state.status)) return 'gone' as const;
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
    return this.withLock(instanceId, async () => {
      const state = this.store.load(instanceId);
      if (state === undefined) return 'notFound' as const;
      if (TERMINAL.includes(state.status)) return 'gone' as const;
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

  list(): InstanceState[] {
    return this.store
      .list()
      .map((id) => this.store.load(id))
      .filter((s): s is InstanceState => s !== undefined);
  }

  /** After a restart: re-arm timers, re-run unfinished activities, re-create children, run episodes. */
  recover(): void {
    for (const state of this.list()) {
      if (TERMINAL.includes(state.status)) {
        void this.notifyParent(state);
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
  private schedule(instanceId: string): void {
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
    const fresh: HistoryEvent[] = [ev(EventType.OrchestratorStarted, now)];
    if (first)
      fresh.push(
        ev(EventType.ExecutionStarted, now, {
          Name: state.name,
          Input: state.input,
          ParentInstance: state.parentInstanceId,
        }),
      );
    fresh.push(...inbox);
    // Committed events are stored played; only this episode's are new to the orchestrator.
    const history = [...state.history, ...fresh.map((e) => ({ ...e, IsPlayed: false }))];
    const fn = this.fn(state.name, 'orchestrationTrigger');
    const binding = {
      history,
      input: parseStored(state.input),
      instanceId,
      isReplaying: !first,
      parentInstanceId: state.parentInstanceId ?? '',
      upperSchemaVersion: 3,
      maximumShortTimerDuration: '6.00:00:00',
      longRunningTimerIntervalDuration: '3.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    };
    const cpu = process.cpuUsage();
    const { result, executor } = await withExecutor(async () => {
      try {
        const r = await invokeFunction(
          this.options.registry,
          fn,
          { inputData: [{ name: fn.triggerName, data: typed(binding) }] },
          (_level, message) => this.options.log(`[${state.name}] ${message}`),
        );
        return { ok: true as const, state: untyped(r.returnValue) as OrchestratorState };
      } catch (e) {
        return { ok: false as const, error: e instanceof Error ? e : new Error(String(e)) };
      }
    });
    const used = process.cpuUsage(cpu);
    this.counters.replayCpuMs += (used.user + used.system) / 1000;
    this.counters.episodes++;

    let orchestratorState: OrchestratorState | undefined;
    let failure: string | undefined;
    if (result.ok) orchestratorState = result.state;
    else {
      const idx = result.error.message.indexOf(OUT_OF_PROC_LABEL);
      if (idx >= 0) {
        orchestratorState = JSON.parse(
          result.error.message.slice(idx + OUT_OF_PROC_LABEL.length),
        ) as OrchestratorState;
        failure = orchestratorState.error ?? result.error.message.slice(0, idx).trim();
      } else failure = result.error.message;
    }

    if (failure === undefined && orchestratorState !== undefined)
      failure = unsupportedAction(this.flatActions(orchestratorState));
    if (failure === undefined && orchestratorState !== undefined && executor === undefined)
      failure =
        `The local host could not follow this orchestrator: it ran on a copy of durable-functions the host ` +
        `did not find from the app's folder (supported: durable-functions >=3.0.0 <4). Install durable-functions ` +
        `in the app (npm install) so that require('durable-functions') resolves from its folder.`;
    if (failure === undefined && orchestratorState !== undefined)
      failure = this.checkDeterminism(state, orchestratorState);
    const scheduled =
      failure === undefined && executor !== undefined ? this.newWork(state, executor, now) : [];
    const appended = [...fresh, ...scheduled, ev(EventType.OrchestratorCompleted, now)].map(played);
    const next: InstanceState = {
      ...state,
      history: [...state.history, ...appended],
      customStatus: orchestratorState?.customStatus,
      lastUpdatedTime: now,
      inboxGeneration: state.inboxGeneration + 1,
      status: 'Running',
    };
    const wasPending = state.status === 'Pending';

    const continueAsNew =
      orchestratorState?.isDone === true
        ? this.findAction(orchestratorState, ActionType.ContinueAsNew)
        : undefined;
    if (failure !== undefined) {
      const failed = played(
        ev(EventType.ExecutionFailed, now, { OrchestrationStatus: 'Failed', Reason: failure }),
      );
      await this.finish(
        { ...next, history: [...next.history, failed] },
        [...appended, failed],
        'Failed',
        failure,
        now,
      );
    } else if (continueAsNew !== undefined) {
      // A new execution: fresh history, the new input; events not yet consumed stay in the journal.
      await this.store.commit({ ...next, history: [], input: actionInput(continueAsNew) }, [], true);
      this.options.log(`orchestration ${state.name} (${instanceId}) ContinuedAsNew`);
      this.schedule(instanceId);
    } else if (orchestratorState?.isDone === true) {
      const completed = played(
        ev(EventType.ExecutionCompleted, now, {
          OrchestrationStatus: 'Completed',
          Result: json(orchestratorState.output),
        }),
      );
      await this.finish(
        { ...next, history: [...next.history, completed] },
        [...appended, completed],
        'Completed',
        orchestratorState.output,
        now,
      );
    } else {
      await this.store.commit(next, appended);
      if (wasPending) this.options.log(`orchestration ${state.name} (${instanceId}) Running`);
      for (const e of scheduled) this.dispatch(next, e);
    }
  }

  /**
   * Replay must make the same decisions: the orchestrator's actions, in order, must match the
   * scheduling events already in history. A mismatch fails the instance the way the Durable Task
   * Framework does ("Non-Deterministic workflow detected") instead of feeding results to the wrong task.
   */
  private checkDeterminism(state: InstanceState, s: OrchestratorState): string | undefined {
    const recorded = state.history
      .filter((e) => SCHEDULING.includes(e.EventType) && e[RETRY_MARK] !== true)
      .sort((a, b) => a.EventId - b.EventId);
    const actions = this.flatActions(s).filter((a) =>
      [
        ActionType.CallActivity,
        ActionType.CallActivityWithRetry,
        ActionType.CallSubOrchestrator,
        ActionType.CallSubOrchestratorWithRetry,
        ActionType.CreateTimer,
      ].includes(a['actionType'] as 0),
    );
    const expectedType = (a: Record<string, unknown>): number =>
      a['actionType'] === ActionType.CreateTimer
        ? EventType.TimerCreated
        : a['actionType'] === ActionType.CallSubOrchestrator ||
            a['actionType'] === ActionType.CallSubOrchestratorWithRetry
          ? EventType.SubOrchestrationInstanceCreated
          : EventType.TaskScheduled;
    for (const [i, e] of recorded.entries()) {
      const a = actions[i];
      const name = e['Name'];
      if (
        a === undefined ||
        expectedType(a) !== e.EventType ||
        (name !== undefined && a['functionName'] !== name)
      ) {
        return `Non-Deterministic workflow detected: ${EVENT_NAMES[e.EventType] ?? e.EventType}: ${e.EventId} ${typeof name === 'string' ? name : ''} was in history, but replay ${a === undefined ? 'scheduled nothing' : `scheduled ${typeof a['functionName'] === 'string' ? a['functionName'] : 'a timer'}`}. Orchestrator code must be deterministic (no Date.now(), Math.random(), I/O).`;
      }
    }
    return undefined;
  }

  private flatActions(s: OrchestratorState): Record<string, unknown>[] {
    const flat: Record<string, unknown>[] = [];
    const walk = (a: unknown): void => {
      if (Array.isArray(a)) a.forEach(walk);
      else if (typeof a === 'object' && a !== null) {
        const compound = (a as { compoundActions?: unknown }).compoundActions;
        if (compound !== undefined) walk(compound);
        else flat.push(a as Record<string, unknown>);
      }
    };
    walk(s.actions);
    return flat;
  }

  private findAction(s: OrchestratorState, type: number): Record<string, unknown> | undefined {
    return this.flatActions(s).find((a) => a['actionType'] === type);
  }

  private async finish(
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

  /** History events for the tasks the executor opened this episode that the host has not scheduled yet. */
  private newWork(state: InstanceState, executor: ExecutorView, now: string): HistoryEvent[] {
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
          out.push({ ...this.scheduleEvent(state, inner, task.id, now), [RETRY_MARK]: true });
        continue;
      }
      if (typeof task.actionObj === 'object')
        out.push(this.scheduleEvent(state, task.actionObj, task.id, now));
    }
    return out;
  }

  private scheduleEvent(
    state: InstanceState,
    action: Record<string, unknown>,
    id: number,
    now: string,
  ): HistoryEvent {
    const type = action['actionType'];
    if (type === ActionType.CallActivity || type === ActionType.CallActivityWithRetry) {
      return ev(
        EventType.TaskScheduled,
        now,
        { Name: action['functionName'], Input: actionInput(action) },
        id,
      );
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
    throw new Error(`action type ${String(type)} is not supported by the local host`);
  }

  /** Starts the work a scheduling event stands for. Idempotent enough for recovery: children by id. */
  private dispatch(state: InstanceState, e: HistoryEvent): void {
    if (this.stopped) return;
    const key = `${state.instanceId}#${e.EventId}`;
    if (this.inflight.has(key)) return;
    if (e.EventType === EventType.TaskScheduled) {
      this.inflight.add(key);
      void this.runActivity(state.instanceId, e).finally(() => this.inflight.delete(key));
    } else if (e.EventType === EventType.TimerCreated) {
      this.armTimer(state.instanceId, e.EventId, String(e['FireAt']));
    } else if (e.EventType === EventType.SubOrchestrationInstanceCreated) {
      const childId = String(e['InstanceId']);
      const invalid = invalidInstanceId(childId);
      if (invalid !== undefined) {
        // The extension refuses to create it: the parent's sub-orchestration task fails.
        void this.deliver(state.instanceId, [
          ev(EventType.SubOrchestrationInstanceFailed, this.now(), {
            TaskScheduledId: e.EventId,
            Reason: `Invalid sub-orchestration instance id: ${invalid}`,
            Details: '',
          }),
        ]);
        return;
      }
      this.startChild(state, e, childId);
    }
  }

  /**
   * Creates the child of a SubOrchestrationInstanceCreated event. An explicit child id may name an
   * instance that exists: a finished one (Completed, Failed, Terminated) is replaced by a new execution,
   * which is what a retry of a failed child with the same id needs; a Pending, Running or Suspended one
   * is never replaced and the parent's task fails. That is the Durable Task Framework's rule for
   * sub-orchestration ids (microsoft/durabletask-mssql PR #330 "sub-orchestrations cannot reuse existing
   * instance ids", bringing the SQL provider to the Azure Storage behaviour: terminal targets are
   * overwritten, active ones untouched; its test RetryFailedSubOrchestration(userSpecifiedInstanceId)
   * retries a failed child under the same explicit id). A child may not use its parent's id
   * (Azure/azure-functions-durable-extension#747). After a restart the child created for this very task
   * is left alone (re-linked, or its result re-delivered).
   */
  private startChild(state: InstanceState, e: HistoryEvent, childId: string): void {
    const fail = (reason: string) =>
      void this.deliver(state.instanceId, [
        ev(EventType.SubOrchestrationInstanceFailed, this.now(), {
          TaskScheduledId: e.EventId,
          Reason: reason,
          Details: '',
        }),
      ]);
    if (childId === state.instanceId) {
      fail(`A sub-orchestration cannot use the instance id of its parent ('${childId}').`);
      return;
    }
    const child = this.store.load(childId);
    const ours = child?.parentInstanceId === state.instanceId && child.parentTaskId === e.EventId;
    if (child !== undefined && ours) {
      if (TERMINAL.includes(child.status)) void this.notifyParent(child);
      return;
    }
    if (child !== undefined && !TERMINAL.includes(child.status)) {
      fail(
        `An orchestration with instance id '${childId}' is ${child.status}: a sub-orchestration cannot replace an instance that has not finished.`,
      );
      return;
    }
    const name = String(e['Name']);
    let started: Promise<{ created: boolean }>;
    try {
      started = this.start(name, childId, e['Input'] as string | undefined, {
        instanceId: state.instanceId,
        taskId: e.EventId,
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

  private armTimer(instanceId: string, timerId: number, fireAt: string): void {
    const key = `${instanceId}#${timerId}`;
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
      void this.deliver(instanceId, [
        ev(EventType.TimerFired, this.now(), { TimerId: timerId, FireAt: fireAt }),
      ]);
    };
    fire();
  }

  private async runActivity(instanceId: string, scheduled: HistoryEvent): Promise<void> {
    await this.activitySlots.acquire();
    let outcome: HistoryEvent;
    const name = String(scheduled['Name']);
    try {
      if (this.stopped) return;
      const fn = this.fn(name, 'activityTrigger');
      this.counters.activityExecutions++;
      const input = scheduled['Input'];
      const result = await invokeFunction(
        this.options.registry,
        fn,
        { inputData: [{ name: fn.triggerName, data: typeof input === 'string' ? { json: input } : {} }] },
        (_level, message) => this.options.log(`[${name}] ${message}`),
      );
      const value = untyped(result.returnValue);
      outcome = ev(EventType.TaskCompleted, this.now(), {
        TaskScheduledId: scheduled.EventId,
        Result: json(value) ?? 'null',
      });
      this.options.log(`activity ${name} (${instanceId}#${scheduled.EventId}) succeeded`);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      outcome = ev(EventType.TaskFailed, this.now(), {
        TaskScheduledId: scheduled.EventId,
        Reason: err.message,
        Details: (err.stack ?? '').split('\n').slice(1, 4).join('\n'),
      });
      this.options.log(`activity ${name} (${instanceId}#${scheduled.EventId}) failed: ${err.message}`);
    } finally {
      this.activitySlots.release();
    }
    if (!this.stopped) await this.deliver(instanceId, [outcome]);
  }

  private async notifyParent(child: InstanceState): Promise<void> {
    if (child.parentInstanceId === undefined || child.parentTaskId === undefined) return;
    const parent = this.store.load(child.parentInstanceId);
    if (parent === undefined || TERMINAL.includes(parent.status)) return;
    const already = [...parent.history, ...this.store.inbox(parent.instanceId, parent.inboxGeneration)].some(
      (e) => e['TaskScheduledId'] === child.parentTaskId,
    );
    if (already) return;
    const now = this.now();
    const event =
      child.status === 'Completed'
        ? ev(EventType.SubOrchestrationInstanceCompleted, now, {
            TaskScheduledId: child.parentTaskId,
            Result: json(child.output) ?? 'null',
          })
        : ev(EventType.SubOrchestrationInstanceFailed, now, {
            TaskScheduledId: child.parentTaskId,
            Reason: `Sub-orchestration ${child.name} (${child.instanceId}) ${child.status.toLowerCase()}: ${String(child.output)}`,
            Details: '',
          });
    await this.deliver(parent.instanceId, [event]);
  }
}

/** The failure reason for the first action the host does not run, if any. */
function unsupportedAction(actions: readonly Record<string, unknown>[]): string | undefined {
  for (const a of actions) {
    const type = a['actionType'];
    if (SUPPORTED_ACTIONS.has(type)) continue;
    const target =
      typeof a['functionName'] === 'string'
        ? ` '${a['functionName']}'`
        : typeof a['instanceId'] === 'string'
          ? ` '${a['instanceId']}'`
          : '';
    const what =
      typeof type === 'number' && UNSUPPORTED_ACTIONS[type] !== undefined
        ? UNSUPPORTED_ACTIONS[type]
        : `action type ${JSON.stringify(type)} (unknown to the local host)`;
    return `The local host does not support ${what}: the orchestrator asked for it${target}. The instance is failed instead of waiting forever (local/README.md lists what the host supports).`;
  }
  return undefined;
}

/**
 * The store with the time each call holds the event loop (parsing, serializing, synchronous file
 * access; not the asynchronous writes and fsyncs it waits for) added to `counters.storeMs`.
 */
function timed(store: InstanceStore, counters: { storeMs: number }): InstanceStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const t = performance.now();
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          counters.storeMs += performance.now() - t;
        }
      };
    },
  });
}

function retryDelay(task: ExecutorTask): number {
  const o = task.retryOptions as RetryOptions;
  const attempt = Math.max(1, (task.attemptNumber ?? 2) - 1);
  const delay = o.firstRetryIntervalInMilliseconds * Math.pow(o.backoffCoefficient ?? 1, attempt - 1);
  return Math.min(delay, o.maxRetryIntervalInMilliseconds ?? Number.MAX_SAFE_INTEGER);
}
