import type { Config } from '../config';
import { rotationSettings } from '../config';
import { groupByKey, keyOf, keyRef, tryParseKeyUri } from '../domain/keyId';
import type { KeyInfo, ServerSnapshot } from '../domain/model';
import { rotationOutcomesOf } from '../rotation/outcomes';
import { latestVersion, planRollout } from '../domain/plan';
import { daysLeft, expirySeverity } from '../domain/expiry';
import { failedRunsOf, sweepRetryBackoffHours } from '../rotation/policy';
import { rotationInstanceId } from '../rotation/ids';
import type { InstanceInfo } from '../ports/rotations';
import type { AuditTrail } from '../ports/auditTrail';
import { describeFailure } from '../domain/diagnosis';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import { findAllServersWithCustomerManagedKeys, type ServerFleet } from '../ports/serverFleet';
import type { RotationInstances } from '../ports/rotations';
import { openIncidentsOf, requestAudit, requestRotation } from './rotationRequests';

export interface SweepDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly audit: AuditTrail;
}

export interface SweepResult {
  readonly keysChecked: number;
  /** Keys a rotation was started or signalled for, with why. */
  readonly requested: readonly { readonly key: string; readonly why: string; readonly outcome: string }[];
  /** Vaults or keys the sweep could not read (named, with Azure's code). */
  readonly errors: readonly string[];
  /** Keys whose last run failed for the newest version less than the backoff ago (and nothing changed). */
  readonly deferred?: readonly { readonly key: string; readonly why: string }[];
}

/**
 * The reconcile sweep: events can be lost, arrive before the subscription existed, or never come
 * (Key Vault announces expiry only for a key's newest version). For every key of every allowed vault
 * that servers in scope use, it asks for a rotation when a server is behind the newest version, a
 * version in use expires soon, a key status is not Valid, or the last run left incidents open.
 */
export async function runSweep(
  instances: RotationInstances,
  deps: SweepDeps,
  now: Date,
  /** An operator's sweep (`POST /api/sweep`): who asked and their note, in the SweepCompleted record. */
  requestedBy?: { readonly caller: string; readonly details: Readonly<Record<string, string>> },
): Promise<SweepResult> {
  const { config } = deps;
  const trigger = `sweep:${now.toISOString()}`;
  const errors: string[] = [];
  const requested: { key: string; why: string; outcome: string }[] = [];
  const deferred: { key: string; why: string }[] = [];
  let keysChecked = 0;

  // One discovery for the whole sweep, grouped by key: a query per key would spend Resource Graph's
  // per-principal quota (15 queries per 5 s) on a vault with many keys and throttle the sweep itself.
  let byKey: Map<string, ServerSnapshot[]> | undefined;
  try {
    byKey = groupByKey(await findAllServersWithCustomerManagedKeys(deps.fleet));
  } catch (e) {
    errors.push(`server discovery: ${describeFailure(e)}`);
  }

  // Without the discovery there is nothing to compare the keys with: the sweep reports and stops.
  // Managed HSM publishes no Event Grid events: for HSM keys this sweep is the only trigger.
  for (const { vaultUrl, vaultName } of byKey === undefined ? [] : config.allowedVaults) {
    let names: string[];
    try {
      names = await deps.keys.listKeys(vaultUrl);
    } catch (e) {
      errors.push(`${vaultName}: ${describeFailure(e)}`);
      continue;
    }
    for (const keyName of names) {
      keysChecked++;
      try {
        const key = await deps.keys.readKey(vaultUrl, keyName);
        const latest = latestVersion(key);
        if (latest === undefined) continue;
        const servers = byKey?.get(keyOf(vaultUrl, keyName)) ?? [];
        if (servers.length === 0) continue;
        const why = reasonsToRotate(config, key, servers, now);
        const previous = await instances.status(rotationInstanceId(vaultUrl, keyName));
        if (openIncidentsOf(previous).length > 0) why.push('open incidents to re-check');
        if (why.length === 0) continue;
        const hold = backoff(previous, latest.version, servers, key, config, now);
        if (hold !== undefined) {
          deferred.push({ key: `${vaultName}/${keyName}`, why: hold });
          continue;
        }
        const request = {
          vaultUrl: keyRef(vaultUrl, keyName).vaultUrl,
          vaultName,
          keyName,
          trigger,
          reason: 'Sweep' as const,
          version: latest.version,
        };
        const outcome = await requestRotation(instances, request, rotationSettings(config));
        await deps.audit.record([{ ...requestAudit(request, outcome), reason: `sweep: ${why.join('; ')}` }]);
        requested.push({ key: `${vaultName}/${keyName}`, why: why.join('; '), outcome: outcome.kind });
      } catch (e) {
        errors.push(`${vaultName}/${keyName}: ${describeFailure(e)}`);
      }
    }
  }
  await deps.audit.record([
    {
      step: 'SweepCompleted',
      correlationId: trigger,
      trigger,
      outcome: errors.length === 0 ? 'success' : 'failure',
      ...(requestedBy !== undefined
        ? { details: { requestedBy: `operator:${requestedBy.caller}`, ...requestedBy.details } }
        : {}),
      reason: `${keysChecked} key(s) checked, ${requested.length} rotation(s) requested${deferred.length > 0 ? `, ${deferred.length} held back (${deferred.map((d) => `${d.key}: ${d.why}`).join('; ')})` : ''}${errors.length > 0 ? `, unreadable: ${errors.join(', ')}` : ''}`,
    },
  ]);
  return { keysChecked, requested, errors, ...(deferred.length > 0 ? { deferred } : {}) };
}

function reasonsToRotate(
  config: Config,
  key: KeyInfo,
  servers: readonly ServerSnapshot[],
  now: Date,
): string[] {
  const latest = latestVersion(key);
  if (latest === undefined) return [];
  const why: string[] = [];
  const plan = planRollout({
    key,
    targetVersion: latest.version,
    servers,
    optOutTag: config.optOutTag,
    holdTag: config.holdTag,
  });
  const behind = plan.servers.filter((s) =>
    s.slots.some((x) => x.decision === 'update' || x.decision === 'deferred'),
  );
  if (behind.length > 0) why.push(`${behind.length} server(s) behind version ${latest.version}`);
  const inUse = new Set(
    plan.servers.flatMap((s) =>
      s.slots.map((x) => tryParseKeyUri(x.currentUri)?.version ?? latest.version.toLowerCase()),
    ),
  );
  for (const v of key.versions) {
    if (!inUse.has(v.version.toLowerCase())) continue;
    const days = daysLeft(v.expiresOn, now.toISOString());
    if (expirySeverity(days, config.nearExpiry) !== undefined)
      why.push(`version ${v.version} in use expires in ${days ?? '?'} day(s)`);
  }
  const unhealthy = servers.filter((s) => {
    const de = s.dataEncryption;
    const geoUsed = de?.geoBackupKeyURI !== undefined && de.geoBackupKeyURI !== '';
    return (
      s.state === 'Inaccessible' ||
      de?.primaryEncryptionKeyStatus === 'Invalid' ||
      (geoUsed && de.geoBackupEncryptionKeyStatus === 'Invalid')
    );
  });
  if (unhealthy.length > 0)
    why.push(`${unhealthy.length} server(s) with an Invalid key status or Inaccessible`);
  return why;
}

/**
 * The sweep's retry backoff: when the key's last run already handled its newest version and ended with
 * failures less than `sweepRetryBackoffHours(runs failed in a row)` ago (1, 2, 4 … 24 h), a failed server is not PATCHed (and paged) again
 * every sweep. Changes cut the wait short: a server the last run found Inaccessible is Ready again, or
 * a version in use nears expiry. Returns why the key is held back, or undefined to go ahead.
 */
function backoff(
  previous: InstanceInfo | undefined,
  latestVersion: string,
  servers: readonly ServerSnapshot[],
  key: KeyInfo,
  config: Config,
  now: Date,
): string | undefined {
  const raw = previous?.output;
  if (previous?.runtimeStatus !== 'Completed' || typeof raw !== 'object' || raw === null) return undefined;
  const out = raw as { status?: unknown; targetVersion?: unknown; completedAt?: unknown };
  if (out.status !== 'completedWithFailures' || typeof out.targetVersion !== 'string') return undefined;
  if (out.targetVersion.toLowerCase() !== latestVersion.toLowerCase()) return undefined;
  const at = typeof out.completedAt === 'string' ? Date.parse(out.completedAt) : NaN;
  if (Number.isNaN(at)) return undefined;
  // Exponential in the runs that failed in a row for this version (an output without the count: 1).
  const runs = failedRunsOf(raw);
  const count =
    runs !== undefined && runs.version.toLowerCase() === latestVersion.toLowerCase() ? runs.count : 1;
  const until = at + sweepRetryBackoffHours(count) * 3_600_000;
  if (now.getTime() >= until) return undefined;
  // Inaccessible servers failed: listed by name in either output format.
  const wasInaccessible = new Set(
    rotationOutcomesOf(raw)
      .servers.filter((s) => s.reasonCode === 'ServerInaccessible')
      .map((s) => s.serverId.toLowerCase()),
  );
  if (servers.some((s) => wasInaccessible.has(s.id.toLowerCase()) && s.state === 'Ready')) return undefined;
  const inUse = new Set(
    servers
      .flatMap((s) => [s.dataEncryption?.primaryKeyURI, s.dataEncryption?.geoBackupKeyURI])
      .map((u) => tryParseKeyUri(u)?.version)
      .filter((v): v is string => v !== undefined),
  );
  const expiring = key.versions.some(
    (v) =>
      inUse.has(v.version.toLowerCase()) &&
      expirySeverity(daysLeft(v.expiresOn, now.toISOString()), config.nearExpiry) === 'critical',
  );
  if (expiring) return undefined;
  return `the last run for ${latestVersion} ended with failures at ${new Date(at).toISOString()} (${count} such run(s) in a row); retried after ${new Date(until).toISOString()} (or sooner on an operator request or a change)`;
}
