import type { OrchestrationContext, Task } from 'durable-functions';
import { FUNCTION_NAMES } from '../../domain/names';
import { inputOf, log, pageOperator } from '../../workflows/activityCalls';
import {
  type OutcomeCounts,
  ROTATION_SCHEMA_VERSION,
  type BatchServer,
  type OpenIncident,
  type RolloutBatchOutput,
  type ServerOutcome,
  type ServerRef,
  type ServerRolloverInput,
} from '../contract';
import { incidentKeys, serverRolloverInstanceId } from '../ids';
import { subOrchestrationFailedIncident } from '../incidentText';
import { addOutcome, countOutcomes, noOutcomes, succeeded } from '../outcomes';
import {
  addOperationSample,
  firstPollSeconds,
  initialWindow,
  nextWindow,
  typicalOperationSeconds,
  type Window,
} from '../pacing';
import { serverRefOf, unpackIds } from '../packing';
import { reportQuota, reserveStarts } from './governed';
import { acquireLane, closeLane, reportLane } from './laneCalls';
import { slidingWindow, type InFlight } from './scheduler';

/** What the failure of a server's sub-orchestration is recorded and paged with. */
export interface RolloutContext {
  readonly correlationId: string;
  readonly trigger: string;
  readonly vaultName: string;
  readonly keyName: string;
  readonly targetVersion: string;
}

/** Looks in a row at which the lane did not answer before a batch keeps to its even share alone. */
export const LANE_ATTEMPTS = 3;
/** A governed batch passes its latest remaining-quota reading to the governor every this many servers. */
const READING_EVERY = 25;
/** A governed batch reports its first this many operation durations to the governor. */
const DURATIONS_REPORTED = 3;
/**
 * While governed starts are due, a batch looks at least this often (ms), whatever the poll interval
 * (15 s by default): a server starts at most this late, in bunches of what ARM's refill gives in it.
 */
export const START_LOOK_MS = 1000;

/**
 * One batch of a rollout (at most `ROLLOUT_BATCH_SIZE` servers of one subscription): a sliding
 * window (./scheduler.ts) of `serverRollover` sub-orchestrations. A new server starts as soon as a
 * finished one is seen (at the latest one poll interval later), so a slow server holds only its own
 * slot; how many run at once is what its lane grants of `CMK_MAX_PARALLEL_UPDATES` (its even share
 * without one), and without the governor's start times also what ARM's remaining quota allows as the
 * finished servers report it (`nextWindow`); a 429 halves that window and pauses new starts for its
 * `Retry-After`. Its history grows with its own servers only, never the fleet's.
 * Its output (the rotation's history) counts the servers that went well and lists only the others.
 */
export function* rolloutBatchOrchestrator(
  context: OrchestrationContext,
): Generator<Task, RolloutBatchOutput, unknown> {
  const input = inputOf(context, 'rolloutBatch');
  if (input.schemaVersion !== ROTATION_SCHEMA_VERSION) {
    // Started by another deployment (its servers may be in another form: only the id is read; its
    // input is not schema-checked, shared/durable/activityBoundary.ts).
    const listed: unknown = input.servers;
    const older = Array.isArray(listed)
      ? unpackIds(input.servers.filter((s) => typeof (s as { serverId?: unknown }).serverId === 'string'))
      : [];
    const skipped = older.map((s) => ({
      ...serverRefOf({ serverId: s.serverId }),
      outcome: 'skipped' as const,
      slots: [],
      reasonCode: 'SchemaVersionChanged',
      reason: 'started by another deployment; the next run of the key handles this server',
    }));
    return { counts: countOutcomes(skipped), servers: skipped, peakInFlight: 0, throttled: 0 };
  }
  // Whole ids again (front-coded in the input).
  const servers = unpackIds(input.servers);
  const cap = Math.max(1, input.maxInFlight);
  const tickMs = Math.max(1, input.settings.pollIntervalSeconds) * 1000;
  const rollout: RolloutContext = {
    correlationId: input.correlationId,
    trigger: input.trigger,
    vaultName: input.key.vaultName,
    keyName: input.key.name,
    targetVersion: input.targetVersion,
  };
  // Start times from the subscription's quota governor, shared by every rotation: one per server, in
  // order. Without them (the governor failed or did not answer) the batch paces itself from ARM's
  // remaining-quota headers, as one window per batch.
  const reservation =
    servers.length > 0
      ? yield* reserveStarts(context, input.subscriptionId, servers.length, {
          firstLooksTimed: input.operationSeconds !== undefined,
        })
      : undefined;
  const slots = reservation?.slots;
  const childInput = (server: ServerRef, index: number): ServerRolloverInput => ({
    schemaVersion: ROTATION_SCHEMA_VERSION,
    correlationId: input.correlationId,
    trigger: input.trigger,
    key: input.key,
    targetVersion: input.targetVersion,
    server,
    settings: input.settings,
    firstPollSeconds: firstPollSeconds(
      // This batch's own, else what this rotation's earlier batches saw, else what any rotation in
      // the subscription saw lately (the governor): a first look too early costs a read.
      typicalOperationSeconds(samples) ?? input.operationSeconds ?? reservation?.operationSeconds,
      input.settings.pollIntervalSeconds,
    ),
    ...(slots?.[index] !== undefined ? { notBefore: slots[index] } : {}),
    // The governor asked this server to report when it reached ARM (it took from a full bucket).
    ...(reservation?.reportArrival?.includes(index) === true ? { reportArrival: true } : {}),
  });

  // Durations of this batch's finished operations (ARM's clock): pace the first polls of the next.
  let samples: number[] = [];
  let window: Window = initialWindow(cap);
  let next = 0;
  let peakInFlight = 0;
  let throttled = 0;
  // Servers that went well are counted only (each has its own ServerVerified audit record); the
  // others are listed with their details.
  let counts: OutcomeCounts = noOutcomes();
  const listed: ServerOutcome[] = [];
  let auditUndelivered = 0;
  let settled = 0;
  // With a lane, the subscription's batches of this phase share `maxParallelUpdates` (the
  // `rolloutLane` entity) instead of a third each, and this batch starts only what the lane granted
  // at this look (governed or not; paced by itself, its own window stays within its even share, so
  // there the lane can only hold it back). Without one (it runs alone), its even share (`cap`).
  let lane = input.lane;
  const laneLimit = Math.max(1, lane?.limit ?? cap);
  const holder = context.df.instanceId;
  let granted = 0;
  let refused = false;
  // What the lane counts for this batch: in flight, with what it granted, when it last heard from it.
  let told = 0;
  let laneFailures = 0;
  yield* slidingWindow<ServerRef>(context, {
    pending: () => next < servers.length,
    // A canary batch's end holds back the main ring; another batch reports to its governor as its
    // servers settle, at its looks.
    drainTogether: input.canary === true,
    *admit(inFlight, now) {
      granted = 0;
      refused = false;
      if (lane === undefined) return;
      // Servers that may start now: governed, those whose start time came; else what the batch's own
      // window allows once a 429's hold ended.
      let due = 0;
      if (slots !== undefined) while (next + due < servers.length && (slots[next + due] ?? 0) <= now) due++;
      else if (now >= window.holdUntil)
        due = Math.max(0, Math.min(servers.length - next, window.size - inFlight.length));
      const want = Math.min(due, laneLimit - inFlight.length);
      if (want > 0) {
        const answer = yield* acquireLane(context, lane.key, {
          holder,
          inFlight: inFlight.length,
          want,
          limit: laneLimit,
        });
        if (answer === undefined) {
          // Unanswered: nothing starts at this look, and the lane is asked again at the next. A call
          // that timed out may still be taken by the lane later, with the count this batch had then
          // (possibly below what it last heard), so `told` drops to what is in flight: nothing starts
          // on it either. Only after `LANE_ATTEMPTS` looks in a row does the batch keep to its even
          // share alone: a broken lane slows a rollout, never stops it, but from then on the
          // subscription may have up to this batch's share more in flight than the setting while the
          // other batches still use the lane.
          laneFailures++;
          if (laneFailures >= LANE_ATTEMPTS) {
            log(context, `in-flight lane ${lane.key} failed ${laneFailures} times; keeping to an even share`);
            lane = undefined;
            return;
          }
          told = Math.min(told, inFlight.length);
          refused = true;
          return;
        }
        laneFailures = 0;
        granted = answer;
        refused = answer < want;
        told = inFlight.length + answer;
      } else if (inFlight.length < told) {
        // Nothing to start: the servers that finished go back to the lane for the other batches.
        reportLane(context, lane.key, { holder, inFlight: inFlight.length });
        told = inFlight.length;
      }
    },
    *settle(done, inFlight) {
      const outcome = done.task.isFaulted
        ? yield* subOrchestrationFailed(context, rollout, done.item, done.task.result)
        : (done.task.result as ServerOutcome);
      counts = addOutcome(counts, outcome.outcome, outcome.reasonCode);
      auditUndelivered += outcome.auditUndelivered ?? 0;
      // The quota reading and the duration pace this batch only; the rotation's output carries neither.
      const { armQuota: _quota, operationSeconds, ...kept } = outcome;
      if (!succeeded(outcome)) listed.push(kept);
      samples = addOperationSample(samples, operationSeconds);
      if (outcome.armQuota?.retryAfterSeconds !== undefined) throttled++;
      // Governed: the latest remaining-quota reading goes to the governor now and then (it lowers the
      // model only when someone else spends the subscription's quota); 429s were reported as they came.
      settled++;
      if (slots !== undefined) {
        const reading = settled % READING_EVERY === 0 ? outcome.armQuota : undefined;
        // Its first operation durations go to the governor (for the rotations that start next).
        const sample = settled <= DURATIONS_REPORTED ? operationSeconds : undefined;
        if (sample !== undefined || reading?.reads !== undefined || reading?.writes !== undefined)
          reportQuota(context, input.subscriptionId, {
            reads: reading?.reads,
            writes: reading?.writes,
            operationSeconds: sample,
          });
      }
      // The batch's own window paces it only without the governor's start times.
      if (slots === undefined)
        window = nextWindow(
          window,
          inFlight.length,
          outcome.armQuota,
          cap,
          context.df.currentUtcDateTime.getTime(),
        );
      return [];
    },
    fill(inFlight, now) {
      const started: InFlight<ServerRef>[] = [];
      // Governed: a server starts at the batch's first look after its start time has come; while
      // starts are due the batch looks at least every `START_LOOK_MS` whatever the poll interval
      // (at most that late; the subscription's bucket keeps what was not spent meanwhile). Started up
      // to a look early instead, each server waited out its start on a timer of its own: an episode
      // and a timer message per server more, about a tenth of the host's work at 10,000 servers.
      // Started later rather than all at once, it times its first look by the operations that
      // finished meanwhile. Else as many as the window allows.
      const room = lane !== undefined ? inFlight.length + granted : slots === undefined ? window.size : cap;
      while (
        next < servers.length &&
        inFlight.length + started.length < room &&
        (slots !== undefined ? (slots[next] ?? 0) <= now : now >= window.holdUntil)
      ) {
        const server = serverRefOf(servers[next] as BatchServer);
        const task = context.df.callSubOrchestrator(
          FUNCTION_NAMES.serverRollover,
          childInput(server, next),
          serverRolloverInstanceId(context.df.instanceId, server.serverName, String(next)),
        );
        started.push({ item: server, task });
        next++;
      }
      peakInFlight = Math.max(peakInFlight, inFlight.length + started.length);
      return started;
    },
    // Nothing in flight (held back by a 429): wake when the hold ends; else look every poll interval.
    // Governed: also at the next start time, never sooner than `START_LOOK_MS` from now (a look that
    // finds its start a few milliseconds off does not re-arm the same timer again and again).
    wakeAt: (now, inFlight) => {
      // Refused by its lane with nothing in flight: ask again a poll interval on, not in a loop.
      if (slots === undefined)
        return inFlight.length > 0
          ? now + tickMs
          : refused
            ? Math.max(now + tickMs, window.holdUntil)
            : window.holdUntil;
      const nextStart = slots[next];
      const look = now + tickMs;
      // At its cap, or refused by its lane (the other batches hold the budget), a finished server
      // makes room: the next look is soon enough.
      if (nextStart === undefined || inFlight.length >= (lane !== undefined ? laneLimit : cap) || refused)
        return look;
      const start = Math.max(now + START_LOOK_MS, nextStart);
      return inFlight.length > 0 ? Math.min(look, start) : start;
    },
  });
  // Whatever it still holds goes back, also after its lane failed (it may answer again).
  if (input.lane !== undefined) closeLane(context, input.lane.key, holder);
  log(
    context,
    `batch of ${servers.length} server(s) in ${input.subscriptionId}: peak ${peakInFlight} in flight, ${throttled} throttled`,
  );
  const operationSeconds = typicalOperationSeconds(samples);
  return {
    counts,
    servers: listed,
    ...(auditUndelivered > 0 ? { auditUndelivered } : {}),
    peakInFlight,
    throttled,
    ...(operationSeconds !== undefined ? { operationSeconds } : {}),
  };
}

/**
 * A server's rollover never throws; should its sub-orchestration still fail (a host or replay
 * fault), its siblings keep their outcomes and this one is recorded and paged here.
 */
export function* subOrchestrationFailed(
  context: OrchestrationContext,
  rollout: RolloutContext,
  server: ServerRef,
  error: unknown,
): Generator<Task, ServerOutcome, unknown> {
  const message = (error instanceof Error ? error.message : String(error)).slice(0, 500);
  const incident: OpenIncident = {
    dedupKey: incidentKeys.server(
      rollout.vaultName,
      rollout.keyName,
      rollout.targetVersion,
      server.serverName,
      server.serverId,
    ),
    kind: 'server',
    serverId: server.serverId,
    version: rollout.targetVersion,
  };
  yield* pageOperator(
    context,
    subOrchestrationFailedIncident(
      context.df.currentUtcDateTime.toISOString(),
      rollout,
      server,
      incident.dedupKey,
    ),
    {
      step: 'ServerFailed',
      correlationId: rollout.correlationId,
      trigger: rollout.trigger,
      outcome: 'failure',
      vault: rollout.vaultName,
      key: rollout.keyName,
      toVersion: rollout.targetVersion,
      serverId: server.serverId,
      subscriptionId: server.subscriptionId,
      reasonCode: 'SubOrchestrationFailed',
      reason: message,
    },
  );
  return {
    serverId: server.serverId,
    serverName: server.serverName,
    subscriptionId: server.subscriptionId,
    outcome: 'failed',
    slots: [],
    reasonCode: 'SubOrchestrationFailed',
    reason: message,
    incident,
  };
}
