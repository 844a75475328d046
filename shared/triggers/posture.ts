import type { Config } from '../config';
import type { AuditRecord } from '../domain/audit';
import { tryParseKeyUri } from '../domain/keyId';
import type { KeyInfo, ServerSnapshot } from '../domain/model';
import type {
  PostureReport,
  RoleAssignmentInfo,
  RotationPolicySummary,
  VaultProperties,
} from '../domain/posture';
import { buildPosture } from '../domain/postureRules';
import { reachabilityFromCall, type AppReachability } from '../domain/vaultReachability';
import { rotationInstanceId } from '../rotation/ids';
import type { AuditTrail } from '../ports/auditTrail';
import { describeFailure } from '../domain/diagnosis';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationInstances } from '../ports/rotations';
import {
  discoverServersWithCustomerManagedKeys,
  type InvalidServerRow,
  type ServerFleet,
} from '../ports/serverFleet';
import type { KeyRotationPolicies, KeyVaultManagement, RoleAssignments } from '../ports/vaultPosture';
import { runSweep, type SweepDeps, type SweepResult } from './sweep';

export interface PostureDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly vaults: KeyVaultManagement;
  readonly roleAssignments: RoleAssignments;
  readonly rotationPolicies: KeyRotationPolicies;
}

/**
 * Reads the fleet's posture: every key of every allowed vault that servers in scope use, those servers,
 * the vaults' properties and role assignments, and each key's last rotation (its durable instance's
 * output — the in-app source; the full history is in the audit trail). Nothing is written. What cannot
 * be read is named in `errors` and makes the affected checks `unknown`, never `ok`.
 */
export async function readPosture(
  instances: Pick<RotationInstances, 'status'>,
  deps: PostureDeps,
  now: Date,
): Promise<PostureReport> {
  const { config } = deps;
  const errors: string[] = [];
  const keys = new Map<string, KeyInfo>();
  const incompleteKeys = new Set<string>();
  const rotationPolicies = new Map<string, RotationPolicySummary>();
  const lastRotations = new Map<string, { instanceId: string; output: unknown; runtimeStatus: string }>();
  const servers = new Map<string, ServerSnapshot>();
  const keyIdOf = (vault: string, key: string): string => `${vault}/${key}`.toLowerCase();

  // One discovery for the whole report (as the sweep does: Resource Graph's quota is per principal).
  let found: { servers: ServerSnapshot[]; invalid: InvalidServerRow[] } = { servers: [], invalid: [] };
  let discovered = true;
  try {
    found = await discoverServersWithCustomerManagedKeys(deps.fleet);
  } catch (e) {
    discovered = false;
    errors.push(`server discovery: ${describeFailure(e)}`);
  }
  for (const row of found.invalid)
    errors.push(`unreadable server row ${row.id ?? row.name ?? '?'} (${row.reason})`);
  const byKey = new Map<string, number>();
  for (const s of found.servers) {
    servers.set(s.id.toLowerCase(), s);
    for (const uri of [s.dataEncryption?.primaryKeyURI, s.dataEncryption?.geoBackupKeyURI]) {
      const ref = tryParseKeyUri(uri);
      if (ref !== undefined)
        byKey.set(keyIdOf(ref.vaultName, ref.name), (byKey.get(keyIdOf(ref.vaultName, ref.name)) ?? 0) + 1);
    }
  }

  // What the app met on each vault's data plane: the truth about its network path (a vault that refuses
  // it answers ForbiddenByConnection or ForbiddenByFirewall; ARM's vault properties cannot show the app's
  // private path).
  const appReachability = new Map<string, AppReachability>();
  for (const { vaultUrl, vaultName } of discovered ? config.allowedVaults : []) {
    let names: string[];
    try {
      names = await deps.keys.listKeys(vaultUrl);
      appReachability.set(vaultName.toLowerCase(), reachabilityFromCall(undefined));
    } catch (e) {
      appReachability.set(vaultName.toLowerCase(), reachabilityFromCall(describeFailure(e)));
      errors.push(`${vaultName}: keys not listed (${describeFailure(e)})`);
      continue;
    }
    for (const keyName of names) {
      const id = keyIdOf(vaultName, keyName);
      // An unreadable row may pin any version of any key: no key is complete then.
      if (found.invalid.length > 0) incompleteKeys.add(id);
      if ((byKey.get(id) ?? 0) === 0) continue;
      try {
        keys.set(id, await deps.keys.readKey(vaultUrl, keyName));
      } catch (e) {
        errors.push(`${vaultName}/${keyName}: ${describeFailure(e)}`);
        continue;
      }
      try {
        rotationPolicies.set(id, await deps.rotationPolicies.readRotationPolicy(vaultUrl, keyName));
      } catch (e) {
        errors.push(`${vaultName}/${keyName}: rotation policy not read (${describeFailure(e)})`);
      }
      const instanceId = rotationInstanceId(vaultUrl, keyName);
      try {
        const info = await instances.status(instanceId);
        if (info !== undefined)
          lastRotations.set(id, { instanceId, output: info.output, runtimeStatus: info.runtimeStatus });
      } catch (e) {
        errors.push(`${instanceId}: status not read (${describeFailure(e)})`);
      }
    }
  }

  // Vault checks run on Key Vaults (Microsoft.KeyVault/vaults); a Managed HSM is another resource type.
  const usedVaults = new Set<string>();
  const hsms = new Set<string>();
  for (const v of config.allowedVaults) (v.kind === 'managedHsm' ? hsms : usedVaults).add(v.vaultName);
  for (const s of servers.values())
    for (const uri of [s.dataEncryption?.primaryKeyURI, s.dataEncryption?.geoBackupKeyURI]) {
      const ref = tryParseKeyUri(uri);
      if (ref !== undefined) (ref.kind === 'managedHsm' ? hsms : usedVaults).add(ref.vaultName);
    }
  for (const h of hsms) errors.push(`${h}: Managed HSM, vault checks not run (only Key Vaults are read)`);
  const vaults = new Map<string, VaultProperties>();
  // Why a vault in use has no properties: its checks are reported as not evaluated, with this reason.
  const vaultReadErrors = new Map<string, string>();
  try {
    const listing = await deps.vaults.listVaults(usedVaults);
    for (const v of listing.vaults)
      if (usedVaults.has(v.name.toLowerCase())) vaults.set(v.name.toLowerCase(), v);
    for (const f of listing.unreadable) {
      const name = f.vaultName.toLowerCase();
      if (!usedVaults.has(name) || vaults.has(name)) continue;
      vaultReadErrors.set(name, `its properties could not be read (${f.code})`);
      errors.push(`${name}: vault properties not read (${f.code})`);
    }
    for (const name of usedVaults)
      if (!vaults.has(name) && !vaultReadErrors.has(name)) {
        // ARM's resource list shows only what the caller may read: absent, or no read granted on it.
        vaultReadErrors.set(
          name,
          'not listed in the subscriptions in scope (it is elsewhere, or the app may not read it: Microsoft.KeyVault/vaults/read at the vault)',
        );
        errors.push(`${name}: vault properties not found in the subscriptions in scope`);
      }
  } catch (e) {
    errors.push(`vault properties not read (${describeFailure(e)})`);
    for (const name of usedVaults)
      vaultReadErrors.set(name, `the vaults could not be listed (${describeFailure(e)})`);
  }
  const assignments = new Map<string, readonly RoleAssignmentInfo[]>();
  for (const [name, v] of vaults) {
    if (v.enableRbacAuthorization !== true) continue;
    try {
      assignments.set(name, await deps.roleAssignments.listAtScope(v.id));
    } catch (e) {
      errors.push(`${name}: role assignments not read (${describeFailure(e)})`);
    }
  }

  return buildPosture({
    now,
    nearExpiry: config.nearExpiry,
    canaryTag: config.canaryTag,
    optOutTag: config.optOutTag,
    keys,
    incompleteKeys,
    rotationPolicies,
    servers: [...servers.values()],
    vaults,
    vaultReadErrors,
    assignments,
    lastRotations,
    errors,
    appReachability,
  });
}

/** At most this many `PostureSnapshot` records per sweep; the rest are counted in one truncation record. */
export const POSTURE_SNAPSHOT_LIMIT = 500;

/**
 * The audit records a sweep writes for the posture: one `PostureSnapshot` per server (risk, reasons,
 * each slot's version, expiry and days left), most at risk first, bounded by `limit`; when servers are
 * left out, one more record (no server) says how many. Identifiers and dates only.
 */
export function postureSnapshotRecords(
  report: PostureReport,
  trigger: string,
  limit = POSTURE_SNAPSHOT_LIMIT,
): AuditRecord[] {
  const kept = report.servers.slice(0, limit);
  const records: AuditRecord[] = kept.map((s) => {
    const details: Record<string, string> = {
      risk: s.risk,
      ring: s.ring,
      state: s.state ?? '',
      reasons: s.reasons.join('; ').slice(0, 1000),
    };
    if (s.replicationRole !== undefined) details['replicationRole'] = s.replicationRole;
    for (const slot of s.slots) {
      details[`${slot.slot}.vault`] = slot.vaultName ?? '';
      details[`${slot.slot}.key`] = slot.keyName ?? '';
      details[`${slot.slot}.version`] = slot.pinnedVersion ?? 'versionless';
      details[`${slot.slot}.effectiveVersion`] = slot.effectiveVersion ?? '';
      details[`${slot.slot}.expiresOn`] = slot.expiresOn ?? '';
      details[`${slot.slot}.daysLeft`] = slot.daysLeft === undefined ? '' : String(slot.daysLeft);
      details[`${slot.slot}.keyStatus`] = slot.keyStatus ?? '';
      details[`${slot.slot}.access`] =
        slot.access.cannotVerifyGroups !== undefined
          ? 'cannotVerify'
          : slot.access.granted === undefined
            ? 'unknown'
            : slot.access.granted
              ? 'granted'
              : 'denied';
      if (slot.access.cannotVerifyGroups !== undefined)
        details[`${slot.slot}.accessGroups`] = slot.access.cannotVerifyGroups.join(',');
    }
    const primary = s.slots.find((x) => x.slot === 'primary') ?? s.slots[0];
    return {
      step: 'PostureSnapshot',
      correlationId: trigger,
      trigger,
      outcome: 'info',
      serverId: s.serverId,
      subscriptionId: s.subscriptionId,
      ...(primary?.vaultName !== undefined ? { vault: primary.vaultName } : {}),
      ...(primary?.keyName !== undefined ? { key: primary.keyName } : {}),
      reasonCode: s.risk,
      details,
    };
  });
  const truncated = report.servers.length - kept.length;
  if (truncated > 0)
    records.push({
      step: 'PostureSnapshot',
      correlationId: trigger,
      trigger,
      outcome: 'info',
      reasonCode: 'truncated',
      reason: `${truncated} server(s) not recorded (limit ${limit} per sweep; the least at risk are left out)`,
      details: { truncated: String(truncated), servers: String(report.servers.length) },
    });
  return records;
}

/** Reads the posture and records the snapshot in the audit trail, for a sweep at `now`. */
export async function recordPostureSnapshot(
  instances: Pick<RotationInstances, 'status'>,
  deps: PostureDeps & { readonly audit: AuditTrail },
  now: Date,
): Promise<PostureReport> {
  const report = await readPosture(instances, deps, now);
  await deps.audit.record(postureSnapshotRecords(report, `sweep:${now.toISOString()}`));
  return report;
}

/**
 * The reconcile sweep followed by the posture snapshot the workbook charts — what the timer and
 * `POST /api/sweep` both run. The snapshot comes after the sweep's own work, so a posture read failing
 * never holds a rotation back; its failure is reported, not thrown.
 */
export async function sweepWithPostureSnapshot(
  instances: RotationInstances,
  deps: SweepDeps & PostureDeps & { readonly audit: AuditTrail },
  now: Date,
  requestedBy?: Parameters<typeof runSweep>[3],
): Promise<{
  readonly sweep: SweepResult;
  readonly posture: PostureReport['summary'] | { readonly error: string };
}> {
  const sweep = await runSweep(instances, deps, now, requestedBy);
  try {
    const report = await recordPostureSnapshot(instances, deps, now);
    return { sweep, posture: report.summary };
  } catch (e) {
    return { sweep, posture: { error: describeFailure(e) } };
  }
}
