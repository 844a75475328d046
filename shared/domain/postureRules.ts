/**
 * The pure posture rules: from what was read (keys, servers, vault properties, role assignments, the
 * last rotations) to the `PostureReport` of ./posture.ts. No I/O; `now` is an argument. The checks live
 * by concern: keys and versions (postureKeys.ts), the vault (postureVault.ts), identity and access
 * (postureIdentity.ts), the server's own state (postureServers.ts), risk ranking (postureRisk.ts); this
 * file puts them together into the report.
 */
import { tryParseKeyUri } from './keyId';
import { APP_REACHABILITY_CHECK, appReachabilityCheck, type AppReachability } from './vaultReachability';
import type { KeyInfo, ServerSnapshot } from './model';
import { SLOTS } from './model';
import { latestVersion } from './plan';
import {
  POSTURE_SCHEMA_VERSION,
  VERSIONLESS_PICKUP_HOURS,
  type IdentityAccess,
  type KeyPosture,
  type PostureReport,
  type Risk,
  type RoleAssignmentInfo,
  type RotationPolicySummary,
  type ServerPosture,
  type SlotPosture,
  type VaultPosture,
  type VaultProperties,
} from './posture';
import { identityAccess, principalOf } from './postureIdentity';
import { keyPosture, type KeyUse } from './postureKeys';
import { RANK, worst } from './postureRisk';
import { resourceNameOf as nameOf } from './resourceId';
import { lastRotationFor, rolloutPlaceOf } from './postureServers';
import { VAULT_CHECKS, vaultChecks, vaultRisk, type VaultUser } from './postureVault';
import { daysLeft, expirySeverity } from './expiry';

/** What the report is built from (read by shared/triggers/posture.ts). */
export interface PostureInput {
  readonly now: Date;
  readonly nearExpiry: { readonly warningDays: number; readonly criticalDays: number };
  readonly canaryTag: string;
  readonly optOutTag: string;
  /** Keys read, by `vault/key` lower-case. */
  readonly keys: ReadonlyMap<string, KeyInfo>;
  /** Keys whose server discovery was incomplete (errors or unreadable rows), by `vault/key` lower-case. */
  readonly incompleteKeys: ReadonlySet<string>;
  readonly rotationPolicies: ReadonlyMap<string, RotationPolicySummary>;
  readonly servers: readonly ServerSnapshot[];
  /** Vault properties by vault name (lower-case); a vault missing here could not be read. */
  readonly vaults: ReadonlyMap<string, VaultProperties>;
  /** Why a vault in use could not be read, by vault name (lower-case), when known. */
  readonly vaultReadErrors?: ReadonlyMap<string, string>;
  /** Role assignments at or above each vault, by vault name; missing: could not be read. */
  readonly assignments: ReadonlyMap<string, readonly RoleAssignmentInfo[]>;
  /** Last rotation per key (`vault/key` lower-case), from its durable instance. */
  readonly lastRotations: ReadonlyMap<
    string,
    { readonly instanceId: string; readonly output: unknown; readonly runtimeStatus: string }
  >;
  readonly errors: readonly string[];
  /**
   * What the app met calling each vault's data plane, by vault name (lower-case); a vault missing here
   * was not called (its `appReachable` check is `unknown`).
   */
  readonly appReachability?: ReadonlyMap<string, AppReachability>;
}

const keyId = (vault: string, key: string): string => `${vault}/${key}`.toLowerCase();

export function buildPosture(input: PostureInput): PostureReport {
  const nowIso = input.now.toISOString();
  const uses = new Map<string, KeyUse[]>();
  const vaultUsers = new Map<string, VaultUser[]>();
  const identitiesByVault = new Map<string, Map<string, IdentityAccess & { usedBy: string[] }>>();

  const servers: ServerPosture[] = input.servers.map((server) => {
    const de = server.dataEncryption;
    const slots: SlotPosture[] = [];
    const keysUsed = new Set<string>();
    for (const slot of SLOTS) {
      const uri = slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI;
      if (uri === undefined || uri.trim() === '') continue;
      const identityId =
        slot === 'primary' ? de?.primaryUserAssignedIdentityId : de?.geoBackupUserAssignedIdentityId;
      const keyStatus =
        slot === 'primary' ? de?.primaryEncryptionKeyStatus : de?.geoBackupEncryptionKeyStatus;
      const ref = tryParseKeyUri(uri);
      const reasons: string[] = [];
      let risk: Risk = 'ok';
      const raise = (r: Risk, why: string): void => {
        risk = worst(risk, r);
        reasons.push(why);
      };
      const key = ref === undefined ? undefined : input.keys.get(keyId(ref.vaultName, ref.name));
      if (ref !== undefined) {
        const k = keyId(ref.vaultName, ref.name);
        keysUsed.add(k);
        const keyUses = uses.get(k) ?? [];
        keyUses.push({ serverId: server.id, slot, version: ref.version });
        uses.set(k, keyUses);
        const users = vaultUsers.get(ref.vaultName) ?? [];
        users.push({
          serverId: server.id,
          slot,
          serverLocation: server.location,
          tenantId: server.identity?.tenantId,
        });
        vaultUsers.set(ref.vaultName, users);
      } else raise('critical', `key URI ${uri} cannot be read`);
      const current = key === undefined ? undefined : latestVersion(key);
      const effective =
        ref?.version === undefined
          ? current
          : key?.versions.find((v) => v.version.toLowerCase() === ref.version);
      if (ref !== undefined && key === undefined)
        raise('warning', `key ${ref.vaultName}/${ref.name} was not read (out of scope or unreadable)`);
      else if (ref !== undefined && effective === undefined)
        raise(
          'critical',
          ref.version === undefined
            ? 'the key has no versions'
            : `version ${ref.version} is not listed by the vault`,
        );
      const left = daysLeft(effective?.expiresOn, nowIso);
      if (effective !== undefined) {
        if (!effective.enabled) raise('critical', `version ${effective.version} is disabled`);
        if (left !== undefined && left < 0)
          raise(
            'critical',
            `version ${effective.version} expired ${Math.floor((input.now.getTime() - Date.parse(effective.expiresOn ?? nowIso)) / 86_400_000)} whole day(s) ago`,
          );
        else {
          const sev = expirySeverity(left, input.nearExpiry);
          if (sev !== undefined) raise(sev, `version ${effective.version} expires in ${left ?? '?'} day(s)`);
        }
        if (
          ref?.version !== undefined &&
          current !== undefined &&
          current.version.toLowerCase() !== ref.version
        )
          reasons.push(`pinned behind the current version ${current.version}`);
      }
      if (keyStatus !== undefined && keyStatus !== 'Valid')
        raise('critical', `${slot} key status is ${keyStatus}`);
      const vault = ref === undefined ? undefined : input.vaults.get(ref.vaultName);
      const access = identityAccess(
        vault,
        ref === undefined ? undefined : input.assignments.get(ref.vaultName),
        identityId,
        principalOf(server, identityId),
      );
      if (access.granted === false)
        raise('critical', `identity ${nameOf(identityId ?? '?')}: ${access.reason}`);
      else if (access.granted === undefined)
        raise(
          'warning',
          access.cannotVerifyGroups !== undefined
            ? `identity ${nameOf(identityId ?? '?')}: ${access.reason}`
            : `identity access unknown: ${access.reason}`,
        );
      if (ref !== undefined) {
        const byId =
          identitiesByVault.get(ref.vaultName) ?? new Map<string, IdentityAccess & { usedBy: string[] }>();
        const idKey = (identityId ?? '(none)').toLowerCase();
        const entry = byId.get(idKey) ?? { ...access, usedBy: [] };
        entry.usedBy.push(`${server.name} (${slot})`);
        byId.set(idKey, entry);
        identitiesByVault.set(ref.vaultName, byId);
      }
      slots.push({
        slot,
        keyUri: uri,
        vaultName: ref?.vaultName,
        keyName: ref?.name,
        pinnedVersion: ref?.version,
        versionless: ref !== undefined && ref.version === undefined,
        effectiveVersion: effective?.version,
        expiresOn: effective?.expiresOn,
        daysLeft: left,
        versionEnabled: effective?.enabled,
        keyStatus,
        identityId,
        access,
        risk,
        reasons,
      });
    }
    const p = de?.primaryUserAssignedIdentityId;
    const g = de?.geoBackupUserAssignedIdentityId;
    const geoUsed = de?.geoBackupKeyURI !== undefined && de.geoBackupKeyURI.trim() !== '';
    const sameIdentity =
      geoUsed && p !== undefined && g !== undefined && p !== '' && p.toLowerCase() === g.toLowerCase();
    let risk = worst(...slots.map((s) => s.risk));
    const reasons = slots.flatMap((s) => s.reasons.map((r) => `${s.slot}: ${r}`));
    if (server.state === 'Inaccessible') {
      risk = 'critical';
      reasons.unshift('server is Inaccessible (connections denied)');
    }
    if (sameIdentity) {
      risk = worst(risk, 'warning');
      reasons.push(
        'primary and geo-backup keys use the same identity; Learn requires a distinct one for the geo-backup key',
      );
    }
    const lastRotations = [...keysUsed]
      .map((k) => input.lastRotations.get(k))
      .filter((l): l is NonNullable<typeof l> => l !== undefined)
      .map((l) => lastRotationFor(server.id, l));
    for (const l of lastRotations)
      if (l.outcome === 'failed') {
        risk = worst(risk, 'warning');
        reasons.push(
          `last rotation (${l.instanceId}) failed for this server${l.reason !== undefined ? `: ${l.reason}` : ''}`,
        );
      }
    return {
      serverId: server.id,
      serverName: server.name,
      subscriptionId: server.subscriptionId,
      resourceGroup: server.resourceGroup,
      location: server.location,
      state: server.state,
      replicationRole: server.replicationRole,
      ring: rolloutPlaceOf(server, input.canaryTag, input.optOutTag),
      slots,
      sameIdentityForGeoBackup: sameIdentity,
      lastRotations,
      risk,
      reasons,
    };
  });

  const keys: KeyPosture[] = [...input.keys.entries()]
    .filter(([k]) => (uses.get(k)?.length ?? 0) > 0)
    .map(([k, key]) =>
      keyPosture(
        key,
        uses.get(k) ?? [],
        input.now,
        !input.incompleteKeys.has(k),
        input.rotationPolicies.get(k),
      ),
    )
    .sort((a, b) => `${a.vaultName}/${a.keyName}`.localeCompare(`${b.vaultName}/${b.keyName}`));

  // A vault in use that could not be read is reported (its checks not evaluated), never dropped.
  const vaultNames = [
    ...new Set([...vaultUsers.keys(), ...input.vaults.keys(), ...(input.vaultReadErrors?.keys() ?? [])]),
  ].sort();
  const vaults: VaultPosture[] = vaultNames.map((name) => {
    const vault = input.vaults.get(name);
    const identities = [...(identitiesByVault.get(name)?.values() ?? [])];
    // Observed on the data plane, so known even when the vault's ARM properties are not.
    const reach = appReachabilityCheck(
      name,
      input.appReachability?.get(name) ?? {
        outcome: 'unknown',
        why: 'the app did not call its data plane (not in CMK_ALLOWED_VAULTS, or the report stopped before)',
      },
      vault,
    );
    if (vault === undefined) {
      // Not evaluated is not ok: every check is reported, `unknown`, with why it could not run.
      const why = input.vaultReadErrors?.get(name) ?? 'its properties could not be read';
      const refused = reach.status === 'failing';
      return {
        vaultName: name,
        resourceId: undefined,
        location: undefined,
        tenantId: undefined,
        model: 'unknown',
        checks: VAULT_CHECKS.map(([checkName, kind]) =>
          checkName === APP_REACHABILITY_CHECK && reach.status !== 'unknown'
            ? reach
            : { name: checkName, kind, status: 'unknown', reason: `not evaluated: ${why}` },
        ),
        identities,
        risk: refused ? 'critical' : 'warning',
        reasons: [
          ...(refused ? [`${reach.name}: ${reach.reason}`] : []),
          `vault properties could not be read (${why}): no check could run`,
        ],
      };
    }
    const checks = [...vaultChecks(vault, vaultUsers.get(name) ?? []), reach];
    const { risk, reasons } = vaultRisk(checks);
    const denied = identities.filter((i) => i.granted === false);
    const unverified = identities.filter((i) => i.cannotVerifyGroups !== undefined);
    return {
      vaultName: name,
      resourceId: vault.id,
      location: vault.location,
      tenantId: vault.tenantId,
      model: vault.enableRbacAuthorization === true ? 'rbac' : 'accessPolicies',
      checks,
      identities,
      risk: denied.length > 0 ? 'critical' : unverified.length > 0 ? worst(risk, 'warning') : risk,
      reasons: [
        ...reasons,
        ...[...denied, ...unverified].map((i) => `identity ${nameOf(i.identityId ?? '?')}: ${i.reason}`),
      ],
    };
  });

  // A server on a vault with a failing requirement carries it too: it is what would take it down.
  const vaultByName = new Map(vaults.map((v) => [v.vaultName, v]));
  const withVault = servers.map((s) => {
    const extra: string[] = [];
    let risk = s.risk;
    for (const vaultName of new Set(
      s.slots.map((x) => x.vaultName).filter((v): v is string => v !== undefined),
    )) {
      const failing = (vaultByName.get(vaultName)?.checks ?? []).filter((c) => c.status === 'failing');
      for (const c of failing) {
        risk = worst(risk, 'warning');
        extra.push(`vault ${vaultName} ${c.name}: ${c.reason}`);
      }
    }
    return extra.length === 0 ? s : { ...s, risk, reasons: [...s.reasons, ...extra] };
  });
  withVault.sort((a, b) => RANK[b.risk] - RANK[a.risk] || a.serverName.localeCompare(b.serverName));

  let nextExpiry: PostureReport['summary']['nextExpiry'];
  for (const k of keys)
    if (
      k.nextExpiry !== undefined &&
      (nextExpiry === undefined || Date.parse(k.nextExpiry.expiresOn) < Date.parse(nextExpiry.expiresOn))
    )
      nextExpiry = { vaultName: k.vaultName, keyName: k.keyName, ...k.nextExpiry };

  const byRisk: Record<Risk, number> = { ok: 0, warning: 0, critical: 0 };
  for (const s of withVault) byRisk[s.risk]++;
  return {
    schemaVersion: POSTURE_SCHEMA_VERSION,
    generatedAt: nowIso,
    settings: {
      nearExpiryWarningDays: input.nearExpiry.warningDays,
      nearExpiryCriticalDays: input.nearExpiry.criticalDays,
      versionlessPickupHours: VERSIONLESS_PICKUP_HOURS,
    },
    summary: {
      servers: withVault.length,
      byRisk,
      vaultChecksFailing: vaults.reduce(
        (n, v) => n + v.checks.filter((c) => c.status === 'failing').length,
        0,
      ),
      nextExpiry,
    },
    servers: withVault,
    keys,
    vaults,
    errors: [...input.errors],
  };
}
