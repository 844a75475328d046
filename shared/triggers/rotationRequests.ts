import { runHistoryOf, type RunRecord } from '../rotation/runs';
import type { AuditRecord } from '../domain/audit';
import { RotatorError } from '../domain/errors';
import { failedRunsOf } from '../rotation/policy';
import {
  isOpenIncident,
  KEY_EVENT_SIGNAL,
  ROTATION_SCHEMA_VERSION,
  type KeyEventSignal,
  type OpenIncident,
  type RotationInput,
  type RotationPhase,
  type RotationReason,
  type RotationSettings,
} from '../rotation/contract';
import { rotationInstanceId } from '../rotation/ids';
import { isActive, type InstanceInfo, type RotationInstances } from '../ports/rotations';

/** A request to bring one key's servers up to date, from an event, the sweep or an operator. */
export interface RotationRequest {
  readonly vaultUrl: string;
  readonly vaultName: string;
  readonly keyName: string;
  readonly trigger: string;
  readonly reason: RotationReason;
  readonly version: string | undefined;
  /**
   * The event named a version Key Vault did not list when the intake read the key (list lag, or a
   * version that never was): kept as the event named it, never replaced by the latest, and never
   * judged a duplicate by version (only the same event id is); the run reads Key Vault itself.
   */
  readonly versionUnlisted?: true;
  /** With `versionUnlisted`: the newest version Key Vault did list then. */
  readonly latestListed?: string | undefined;
}

/**
 * An event names a version Key Vault does not list yet, and the key's run is rolling out (or has
 * handled) the newest version it does list. Not a duplicate (the version may be a real new one the
 * list does not show yet) and not a reason to roll the same version out again: retryable, so Event
 * Grid redelivers it later, when Key Vault lists it (then judged as any event) or, for a version that
 * never appears, until its retry policy dead-letters it.
 */
export class EventVersionNotListedError extends RotatorError {
  readonly code = 'EventVersionNotListed';
  readonly retryable = true;
}

/**
 * The key's run reported it was closing (its last look at its signals) for the whole bounded wait
 * after a signal was raised: whether it read the signal cannot be told yet. Retryable: the Event Grid
 * intake throws it (the function fails, Event Grid redelivers); the operator API answers 503 with
 * Retry-After. Never answered as "signalled".
 */
export class RunClosingError extends RotatorError {
  readonly code = 'RunClosing';
  readonly retryable = true;
}

export type RequestOutcome =
  /** A new rotation instance was started. */
  | { readonly kind: 'started'; readonly instanceId: string }
  /** The key's rotation is running: it was told (an external event) instead of racing a second one. */
  | { readonly kind: 'signalled'; readonly instanceId: string }
  /**
   * A redelivered event: the previous rotation already completed on this very version, or
   * (`running`) the running one is rolling out this very version and would drop the signal itself.
   */
  | {
      readonly kind: 'duplicate';
      readonly instanceId: string;
      readonly running?: boolean;
      /** The same event (by its id) already started or continued the key's current execution. */
      readonly sameEvent?: boolean;
    };

interface PreviousOutput {
  readonly status?: unknown;
  readonly targetVersion?: unknown;
  readonly openIncidents?: unknown;
}

function previousOutput(info: InstanceInfo | undefined): PreviousOutput {
  const o = info?.output;
  return typeof o === 'object' && o !== null ? o : {};
}

/**
 * Incidents the key's previous rotation left open: the next run resolves them once fixed. A run that
 * ended without an output (Failed: a bug, or its input refused at the durable boundary; Terminated)
 * still says what it started from: the incidents of its input, so a failed run never forgets them.
 * Only incidents the contract accepts are carried (the next input must pass the boundary).
 */
export function openIncidentsOf(info: InstanceInfo | undefined): OpenIncident[] {
  if (info === undefined) return [];
  const list =
    info.runtimeStatus === 'Completed'
      ? previousOutput(info).openIncidents
      : (typeof info.input === 'object' && info.input !== null
          ? (info.input as { openIncidents?: unknown })
          : {}
        ).openIncidents;
  return Array.isArray(list) ? list.filter(isOpenIncident) : [];
}

/**
 * A `KeyNewVersionCreated` for the version the key's last run already handled is a redelivery (Event
 * Grid delivers at least once, and retries for 24 h), whatever that run's outcome: a server that
 * failed for that version is retried by the sweep (after its backoff), an operator request, or a change
 * (a newer version), never by a repeat of the same event — else every redelivery PATCHes and pages the
 * broken server again.
 */
export function isRedelivery(request: RotationRequest, current: InstanceInfo | undefined): boolean {
  const previous = previousOutput(current);
  return (
    request.versionUnlisted !== true &&
    request.reason === 'KeyNewVersionCreated' &&
    request.version !== undefined &&
    current?.runtimeStatus === 'Completed' &&
    typeof previous.targetVersion === 'string' &&
    previous.targetVersion.toLowerCase() === request.version.toLowerCase()
  );
}

/**
 * Did this very event (an `event:<id>` trigger) start the key's current execution, or get taken in by
 * its continue-as-new? Its trigger is in the execution's input (and in the custom status while it
 * runs), both kept by the task hub, so a redelivery is recognised by id after a host restart too —
 * whatever its type or version, while that execution is active or Completed. An execution that Failed
 * or was Terminated did not do what the event asked: a redelivery (or a dead-letter replay) of the same
 * event then asks again. (A signal a run consumed without continuing as new leaves no trace there; the
 * version rules below judge those.)
 */
export function startedBySameEvent(request: RotationRequest, current: InstanceInfo | undefined): boolean {
  if (current === undefined || !request.trigger.startsWith('event:')) return false;
  if (!isActive(current.runtimeStatus) && current.runtimeStatus !== 'Completed') return false;
  const triggerOf = (v: unknown): unknown =>
    typeof v === 'object' && v !== null ? (v as { trigger?: unknown }).trigger : undefined;
  return triggerOf(current.input) === request.trigger || triggerOf(current.customStatus) === request.trigger;
}

/** Phases after which a running rotation can no longer stop early: it rolls out and finishes. */
const ROLLING_OUT: readonly unknown[] = ['canary', 'rollout', 'finishing'] satisfies RotationPhase[];

/**
 * Is this request already being handled by the running rotation? It names the version the run is
 * rolling out (its custom status's `targetVersion` while its phase is canary, rollout or finishing)
 * and is not an operator's: the run would take the signal in only to drop it when it finishes
 * (`signalNeedsRun`: a version it handles needs no run). Answered without signalling, as Event Grid's
 * redeliveries (at least once, retried for 24 h) would otherwise each add an event to the run's
 * history and a replay of it. Before the rollout (reading, planning) the run may still stop early — a
 * failed discovery or preflight — and then continues as new for any signal naming a version, so
 * requests are signalled as before.
 */
export function handledByRunningRun(request: RotationRequest, current: InstanceInfo | undefined): boolean {
  if (current === undefined || !isActive(current.runtimeStatus)) return false;
  if (request.reason === 'Operator' || request.version === undefined || request.versionUnlisted === true)
    return false;
  const status = current.customStatus;
  if (typeof status !== 'object' || status === null) return false;
  const { phase, targetVersion } = status as { phase?: unknown; targetVersion?: unknown };
  return (
    ROLLING_OUT.includes(phase) &&
    typeof targetVersion === 'string' &&
    targetVersion.toLowerCase() === request.version.toLowerCase()
  );
}

/**
 * Did a run that has ended take this request in (or make it moot)? The finishing run consumes its
 * signals and continues as new for any that needs a run (`signalNeedsRun`), so an instance found
 * ended after a signal either covered it or never saw it. The same rules as the run's own
 * (`signalNeedsRun`): covered are a request naming no version (the run re-examined everything) and one
 * naming the version the run handled; not covered are an operator request (it asks for a run, whatever
 * the last one did) and a request naming another version (the sweep names the newest it saw).
 */
export function coveredByEndedRun(request: RotationRequest, ended: InstanceInfo | undefined): boolean {
  if (ended === undefined || ended.runtimeStatus !== 'Completed') return false;
  if (request.reason === 'Operator' || request.versionUnlisted === true) return false;
  if (request.version === undefined) return true;
  const handled = previousOutput(ended).targetVersion;
  return typeof handled === 'string' && handled.toLowerCase() === request.version.toLowerCase();
}

/**
 * Is the request a duplicate, judged from the key's instance alone (its status as read): the same
 * event id as the execution's trigger (`startedBySameEvent`), the version the running run rolls out
 * (`handledByRunningRun`) or the version the key's last run handled (`isRedelivery`, a completed
 * instance only). Undefined when it is not one: the request then signals or starts.
 */
export function duplicateOf(
  request: RotationRequest,
  current: InstanceInfo | undefined,
  instanceId: string,
): RequestOutcome | undefined {
  if (startedBySameEvent(request, current))
    return {
      kind: 'duplicate',
      instanceId,
      sameEvent: true,
      ...(current !== undefined && isActive(current.runtimeStatus) ? { running: true } : {}),
    };
  if (handledByRunningRun(request, current)) return { kind: 'duplicate', instanceId, running: true };
  if (isRedelivery(request, current)) return { kind: 'duplicate', instanceId };
  return undefined;
}

/** Is the instance running its last look at its signals (`RotationProgress.closing`)? */
function closing(info: InstanceInfo | undefined): boolean {
  if (info === undefined || !isActive(info.runtimeStatus)) return false;
  const status = info.customStatus;
  return typeof status === 'object' && status !== null && (status as { closing?: unknown }).closing === true;
}

/** How long the intake waits for a closing run to end: it has no activity left, one episode or two. */
export const CLOSING_WAIT = { polls: 40, intervalMs: 250 } as const;

/** The bounded wait for a closing run: how many reads, and the pause between them. */
export interface ClosingWait {
  readonly polls: number;
  readonly pause: (ms: number) => Promise<void>;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One rotation per key: start it under the key's instance id, or signal the running one. Throws when
 * the task hub cannot be reached, so the caller's trigger is retried (Event Grid redelivers).
 *
 * A signal raised to a running instance after its last look at its signals (between its final check
 * and its completion) would be lost with it (a completed instance takes no events: the Durable
 * Functions HTTP API answers a raise to one 410 Gone, Learn "HTTP API reference", Raise event):
 * so after raising, the instance is read again. A run that reports it is closing (its last look is
 * under way, no activity left) is awaited until it ends (bounded: `wait`); one that has ended without
 * covering the request (`coveredByEndedRun`) is started again for it. One still closing when the wait
 * runs out throws `RunClosingError` (retryable): whether it read the signal cannot be told yet.
 */
export async function requestRotation(
  instances: RotationInstances,
  request: RotationRequest,
  settings: RotationSettings,
  wait: ClosingWait = { polls: CLOSING_WAIT.polls, pause },
): Promise<RequestOutcome> {
  const instanceId = rotationInstanceId(request.vaultUrl, request.keyName);
  const signal: KeyEventSignal = {
    trigger: request.trigger,
    reason: request.reason,
    version: request.version,
  };
  let current = await instances.status(instanceId);
  const duplicate = duplicateOf(request, current, instanceId);
  if (duplicate !== undefined) return duplicate;
  if (request.versionUnlisted === true && request.latestListed !== undefined) {
    const asLatest: RotationRequest = {
      ...request,
      version: request.latestListed,
      versionUnlisted: undefined,
    };
    if (handledByRunningRun(asLatest, current) || isRedelivery(asLatest, current))
      throw new EventVersionNotListedError(
        `Key Vault does not list version ${request.version ?? '?'} of ${request.keyName} yet, and the key's rotation already covers its newest listed version ${request.latestListed}: try again later`,
      );
  }
  if (current !== undefined && isActive(current.runtimeStatus)) {
    await instances.raise(instanceId, KEY_EVENT_SIGNAL, signal);
    let after = await instances.status(instanceId);
    for (let i = 0; i < wait.polls && closing(after); i++) {
      await wait.pause(CLOSING_WAIT.intervalMs);
      after = await instances.status(instanceId);
    }
    if (closing(after))
      throw new RunClosingError(
        `the rotation ${instanceId} is finishing (its last look at its signals) and did not end within the wait: try again`,
      );
    if (after !== undefined && (isActive(after.runtimeStatus) || coveredByEndedRun(request, after)))
      return { kind: 'signalled', instanceId };
    // Ended right after the raise without taking it in: the request starts the next run itself.
    current = after;
  }
  const input: RotationInput = {
    schemaVersion: ROTATION_SCHEMA_VERSION,
    vaultUrl: request.vaultUrl,
    vaultName: request.vaultName,
    keyName: request.keyName,
    trigger: request.trigger,
    reason: request.reason,
    hintVersion: request.version,
    settings,
    openIncidents: openIncidentsOf(current),
    generation: 0,
    failedRuns: failedRunsOf(current?.output),
    ...historyOf(current),
  };
  const started = await instances.start(instanceId, input);
  if (started === 'alreadyRunning') {
    // Another delivery started it between our status read and the start: tell it instead.
    await instances.raise(instanceId, KEY_EVENT_SIGNAL, signal);
    return { kind: 'signalled', instanceId };
  }
  return { kind: 'started', instanceId };
}

/** The key's runs so far, for the next run's input (left out while there are none). */
export function historyOf(current: InstanceInfo | undefined): { history?: RunRecord[] } {
  const history = runHistoryOf(current?.output);
  return history.length > 0 ? { history } : {};
}

/** The audit record of a request's outcome. */
export function requestAudit(request: RotationRequest, outcome: RequestOutcome): AuditRecord {
  return {
    step: 'EventReceived',
    correlationId: outcome.instanceId,
    trigger: request.trigger,
    outcome: outcome.kind === 'duplicate' ? 'skipped' : 'info',
    vault: request.vaultName,
    key: request.keyName,
    toVersion: request.version,
    reasonCode: request.reason,
    reason:
      outcome.kind === 'started'
        ? 'rotation started'
        : outcome.kind === 'signalled'
          ? 'rotation already running: signalled'
          : outcome.sameEvent === true
            ? 'this event (same id) already started the rotation: duplicate ignored'
            : outcome.running === true
              ? 'the running rotation is rolling out this version: duplicate ignored'
              : 'the last rotation already handled this version: duplicate ignored',
  };
}
