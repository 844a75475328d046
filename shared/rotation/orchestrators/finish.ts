import type { Task } from 'durable-functions';
import type { KeyVersionInfo } from '../../domain/model';
import { callStep, log, recordAudit } from '../../workflows/activityCalls';
import type {
  KeyEventSignal,
  OpenIncident,
  RotationOutput,
  RotationStatus,
  ServerOutcome,
} from '../contract';
import { incidentKeys } from '../ids';
import { describeCounts } from '../outcomes';
import type { Rolled } from './rollout';
import {
  continueWith,
  emptyKey,
  mergeIncidents,
  output,
  pageUndeliveredAudit,
  progress,
  record,
  undeliveredTotal,
  type Run,
} from './run';
import { pendingSignal } from './signals';

// 7. Finish: a newer version or a waiting request continues as new; else resolve what is fixed.

export function* finish(
  run: Run,
  latest: KeyVersionInfo,
  rolled: Rolled,
): Generator<Task, RotationOutput, unknown> {
  const { input, context } = run;
  const { counts, listed } = rolled;
  run.sofar = counts;
  progress(run, 'finishing');
  const open = mergeIncidents(input.openIncidents, run.opened);
  const reread = yield* callStep(context, 'readKey', { vaultUrl: input.vaultUrl, keyName: input.keyName });
  const newer =
    reread.ok && reread.value.latest !== undefined && reread.value.latest.version !== latest.version
      ? reread.value.latest.version
      : undefined;
  const key = reread.ok ? reread.value.key : { ...emptyKey(input), versions: [latest] };
  const signal = yield* pendingSignal(run, latest.version, key);
  const next: KeyEventSignal | undefined =
    newer !== undefined ? { trigger: input.trigger, reason: input.reason, version: newer } : signal;
  if (next !== undefined) {
    yield* recordAudit(context, [
      record(run, {
        step: 'RotationCompleted',
        outcome: 'info',
        toVersion: latest.version,
        reasonCode: 'Superseded',
        reason:
          newer !== undefined ? `superseded by ${newer}` : `${next.reason} request ${next.trigger} runs next`,
      }),
    ]);
    yield* pageUndeliveredAudit(run);
    const superseded = output(run, {
      status: counts.failed > 0 || listed.some(isFailure) ? 'completedWithFailures' : 'completed',
      targetVersion: latest.version,
      counts,
      servers: listed,
      openIncidents: mergeIncidents(open, run.opened),
    });
    continueWith(run, next, superseded);
    return superseded;
  }

  // An audit gap is proved fixed only by a run whose own records all arrived.
  const auditGap = incidentKeys.rotation(input.vaultName, input.keyName, 'AuditUndelivered');
  const fixed = input.openIncidents.filter(
    (i) =>
      inScope(i, input.onlyServers) &&
      isFixed(i, rolled.succeeded, run.opened) &&
      !(i.dedupKey === auditGap && undeliveredTotal(run) > 0),
  );
  // Resolved only once the pager accepted the resolve: a refused one (or a step that failed after its
  // retries) stays open, carried in the output for the next run to resolve again.
  const resolved: string[] = [];
  if (fixed.length > 0) {
    const answer = yield* callStep(context, 'resolvePages', {
      dedupKeys: fixed.map((i) => i.dedupKey),
      summary: `Fixed: ${input.keyName} rotation to ${latest.version} verified`,
      audit: record(run, { step: 'PageResolved', outcome: 'success', toVersion: latest.version }),
    });
    if (answer.ok)
      for (const f of fixed)
        if (answer.value.resolved.some((x) => x.dedupKey === f.dedupKey && x.accepted))
          resolved.push(f.dedupKey);
    // The activity records each key's outcome itself; one that failed without an answer recorded nothing.
    if (!answer.ok)
      yield* recordAudit(
        context,
        fixed.map((f) =>
          record(run, {
            step: 'PageResolved',
            outcome: 'failure',
            toVersion: latest.version,
            reasonCode: answer.error.code,
            reason: `resolve not sent: ${answer.error.message}`.slice(0, 1000),
            details: { dedupKey: f.dedupKey },
          }),
        ),
      );
  }
  const stillOpen = open.filter((i) => !resolved.includes(i.dedupKey));
  const { canaryFailed } = rolled;
  const status: RotationStatus =
    counts.failed > 0 || listed.some(isFailure) || canaryFailed ? 'completedWithFailures' : 'completed';
  yield* recordAudit(context, [
    record(run, {
      step: 'RotationCompleted',
      outcome: status === 'completed' ? 'success' : 'failure',
      toVersion: latest.version,
      reasonCode: status === 'completed' ? undefined : canaryFailed ? 'CanaryFailed' : 'ServerFailures',
      reason: describeCounts(counts),
      durationMs: context.df.currentUtcDateTime.getTime() - Date.parse(run.now),
    }),
  ]);
  yield* pageUndeliveredAudit(run);
  log(context, `rotation of ${input.keyName} to ${latest.version}: ${describeCounts(counts)}`);
  const done = output(run, {
    status,
    targetVersion: latest.version,
    counts,
    servers: listed,
    openIncidents: mergeIncidents(stillOpen, run.opened),
    resolvedIncidents: resolved,
  });
  // A signal raised while the activities above ran found the instance Running and was answered
  // "signalled": look once more, after the last activity, so that none is left unread when the
  // instance completes (a completed instance takes no events: see `requestRotation`). This run is done and
  // audited as such; a signal that needs a run gets the next one. `closing` tells the intake that a
  // signal raised from now on may come too late for this look (it then waits for the end).
  progress(run, 'finishing', { closing: true });
  const late = yield* pendingSignal(run, latest.version, key);
  if (late !== undefined) continueWith(run, late, done);
  return done;
}

/**
 * Failed, or skipped with a page of its own (could not be planned): the run is not clean. The run's
 * status also counts `counts.failed`: a batch whose counts did not add up may count a failure it did
 * not list.
 */
const isFailure = (o: ServerOutcome): boolean =>
  o.outcome === 'failed' || (o.outcome === 'skipped' && o.incident !== undefined);

/** A retry of named servers can prove only those servers' incidents fixed. */
function inScope(i: OpenIncident, only: readonly string[] | undefined): boolean {
  return only === undefined || (i.kind === 'server' && only.includes(i.serverId?.toLowerCase() ?? ''));
}

/**
 * An incident from an earlier run is fixed when this run, which re-examined everything for the key,
 * did not raise it again and, for a server, proved the server works now.
 */
function isFixed(i: OpenIncident, succeeded: ReadonlySet<string>, opened: readonly OpenIncident[]): boolean {
  if (opened.some((o) => o.dedupKey === i.dedupKey)) return false;
  if (i.kind !== 'server') return true;
  return i.serverId !== undefined && succeeded.has(i.serverId.toLowerCase());
}
