import type { OrchestrationContext, Task } from 'durable-functions';
import { asStep, toStepError } from '../rotation/activities/rotationActivities';
import { RotatorError } from '../domain/errors';
import type { StepError, StepResult } from '../rotation/activityIo';
import {
  ROTATION_SCHEMA_VERSION,
  type OrchestrationContract,
  type StepHandlers,
  type StepName,
  type StepOutput,
} from '../rotation/contract';
import type { CheckFleetHealthInput, CheckFleetHealthOutput, HealthWatchOutput } from '../domain/healthWatch';
import { contractProblem, type ContractEntry, type InvalidDurableValueError } from './contractSchemas';

/**
 * The durable boundary, where every activity and orchestration is registered (functions/index.ts):
 * inputs and outputs checked against the contract's schemas (./contractSchemas.ts), and an activity's
 * thrown error turned into the small `StepError` the orchestrator decides on. Error classes and stacks
 * do not cross the boundary; they are logged here, where they are still known, through the Functions
 * context (`context.error`/`context.warn`: the host sends them to Application Insights as traces with
 * the invocation's operation id), and the durable history keeps only code, retryability and a short
 * message.
 */

/** What the boundary logs through: the Functions `InvocationContext` has both. */
export interface BoundaryLog {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

/** How long a message may be in the durable history (a StepError is replayed with every episode). */
export const MAX_STEP_MESSAGE = 500;
const MAX_CAUSES = 4;

/**
 * An error for the log: each error in its cause chain as its stack (whose first line is its class
 * name and message), with our stable code. A non-Error value is named by its type only (it is not
 * ours: it may be anything). Messages never carry key material, tokens or webhook URLs (the error
 * classes' rule), and nothing else of the error (its request, its headers) is written.
 */
export function describeForLog(e: unknown): string {
  const parts: string[] = [];
  let current: unknown = e;
  for (let depth = 0; depth < MAX_CAUSES && current !== undefined; depth++) {
    const prefix = depth === 0 ? '' : 'Caused by: ';
    if (!(current instanceof Error)) {
      parts.push(`${prefix}a thrown ${current === null ? 'null' : typeof current} (not an Error)`);
      break;
    }
    const code =
      current instanceof RotatorError ? ` [code ${current.code}, retryable ${current.retryable}]` : '';
    parts.push(`${prefix}${current.stack ?? `${current.name}: ${current.message}`}${code}`);
    current = current.cause;
  }
  return parts.join('\n');
}

function capped(error: StepError): StepError {
  return error.message.length <= MAX_STEP_MESSAGE
    ? error
    : { ...error, message: `${error.message.slice(0, MAX_STEP_MESSAGE)}...` };
}

function logFailure(log: BoundaryLog, name: string, e: unknown, error: StepError): void {
  const line = `activity ${name} failed (${error.code}, ${error.retryable ? 'retryable' : 'permanent'}): ${describeForLog(e)}`;
  // A retryable failure is expected now and then (the orchestrator tries again): a warning. A
  // permanent one (a refusal, a bug, a value the contract refuses) is an error.
  if (error.retryable) log.warn(line);
  else log.error(line);
}

function failed(log: BoundaryLog, name: string, e: unknown): { ok: false; error: StepError } {
  const error = toStepError(e);
  logFailure(log, name, e, error);
  return { ok: false, error: capped(error) };
}

/**
 * The activity as registered: its input checked, the handler run, its output checked; always answers
 * with a `StepResult`. A value the contract refuses is a permanent `InvalidDurableInput`/`Output`
 * (`callStep` never retries it).
 */
export function durableActivity<K extends StepName>(
  name: K,
  handler: StepHandlers[K],
): (input: unknown, log: BoundaryLog) => Promise<StepResult<StepOutput<K>>> {
  const entry = { kind: 'activity', name } as const;
  const run = handler as (input: unknown) => Promise<unknown>;
  return async (input, log) => {
    const refusedInput = contractProblem(entry, 'input', input);
    if (refusedInput !== undefined) return failed(log, name, refusedInput);
    // The handler's throw becomes a StepResult in one place for every activity (`asStep`); here it
    // is also logged with its class and stack, and its message capped for the durable history.
    const answer = await asStep(run, (e, error) => logFailure(log, name, e, error))(input);
    if (!answer.ok) return { ok: false, error: capped(answer.error) };
    const value = answer.value;
    const refusedOutput = contractProblem(entry, 'output', value);
    if (refusedOutput !== undefined) return failed(log, name, refusedOutput);
    return { ok: true, value: value as StepOutput<K> };
  };
}

type Orchestrator<O> = (context: OrchestrationContext) => Generator<Task, O, unknown>;

/** Input checked before the first step, output before it is returned; a refusal fails the orchestration. */
function checkedOrchestrator<O>(entry: ContractEntry, orchestrator: Orchestrator<O>): Orchestrator<O> {
  return function* (context) {
    const refusedInput = contractProblem(entry, 'input', context.df.getInput());
    if (refusedInput !== undefined) {
      if (!context.df.isReplaying)
        context.error(`orchestration ${entry.name} failed (${refusedInput.code}): ${refusedInput.message}`);
      throw refusedInput;
    }
    const output = yield* orchestrator(context);
    const refusedOutput = contractProblem(entry, 'output', output);
    if (refusedOutput !== undefined) {
      if (!context.df.isReplaying)
        context.error(`orchestration ${entry.name} failed (${refusedOutput.code}): ${refusedOutput.message}`);
      throw refusedOutput;
    }
    return output;
  };
}

/**
 * The orchestration as registered: its input checked before the first step, its output before it is
 * returned. A refused value fails the orchestration (durable-functions retries an orchestration only
 * when a caller asked for it with `callSubOrchestratorWithRetry`, which no caller does), logged once,
 * not on replays.
 *
 * An input of another numeric `schemaVersion` (an instance started by an older deployment, whose
 * input may have a shape this schema refuses) is not checked, nor its output: the orchestrator's own
 * version check ends it cleanly (`SchemaVersionChanged`, no activity), and the next event, sweep or operator request starts
 * the key again under this version. Checking it would fail the instance instead. An input without a
 * version is checked: every deployment that ran this contract wrote one, so it is not an older run.
 */
export function durableOrchestrator<K extends keyof OrchestrationContract>(
  name: K,
  orchestrator: Orchestrator<OrchestrationContract[K]['output']>,
): Orchestrator<OrchestrationContract[K]['output']> {
  const checked = checkedOrchestrator({ kind: 'orchestration', name }, orchestrator);
  return function* (context) {
    const input: unknown = context.df.getInput();
    const version =
      typeof input === 'object' && input !== null
        ? (input as { schemaVersion?: unknown }).schemaVersion
        : undefined;
    const older = typeof version === 'number' && version !== ROTATION_SCHEMA_VERSION;
    return yield* (older ? orchestrator : checked)(context);
  };
}

/** The health watch's orchestration, checked the same way. */
export function checkedHealthWatch(
  orchestrator: Orchestrator<HealthWatchOutput>,
): Orchestrator<HealthWatchOutput> {
  return checkedOrchestrator({ kind: 'healthWatch', name: 'fleetHealthWatch' }, orchestrator);
}

/**
 * The health watch's activity as registered. Its contract answers a failure as `{ ok: false, code }`
 * (the watch records it and tries again on its next pass), so a refused input or output is answered
 * that way, with `InvalidDurableInput`/`Output`; a thrown error is logged with its stack and thrown on
 * (the watch records `ActivityFailed`).
 */
export function checkedHealthActivity(
  handler: (input: CheckFleetHealthInput) => Promise<CheckFleetHealthOutput>,
): (input: unknown, log: BoundaryLog) => Promise<CheckFleetHealthOutput> {
  const entry = { kind: 'healthWatch', name: 'checkFleetHealth' } as const;
  const refusal = (log: BoundaryLog, e: InvalidDurableValueError): CheckFleetHealthOutput => {
    log.error(`activity ${entry.name} failed (${e.code}, permanent): ${describeForLog(e)}`);
    return { ok: false, code: e.code, message: e.message.slice(0, MAX_STEP_MESSAGE) };
  };
  return async (input, log) => {
    const refusedInput = contractProblem(entry, 'input', input);
    if (refusedInput !== undefined) return refusal(log, refusedInput);
    let value: CheckFleetHealthOutput;
    try {
      value = await handler(input as CheckFleetHealthInput);
    } catch (e) {
      log.error(`activity ${entry.name} failed: ${describeForLog(e)}`);
      throw e;
    }
    const refusedOutput = contractProblem(entry, 'output', value);
    return refusedOutput === undefined ? value : refusal(log, refusedOutput);
  };
}
