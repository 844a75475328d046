/**
 * How many servers a rollout keeps in flight per subscription: governed by what ARM says is left of
 * its request quota, bounded by the operator's `CMK_MAX_PARALLEL_UPDATES`. Pure, so the orchestrator
 * replays it deterministically from the readings its children brought back.
 *
 * ARM throttles per subscription and principal with token buckets (Microsoft Learn, "Understand how
 * Azure Resource Manager throttles requests": reads 250 burst + 25/s, writes 200 burst + 10/s) and
 * tells the caller what is left: `x-ms-ratelimit-remaining-subscription-reads` on read operations,
 * `x-ms-ratelimit-remaining-subscription-writes` on write operations (a service that overrides the
 * defaults sends `x-ms-ratelimit-remaining-subscription-resource-requests` instead). Past the limit it
 * answers 429 with `Retry-After`.
 */

/** What ARM's answers said about one subscription's remaining quota, as an activity saw it last. */
export interface ArmQuota {
  /** `x-ms-ratelimit-remaining-subscription-reads` (or `-resource-requests`) of the latest read. */
  readonly reads?: number | undefined;
  /** `x-ms-ratelimit-remaining-subscription-writes` (or `-resource-requests`) of the latest write. */
  readonly writes?: number | undefined;
  /** Set when ARM answered 429 during the step: its `Retry-After` in seconds. */
  readonly retryAfterSeconds?: number | undefined;
}

/**
 * ARM requests one server costs on the happy path: reads (prepare GET, and one GET of the server once
 * its operation typically ended, which is both the look at the operation and the verification; ARM's
 * operation status is read only for a server that ended off the target) and writes (the PATCH). A
 * server in flight has already spent its PATCH and first read; it still needs about
 * `READS_LEFT_IN_FLIGHT` reads. At two reads per server the read bucket (250 + 25/s) no longer bounds
 * a large rollout: 1,000 servers of one subscription are 2,000 reads, (2,000 − 250) / 25 = 70 s, under
 * the writes' (1,000 − 200) / 10 = 80 s (from 500 servers per subscription on the writes bound it).
 */
export const ARM_REQUESTS_PER_SERVER = { reads: 2, writes: 1 } as const;
const READS_LEFT_IN_FLIGHT = ARM_REQUESTS_PER_SERVER.reads - 1;

/** Servers a batch sends at once before any reading came back: what a full bucket takes without a 429. */
export const INITIAL_WINDOW = 50;

/** Servers per rollout batch (one sub-orchestration): bounds each history, keeps replay cost per server flat. */
export const ROLLOUT_BATCH_SIZE = 100;

/**
 * Batches of one subscription running at once: a batch finishing its last slow server never idles the
 * subscription. Three, not two: governed, each batch reserves its start times when it starts, and a
 * batch starts only once the rotation saw an earlier one end (at its next look). With two, the
 * subscription's reserved start times ran out about every 100 servers before the next batch asked for
 * more: 10,000 servers in 10 subscriptions had gaps of 7–13 s in every subscription's schedule and
 * the last start 104 s after the event (92 s with three, the writes' bound after the canaries; both
 * while the rotation looked every fifth poll interval). Not four: measured when each batch got an
 * even share of `CMK_MAX_PARALLEL_UPDATES` (../orchestrators/batches.ts; now only where a batch runs
 * without a lane), a quarter of the default 100 held back the writes' burst (1,000 servers:
 * 27.2–30.1 s against 25.7–26.0 s); not measured again with the lane.
 */
export const BATCHES_PER_SUBSCRIPTION = 3;

/** Longest pause a 429's `Retry-After` imposes on new starts (ARM sends seconds, not minutes). */
const MAX_HOLD_SECONDS = 300;

export interface Window {
  /** Servers allowed in flight now. */
  readonly size: number;
  /** No new server starts before this time (ms since epoch): ARM asked to wait (429 Retry-After). */
  readonly holdUntil: number;
}

export function initialWindow(cap: number): Window {
  return { size: Math.max(1, Math.min(cap, INITIAL_WINDOW)), holdUntil: 0 };
}

/**
 * The window after a server finished (`inFlight` no longer counts it), from the quota reading it
 * brought back:
 * - throttled (429): halve the window and start nothing before `Retry-After` has passed;
 * - a reading: as many as the quota left allows — every new server needs one write and two reads,
 *   every server still in flight about one more read — never more than `cap`, never below one;
 * - no reading: unchanged;
 * - while a 429's hold lasts, readings may shrink the window but never grow it back.
 */
export function nextWindow(
  current: Window,
  inFlight: number,
  quota: ArmQuota | undefined,
  cap: number,
  now: number,
): Window {
  const clamp = (n: number) => Math.max(1, Math.min(cap, Math.floor(n)));
  if (quota === undefined) return { size: clamp(current.size), holdUntil: current.holdUntil };
  if (quota.retryAfterSeconds !== undefined && quota.retryAfterSeconds > 0) {
    const hold = now + Math.min(quota.retryAfterSeconds, MAX_HOLD_SECONDS) * 1000;
    return { size: clamp(current.size / 2), holdUntil: Math.max(current.holdUntil, hold) };
  }
  const byWrites = quota.writes ?? Number.POSITIVE_INFINITY;
  const byReads =
    quota.reads === undefined
      ? Number.POSITIVE_INFINITY
      : (quota.reads - READS_LEFT_IN_FLIGHT * inFlight) / ARM_REQUESTS_PER_SERVER.reads;
  const headroom = Math.min(byWrites, byReads);
  if (!Number.isFinite(headroom)) return { size: clamp(current.size), holdUntil: current.holdUntil };
  const size = clamp(inFlight + Math.max(0, headroom));
  return {
    size: now < current.holdUntil ? Math.min(size, current.size) : size,
    holdUntil: current.holdUntil,
  };
}

/** The latest of two readings of one subscription (the later step's values win where it has them). */
export function mergeQuota(earlier: ArmQuota | undefined, later: ArmQuota | undefined): ArmQuota | undefined {
  if (later === undefined) return earlier;
  if (earlier === undefined) return later;
  return {
    reads: later.reads ?? earlier.reads,
    writes: later.writes ?? earlier.writes,
    retryAfterSeconds: later.retryAfterSeconds ?? earlier.retryAfterSeconds,
  };
}

/** Operation durations a batch keeps (the most recent ones) to pace its servers' first polls. */
export const OPERATION_SAMPLES = 25;

/** Longest wait before a server's first poll, whatever the durations said (ARM operations of a PATCH take minutes, not hours). */
export const MAX_FIRST_POLL_SECONDS = 300;

/** `samples` with `seconds` appended, the oldest dropped beyond `OPERATION_SAMPLES`. */
export function addOperationSample(samples: readonly number[], seconds: number | undefined): number[] {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return [...samples];
  return [...samples, seconds].slice(-OPERATION_SAMPLES);
}

/** The median of the durations ARM reported for the operations that finished last; undefined without any. */
export function typicalOperationSeconds(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return median;
}

/**
 * How long a server's rollover waits after ARM accepted its PATCH before its first look at the
 * server: the typical duration of the operations that finished last, at least one poll interval,
 * at most `MAX_FIRST_POLL_SECONDS`. Every look at a server still Updating is a read that spends the
 * subscription's read quota (250 + 25/s): looking first when the operation is likely done leaves one
 * read per server that is also its verification. The durations are ARM's own where the rollover read
 * the operation, else as the rollover saw them (`DONE_AT_FIRST_LOOK_SHARE`, rolloverVerify.ts). Later looks follow the poll interval, so an operation slower than the typical one
 * costs one interval more at most. The wait starts once the PATCH's answer is in, after ARM started
 * the operation, so it needs no margin; tenths of a second are as fine as it gets.
 */
export function firstPollSeconds(typical: number | undefined, pollIntervalSeconds: number): number {
  const floor = Math.max(1, pollIntervalSeconds);
  if (typical === undefined || !Number.isFinite(typical)) return floor;
  return Math.min(MAX_FIRST_POLL_SECONDS, Math.max(floor, Math.ceil(typical * 10) / 10));
}
