import type { Task } from 'durable-functions';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import { callStep, recordAudit } from '../../workflows/activityCalls';
import type { PlanRolloutOutput } from '../activityIo';
import { summarizePlan } from '../auditText';
import { discoveryFailedIncident } from '../incidentText';
import { unpackIds } from '../packing';
import { page, pageSource, record, type Ended, type Run } from './run';
import { stop } from './stop';

// 2. Who uses the key, and what each server needs (planned one by one).

export function* discoverAndPlan(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
): Generator<Task, Ended | PlanRolloutOutput, unknown> {
  const { input } = run;
  const plan = yield* callStep(run.context, 'planRollout', {
    key,
    targetVersion: latest.version,
    optOutTag: input.settings.optOutTag,
    canaryTag: input.settings.canaryTag,
    holdTag: input.settings.holdTag,
  });
  if (!plan.ok) {
    yield* page(
      run,
      discoveryFailedIncident(pageSource(run), plan.error.code),
      'rotation',
      record(run, {
        step: 'PlanComputed',
        outcome: 'failure',
        reasonCode: plan.error.code,
        reason: plan.error.message,
      }),
    );
    return yield* stop(run, plan.error.code, plan.error.message, latest.version);
  }
  yield* recordAudit(run.context, [
    record(run, {
      step: 'PlanComputed',
      outcome: 'info',
      toVersion: latest.version,
      reason: summarizePlan(plan.value.servers, plan.value.unplannable),
      details: { discovered: String(plan.value.discovered), planned: String(plan.value.servers.length) },
    }),
  ]);
  // The activity front-codes the ids (its output is in this history once per server): whole again here.
  return { ...plan.value, servers: unpackIds(plan.value.servers) };
}

/** An operator's retry of named servers: only those are rolled out; nothing else is touched or paged. */
export function onlyTheServersAskedFor(run: Run, plan: PlanRolloutOutput): PlanRolloutOutput {
  const only = run.input.onlyServers;
  if (only === undefined) return plan;
  const wanted = (id: string) => only.includes(id.toLowerCase());
  return {
    ...plan,
    servers: plan.servers.filter((s) => wanted(s.serverId)),
    unplannable: plan.unplannable.filter((u) => wanted(u.serverId)),
  };
}
