import type { Task } from 'durable-functions';
import type { KeyInfo } from '../../domain/model';
import { FUNCTION_NAMES } from '../../domain/names';
import { serverNameOf, subscriptionOf } from '../../domain/resourceId';
import { log } from '../../workflows/activityCalls';
import {
  ROTATION_SCHEMA_VERSION,
  type BatchServer,
  type OutcomeCounts,
  type RolloutBatchInput,
  type RolloutBatchOutput,
  type ServerOutcome,
} from '../contract';
import { addCounts, addOutcome, noOutcomes } from '../outcomes';
import { BATCHES_PER_SUBSCRIPTION, ROLLOUT_BATCH_SIZE } from '../pacing';
import { compactKey, packIds, serverRefOf, serverSettings } from '../packing';
import { closeLane, endLane } from './laneCalls';
import { subOrchestrationFailed } from './rolloutBatch';
import { progress, type Run } from './run';
import { slidingWindow, type InFlight } from './scheduler';

/**
 * The servers in batches of at most `ROLLOUT_BATCH_SIZE` per subscription, each a `rolloutBatch`
 * sub-orchestration that keeps as many of its servers in flight as ARM's quota for that subscription
 * allows. This history holds one entry per batch, never one per server: its size and the cost of
 * replaying it do not grow with the fleet's servers. `BATCHES_PER_SUBSCRIPTION` batches of a
 * subscription run at once (a batch waiting on its last slow server never idles the subscription),
 * sharing `maxParallelUpdates`; subscriptions run side by side (ARM's quota is per subscription).
 */
export function* rolloutInBatches(
  run: Run,
  key: KeyInfo,
  targetVersion: string,
  servers: readonly BatchServer[],
  phase: 'canary' | 'rollout',
): Generator<Task, { counts: OutcomeCounts; servers: ServerOutcome[]; succeeded: Set<string> }, unknown> {
  const { context, input } = run;
  const lanes = new Map<string, BatchServer[][]>();
  for (const s of servers) {
    const sub = subscriptionOf(s.serverId).toLowerCase();
    const lane = lanes.get(sub) ?? [];
    const last = lane[lane.length - 1];
    if (last !== undefined && last.length < ROLLOUT_BATCH_SIZE) last.push(s);
    else lane.push([s]);
    lanes.set(sub, lane);
  }
  const compact = compactKey(key);
  // No more batches at once than servers the setting allows in flight: each has one in flight at least.
  const batchesAtOnce = Math.max(1, Math.min(BATCHES_PER_SUBSCRIPTION, input.settings.maxParallelUpdates));
  // A subscription whose batches run alongside each other shares the setting through one lane (a
  // `rolloutLane` entity per subscription and phase, its key new for every run): a batch may use what
  // the others do not, and the lane's batches together never have more in flight than the setting
  // (rolloutBatch.ts says when they may). The guid is drawn from this instance's id: durable-functions
  // builds it from the name given, the episode's time and a counter, so two rotations starting a phase
  // at the same millisecond would otherwise share a lane.
  const laneKeys = new Map<string, string>();
  for (const [sub, lane] of lanes)
    if (lane.length > 1 && batchesAtOnce > 1)
      laneKeys.set(sub, `${sub}:${context.df.newGuid(`${context.df.instanceId}:${phase}:lane:${sub}`)}`);
  const settings = serverSettings(input.settings);
  const batchInput = (sub: string, batch: BatchServer[], share: number): RolloutBatchInput => {
    const laneKey = laneKeys.get(sub);
    return {
      schemaVersion: ROTATION_SCHEMA_VERSION,
      correlationId: context.df.instanceId,
      trigger: input.trigger,
      key: compact,
      targetVersion,
      subscriptionId: sub,
      // Per server only the end of its id (front-coded), its deadline, whether it is behind; the key
      // and the settings once per batch.
      servers: packIds(batch),
      settings,
      // A batch's even share, for a batch without a lane (or one that gave up on it): rounded down, the
      // batches of a subscription together never have more than the setting in flight (at most as many
      // batches run at once as the setting allows, so each keeps one at least).
      maxInFlight: Math.max(1, Math.floor(input.settings.maxParallelUpdates / share)),
      ...(laneKey !== undefined ? { lane: { key: laneKey, limit: input.settings.maxParallelUpdates } } : {}),
      ...(run.operationSeconds !== undefined ? { operationSeconds: run.operationSeconds } : {}),
      ...(phase === 'canary' ? { canary: true as const } : {}),
    };
  };
  type Batch = { readonly sub: string; readonly batch: BatchServer[]; readonly instanceId: string };
  const start = (sub: string, inFlight: readonly InFlight<Batch>[]): InFlight<Batch>[] => {
    const lane = lanes.get(sub) ?? [];
    const batch = lane.shift();
    if (batch === undefined) return [];
    const alongside = inFlight.filter((r) => r.item.sub === sub).length;
    const share = Math.min(batchesAtOnce, lane.length + 1 + alongside);
    const instanceId = `cmk-batch:${context.df.newGuid(`${sub}:${batch[0]?.serverId ?? ''}`)}`;
    const task = context.df.callSubOrchestrator(
      FUNCTION_NAMES.rolloutBatch,
      batchInput(sub, batch, share),
      instanceId,
    );
    return [{ item: { sub, batch, instanceId }, task }];
  };
  const initial: InFlight<Batch>[] = [];
  for (const sub of lanes.keys())
    for (let i = 0; i < batchesAtOnce; i++) initial.push(...start(sub, initial));
  let counts = noOutcomes();
  const listed: ServerOutcome[] = [];
  const succeeded = new Set<string>();
  // Progress for the operator API and the status page: batch i of n and the servers of
  // the batches in flight (at most 20 names: custom status stays small).
  const batches = [...lanes.values()].reduce((n, lane) => n + lane.length, initial.length);
  let batchesDone = 0;
  const report = (running: readonly InFlight<Batch>[]): void =>
    progress(run, phase, {
      batch: { index: Math.min(batches, batchesDone + 1), of: batches },
      current: running.flatMap((r) => r.item.batch.slice(0, 20).map((s) => serverNameOf(s.serverId))),
      counts: addCounts(run.sofar, counts),
    });
  report(initial);
  const rollout = {
    correlationId: context.df.instanceId,
    trigger: input.trigger,
    vaultName: input.vaultName,
    keyName: input.keyName,
    targetVersion,
  };
  const pollMs = Math.max(1, input.settings.pollIntervalSeconds) * 1000;
  const waiting = (): boolean => [...lanes.values()].some((lane) => lane.length > 0);
  yield* slidingWindow<Batch>(
    context,
    {
      pending: waiting,
      // The main ring waits for the canary ring's end; the main ring's own progress comes from looks.
      drainTogether: phase === 'canary',
      // A lane's next batch starts when one of its batches finishes (`settle`), never otherwise.
      fill: () => [],
      *settle(done, inFlight) {
        if (!done.task.isFaulted) {
          const out = done.task.result as RolloutBatchOutput;
          counts = addCounts(counts, out.counts);
          listed.push(...out.servers);
          run.serverAuditUndelivered += out.auditUndelivered ?? 0;
          run.operationSeconds = out.operationSeconds ?? run.operationSeconds;
          // A batch lists every server it did not update or verify: when its counts add up, a server of
          // it that is not listed went well (kept in memory only, for the incidents it proves fixed).
          if (out.counts.updated + out.counts.verified + out.servers.length === done.item.batch.length) {
            const notWell = new Set(out.servers.map((o) => o.serverId.toLowerCase()));
            for (const s of done.item.batch)
              if (!notWell.has(s.serverId.toLowerCase())) succeeded.add(s.serverId.toLowerCase());
          } else
            log(context, `batch output of ${done.item.batch.length} server(s) does not add up: none proven`);
        }
        // A batch never throws; should one still fail (a host fault), each of its servers is recorded
        // and paged as failed: what it did is unknown, and the next run re-reads them all. What it held
        // of its lane goes back (it could not say so itself).
        else {
          const laneKey = laneKeys.get(done.item.sub);
          if (laneKey !== undefined) closeLane(context, laneKey, done.item.instanceId);
          for (const s of done.item.batch) {
            const failed = yield* subOrchestrationFailed(context, rollout, serverRefOf(s), done.task.result);
            listed.push(failed);
            counts = addOutcome(counts, failed.outcome, failed.reasonCode);
          }
        }
        return start(done.item.sub, inFlight);
      },
      looked(finished, inFlight) {
        batchesDone += finished;
        if (finished > 0) report(inFlight);
      },
      // Every poll interval, while batches wait too: a batch reserves its servers' start times when it
      // starts, so a finished batch replaced a look late leaves its subscription's schedule that much
      // shorter. Looking every fifth poll interval instead, some subscriptions of 10,000 servers in 10
      // stood still for up to 5 s when their reserved start times ran out (the stand-ins' log). The
      // cost is one look (a timer, an episode replaying this history) per poll interval for the whole
      // rollout: in the benchmark (1 s polls, 98 s) 142–160 events more, 3.09 → 3.13 MB, and no host
      // CPU the runs could tell apart; at the default 15 s poll, four looks a minute instead of 0.8.
      // A fourth batch at once also kept the schedule full but cut each batch's share of
      // CMK_MAX_PARALLEL_UPDATES to 25: 1,000 servers took 27.2–30.1 s, against 25.7–26.0 s.
      wakeAt: (now) => now + pollMs,
    },
    initial,
  );
  for (const key of laneKeys.values()) endLane(context, key);
  return { counts, servers: listed, succeeded };
}
