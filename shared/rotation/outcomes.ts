import { serverNameOf } from '../domain/resourceId';
import type { OutcomeCounts, RotationProgress, ServerOutcome, ServerOutcomeKind } from './contract';

export function noOutcomes(): OutcomeCounts {
  return { updated: 0, verified: 0, failed: 0, skipped: 0, skippedBy: {} };
}

/** `counts` with `n` more servers of `kind` (a skipped one under `reasonCode`). Pure. */
export function addOutcome(
  counts: OutcomeCounts,
  kind: ServerOutcomeKind,
  reasonCode?: string,
  n = 1,
): OutcomeCounts {
  if (n === 0) return counts;
  if (kind !== 'skipped') return { ...counts, [kind]: counts[kind] + n };
  const code = reasonCode ?? 'skip';
  return {
    ...counts,
    skipped: counts.skipped + n,
    skippedBy: { ...counts.skippedBy, [code]: (counts.skippedBy[code] ?? 0) + n },
  };
}

/** The counts of a list of outcomes, added to `into`. */
export function countOutcomes(
  outcomes: readonly Pick<ServerOutcome, 'outcome' | 'reasonCode'>[],
  into: OutcomeCounts = noOutcomes(),
): OutcomeCounts {
  return outcomes.reduce((c, o) => addOutcome(c, o.outcome, o.reasonCode), into);
}

export function addCounts(a: OutcomeCounts, b: OutcomeCounts): OutcomeCounts {
  const skippedBy: Record<string, number> = { ...a.skippedBy };
  for (const [code, n] of Object.entries(b.skippedBy)) skippedBy[code] = (skippedBy[code] ?? 0) + n;
  return {
    updated: a.updated + b.updated,
    verified: a.verified + b.verified,
    failed: a.failed + b.failed,
    skipped: a.skipped + b.skipped,
    skippedBy,
  };
}

export function totalOf(c: OutcomeCounts): number {
  return c.updated + c.verified + c.failed + c.skipped;
}

/** Went well: moved to the target, or found on it and verified. Counted only, never listed. */
export function succeeded(o: Pick<ServerOutcome, 'outcome'>): boolean {
  return o.outcome === 'updated' || o.outcome === 'verified';
}

/** `updated 3, verified 1, failed 1, skipped 2` in words (the RotationCompleted record's reason). */
export function describeCounts(c: OutcomeCounts): string {
  return `${c.updated} updated, ${c.verified} verified, ${c.failed} failed, ${c.skipped} skipped`;
}

/**
 * Reads counts that crossed the durable boundary (unchecked JSON): undefined unless every number is a
 * non-negative integer.
 */
export function asOutcomeCounts(v: unknown): OutcomeCounts | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as Record<string, unknown>;
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (!count(c['updated']) || !count(c['verified']) || !count(c['failed']) || !count(c['skipped']))
    return undefined;
  const by = c['skippedBy'];
  const skippedBy: Record<string, number> = {};
  if (typeof by === 'object' && by !== null)
    for (const [code, n] of Object.entries(by as Record<string, unknown>)) if (count(n)) skippedBy[code] = n;
  return {
    updated: c['updated'],
    verified: c['verified'],
    failed: c['failed'],
    skipped: c['skipped'],
    skippedBy,
  };
}

/** A rotation's output as its readers need it, whichever deployment wrote it. */
export interface RotationOutcomes {
  /** Every server of the run by outcome. */
  readonly counts: OutcomeCounts;
  /** The servers listed by name: with format 2 only those not updated or verified; with format 1 all. */
  readonly servers: readonly ServerOutcome[];
  /** Format 1: `servers` holds every server, so a server absent from it was not in the run. */
  readonly everyServerListed: boolean;
}

/**
 * The server outcomes of a rotation output read defensively (it crossed the durable boundary, and
 * instances of an older deployment keep their format-1 output, one entry per server, in the task hub):
 * entries without a server id or outcome are dropped (a missing name is read from the id); format-1
 * counts are counted from the list.
 */
export function rotationOutcomesOf(output: unknown): RotationOutcomes {
  const out = typeof output === 'object' && output !== null ? (output as Record<string, unknown>) : {};
  const list: unknown = out['servers'];
  const servers = (Array.isArray(list) ? (list as unknown[]) : []).flatMap((s): ServerOutcome[] => {
    if (typeof s !== 'object' || s === null) return [];
    const o = s as Partial<ServerOutcome>;
    if (typeof o.serverId !== 'string' || typeof o.outcome !== 'string') return [];
    return [
      {
        ...o,
        serverName: typeof o.serverName === 'string' ? o.serverName : serverNameOf(o.serverId),
      } as ServerOutcome,
    ];
  });
  const version = out['outputVersion'];
  const counts = typeof version === 'number' && version >= 2 ? asOutcomeCounts(out['counts']) : undefined;
  return counts !== undefined
    ? { counts, servers, everyServerListed: false }
    : { counts: countOutcomes(servers), servers, everyServerListed: true };
}

/** Counts for the progress from the servers planned and the counts so far. Pure. */
export function progressFromCounts(total: number, c: OutcomeCounts): RotationProgress['counts'] {
  const done = c.updated + c.verified;
  return {
    total,
    done,
    failed: c.failed,
    skipped: c.skipped,
    remaining: Math.max(0, total - done - c.failed - c.skipped),
  };
}

/** Reads a custom status back (it crosses the durable boundary as JSON); undefined when it is not one. */
export function asRotationProgress(v: unknown): RotationProgress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Partial<RotationProgress>;
  const phases: readonly string[] = ['reading', 'planning', 'canary', 'rollout', 'finishing'];
  if (typeof p.phase !== 'string' || !phases.includes(p.phase)) return undefined;
  if (typeof p.counts !== 'object' || !Array.isArray(p.current)) return undefined;
  return p as RotationProgress;
}
