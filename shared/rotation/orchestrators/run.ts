import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../../domain/audit';
import type { Incident } from '../../domain/incident';
import type { KeyInfo } from '../../domain/model';
import { log, pageOperator, undeliveredAudit } from '../../workflows/activityCalls';
import {
  ROTATION_OUTPUT_VERSION,
  type KeyEventSignal,
  type OpenIncident,
  type OutcomeCounts,
  type RotationInput,
  type RotationOutput,
  type RotationPhase,
  type RotationProgress,
} from '../contract';
import { auditUndeliveredIncident, type PageSource } from '../incidentText';
import { noOutcomes, progressFromCounts } from '../outcomes';
import { nextFailedRuns } from '../policy';
import { runKind, withRun } from '../runs';

/**
 * One run of a key's rotation as its phases share it (./keyRotation.ts tells the story): its state,
 * its custom status, its audit records and pages, its output and how it continues as new.
 */

/** One run of a key's rotation: its context and what it opened so far. */
export interface Run {
  readonly context: OrchestrationContext;
  readonly input: RotationInput;
  readonly now: string;
  readonly opened: OpenIncident[];
  /** For the progress (custom status): servers planned, and the outcomes known so far. */
  planned: number;
  targetVersion: string | undefined;
  sofar: OutcomeCounts;
  /** Audit records of the servers' rollovers the trail refused (the batches' sums). */
  serverAuditUndelivered: number;
  /** Typical duration of ARM's operations in the batches finished so far (canary first): paces the next batches' first polls. */
  operationSeconds: number | undefined;
  /** The run's open wait for a `keyEvent` (see `pendingSignal`). */
  signals?: Task;
  /** The phase last published (`progress`). */
  phase?: RotationPhase;
}

/** A phase that ended the run returns its output (the run returns it as is). */
export type Ended = { readonly ended: RotationOutput };
export const ended = (v: unknown): v is Ended => typeof v === 'object' && v !== null && 'ended' in v;

/** Who the run's pages are from. */
export function pageSource(run: Run): PageSource {
  return {
    now: run.now,
    instanceId: run.context.df.instanceId,
    vaultUrl: run.input.vaultUrl,
    vaultName: run.input.vaultName,
    keyName: run.input.keyName,
  };
}

/** Publishes where the run is as the orchestration's custom status (deterministic: replay-safe). */
export function progress(
  run: Run,
  phase: RotationPhase,
  extra: {
    batch?: RotationProgress['batch'];
    current?: readonly string[];
    counts?: OutcomeCounts;
    closing?: true;
  } = {},
): void {
  run.phase = phase;
  const status: RotationProgress = {
    phase,
    trigger: run.input.trigger,
    targetVersion: run.targetVersion,
    batch: extra.batch,
    counts: progressFromCounts(run.planned, extra.counts ?? run.sofar),
    current: (extra.current ?? []).slice(0, 20),
    onlyServers: run.input.onlyServers,
    ...(extra.closing === true ? { closing: true } : {}),
  };
  run.context.df.setCustomStatus(status);
}

export function record(
  run: Run,
  r: Omit<AuditRecord, 'correlationId' | 'trigger' | 'vault' | 'key'>,
): AuditRecord {
  return {
    correlationId: run.context.df.instanceId,
    trigger: run.input.trigger,
    vault: run.input.vaultName,
    key: run.input.keyName,
    ...r,
  };
}

export function* page(
  run: Run,
  incident: Incident,
  kind: OpenIncident['kind'],
  audit: AuditRecord,
  extra: { version?: string; serverId?: string } = {},
): Generator<Task, void, unknown> {
  run.opened.push({ dedupKey: incident.dedupKey, kind, ...extra });
  yield* pageOperator(run.context, incident, audit);
}

export function output(
  run: Run,
  o: Pick<RotationOutput, 'status' | 'targetVersion'> & Partial<RotationOutput>,
): RotationOutput {
  const failedRuns = nextFailedRuns(run.input.failedRuns, o.status, o.targetVersion);
  const auditUndelivered = undeliveredTotal(run);
  const completedAt = run.context.df.currentUtcDateTime.toISOString();
  const counts = o.counts ?? noOutcomes();
  // This run in front of the earlier ones (`runs` in the CLI, `GET /api/runs`).
  const history = withRun(run.input.history, {
    kind: runKind(run.input.trigger, run.input.onlyServers !== undefined),
    trigger: run.input.trigger,
    startedAt: run.now,
    endedAt: completedAt,
    status: o.status,
    targetVersion: o.targetVersion,
    reasonCode: o.reasonCode,
    counts: { done: counts.updated + counts.verified, failed: counts.failed, skipped: counts.skipped },
  });
  return {
    outputVersion: ROTATION_OUTPUT_VERSION,
    vaultName: run.input.vaultName,
    keyName: run.input.keyName,
    counts: noOutcomes(),
    servers: [],
    openIncidents: mergeIncidents(run.input.openIncidents, run.opened),
    resolvedIncidents: [],
    completedAt,
    ...o,
    ...(failedRuns !== undefined ? { failedRuns } : {}),
    ...(auditUndelivered > 0 ? { auditUndelivered } : {}),
    history,
  };
}

/** Audit records of this run and of its servers' rollovers that the trail refused after the retries. */
export function undeliveredTotal(run: Run): number {
  return undeliveredAudit(run.context) + run.serverAuditUndelivered;
}

/**
 * Audit records the trail kept refusing are not claimed sent: the run pages them once (the trail is
 * the operators' record, a gap in it is theirs to know) with where the run's own account is, and the
 * count goes into the output (`auditUndelivered`). A later run whose records all arrive resolves it.
 */
export function* pageUndeliveredAudit(run: Run): Generator<Task, void, unknown> {
  const count = undeliveredTotal(run);
  if (count === 0) return;
  yield* page(
    run,
    auditUndeliveredIncident(pageSource(run), count),
    'rotation',
    record(run, {
      step: 'AuditUndelivered',
      outcome: 'failure',
      reasonCode: 'AuditUndelivered',
      reason: `${count} audit record(s) refused by the trail after the retries`,
      details: { count: String(count) },
    }),
  );
}

/**
 * Continues as new for a signal. The output of a run that continues as new is never stored (the
 * next generation replaces it), so what the next run must carry on comes from this run's finished
 * output, not from its input: the run history with this generation in front (`GET /api/runs`, the
 * CLI's `runs`), the failed-run count as this run left it (the sweep's backoff), its open incidents.
 */
export function continueWith(run: Run, signal: KeyEventSignal, done: RotationOutput): void {
  log(run.context, `continuing as new for ${signal.trigger} (${signal.reason})`);
  run.context.df.continueAsNew({
    ...carriedOn(run, done),
    trigger: signal.trigger,
    reason: signal.reason,
    hintVersion: signal.version,
  } satisfies RotationInput);
}

/** The next generation's input: this run's input with what its finished output carries on. */
export function carriedOn(run: Run, done: RotationOutput): RotationInput {
  return {
    ...run.input,
    generation: run.input.generation + 1,
    openIncidents: done.openIncidents,
    failedRuns: done.failedRuns,
    history: done.history,
    onlyServers: undefined,
  };
}

/** Same dedup key twice is one incident. */
export function mergeIncidents(a: readonly OpenIncident[], b: readonly OpenIncident[]): OpenIncident[] {
  const out = new Map<string, OpenIncident>();
  for (const i of [...a, ...b]) out.set(i.dedupKey, i);
  return [...out.values()];
}

export function emptyKey(input: RotationInput): KeyInfo {
  return { vaultUrl: input.vaultUrl, vaultName: input.vaultName, name: input.keyName, versions: [] };
}
