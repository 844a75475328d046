import { ActionType, actionInput, findAction, flatActions, unsupportedAction } from './actions';
import type { Replay } from './functions';
import { EventType, ev, json, played } from './history';
import { checkDeterminism, newWork } from './scheduling';
import type { HistoryEvent, InstanceState } from './store';

/**
 * What an episode decides from the orchestrator's replay, before anything is committed: the instance's
 * next state, the events the episode appends, and the work it schedules.
 */
export type EpisodeOutcome =
  | { kind: 'Failed'; next: InstanceState; appended: HistoryEvent[]; output: string }
  | { kind: 'Completed'; next: InstanceState; appended: HistoryEvent[]; output: unknown }
  /** A new execution: fresh history, the new input; events not yet consumed stay in the journal. */
  | { kind: 'ContinuedAsNew'; next: InstanceState; sent: HistoryEvent[] }
  | { kind: 'Running'; next: InstanceState; appended: HistoryEvent[]; scheduled: HistoryEvent[] };

/** The events an episode opens with: OrchestratorStarted, ExecutionStarted on the first, the inbox. */
export function openingEvents(
  state: InstanceState,
  inbox: readonly HistoryEvent[],
  first: boolean,
  now: string,
): HistoryEvent[] {
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
  return fresh;
}

export function episodeOutcome(
  state: InstanceState,
  fresh: readonly HistoryEvent[],
  replay: Replay,
  now: string,
  refuseEntityActions: (actions: readonly Record<string, unknown>[]) => string | undefined = () => undefined,
): EpisodeOutcome {
  const { orchestratorState, executor } = replay;
  let failure = replay.failure;
  if (failure === undefined && orchestratorState !== undefined)
    failure = unsupportedAction(flatActions(orchestratorState));
  // An entity with no entity function: the extension's CallEntityAsync/SignalEntity throw an
  // ArgumentException, which fails the orchestration (entities.ts, refusedEntityAction).
  if (failure === undefined && orchestratorState !== undefined)
    failure = refuseEntityActions(flatActions(orchestratorState));
  if (failure === undefined && orchestratorState !== undefined && executor === undefined)
    failure =
      `The local host could not follow this orchestrator: it ran on a copy of durable-functions the host ` +
      `did not find from the app's folder (supported: durable-functions >=3.0.0 <4). Install durable-functions ` +
      `in the app (npm install) so that require('durable-functions') resolves from its folder.`;
  if (failure === undefined && orchestratorState !== undefined)
    failure = checkDeterminism(state, orchestratorState);
  const scheduled =
    failure === undefined && executor !== undefined
      ? newWork(state, executor, now, replay.fireAndForget)
      : [];
  const appended = [...fresh, ...scheduled, ev(EventType.OrchestratorCompleted, now)].map(played);
  const next: InstanceState = {
    ...state,
    history: [...state.history, ...appended],
    customStatus: orchestratorState?.customStatus,
    lastUpdatedTime: now,
    inboxGeneration: state.inboxGeneration + 1,
    status: 'Running',
  };

  const continueAsNew =
    orchestratorState?.isDone === true ? findAction(orchestratorState, ActionType.ContinueAsNew) : undefined;
  if (failure !== undefined) {
    const failed = played(
      ev(EventType.ExecutionFailed, now, { OrchestrationStatus: 'Failed', Reason: failure }),
    );
    return {
      kind: 'Failed',
      next: { ...next, history: [...next.history, failed] },
      appended: [...appended, failed],
      output: failure,
    };
  }
  if (continueAsNew !== undefined)
    return {
      kind: 'ContinuedAsNew',
      next: { ...next, history: [], input: actionInput(continueAsNew) },
      // Signals sent before continue-as-new still go out.
      sent: scheduled.filter((e) => e.EventType === EventType.EventSent),
    };
  if (orchestratorState?.isDone === true) {
    const completed = played(
      ev(EventType.ExecutionCompleted, now, {
        OrchestrationStatus: 'Completed',
        Result: json(orchestratorState.output),
      }),
    );
    return {
      kind: 'Completed',
      next: { ...next, history: [...next.history, completed] },
      appended: [...appended, completed],
      output: orchestratorState.output,
    };
  }
  return { kind: 'Running', next, appended, scheduled };
}
