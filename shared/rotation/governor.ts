import { typicalOperationSeconds } from './pacing';

/**
 * The ARM quota governor of one subscription: one per subscription for the whole app, shared by every
 * rotation running in it (a durable entity, shared/rotation/entities/armQuotaGovernor.ts). Pure: the
 * entity feeds it its state, the request and the time.
 *
 * Why one governor and not one window per rotation: ARM throttles per subscription and principal with
 * token buckets (Microsoft Learn, "Understand how Azure Resource Manager throttles requests": reads
 * 250 burst + 25/s, writes 200 burst + 10/s per subscription, principal and region). Fifty rotations
 * each pacing itself against the remaining-quota headers as if it were alone would all see the same
 * full bucket, all start at once, and answer the 429s that follow by halving and waiting: the
 * subscription idles while its quota refills. A governor that hands out start times instead keeps the
 * bucket busy and never overdrawn.
 *
 * The model is GCRA (the generic cell rate algorithm: a token bucket kept as one "theoretical arrival
 * time" per bucket): a server costs `writesPerServer` write tokens and `readsPerServer` read tokens,
 * all taken at its start time. Taking the reads at the start is early (its operation status and
 * verifying reads come seconds later): while the bucket is not full, that only takes tokens before ARM
 * does; where it is full, ARM loses refill the model counted, which the arrival reports below correct.
 * Start times are handed out first come, first served, so a rotation that asked first starts first
 * and nobody starves.
 *
 * What ARM says corrects the model, never the other way round: a remaining-quota reading lower than the
 * model's means someone else spends the subscription's quota (another tool on the same principal): the
 * model drops to it. A 429 holds every start not yet handed out until its `Retry-After` has passed
 * (starts already handed out go ahead: each server's rollover waits out its own 429s).
 *
 * Late starts out of a full bucket: the model counts a bucket's refill from the start times it hands
 * out, but a server reaches ARM later than its start time (its batch's look, the host's queue, the
 * read before the PATCH). While the model's bucket is not full that only moves tokens in time; while
 * it is full, ARM's bucket stays full until the first request arrives and loses the refill of that
 * wait, which the model counted: measured at 10,000 servers, a main ring's burst handed out at 9.4 s
 * reached ARM at 11.4 s, 20 write tokens lost, the whole headroom (docs/scale.md). So for each bucket
 * a reservation takes from while it is full, the last server that does so reports when its first
 * request reached ARM (`reportArrival`), and that report moves the bucket by the wait (`observe`).
 * Why the last: the bucket that paces a reservation is full at its first start at most (each later
 * start comes as soon as its tokens are there); the other one refills faster than the reservation
 * spends it and may be full at many starts. At each of them ARM's is within the wait times its rate
 * of full (ARM's requests come later than the model's, never earlier, so only those charged in the
 * wait before may have reached it), so a full start bounds whatever the model had wrong before, and a
 * newer awaited report for a bucket replaces an older one. What stays wrong after the last: the
 * servers started just before it that reach ARM after it, at most the wait times that bucket's rate
 * (2 s: 20 writes), which the headroom covers. And for reads the wait counts
 * until the server's write step answered, while its first read may come at its first look, later:
 * the read bucket may have lost more than it is moved by (reads are charged at the start, and a
 * subscription's reads run below their refill once operations are timed).
 */

/** A token bucket: its size and its refill per second. */
export interface TokenBucket {
  readonly burst: number;
  readonly perSecond: number;
}

/** ARM's documented defaults per subscription and principal (Microsoft Learn, as above). */
export const ARM_SUBSCRIPTION_BUCKETS: { readonly reads: TokenBucket; readonly writes: TokenBucket } = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
};

/**
 * The share of each of ARM's bursts the model never hands out: servers start later than their start
 * times when the host is busy, then several at once, and their reads come in bunches; the spare
 * tokens absorb that instead of a 429. The refill rate is used whole, so it costs only the start:
 * a tenth of each burst (2 s of writes, 1 s of reads).
 */
export const HEADROOM = 0.1;

/** Operation durations the governor keeps (the most recent ones reported by any rotation). */
export const GOVERNOR_OPERATION_SAMPLES = 25;

/** Longest hold a 429's `Retry-After` imposes (ARM asks for seconds, not hours). */
export const MAX_GOVERNOR_HOLD_SECONDS = 300;

/** Most servers one reservation may ask for: a batch's (`ROLLOUT_BATCH_SIZE`), with room to spare. */
export const MAX_SERVERS_PER_RESERVATION = 1000;

/** The governor's whole state: a few numbers, whatever the fleet (entity state stays tiny). */
export interface GovernorState {
  /** Theoretical arrival time of the read bucket (epoch ms): empty until then, full `burst` earlier. */
  readonly readsTat: number;
  readonly writesTat: number;
  /** No start before this (epoch ms): a 429's `Retry-After`. */
  readonly holdUntil: number;
  /** Servers given a start time so far, and 429s reported: for operators reading the entity. */
  readonly reserved: number;
  readonly throttled: number;
  /**
   * How long ARM's operations of this subscription ran lately (seconds, by ARM's clock), as rotations
   * reported them: a new rotation times its servers' first look at their operation by them instead of
   * guessing (a look too early is one read more per server, which the model does not count).
   */
  readonly operationSeconds: readonly number[];
  /**
   * Start times handed out out of a full bucket whose server has not yet reported when it reached ARM,
   * and which buckets were full then (the latest `MAX_PENDING_ARRIVALS`).
   */
  readonly arrivals: readonly PendingArrival[];
  /** How far the model was moved by late arrivals so far (ms), for operators reading the entity. */
  readonly arrivalLagMs: number;
}

export const NEW_GOVERNOR: GovernorState = {
  readsTat: 0,
  writesTat: 0,
  holdUntil: 0,
  reserved: 0,
  throttled: 0,
  operationSeconds: [],
  arrivals: [],
  arrivalLagMs: 0,
};

export type BucketName = 'reads' | 'writes';

/** A start time handed out out of a full bucket, awaiting its server's report. */
export interface PendingArrival {
  readonly slot: number;
  readonly buckets: readonly BucketName[];
}

/**
 * Reports awaited at most: an older one is dropped (its server failed before reporting, or its report
 * was lost).
 */
export const MAX_PENDING_ARRIVALS = 8;

/**
 * Longest wait between a start time and its server's first request that a report may move the model
 * by: a report beyond it (a clock far off, a server that waited on something else first) moves it by
 * this much only.
 */
export const MAX_ARRIVAL_LAG_SECONDS = 60;

/** `reserve`: start times for `servers` servers of one batch, at the given cost each. */
export interface ReserveRequest {
  readonly servers: number;
  readonly readsPerServer: number;
  /**
   * Reads to charge instead while nobody has reported how long the subscription's operations take:
   * a server's first look then comes at a guess, often too early, and costs a read more.
   */
  readonly untimedReadsPerServer?: number | undefined;
  readonly writesPerServer: number;
  /**
   * Who asks (the batch's instance id): kept in the entity's request for tracing; the schedule
   * ignores it.
   */
  readonly requester: string;
}

/** The answer: one start time per server (epoch ms, in order, never decreasing). */
export interface Reservation {
  readonly slots: number[];
  /** The median of the operation durations reported lately (seconds); absent before any. */
  readonly operationSeconds?: number | undefined;
  /**
   * The servers (indexes into `slots`, ascending) that report when their first request reached ARM (a
   * reading with `slot` set to their start time): the last start that took from each full bucket.
   */
  readonly reportArrival?: number[] | undefined;
}

/** `observe`: what one ARM answer said about the subscription's quota, and when (epoch ms). */
export interface QuotaReading {
  readonly at: number;
  readonly reads?: number | undefined;
  readonly writes?: number | undefined;
  readonly retryAfterSeconds?: number | undefined;
  /** How long one of ARM's operations ran (seconds, its own clock): a sample for the others. */
  readonly operationSeconds?: number | undefined;
  /**
   * The start time of the server whose first request reached ARM at `at` (asked for with
   * `reportArrival`): the buckets that were full then lost the refill between the two. A reading with
   * `slot` carries nothing else.
   */
  readonly slot?: number | undefined;
}

/** Why a governor operation's input was refused (the entity answers its caller with it). */
export class GovernorInputError extends Error {
  readonly code = 'GovernorInputInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'GovernorInputError';
  }
}

const intervalMs = (b: TokenBucket): number => 1000 / b.perSecond;

/** Earliest time ≥ `t` at which `cost` tokens are in the bucket, given its arrival time. */
function earliest(tat: number, cost: number, bucket: TokenBucket, t: number): number {
  const T = intervalMs(bucket);
  return Math.max(t, tat + (cost - bucket.burst * (1 - HEADROOM)) * T);
}

/** The bucket's arrival time after `cost` tokens were taken at `t`. */
function take(tat: number, cost: number, bucket: TokenBucket, t: number): number {
  return Math.max(tat, t) + cost * intervalMs(bucket);
}

/**
 * Start times for a request's servers, first come first served: each server at the earliest time
 * both buckets hold its tokens (and no hold lasts). The returned state has them taken.
 */
export function reserve(
  state: GovernorState,
  request: ReserveRequest,
  now: number,
  buckets = ARM_SUBSCRIPTION_BUCKETS,
): { state: GovernorState; reservation: Reservation } {
  checkRequest(request);
  const typical = typicalOperationSeconds(state.operationSeconds);
  const reads =
    typical === undefined
      ? (request.untimedReadsPerServer ?? request.readsPerServer)
      : request.readsPerServer;
  let { readsTat, writesTat } = state;
  const slots: number[] = [];
  let t = Math.max(now, state.holdUntil);
  // The last server that took from each bucket while it was full (see the top of this file).
  const lastFull: Partial<Record<BucketName, number>> = {};
  for (let i = 0; i < request.servers; i++) {
    t = Math.max(
      earliest(readsTat, reads, buckets.reads, t),
      earliest(writesTat, request.writesPerServer, buckets.writes, t),
    );
    if (reads > 0 && readsTat <= t) lastFull.reads = i;
    if (request.writesPerServer > 0 && writesTat <= t) lastFull.writes = i;
    readsTat = take(readsTat, reads, buckets.reads, t);
    writesTat = take(writesTat, request.writesPerServer, buckets.writes, t);
    slots.push(Math.ceil(t));
  }
  const reporting = [...new Set(Object.values(lastFull))].sort((a, b) => a - b);
  const awaited: PendingArrival[] = reporting.map((i) => ({
    slot: slots[i] ?? 0,
    buckets: (['reads', 'writes'] as const).filter((b) => lastFull[b] === i),
  }));
  return {
    state: {
      ...state,
      readsTat,
      writesTat,
      reserved: state.reserved + request.servers,
      arrivals: awaitArrivals(state.arrivals, awaited),
    },
    reservation: {
      slots,
      ...(typical !== undefined ? { operationSeconds: typical } : {}),
      ...(reporting.length > 0 ? { reportArrival: reporting } : {}),
    },
  };
}

/**
 * Corrects the model with what ARM said: a 429 holds new starts for its `Retry-After` from when it was
 * seen; a remaining-quota reading below the model's lowers it to the reading. A
 * reading above the model's changes nothing (the model takes reads early on purpose).
 */
export function observe(
  given: GovernorState,
  reading: QuotaReading,
  buckets = ARM_SUBSCRIPTION_BUCKETS,
): GovernorState {
  checkReading(reading);
  let state = given;
  if (reading.operationSeconds !== undefined)
    state = {
      ...state,
      operationSeconds: [...state.operationSeconds, reading.operationSeconds].slice(
        -GOVERNOR_OPERATION_SAMPLES,
      ),
    };
  const { at } = reading;
  if (reading.slot !== undefined) return arrived(state, reading.slot, at);

  const lowered = (tat: number, remaining: number | undefined, bucket: TokenBucket): number => {
    if (remaining === undefined) return tat;
    const T = intervalMs(bucket);
    const tokensThen = Math.min(bucket.burst, bucket.burst - Math.max(0, tat - at) / T);
    return remaining < tokensThen ? at + (bucket.burst - Math.max(0, remaining)) * T : tat;
  };
  if (reading.retryAfterSeconds !== undefined && reading.retryAfterSeconds > 0) {
    // The hold starts when the 429 was seen (the server's own rollover reports it at once); the
    // buckets are left alone: a 429 the model did not predict is rare and ARM's Retry-After says how
    // long it needs, where emptying the model would idle the subscription for the whole burst.
    const hold = at + Math.min(reading.retryAfterSeconds, MAX_GOVERNOR_HOLD_SECONDS) * 1000;
    return { ...state, holdUntil: Math.max(state.holdUntil, hold), throttled: state.throttled + 1 };
  }
  return {
    ...state,
    readsTat: lowered(state.readsTat, reading.reads, buckets.reads),
    writesTat: lowered(state.writesTat, reading.writes, buckets.writes),
  };
}

/**
 * The reports awaited once `awaited` are: a newer one for a bucket replaces an older one (the newer
 * full start bounds what the older one would correct, see the top of this file); the latest
 * `MAX_PENDING_ARRIVALS`.
 */
function awaitArrivals(
  older: readonly PendingArrival[],
  awaited: readonly PendingArrival[],
): PendingArrival[] {
  const renewed = new Set(awaited.flatMap((a) => a.buckets));
  const kept = older
    .map((a) => ({ ...a, buckets: a.buckets.filter((b) => !renewed.has(b)) }))
    .filter((a) => a.buckets.length > 0);
  return [...kept, ...awaited].slice(-MAX_PENDING_ARRIVALS);
}

/**
 * A server handed a start time out of a full bucket reached ARM at `at`: that bucket sat full in ARM
 * until then and lost its refill meanwhile, so the model moves it by the wait (later starts come later
 * by as much), whatever the delay was (the host, the batch's look, its lane). A report no start time
 * awaits (already taken: signals may come twice; replaced or dropped) changes nothing. Where other
 * requests of the subscription reached ARM during the wait (another batch's, while a lane held this
 * server back), ARM's bucket lost less and the model moves further than it: fewer tokens than ARM,
 * which costs throughput, never a 429.
 */
function arrived(state: GovernorState, slot: number, at: number): GovernorState {
  const awaited = state.arrivals.find((a) => a.slot === slot);
  if (awaited === undefined) return state;
  const lag = Math.min(Math.max(0, at - slot), MAX_ARRIVAL_LAG_SECONDS * 1000);
  const moved = (tat: number, which: BucketName): number =>
    awaited.buckets.includes(which) ? tat + lag : tat;
  return {
    ...state,
    readsTat: moved(state.readsTat, 'reads'),
    writesTat: moved(state.writesTat, 'writes'),
    arrivals: state.arrivals.filter((a) => a !== awaited),
    arrivalLagMs: state.arrivalLagMs + lag,
  };
}

/** The state an entity holds, read defensively: a missing or foreign state starts afresh. */
export function governorStateOf(raw: unknown): GovernorState {
  if (typeof raw !== 'object' || raw === null) return NEW_GOVERNOR;
  const s = raw as Record<string, unknown>;
  const num = (k: string): number => {
    const v = s[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : 0;
  };
  return {
    readsTat: num('readsTat'),
    writesTat: num('writesTat'),
    holdUntil: num('holdUntil'),
    reserved: num('reserved'),
    throttled: num('throttled'),
    operationSeconds: Array.isArray(s['operationSeconds'])
      ? s['operationSeconds']
          .filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0)
          .slice(-GOVERNOR_OPERATION_SAMPLES)
      : [],
    arrivals: Array.isArray(s['arrivals'])
      ? s['arrivals']
          .flatMap((v: unknown): PendingArrival[] => {
            if (typeof v !== 'object' || v === null) return [];
            const { slot, buckets } = v as { slot?: unknown; buckets?: unknown };
            if (typeof slot !== 'number' || !Number.isFinite(slot) || !Array.isArray(buckets)) return [];
            return [
              { slot, buckets: buckets.filter((b): b is BucketName => b === 'reads' || b === 'writes') },
            ];
          })
          .slice(-MAX_PENDING_ARRIVALS)
      : [],
    arrivalLagMs: num('arrivalLagMs'),
  };
}

const isCount = (v: unknown, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

function checkRequest(r: ReserveRequest): void {
  if (!isCount(r.servers, MAX_SERVERS_PER_RESERVATION) || r.servers < 1)
    throw new GovernorInputError(`servers must be an integer from 1 to ${MAX_SERVERS_PER_RESERVATION}`);
  const isCost = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 100;
  if (
    !isCost(r.readsPerServer) ||
    !isCost(r.writesPerServer) ||
    (r.untimedReadsPerServer !== undefined && !isCost(r.untimedReadsPerServer))
  )
    throw new GovernorInputError('readsPerServer and writesPerServer must be numbers from 0 to 100');
}

function checkReading(r: QuotaReading): void {
  const optional = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (typeof r.at !== 'number' || !Number.isFinite(r.at))
    throw new GovernorInputError('at must be a time in epoch milliseconds');
  if ([r.reads, r.writes, r.retryAfterSeconds, r.operationSeconds, r.slot].some((v) => !optional(v)))
    throw new GovernorInputError(
      'reads, writes, retryAfterSeconds, operationSeconds and slot must be non-negative numbers when present',
    );
  // An arrival report is one server's, sent alone: anything beside it would be dropped unread.
  if (
    r.slot !== undefined &&
    [r.reads, r.writes, r.retryAfterSeconds, r.operationSeconds].some((v) => v !== undefined)
  )
    throw new GovernorInputError('a reading with slot carries nothing else but at');
}
