import { SLOTS } from '../domain/model';
import {
  HEALTH_CAUSE_CODES,
  HEALTH_WATCH_SCHEMA_VERSION,
  type HealthCause,
  type HealthIncident,
  type HealthWatchInput,
  type HealthWatchPrevious,
} from '../domain/healthWatch';
import { isActive, type InstanceInfo, type InstanceRuntimeStatus } from '../ports/rotations';

/** The health watch's one durable instance, as the timer and the status page need it. */
export interface HealthWatchInstances {
  /** Undefined when the watch never ran; `input`: the pass's input (the incidents it started from). */
  status(): Promise<InstanceInfo | undefined>;
  /** `alreadyRunning` when a pass is running (the task hub refuses a second one under the same id). */
  start(input: HealthWatchInput): Promise<'started' | 'alreadyRunning'>;
}

export type HealthTickOutcome =
  | {
      readonly kind: 'started';
      readonly open: number;
      /**
       * Carried incidents the contract refuses (dropped, else the pass's input is refused at the
       * durable boundary and every later pass fails the same way): their dedup keys, for a warning.
       */
      readonly dropped?: readonly string[];
    }
  /** A pass is still running (a redelivered or overlapping tick): it covers this tick. */
  | { readonly kind: 'running' };

/**
 * The timer's work: start the next pass with the incidents the last one left open, unless a pass is
 * running. Reads first, starts once: a redelivered tick after a pass finished starts another pass,
 * which finds the same servers already open and pages nothing again.
 */
export async function healthWatchTick(
  instances: HealthWatchInstances,
  now: Date,
): Promise<HealthTickOutcome> {
  const current = await instances.status();
  if (current !== undefined && isActive(current.runtimeStatus)) return { kind: 'running' };
  // A pass that ended without an output (failed, terminated: a bug or a host fault) still says what it
  // started from: its input. Its new pages, if any were accepted, are paged again under the same dedup
  // keys (PagerDuty folds them into the open incident).
  const { open: carried, previous } = lastCompleted(current);
  const open = carried.filter(isHealthIncident);
  const dropped = carried
    .filter((v) => !isHealthIncident(v))
    .map((v) => {
      const key = typeof v === 'object' && v !== null ? (v as { dedupKey?: unknown }).dedupKey : undefined;
      return typeof key === 'string' ? key.slice(0, 120) : '(no dedup key)';
    });
  const started = await instances.start({
    schemaVersion: HEALTH_WATCH_SCHEMA_VERSION,
    trigger: `health:${now.toISOString()}`,
    open,
    ...(previous !== undefined ? { previous } : {}),
  });
  if (started !== 'started') return { kind: 'running' };
  return dropped.length > 0
    ? { kind: 'started', open: open.length, dropped }
    : { kind: 'started', open: open.length };
}

const isString = (v: unknown): v is string => typeof v === 'string';

function isCause(v: unknown): v is HealthCause {
  if (typeof v !== 'object' || v === null) return false;
  const { code, slot, what } = v as Partial<Record<keyof HealthCause, unknown>>;
  return (
    (HEALTH_CAUSE_CODES as readonly unknown[]).includes(code) &&
    (slot === undefined || (SLOTS as readonly unknown[]).includes(slot)) &&
    isString(what)
  );
}

/**
 * Is `v` a `HealthIncident` as the contract's schema requires it (shared/durable/contractSchemas.json,
 * generated from the type)? A carried incident it lets through is in the next pass's input, which the
 * durable boundary checks: one it refuses there fails that pass, and the next tick would carry it again.
 */
export function isHealthIncident(v: unknown): v is HealthIncident {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Partial<Record<keyof HealthIncident, unknown>>;
  return (
    isString(o.dedupKey) &&
    isString(o.serverId) &&
    isString(o.serverName) &&
    isString(o.subscriptionId) &&
    isString(o.since) &&
    o.severity === 'critical' &&
    Array.isArray(o.causes) &&
    (o.causes as unknown[]).every(isCause) &&
    isString(o.summary) &&
    isString(o.nextStep) &&
    typeof o.paged === 'boolean' &&
    (o.resolving === undefined || typeof o.resolving === 'boolean')
  );
}

function openListOf(info: InstanceInfo | undefined): unknown[] {
  const out = info?.output;
  if (typeof out !== 'object' || out === null) return [];
  const o = out as { schemaVersion?: unknown; open?: unknown };
  return o.schemaVersion === HEALTH_WATCH_SCHEMA_VERSION && Array.isArray(o.open) ? o.open : [];
}

function openFromInput(input: unknown): unknown[] {
  const i = (typeof input === 'object' && input !== null ? input : {}) as { open?: unknown };
  return Array.isArray(i.open) ? i.open : [];
}

/** `{checkedAt, error?}` read from a pass's output or from the `previous` of its input; else undefined. */
function asPrevious(v: unknown): HealthWatchPrevious | undefined {
  const o = (typeof v === 'object' && v !== null ? v : {}) as { checkedAt?: unknown; error?: unknown };
  if (!isString(o.checkedAt)) return undefined;
  return isString(o.error) ? { checkedAt: o.checkedAt, error: o.error } : { checkedAt: o.checkedAt };
}

/** What a completed pass said of its read (its output), for the next pass to carry. */
function previousOf(info: InstanceInfo | undefined): HealthWatchPrevious | undefined {
  const out = info?.output as { schemaVersion?: unknown } | null | undefined;
  return out?.schemaVersion === HEALTH_WATCH_SCHEMA_VERSION ? asPrevious(out) : undefined;
}

/** The `previous` a pass was started with (a pass that has no output yet, or never will). */
function previousFromInput(input: unknown): HealthWatchPrevious | undefined {
  const i = input as { schemaVersion?: unknown; previous?: unknown } | null | undefined;
  return i?.schemaVersion === HEALTH_WATCH_SCHEMA_VERSION ? asPrevious(i.previous) : undefined;
}

/**
 * What the last completed pass left (its open incidents, unchecked, and what it said of its read): from
 * the instance's output once it completed, else from the input the pass since started with (one
 * instance id, so a running or failed pass has replaced that output). The timer and the status page
 * both read it here.
 */
function lastCompleted(info: InstanceInfo | undefined): {
  open: unknown[];
  previous: HealthWatchPrevious | undefined;
} {
  return info !== undefined && info.runtimeStatus !== 'Completed'
    ? { open: openFromInput(info.input), previous: previousFromInput(info.input) }
    : { open: openListOf(info), previous: previousOf(info) };
}

export type StalledPass = Exclude<
  InstanceRuntimeStatus,
  'Pending' | 'Running' | 'ContinuedAsNew' | 'Completed'
>;

const isStalled = (s: InstanceRuntimeStatus): s is StalledPass =>
  s === 'Failed' || s === 'Terminated' || s === 'Canceled' || s === 'Suspended';

/** What the status page can say of the watch. */
export type HealthWatchState =
  | { readonly ran: false; readonly running: boolean }
  | {
      readonly ran: true;
      readonly running: boolean;
      readonly checkedAt: string;
      readonly open: readonly HealthIncident[];
      /** The last pass could not read the fleet (its open incidents were carried over). */
      readonly error: string | undefined;
      /**
       * The latest pass, when it will not bring a result on its own: ended without an output (`Failed`,
       * `Terminated`, `Canceled`) or `Suspended` (no later pass starts while it is). What it saw is not known.
       */
      readonly latestPass?: StalledPass | undefined;
    };

/**
 * The last completed pass, as the status page shows it. The watch runs under one instance id, so a
 * pass that is running (or ended without an output) has replaced the last one's output: what that pass
 * left open and when it checked are then read from the input they were carried in. A later pass that
 * failed or was terminated is named, so the page never says "no open incidents" on its account.
 */
export function healthWatchState(info: InstanceInfo | undefined): HealthWatchState {
  const running = info !== undefined && isActive(info.runtimeStatus);
  const { open, previous } = lastCompleted(info);
  if (info === undefined || previous === undefined) return { ran: false, running };
  return {
    ran: true,
    running,
    checkedAt: previous.checkedAt,
    open: open.filter(isHealthIncident),
    error: previous.error,
    ...(isStalled(info.runtimeStatus) ? { latestPass: info.runtimeStatus } : {}),
  };
}
