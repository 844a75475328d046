/**
 * The history of a key's rotation runs. The task hub keeps one instance per key (the next run replaces
 * the last), so each run's output carries the runs before it: the request that starts a run hands the
 * previous output's history to the new input, and the run puts itself in front when it ends. Bounded:
 * the newest `RUN_HISTORY_LENGTH` runs, small records only (no servers, no key material).
 */

/** What started a run, as `gh run list` shows the event. */
export type RunKind = 'event' | 'operator' | 'sweep' | 'retry' | 'health' | 'other';

export interface RunRecord {
  readonly kind: RunKind;
  /** `event:<id>`, `sweep:<time>`, `operator:<who>`, ... */
  readonly trigger: string;
  /** Orchestration time the run started and ended (ISO). */
  readonly startedAt: string;
  readonly endedAt: string;
  /** The run's `RotationStatus`. */
  readonly status: string;
  readonly targetVersion?: string | undefined;
  readonly reasonCode?: string | undefined;
  readonly counts: { readonly done: number; readonly failed: number; readonly skipped: number };
}

export const RUN_HISTORY_LENGTH = 20;

/** The kind of run a trigger started; a run limited to named servers is an operator's retry. */
export function runKind(trigger: string, retry: boolean): RunKind {
  if (retry) return 'retry';
  const prefix = trigger.split(':', 1)[0] ?? '';
  return prefix === 'event' || prefix === 'operator' || prefix === 'sweep' || prefix === 'health'
    ? prefix
    : 'other';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const KINDS: readonly RunKind[] = ['event', 'operator', 'sweep', 'retry', 'health', 'other'];

/** The history an orchestration output carries (read defensively: it crossed the durable boundary). */
export function runHistoryOf(output: unknown): RunRecord[] {
  const raw =
    typeof output === 'object' && output !== null ? (output as { history?: unknown }).history : undefined;
  if (!Array.isArray(raw)) return [];
  const out: RunRecord[] = [];
  for (const r of raw.slice(0, RUN_HISTORY_LENGTH)) {
    if (typeof r !== 'object' || r === null) continue;
    const x = r as Record<string, unknown>;
    const kind = KINDS.find((k) => k === x['kind']);
    const trigger = str(x['trigger']);
    const startedAt = str(x['startedAt']);
    const endedAt = str(x['endedAt']);
    const status = str(x['status']);
    if (kind === undefined || trigger === undefined || startedAt === undefined || endedAt === undefined)
      continue;
    if (status === undefined) continue;
    const c =
      typeof x['counts'] === 'object' && x['counts'] !== null ? (x['counts'] as Record<string, unknown>) : {};
    out.push({
      kind,
      trigger,
      startedAt,
      endedAt,
      status,
      targetVersion: str(x['targetVersion']),
      reasonCode: str(x['reasonCode']),
      counts: { done: num(c['done']), failed: num(c['failed']), skipped: num(c['skipped']) },
    });
  }
  return out;
}

/** This run in front of the ones before it, bounded. */
export function withRun(history: readonly RunRecord[] | undefined, run: RunRecord): RunRecord[] {
  return [run, ...(history ?? [])].slice(0, RUN_HISTORY_LENGTH);
}
