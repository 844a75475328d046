import { json } from './history';

/** durable-functions' ActionType values the host runs. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  /** Durable entities (entities*.ts): a call answered by the entity, a one-way signal. */
  CallEntity: 7,
  SignalEntity: 9,
} as const;
/** Actions the host understands (compound WhenAny 11 / WhenAll 12 are walked into, never run). */
const SUPPORTED_ACTIONS = new Set<unknown>(Object.values(ActionType));
/**
 * What the host does not run, by durable-functions' ActionType, with the feature it belongs to. An
 * orchestrator that asks for one fails at once with this reason (never Pending forever, never dropped).
 */
const UNSUPPORTED_ACTIONS: Record<number, string> = {
  8: 'CallHttp (durable HTTP calls)',
  13: 'LockEntities (durable entity critical sections)',
  14: 'ReleaseEntities (durable entity critical sections)',
};

/** What the orchestrator function returns for an episode (durable-functions' OrchestratorState). */
export interface OrchestratorState {
  isDone: boolean;
  actions: unknown[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/**
 * Marks an action a worker process sent (durable/snapshot.ts): its `input` is already the text the
 * host writes into history, encoded in the worker where the live value was.
 */
export const INPUT_ENCODED = '$inputEncoded';

/**
 * The JSON text of an action's input, as durable-functions 3.x encodes each action: CallActivity,
 * CallActivityWithRetry and ContinueAsNew pass their input through `Utils.processInput`, which
 * JSON-encodes a string and leaves other values raw (lib/src/actions/CallActivityAction.js,
 * ContinueAsNewAction.js); CallSubOrchestrator(WithRetry) keep the input as given
 * (CallSubOrchestratorAction.js), so a string there is a plain value to encode, never JSON text.
 */
export function actionInput(action: Record<string, unknown>): string | undefined {
  const value = action['input'];
  if (action[INPUT_ENCODED] === true) return encodedByWorker(action);
  const preEncoded =
    action['actionType'] === ActionType.CallActivity ||
    action['actionType'] === ActionType.CallActivityWithRetry ||
    action['actionType'] === ActionType.ContinueAsNew;
  return preEncoded && typeof value === 'string' ? value : json(value);
}

/** The JSON text of an entity action's input (callEntity, signalEntity): the value encoded as it is. */
export function entityInput(action: Record<string, unknown>): string | undefined {
  return action[INPUT_ENCODED] === true ? encodedByWorker(action) : json(action['input']);
}

/** The input of an action a worker process sent, already the text for history (none: no input). */
function encodedByWorker(action: Record<string, unknown>): string | undefined {
  const value = action['input'];
  return typeof value === 'string' ? value : undefined;
}

/** The orchestrator's actions in order, compound ones (WhenAll, WhenAny) walked into. */
export function flatActions(s: OrchestratorState): Record<string, unknown>[] {
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

export function findAction(s: OrchestratorState, type: number): Record<string, unknown> | undefined {
  return flatActions(s).find((a) => a['actionType'] === type);
}

/** The failure reason for the first action the host does not run, if any. */
export function unsupportedAction(actions: readonly Record<string, unknown>[]): string | undefined {
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
