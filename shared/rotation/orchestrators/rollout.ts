import type { Task } from 'durable-functions';
import { CROSS_TENANT_CODE, CROSS_TENANT_UNDETERMINED_CODE } from '../../domain/crossTenant';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import { leavesAlone } from '../../domain/plan';
import { subscriptionOf } from '../../domain/resourceId';
import { pageOperator, recordAudit } from '../../workflows/activityCalls';
import type { PlanRolloutOutput, PlannedServer, UnplannableServer } from '../activityIo';
import type { BatchServer, OpenIncident, OutcomeCounts, ServerOutcome } from '../contract';
import { incidentKeys } from '../ids';
import { canaryFailedIncident, unplannableIncident } from '../incidentText';
import { addCounts, addOutcome, noOutcomes } from '../outcomes';
import { rolloutInBatches } from './batches';
import { page, pageSource, record, type Run } from './run';

// 5. Roll out: the canary ring first; the rest only if every canary verified.

/**
 * What the rollout did: counts for every server, details only for those that need attention, and
 * (in memory only, never in the history) which servers it proved updated or verified: a server handed
 * to a batch that the batch did not list (a batch lists every other outcome).
 */
export interface Rolled {
  readonly counts: OutcomeCounts;
  readonly listed: readonly ServerOutcome[];
  /** Lower-case ids. */
  readonly succeeded: ReadonlySet<string>;
  readonly canaryFailed: boolean;
}

export function* rollOut(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
): Generator<Task, Rolled, unknown> {
  const { context } = run;
  const listed: ServerOutcome[] = [];
  let counts = noOutcomes();
  // Servers that could not be planned: skipped, audited and paged once each; the others proceed.
  for (const u of plan.unplannable) {
    const o = yield* unplannableServer(run, u, latest.version);
    listed.push(o);
    counts = addOutcome(counts, o.outcome, o.reasonCode);
  }

  // Inaccessible servers go through their rollover too: it pages the documented recovery.
  const inaccessible = (s: PlannedServer) =>
    s.state?.toLowerCase() === 'inaccessible' && s.slots.every((x) => !leavesAlone(x.decision));
  const skipped = plan.servers.filter((s) => s.action === 'skip' && !inaccessible(s));
  const skipCode = (s: PlannedServer): string => s.slots[0]?.decision ?? 'skip';
  yield* recordAudit(
    context,
    skipped.map((s) =>
      record(run, {
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        serverId: s.serverId,
        subscriptionId: subscriptionOf(s.serverId),
        reasonCode: skipCode(s),
        reason: s.slots.map((x) => `${x.slot}: ${x.reason ?? x.decision}`).join('; '),
      }),
    ),
  );
  // Skipped by the plan (opt-out, hold, not Ready, ahead...): counted by reason code, not listed; each
  // has the ServerSkipped record above.
  for (const s of skipped) counts = addOutcome(counts, 'skipped', skipCode(s));
  const actionable = plan.servers.filter((s) => s.action !== 'skip' || inaccessible(s));
  const canary = actionable.filter((s) => s.ring === 'canary');
  const rest = actionable.filter((s) => s.ring !== 'canary');
  // Only what the rollover cannot re-read: the deadline its page names, and whether it was behind.
  const ref = (server: PlannedServer): BatchServer => {
    const expiresOn = oldestExpiry(key, server);
    return {
      serverId: server.serverId,
      ...(expiresOn !== undefined ? { expiresOn } : {}),
      ...(server.action === 'update' ? { behind: true as const } : {}),
    };
  };
  run.sofar = counts;
  const canaryRun = yield* rolloutInBatches(run, key, latest.version, canary.map(ref), 'canary');
  counts = addCounts(counts, canaryRun.counts);
  listed.push(...canaryRun.servers);
  // A canary that was already Inaccessible, or left alone as a cross-tenant CMK server, never tried
  // the new version (or not told apart from one): it proves nothing either way.
  const canaryFailed = canaryRun.servers.some(
    (o) =>
      o.outcome === 'failed' &&
      o.reasonCode !== 'ServerInaccessible' &&
      o.reasonCode !== CROSS_TENANT_CODE &&
      o.reasonCode !== CROSS_TENANT_UNDETERMINED_CODE,
  );
  if (canaryFailed) {
    // Held back: counted (skipped, CanaryFailed), not listed; the page below names how many.
    counts = addOutcome(counts, 'skipped', 'CanaryFailed', rest.length);
    run.sofar = counts;
    yield* page(
      run,
      canaryFailedIncident(pageSource(run), latest.version, rest.length),
      'rotation',
      record(run, {
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        reasonCode: 'CanaryFailed',
        reason: `${rest.length} server(s) held back after a canary failure`,
      }),
    );
  } else {
    run.sofar = counts;
    const restRun = yield* rolloutInBatches(run, key, latest.version, rest.map(ref), 'rollout');
    counts = addCounts(counts, restRun.counts);
    listed.push(...restRun.servers);
    for (const id of restRun.succeeded) canaryRun.succeeded.add(id);
  }
  for (const o of listed) if (o.incident !== undefined) run.opened.push(o.incident);
  return { counts, listed, succeeded: canaryRun.succeeded, canaryFailed };
}

/** A server discovery found but could not plan: `InvalidConfiguration`, audited and paged once. */
function* unplannableServer(
  run: Run,
  u: UnplannableServer,
  target: string,
): Generator<Task, ServerOutcome, unknown> {
  const { input } = run;
  const incident: OpenIncident = {
    dedupKey: incidentKeys.server(input.vaultName, input.keyName, target, u.serverName, u.serverId),
    kind: 'server',
    serverId: u.serverId,
    version: target,
  };
  yield* pageOperator(
    run.context,
    unplannableIncident(pageSource(run), u, target, incident.dedupKey),
    record(run, {
      step: 'ServerSkipped',
      outcome: 'skipped',
      toVersion: target,
      serverId: u.serverId,
      subscriptionId: u.subscriptionId,
      reasonCode: u.code,
      reason: u.reason,
    }),
  );
  return {
    serverId: u.serverId,
    serverName: u.serverName,
    subscriptionId: u.subscriptionId,
    outcome: 'skipped',
    slots: [],
    reasonCode: u.code,
    reason: u.reason,
    incident,
  };
}

/** The earliest expiry among the versions a server is on now: the deadline its page should name. */
function oldestExpiry(key: KeyInfo, server: PlannedServer): string | undefined {
  const dates = server.slots
    .map((s) => key.versions.find((v) => v.version.toLowerCase() === s.version)?.expiresOn)
    .filter((d): d is string => d !== undefined)
    .sort();
  return dates[0];
}
