import {
  HEALTH_WATCH_SCHEMA_VERSION,
  type HealthCause,
  type HealthIncident,
  type HealthWatchInput,
} from '../domain/healthWatch';
import { isActive, type InstanceInfo } from '../ports/rotations';

/** The health watch's one durable instance, as the timer and the status page need it. */
export interface HealthWatchInstances {
  /** Undefined when the watch never ran; `input`: the pass's input (the incidents it started from). */
  status(): Promise<(InstanceInfo & { readonly input?: unknown }) | undefined>;
  /** `alreadyRunning` when a pass is running (the task hub refuses a second one under the same id). */
  start(input: HealthWatchInput): Promise<'started' | 'alreadyRunning'>;
}

export type HealthTickOutcome =
  | { readonly kind: 'started'; readonly open: number }
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
  const open =
    current !== undefined && current.runtimeStatus !== 'Completed'
      ? openFromInput(current.input)
      : openHealthIncidentsOf(current);
  const started = await instances.start({
    schemaVersion: HEALTH_WATCH_SCHEMA_VERSION,
    trigger: `health:${now.toISOString()}`,
    open,
  });
  return started === 'started' ? { kind: 'started', open: open.length } : { kind: 'running' };
}

const isString = (v: unknown): v is string => typeof v === 'string';

function isCause(v: unknown): v is HealthCause {
  return typeof v === 'object' && v !== null && isString((v as { code?: unknown }).code);
}

function isHealthIncident(v: unknown): v is HealthIncident {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    isString(o['dedupKey']) &&
    isString(o['serverId']) &&
    isString(o['serverName']) &&
    isString(o['since']) &&
    isString(o['nextStep']) &&
    Array.isArray(o['causes']) &&
    (o['causes'] as unknown[]).every(isCause)
  );
}

/** The incidents the last pass left open (from its output); none when it never ran or ended without one. */
export function openHealthIncidentsOf(info: InstanceInfo | undefined): HealthIncident[] {
  const out = info?.output;
  if (typeof out !== 'object' || out === null) return [];
  const o = out as { schemaVersion?: unknown; open?: unknown };
  if (o.schemaVersion !== HEALTH_WATCH_SCHEMA_VERSION || !Array.isArray(o.open)) return [];
  return o.open.filter(isHealthIncident);
}

function openFromInput(input: unknown): HealthIncident[] {
  const i = (typeof input === 'object' && input !== null ? input : {}) as { open?: unknown };
  return Array.isArray(i.open) ? i.open.filter(isHealthIncident) : [];
}

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
    };

export function healthWatchState(info: InstanceInfo | undefined): HealthWatchState {
  const running = info !== undefined && isActive(info.runtimeStatus);
  const raw: unknown = info?.output;
  const out = (typeof raw === 'object' && raw !== null ? raw : {}) as {
    checkedAt?: unknown;
    error?: unknown;
    schemaVersion?: unknown;
  };
  if (
    info === undefined ||
    info.runtimeStatus !== 'Completed' ||
    out.schemaVersion !== HEALTH_WATCH_SCHEMA_VERSION ||
    !isString(out.checkedAt)
  )
    return { ran: false, running };
  return {
    ran: true,
    running,
    checkedAt: out.checkedAt,
    open: openHealthIncidentsOf(info),
    error: isString(out.error) ? out.error : undefined,
  };
}
