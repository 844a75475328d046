import { daysLeft } from '../domain/expiry';
import type { KeyInfo } from '../domain/model';
import type { FailedRuns, KeyEventSignal, RotationInput, RotationStatus } from './contract';

/** How a rotation waits, retries and decides when to act again: backoffs, auto-rotation, signals. */

/**
 * A key whose runs keep ending with failures for its newest version is retried by the sweep after an
 * exponential backoff from the last run: 1 h after the first failed run, then 2, 4, 8, 16 h, capped at
 * this many hours (sooner by an operator request or a change: a new version, a server that became
 * Ready again, a version in use about to expire).
 */
export const SWEEP_RETRY_BACKOFF_HOURS = 24;
export const SWEEP_RETRY_FIRST_BACKOFF_HOURS = 1;

/** Hours the sweep waits after the `count`-th consecutive failed run for a version. */
export function sweepRetryBackoffHours(count: number): number {
  const n = Number.isFinite(count) ? Math.max(1, Math.floor(count)) : 1;
  return exponentialBackoff(SWEEP_RETRY_FIRST_BACKOFF_HOURS, SWEEP_RETRY_BACKOFF_HOURS, n);
}

/**
 * The failed-run count a finishing run reports: one more than the previous run's when it failed for
 * the same version again, 1 for a first failure (or another version), none when the run did not end
 * `completedWithFailures`.
 */
export function nextFailedRuns(
  previous: FailedRuns | undefined,
  status: RotationStatus,
  targetVersion: string | undefined,
): FailedRuns | undefined {
  if (status !== 'completedWithFailures' || targetVersion === undefined) return undefined;
  const same = previous !== undefined && previous.version.toLowerCase() === targetVersion.toLowerCase();
  return { version: targetVersion, count: same ? previous.count + 1 : 1 };
}

/** The failed-run count in a previous run's output (unchecked JSON), if well formed. */
export function failedRunsOf(output: unknown): FailedRuns | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const f = (output as { failedRuns?: unknown }).failedRuns;
  if (typeof f !== 'object' || f === null) return undefined;
  const { version, count } = f as { version?: unknown; count?: unknown };
  return typeof version === 'string' && typeof count === 'number' && Number.isInteger(count) && count >= 1
    ? { version, count }
    : undefined;
}

/**
 * How a step is retried when it fails with a retryable error (throttled, busy, 5xx, timeout): at most
 * `maxAttempts` tries, waiting on durable timers from `firstDelaySeconds`, doubling, capped at
 * `maxDelaySeconds` (Azure's Retry-After wins when it sent one). Permanent errors are never retried.
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly firstDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

export const RETRY_POLICIES = {
  /**
   * Reads (Key Vault, ARM, Resource Graph) and records (audit, pages): 8 tries over about 6.5 minutes
   * (5+10+20+40+80+120+120 s), long enough to ride out a short regional blip, bounded so a real
   * outage is paged instead of waited on for hours.
   */
  read: { maxAttempts: 8, firstDelaySeconds: 5, maxDelaySeconds: 120 },
  /** Writes retry in the orchestrator itself, each attempt re-reading the server first. */
  once: { maxAttempts: 1, firstDelaySeconds: 0, maxDelaySeconds: 0 },
} as const satisfies Record<string, RetryPolicy>;

/**
 * The one backoff formula of the rotation: `first` after the first attempt, doubling, capped at `max`
 * (any unit: seconds for steps and writes, hours for the sweep's retries). `attempt` counts from 1.
 */
export function exponentialBackoff(first: number, max: number, attempt: number): number {
  return Math.min(first * 2 ** (attempt - 1), max);
}

/** The longest wait a Retry-After gets: a longer one is capped at an hour. */
const MAX_RETRY_AFTER_SECONDS = 3600;

/** Seconds to wait before attempt `attempt + 1`: Azure's Retry-After when it sent one, else the backoff. */
export function backoffSeconds(
  policy: Pick<RetryPolicy, 'firstDelaySeconds' | 'maxDelaySeconds'>,
  attempt: number,
  retryAfterSeconds?: number,
): number {
  if (retryAfterSeconds !== undefined && retryAfterSeconds > 0)
    return Math.min(retryAfterSeconds, MAX_RETRY_AFTER_SECONDS);
  return exponentialBackoff(policy.firstDelaySeconds, policy.maxDelaySeconds, attempt);
}

/**
 * A write's own retries (`serverRollover`, up to `maxWriteAttempts`, each re-reading the server first):
 * 5 s, doubling, capped at 5 minutes.
 */
export const WRITE_BACKOFF = { firstDelaySeconds: 5, maxDelaySeconds: 300 } as const;

/** Delay before the next attempt of a write: Azure's Retry-After when it sent one, else exponential backoff. */
export function retryDelaySeconds(attempt: number, retryAfterSeconds: number | undefined): number {
  return backoffSeconds(WRITE_BACKOFF, attempt, retryAfterSeconds);
}

/**
 * May this run rotate the key in Key Vault because its newest version nears expiry? At most one
 * automatic rotation per expiring version:
 * - never again from the version this chain of runs already rotated away from (`autoRotatedFrom`);
 * - never a version that was already inside the warning window when it was created: a rotation
 *   policy whose expiry is shorter than the window (P28D with 30 days) would otherwise rotate every
 *   new version again at once, forever. Such a key is paged instead (its policy needs fixing).
 * (The activity also rotates only while `fromVersion` is still the newest: no second rotation after
 * a lost answer.)
 */
export function autoRotateDecision(
  latest: { readonly version: string; readonly createdOn: string; readonly expiresOn?: string | undefined },
  input: Pick<RotationInput, 'autoRotatedFrom' | 'settings'>,
): { rotate: true } | { rotate: false; reason: 'off' | 'alreadyRotatedFromIt' | 'bornInsideWarningWindow' } {
  if (!input.settings.autoRotateOnNearExpiry) return { rotate: false, reason: 'off' };
  if (input.autoRotatedFrom?.toLowerCase() === latest.version.toLowerCase())
    return { rotate: false, reason: 'alreadyRotatedFromIt' };
  const lifetime = daysLeft(latest.expiresOn, latest.createdOn);
  if (lifetime !== undefined && lifetime <= input.settings.nearExpiry.warningDays)
    return { rotate: false, reason: 'bornInsideWarningWindow' };
  return { rotate: true };
}

/**
 * Must a finishing run act on this signal (continue as new), or did it already cover it? An operator
 * request is honoured after the run (it asked for a run, whatever this one found). A key event counts
 * when it names a version newer than the one this run handled, or one the run's last read of the key
 * did not list (created after it). A sweep's request is covered by the run that is finishing.
 */
export function signalNeedsRun(
  signal: KeyEventSignal,
  handledVersion: string | undefined,
  key: KeyInfo,
): boolean {
  if (signal.reason === 'Operator') return true;
  if (signal.version === undefined) return false;
  const wanted = signal.version.toLowerCase();
  if (handledVersion !== undefined && wanted === handledVersion.toLowerCase()) return false;
  const named = key.versions.find((v) => v.version.toLowerCase() === wanted);
  if (named === undefined) return true;
  const handled = key.versions.find((v) => v.version.toLowerCase() === handledVersion?.toLowerCase());
  return handled === undefined || Date.parse(named.createdOn) > Date.parse(handled.createdOn);
}
