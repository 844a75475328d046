import { performance } from 'node:perf_hooks';
import type { FunctionRegistry, RegisteredFunction } from '../core';
import {
  asError,
  invokeFunction,
  settle,
  typed,
  untyped,
  type InvocationRequest,
  type Invoker,
  type Settled,
} from '../invoke';
import type { OrchestratorState } from './actions';
import { withExecutor, type ExecutorView, type FireAndForget } from './executor';
import { EventType, ev, json, parseStored } from './history';
import type { HistoryEvent, InstanceState } from './store';

// How the engine calls the app's own functions: orchestrators replayed for an episode, activities.

/** Where a failed orchestrator's error message carries its state (durable-functions' OrchestrationFailureError). */
const OUT_OF_PROC_LABEL = '$OutOfProcData$:';

export function durableFunction(
  registry: FunctionRegistry,
  name: string,
  kind: 'orchestrationTrigger' | 'activityTrigger',
): RegisteredFunction {
  const fn = registry.get(name);
  if (fn === undefined || fn.trigger.type !== kind)
    throw new Error(
      `no ${kind === 'orchestrationTrigger' ? 'orchestrator' : 'activity'} function named ${name}`,
    );
  return fn;
}

/** What one replay of the orchestrator produced. */
export interface Replay {
  orchestratorState: OrchestratorState | undefined;
  /** Why the orchestrator failed (it threw), if it did. */
  failure: string | undefined;
  /** durable-functions' executor that ran it (undefined: not the app's copy, see executor.ts). */
  executor: ExecutorView | undefined;
  /** The fire-and-forget actions (signalEntity) of this replay with their sequence numbers. */
  fireAndForget: FireAndForget[];
  /**
   * Event-loop time the invocation took (a replay does no I/O: it holds the loop from start to end).
   * Not `process.cpuUsage()`: a getrusage(2) over every thread of the process, two per episode (a few
   * percent of the host's CPU at fleet scale), which also counted other instances' fsyncs meanwhile.
   */
  replayMs: number;
}

/**
 * Runs one replay of an orchestrator of `instanceId` somewhere: in this process ({@link replayHere}) or
 * in a worker process (worker/pool.ts). Never throws what the orchestrator threw: that is the outcome.
 */
export type Replayer = (
  fn: RegisteredFunction,
  instanceId: string,
  request: InvocationRequest,
  log: (level: string, message: string) => void,
) => Promise<{
  outcome: Settled;
  executor: ExecutorView | undefined;
  fireAndForget: FireAndForget[];
}>;

/** The replayer of a host without workers: this process's executor, observed (executor.ts). */
export function replayHere(registry: FunctionRegistry): Replayer {
  return async (fn, instanceId, request, log) => {
    const { result, executor, fireAndForget } = await withExecutor(instanceId, () =>
      settle(invokeFunction(registry, fn, request, log)),
    );
    return { outcome: result, executor, fireAndForget };
  };
}

/** Runs the orchestrator function over `history` (what is committed plus this episode's new events). */
export async function replayOrchestrator(
  replayer: Replayer,
  fn: RegisteredFunction,
  state: InstanceState,
  history: HistoryEvent[],
  first: boolean,
  log: (line: string) => void,
): Promise<Replay> {
  const binding = {
    history,
    input: parseStored(state.input),
    instanceId: state.instanceId,
    isReplaying: !first,
    parentInstanceId: state.parentInstanceId ?? '',
    upperSchemaVersion: 3,
    maximumShortTimerDuration: '6.00:00:00',
    longRunningTimerIntervalDuration: '3.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
  const started = performance.now();
  const { outcome, executor, fireAndForget } = await replayer(
    fn,
    state.instanceId,
    { inputData: [{ name: fn.triggerName, data: typed(binding) }] },
    (_level, message) => log(`[${state.name}] ${message}`),
  );
  const result = outcome.ok
    ? { ok: true as const, state: untyped(outcome.result.returnValue) as OrchestratorState }
    : outcome;
  const replayMs = performance.now() - started;

  if (result.ok)
    return { orchestratorState: result.state, failure: undefined, executor, fireAndForget, replayMs };
  const idx = result.error.message.indexOf(OUT_OF_PROC_LABEL);
  if (idx < 0)
    return { orchestratorState: undefined, failure: result.error.message, executor, fireAndForget, replayMs };
  const orchestratorState = JSON.parse(
    result.error.message.slice(idx + OUT_OF_PROC_LABEL.length),
  ) as OrchestratorState;
  const failure = orchestratorState.error ?? result.error.message.slice(0, idx).trim();
  return { orchestratorState, failure, executor, fireAndForget, replayMs };
}

/**
 * Runs the activity a TaskScheduled event stands for; its outcome as the TaskCompleted or TaskFailed
 * event to deliver (an unknown activity fails the task).
 */
export async function runActivityFunction(
  registry: FunctionRegistry,
  instanceId: string,
  scheduled: HistoryEvent,
  counters: { activityExecutions: number },
  log: (line: string) => void,
  now: () => string,
  invoke: Invoker = (fn, request, log) => invokeFunction(registry, fn, request, log),
): Promise<HistoryEvent> {
  const name = String(scheduled['Name']);
  try {
    const fn = durableFunction(registry, name, 'activityTrigger');
    counters.activityExecutions++;
    const input = scheduled['Input'];
    const result = await invoke(
      fn,
      { inputData: [{ name: fn.triggerName, data: typeof input === 'string' ? { json: input } : {} }] },
      (_level, message) => log(`[${name}] ${message}`),
    );
    const value = untyped(result.returnValue);
    const outcome = ev(EventType.TaskCompleted, now(), {
      TaskScheduledId: scheduled.EventId,
      Result: json(value) ?? 'null',
    });
    log(`activity ${name} (${instanceId}#${scheduled.EventId}) succeeded`);
    return outcome;
  } catch (e) {
    const err = asError(e);
    const outcome = ev(EventType.TaskFailed, now(), {
      TaskScheduledId: scheduled.EventId,
      Reason: err.message,
      Details: (err.stack ?? '').split('\n').slice(1, 4).join('\n'),
    });
    log(`activity ${name} (${instanceId}#${scheduled.EventId}) failed: ${err.message}`);
    return outcome;
  }
}
