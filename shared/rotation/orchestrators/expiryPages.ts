import type { Task } from 'durable-functions';
import { daysLeft, expirySeverity } from '../../domain/expiry';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import type { PlanRolloutOutput, PlannedServer } from '../activityIo';
import { expiryIncident } from '../incidentText';
import type { Rolled } from './rollout';
import { page, pageSource, record, type Run } from './run';

// 6. Servers left on an older pinned version that expires soon (excluded, failed, held back).

export function* pageServersLeftOnExpiringVersions(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
  rolled: Rolled,
): Generator<Task, void, unknown> {
  // Left on their version: every planned server the rollout did not prove updated or verified.
  const left = plan.servers.filter((s) => !rolled.succeeded.has(s.serverId.toLowerCase()));
  for (const v of key.versions) {
    if (v.version.toLowerCase() === latest.version.toLowerCase()) continue;
    const days = daysLeft(v.expiresOn, run.now);
    const severity = expirySeverity(days, run.input.settings.nearExpiry);
    const onIt = left.filter((s) => s.slots.some((slot) => slot.version === v.version.toLowerCase()));
    if (severity === undefined || onIt.length === 0) continue;
    yield* pageExpiry(run, key, v, days, severity, onIt, false);
  }
}

/**
 * Pages the expiry of a version its servers are on (`newest`: the version the rollout targets; else
 * an older one servers were left on) and records it as KeyExpired or NearExpiryNotified.
 */
export function* pageExpiry(
  run: Run,
  key: KeyInfo,
  version: KeyVersionInfo,
  days: number | undefined,
  severity: 'critical' | 'warning',
  servers: readonly PlannedServer[],
  newest: boolean,
): Generator<Task, void, unknown> {
  const expired = days !== undefined && days < 0;
  yield* page(
    run,
    expiryIncident(pageSource(run), key, version, days, severity, servers, newest),
    'expiry',
    record(run, {
      step: expired ? 'KeyExpired' : 'NearExpiryNotified',
      outcome: 'failure',
      fromVersion: version.version,
      reasonCode: expired ? 'KeyExpired' : 'KeyNearExpiry',
      reason: `${servers.length} server(s) ${newest ? '' : 'still '}on a version that expires ${version.expiresOn ?? ''}`,
    }),
    { version: version.version },
  );
}
