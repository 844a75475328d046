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
 * scheduling events and the results the test's responder gives. Task ids follow the order the
 * orchestrator opens tasks (the library's numbering when no activity-with-retry fails).
 */
export interface ScheduledCall {
  readonly kind: 'activity' | 'subOrchestration' | 'timer';
  readonly name: string;
  readonly input: unknown;
  readonly fireAt?: string;
  readonly instanceId?: string;
}

export type Response = { readonly result: unknown } | { readonly error: string };
export type Responder = (call: ScheduledCall) => Response;

export interface Run {
  readonly calls: ScheduledCall[];
  readonly output: unknown;
  readonly continuedAsNewWith: unknown;
  readonly failed: string | undefined;
  readonly episodes: number;
  readonly history: HistoryEvent[];
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
  input?: unknown;
  fireAt?: string;
  instanceId?: string;
}

type Generator_ = (context: OrchestrationContext) => Generator<Task, unknown, unknown>;

export async function runOrchestration(
  orchestrator: Generator_,
  input: unknown,
  respond: Responder,
  options: { instanceId?: string; start?: string; maxEpisodes?: number } = {},
): Promise<Run> {
  const handler = createOrchestrator(orchestrator);
  let now = Date.parse(options.start ?? '2026-11-24T10:00:00Z');
  const history: HistoryEvent[] = [];
  const ev = (type: number, id: number, fields: Record<string, unknown> = {}): HistoryEvent => ({
    EventType: type,
    EventId: id,
    IsPlayed: false,
    Timestamp: new Date(now).toISOString(),
    ...fields,
  });
  history.push(ev(12, -1), ev(0, -1, { Name: 'test', Input: JSON.stringify(input) }));
  const calls: ScheduledCall[] = [];
  const pending: { id: number; call: ScheduledCall }[] = [];
  let consumed = 0;
  for (let episode = 1; episode <= (options.maxEpisodes ?? 500); episode++) {
    let state;
    try {
      state = await handler(
        {
          // Copies: the library turns Timestamp strings into Dates in place.
          history: history.map((e) => ({ ...e })),
          input,
          upperSchemaVersion: 0,
          instanceId: options.instanceId ?? 'test-instance',
          isReplaying: episode > 1,
          parentInstanceId: '',
          maximumShortTimerDuration: '6.00:00:00',
          longRunningTimerIntervalDuration: '3.00:00:00',
          defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
        },
        new DummyOrchestrationContext('test', `invocation-${episode}`, () => undefined),
      );
    } catch (e) {
      return {
        calls,
        output: undefined,
        continuedAsNewWith: undefined,
        failed: String(e),
        episodes: episode,
        history,
      };
    }
    const actions = state.actions.flat();
    for (const a of actions.slice(consumed)) {
      const id = consumed++;
      if (a.actionType === 4)
        return {
          calls,
          output: state.output,
          continuedAsNewWith: a.input,
          failed: undefined,
          episodes: episode,
          history,
        };
      const call: ScheduledCall =
        a.actionType === 5
          ? { kind: 'timer', name: 'timer', input: undefined, fireAt: a.fireAt ?? '' }
          : a.actionType === 2 || a.actionType === 3
            ? {
                kind: 'subOrchestration',
                name: a.functionName ?? '',
                input: a.input,
                instanceId: a.instanceId ?? '',
              }
            : { kind: 'activity', name: a.functionName ?? '', input: a.input };
      calls.push(call);
      pending.push({ id, call });
      history.push(
        call.kind === 'timer'
          ? ev(10, id, { FireAt: call.fireAt })
          : call.kind === 'subOrchestration'
            ? ev(7, id, { Name: call.name, InstanceId: call.instanceId, Input: JSON.stringify(call.input) })
            : ev(4, id, { Name: call.name, Input: JSON.stringify(call.input) }),
      );
    }
    history.push(ev(13, -1));
    if (state.isDone)
      return {
        calls,
        output: state.output,
        continuedAsNewWith: undefined,
        failed: undefined,
        episodes: episode,
        history,
      };
    for (const e of history) e.IsPlayed = true;
    if (pending.length === 0) throw new Error('the orchestrator waits on nothing the driver can complete');
    // Everything outstanding completes before the next episode (results arriving together).
    const due = pending.splice(0);
    const timers = due.filter((d) => d.call.kind === 'timer').map((d) => Date.parse(d.call.fireAt ?? ''));
    if (timers.length > 0) now = Math.max(now, ...timers);
    else now += 1000;
    history.push(ev(12, -1));
    for (const { id, call } of due) {
      if (call.kind === 'timer') {
        history.push(ev(11, -1, { TimerId: id, FireAt: call.fireAt }));
        continue;
      }
      const r = respond(call);
      const sub = call.kind === 'subOrchestration';
      history.push(
        'result' in r
          ? ev(sub ? 8 : 5, -1, { TaskScheduledId: id, Result: JSON.stringify(r.result) })
          : ev(sub ? 9 : 6, -1, { TaskScheduledId: id, Reason: r.error, Details: '' }),
      );
    }
  }
  throw new Error('too many episodes');
}
