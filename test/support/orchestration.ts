import type { OrchestrationContext, Task } from 'durable-functions';
import { DummyOrchestrationContext } from 'durable-functions';

type Handler = (
  trigger: unknown,
  context: unknown,
) => Promise<{ isDone: boolean; actions: Action[][]; output?: unknown }>;
// The library's own test helper: the orchestrator wrapped exactly as df.app.orchestration wraps it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createOrchestrator } = require('durable-functions/lib/src/util/testingUtils') as {
  createOrchestrator: (fn: unknown) => Handler;
};

/**
 * Drives an orchestrator through durable histories, the way the Functions host does: each episode
 * hands it the whole history (earlier events IsPlayed), reads back the actions, and appends the
 * scheduling events and the results the test's responder gives — completions or failures
 * (TaskFailed, SubOrchestrationInstanceFailed), fired timers (TimerFired, never for a cancelled
 * timer) and raised events (EventRaised) the test schedules. Task ids are read from the actions in the
 * order the orchestrator opened them, as the host does (the library's numbering).
 */
export interface ScheduledCall {
  /**
   * `entity`: a `callEntity` (name: the operation, instanceId: the entity's `@name@key`), answered
   * like an activity; `signal`: a `signalEntity`, recorded (EventSent) and never answered.
   */
  readonly kind: 'activity' | 'subOrchestration' | 'timer' | 'entity' | 'signal';
  readonly name: string;
  readonly input: unknown;
  readonly fireAt?: string;
  readonly instanceId?: string;
}

export type Response = { readonly result: unknown } | { readonly error: string };
/** Not done yet: the call stays outstanding and is asked again in the next episode (a slow child). */
export const LATER = { later: true } as const;
/**
 * Answers a call (or `LATER`, or a promise of either: an integration test can answer with real
 * activities); `now` is the time its completion lands in the history (after timers fired).
 */
export type Responder = (
  call: ScheduledCall,
  now: number,
) => Response | typeof LATER | Promise<Response | typeof LATER>;

/** An external event the test raises once `when` holds for the calls scheduled so far. */
export interface Signal {
  readonly name: string;
  readonly input: unknown;
  readonly when: (calls: readonly ScheduledCall[]) => boolean;
}

export interface Run {
  readonly calls: ScheduledCall[];
  readonly output: unknown;
  readonly continuedAsNewWith: unknown;
  readonly failed: string | undefined;
  readonly episodes: number;
  readonly history: HistoryEvent[];
  /** Signals raised into the history, in order. */
  readonly raised: Signal[];
  /** The custom status after each episode (what the host would store), consecutive repeats dropped. */
  readonly customStatuses: unknown[];
  /**
   * The actions the orchestrator produced, each as it was first produced, per episode (what the host
   * read from each episode: scheduled activities, timers, sub-orchestrations, waits, continue-as-new).
   */
  readonly episodeActions: RecordedAction[][];
  /** `episodeActions` flattened: the first run's actions in order. */
  readonly actions: RecordedAction[];
  /**
   * Replays a whole history from the start in one episode (by default the one this run recorded), as the
   * host does after a restart. A deterministic orchestrator replaying its own history produces exactly
   * `actions` again; compare them with `expect(replay.actions).toEqual(run.actions)`.
   */
  readonly replay: (history?: readonly HistoryEvent[]) => Promise<Replay>;
}

/**
 * An action as the host reads it (its JSON), without `isCanceled`: cancelling a timer later flips that
 * flag on the action the orchestrator created earlier; it is not a different decision.
 */
export type RecordedAction = Record<string, unknown>;

export interface Replay {
  readonly actions: RecordedAction[];
  readonly isDone: boolean;
  readonly output: unknown;
  readonly failed: string | undefined;
}

export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

interface Action {
  actionType: number;
  functionName?: string;
  operation?: string;
  input?: unknown;
  fireAt?: string | Date;
  instanceId?: string;
  isCanceled?: boolean;
}

// durable-functions' ActionType and HistoryEventType (FACTS.md).
const ACTION = {
  callActivity: 0,
  callSub: 2,
  callSubWithRetry: 3,
  continueAsNew: 4,
  timer: 5,
  waitEvent: 6,
  callEntity: 7,
  signalEntity: 9,
};
const EVENT = {
  executionStarted: 0,
  taskScheduled: 4,
  taskCompleted: 5,
  taskFailed: 6,
  subCreated: 7,
  subCompleted: 8,
  subFailed: 9,
  timerCreated: 10,
  timerFired: 11,
  orchestratorStarted: 12,
  orchestratorCompleted: 13,
  eventSent: 14,
  eventRaised: 15,
};

type Generator_ = (context: OrchestrationContext) => Generator<Task, unknown, unknown>;

const record = (action: Action): RecordedAction => {
  const json = JSON.parse(JSON.stringify(action)) as RecordedAction;
  delete json['isCanceled'];
  return json;
};

/** Where a replay's actions part from the recorded ones, or undefined when they are the same. */
export function firstDifference(
  recorded: readonly RecordedAction[],
  replayed: readonly RecordedAction[],
): string | undefined {
  for (let i = 0; i < Math.max(recorded.length, replayed.length); i++) {
    // JSON.stringify(undefined) is undefined (its declared type says string).
    const [was, now] = [recorded[i], replayed[i]].map((a) => JSON.stringify(a) as string | undefined);
    if (was !== now)
      return `non-deterministic orchestrator: action ${i} was ${was ?? 'absent'}, the replay produced ${now ?? 'nothing'}`;
  }
  return undefined;
}

/** One episode: the orchestrator handed the whole history, as the host hands it. */
function episodeOf(
  handler: Handler,
  history: readonly HistoryEvent[],
  input: unknown,
  instanceId: string,
  episode: number,
): ReturnType<Handler> {
  return handler(
    {
      // Copies: the library turns Timestamp strings into Dates in place.
      history: history.map((e) => ({ ...e })),
      input,
      upperSchemaVersion: 0,
      instanceId,
      isReplaying: episode > 1,
      parentInstanceId: '',
      maximumShortTimerDuration: '6.00:00:00',
      longRunningTimerIntervalDuration: '3.00:00:00',
      defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
    },
    new DummyOrchestrationContext('test', `invocation-${episode}`, () => undefined),
  );
}

/**
 * Replays `history` from the start in one episode and returns every action the orchestrator produced
 * (the driver's `Run.replay` with a history of the test's choosing, e.g. one with a result changed).
 */
export async function replayHistory(
  orchestrator: Generator_,
  input: unknown,
  history: readonly HistoryEvent[],
  options: { instanceId?: string } = {},
): Promise<Replay> {
  const handler = createOrchestrator(orchestrator);
  try {
    const state = await episodeOf(handler, history, input, options.instanceId ?? 'test-instance', 2);
    return {
      actions: state.actions.flat().map(record),
      isDone: state.isDone,
      output: state.output,
      failed: undefined,
    };
  } catch (e) {
    return { actions: [], isDone: false, output: undefined, failed: String(e) };
  }
}

export async function runOrchestration(
  orchestrator: Generator_,
  input: unknown,
  respond: Responder,
  options: {
    instanceId?: string;
    start?: string;
    maxEpisodes?: number;
    signals?: readonly Signal[];
    /**
     * Default true: each episode's replay of the earlier history must produce the actions the earlier
     * episodes produced (as the host requires); a run whose replay differs fails, naming the first
     * difference. Off only to show what `Run.replay` catches on its own.
     */
    checkReplays?: boolean;
    /** A test's model of the entity a signal goes to: handed each signal when it is sent, in order. */
    onSignal?: (call: ScheduledCall) => void;
  } = {},
): Promise<Run> {
  const handler = createOrchestrator(orchestrator);
  const instanceId = options.instanceId ?? 'test-instance';
  let now = Date.parse(options.start ?? '2026-11-24T10:00:00Z');
  const history: HistoryEvent[] = [];
  const ev = (type: number, id: number, fields: Record<string, unknown> = {}): HistoryEvent => ({
    EventType: type,
    EventId: id,
    IsPlayed: false,
    Timestamp: new Date(now).toISOString(),
    ...fields,
  });
  history.push(
    ev(EVENT.orchestratorStarted, -1),
    ev(EVENT.executionStarted, -1, { Name: 'test', Input: JSON.stringify(input) }),
  );
  const calls: ScheduledCall[] = [];
  const pending: { id: number; call: ScheduledCall; index: number }[] = [];
  const signals = [...(options.signals ?? [])];
  const raised: Signal[] = [];
  const customStatuses: unknown[] = [];
  let waiting = 0;
  let consumed = 0;
  let ids = 0;
  const episodeActions: RecordedAction[][] = [];
  const done = (episode: number, fields: Partial<Run>): Run => ({
    calls,
    output: undefined,
    continuedAsNewWith: undefined,
    failed: undefined,
    episodes: episode,
    history,
    raised,
    customStatuses,
    episodeActions,
    actions: episodeActions.flat(),
    replay: (replayed = history) => replayHistory(orchestrator, input, replayed, { instanceId }),
    ...fields,
  });
  for (let episode = 1; episode <= (options.maxEpisodes ?? 2000); episode++) {
    let state;
    try {
      state = await episodeOf(handler, history, input, instanceId, episode);
    } catch (e) {
      return done(episode, { failed: String(e) });
    }
    const custom: unknown = (state as { customStatus?: unknown }).customStatus;
    if (
      custom !== undefined &&
      JSON.stringify(custom) !== JSON.stringify(customStatuses[customStatuses.length - 1])
    )
      customStatuses.push(custom);
    const actions = state.actions.flat();
    if (options.checkReplays !== false) {
      const difference = firstDifference(
        episodeActions.flat(),
        actions.slice(0, consumed).map((a) => record(a)),
      );
      if (difference !== undefined)
        return done(episode, { failed: `replay of episode ${episode}: ${difference}` });
    }
    episodeActions.push(actions.slice(consumed).map((a) => record(a)));
    for (let index = consumed; index < actions.length; index++) {
      const a = actions[index] as Action;
      consumed++;
      if (a.actionType === ACTION.continueAsNew)
        return done(episode, { output: state.output, continuedAsNewWith: a.input });
      if (a.actionType === ACTION.waitEvent) {
        // No id and no history event: a raised event is matched by name.
        waiting++;
        continue;
      }
      const id = ids++;
      const entity = a.actionType === ACTION.callEntity || a.actionType === ACTION.signalEntity;
      const call: ScheduledCall = entity
        ? {
            kind: a.actionType === ACTION.callEntity ? 'entity' : 'signal',
            name: a.operation ?? '',
            input: a.input,
            instanceId: a.instanceId ?? '',
          }
        : a.actionType === ACTION.timer
          ? { kind: 'timer', name: 'timer', input: undefined, fireAt: new Date(a.fireAt ?? 0).toISOString() }
          : a.actionType === ACTION.callSub || a.actionType === ACTION.callSubWithRetry
            ? {
                kind: 'subOrchestration',
                name: a.functionName ?? '',
                input: a.input,
                instanceId: a.instanceId ?? '',
              }
            : { kind: 'activity', name: a.functionName ?? '', input: a.input };
      calls.push(call);
      if (entity) {
        // The extension's EventSent: the request message (its `id` names the answer's EventRaised).
        history.push(
          ev(EVENT.eventSent, id, {
            InstanceId: call.instanceId,
            Name: call.name,
            Input: JSON.stringify({
              id: `request-${id}`,
              op: call.name,
              signal: call.kind === 'signal',
              input: JSON.stringify(call.input),
              parent: instanceId,
            }),
          }),
        );
        if (call.kind === 'entity') pending.push({ id, call, index });
        else options.onSignal?.(call);
        continue;
      }
      pending.push({ id, call, index });
      history.push(
        call.kind === 'timer'
          ? ev(EVENT.timerCreated, id, { FireAt: call.fireAt })
          : call.kind === 'subOrchestration'
            ? ev(EVENT.subCreated, id, {
                Name: call.name,
                InstanceId: call.instanceId,
                Input: JSON.stringify(call.input),
              })
            : ev(EVENT.taskScheduled, id, { Name: call.name, Input: JSON.stringify(call.input) }),
      );
    }
    history.push(ev(EVENT.orchestratorCompleted, -1));
    if (state.isDone) return done(episode, { output: state.output });
    for (const e of history) e.IsPlayed = true;
    const due = signals.filter((s) => s.when(calls));
    // Everything outstanding completes before the next episode (results arriving together), except
    // timers the orchestrator cancelled meanwhile.
    let live = pending.splice(0).filter((p) => (actions[p.index] as Action).isCanceled !== true);
    if (live.length === 0 && due.length === 0)
      throw new Error(
        waiting > 0
          ? 'the orchestrator waits for an external event no scheduled signal raises'
          : 'the orchestrator waits on nothing the driver can complete',
      );
    const timers = live.filter((d) => d.call.kind === 'timer').map((d) => Date.parse(d.call.fireAt ?? ''));
    if (timers.length > 0) now = Math.max(now, ...timers);
    else now += 1000;
    const started = ev(EVENT.orchestratorStarted, -1);
    history.push(started);
    // Raised events first: an event already waiting wins a race against a timer in the same episode.
    for (const s of due) {
      signals.splice(signals.indexOf(s), 1);
      raised.push(s);
      history.push(ev(EVENT.eventRaised, -1, { Name: s.name, Input: JSON.stringify(s.input) }));
    }
    let progressed = due.length;
    // A slow child (LATER) with nothing else outstanding (a window waiting for all it started, no
    // timer): the children are asked again, later, until one answers; a child that never does ends
    // the run with the error below.
    for (let round = 0; ; round++) {
      for (const p of live) {
        const { id, call } = p;
        if (call.kind === 'timer') {
          history.push(ev(EVENT.timerFired, -1, { TimerId: id, FireAt: call.fireAt }));
          progressed++;
          continue;
        }
        const r = await respond(call, now);
        if ('later' in r) {
          pending.push(p);
          continue;
        }
        progressed++;
        if (call.kind === 'entity') {
          // The entity's answer: an EventRaised named by the request id, its Input a ResponseMessage.
          history.push(
            ev(EVENT.eventRaised, -1, {
              Name: `request-${id}`,
              Input: JSON.stringify(
                'result' in r
                  ? { result: JSON.stringify(r.result) }
                  : { result: JSON.stringify(r.error), exceptionType: 'Error' },
              ),
            }),
          );
          continue;
        }
        const sub = call.kind === 'subOrchestration';
        history.push(
          'result' in r
            ? ev(sub ? EVENT.subCompleted : EVENT.taskCompleted, -1, {
                TaskScheduledId: id,
                Result: JSON.stringify(r.result),
              })
            : ev(sub ? EVENT.subFailed : EVENT.taskFailed, -1, {
                TaskScheduledId: id,
                Reason: r.error,
                Details: '',
              }),
        );
      }
      if (progressed > 0 || round >= 1000) break;
      live = pending.splice(0);
      now += 1000;
      // The episode starts when the answer comes.
      started.Timestamp = new Date(now).toISOString();
    }
    if (progressed === 0) throw new Error('every outstanding call answered LATER: nothing can progress');
  }
  throw new Error('too many episodes');
}

/** A step's answer as the registered activity gives it (`StepResult`). */
export const stepOk = (value: unknown): Response => ({ result: { ok: true, value } });
export const stepFailed = (
  code: string,
  retryable: boolean,
  extra: { message?: string; retryAfterSeconds?: number } = {},
): Response => ({
  result: { ok: false, error: { code, message: extra.message ?? `${code} (test)`, retryable, ...extra } },
});
