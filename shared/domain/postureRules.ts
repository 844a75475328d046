/**
 * The pure posture rules: from what was read (keys, servers, vault properties, role assignments, the
 * last rotations) to the `PostureReport` of ./posture.ts. No I/O; `now` is an argument.
 */
import { tryParseKeyUri } from './keyId';
import { APP_REACHABILITY_CHECK, appReachabilityCheck, type AppReachability } from './vaultReachability';
import type { KeyInfo, ServerSnapshot, Slot } from './model';
import { SLOTS } from './model';
import { hasTag, isOptedOut, latestVersion } from './plan';
import {
  CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID,
  POSTURE_SCHEMA_VERSION,
  RECOMMENDED_RETENTION_DAYS,
  REQUIRED_KEY_PERMISSIONS,
  VERSIONLESS_PICKUP_HOURS,
  type IdentityAccess,
  type KeyPosture,
  type KeyVersionPosture,
  type LastRotation,
  type PostureReport,
  type Ring,
  type Risk,
  type RoleAssignmentInfo,
  type RotationPolicySummary,
  type ServerPosture,
  type SlotPosture,
  type VaultCheck,
  type VaultCheckName,
  type VaultPosture,
  type VaultProperties,
} from './posture';
import { daysLeft, expirySeverity } from './expiry';

const HOUR_MS = 3_600_000;
const RANK: Record<Risk, number> = { ok: 0, warning: 1, critical: 2 };

export function worst(...risks: Risk[]): Risk {
  return risks.reduce<Risk>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
}

/**
 * Azure's region pairs (Learn, "Azure cross-region replication pairings for all geographies"):
 * geo-redundant backups of a flexible server go to the paired region, so its geo-backup key must be in a
 * vault there. Regions not listed: only "not the server's own region" is checked.
 */
export const REGION_PAIRS: Readonly<Record<string, string>> = {
  eastus: 'westus',
  westus: 'eastus',
  eastus2: 'centralus',
  centralus: 'eastus2',
  northcentralus: 'southcentralus',
  southcentralus: 'northcentralus',
  westus2: 'westcentralus',
  westcentralus: 'westus2',
  westus3: 'eastus',
  canadacentral: 'canadaeast',
  canadaeast: 'canadacentral',
  brazilsouth: 'southcentralus',
  northeurope: 'westeurope',
  westeurope: 'northeurope',
  uksouth: 'ukwest',
  ukwest: 'uksouth',
  francecentral: 'francesouth',
  francesouth: 'francecentral',
  germanywestcentral: 'germanynorth',
  germanynorth: 'germanywestcentral',
  switzerlandnorth: 'switzerlandwest',
  switzerlandwest: 'switzerlandnorth',
  norwayeast: 'norwaywest',
  norwaywest: 'norwayeast',
  swedencentral: 'swedensouth',
  swedensouth: 'swedencentral',
  eastasia: 'southeastasia',
  southeastasia: 'eastasia',
  japaneast: 'japanwest',
  japanwest: 'japaneast',
  koreacentral: 'koreasouth',
  koreasouth: 'koreacentral',
  australiaeast: 'australiasoutheast',
  australiasoutheast: 'australiaeast',
  centralindia: 'southindia',
  southindia: 'centralindia',
  uaenorth: 'uaecentral',
  uaecentral: 'uaenorth',
  southafricanorth: 'southafricawest',
  southafricawest: 'southafricanorth',
};

const region = (s: string | undefined): string => (s ?? '').replace(/\s+/g, '').toLowerCase();

/** Is this a "Key Vault Crypto Service Encryption User" assignment at or above the vault? */
function cryptoServiceEncryptionUserOnVault(a: RoleAssignmentInfo, vaultId: string): boolean {
  const roleId = a.roleDefinitionId.split('/').pop()?.toLowerCase();
  if (roleId !== CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID) return false;
  // At or above the vault: the vault itself, its resource group, subscription, a management group or `/`.
  const scope = a.scope.replace(/\/+$/, '').toLowerCase();
  const vault = vaultId.toLowerCase();
  return (
    scope === '' ||
    scope === '/' ||
    vault === scope ||
    vault.startsWith(`${scope}/`) ||
    scope.startsWith('/providers/microsoft.management/managementgroups/')
  );
}

/** Does this role assignment give the principal itself the role on the vault? */
function grantsCryptoServiceEncryptionUser(
  a: RoleAssignmentInfo,
  principalId: string,
  vaultId: string,
): boolean {
  return (
    a.principalId.toLowerCase() === principalId.toLowerCase() &&
    cryptoServiceEncryptionUserOnVault(a, vaultId)
  );
}

/**
 * Assignments to groups: `Group`, and `ForeignGroup` (a group of another tenant), principal types of the
 * 2022-04-01 RoleAssignmentProperties. A managed identity may be a member; only Microsoft Graph knows.
 */
const GROUP_PRINCIPAL_TYPES = new Set(['group', 'foreigngroup']);

/**
 * Can this identity use keys of this vault? RBAC vaults: a "Key Vault Crypto Service Encryption User"
 * assignment at or above the vault. Access-policy vaults: get, list, wrapKey and unwrapKey (Learn).
 */
export function identityAccess(
  vault: VaultProperties | undefined,
  assignments: readonly RoleAssignmentInfo[] | undefined,
  identityId: string | undefined,
  principalId: string | undefined,
): IdentityAccess {
  const base = { identityId, principalId };
  if (vault === undefined)
    return { ...base, model: 'unknown', granted: undefined, reason: 'the vault could not be read' };
  if (principalId === undefined)
    return {
      ...base,
      model: vault.enableRbacAuthorization === true ? 'rbac' : 'accessPolicies',
      granted: undefined,
      reason:
        identityId === undefined
          ? 'the slot names no user-assigned identity'
          : `the principal of identity ${identityId} is unknown (not in the server's identity map)`,
    };
  if (vault.enableRbacAuthorization === true) {
    if (assignments === undefined)
      return { ...base, model: 'rbac', granted: undefined, reason: 'role assignments could not be read' };
    if (assignments.some((a) => grantsCryptoServiceEncryptionUser(a, principalId, vault.id)))
      return {
        ...base,
        model: 'rbac',
        granted: true,
        reason: 'has "Key Vault Crypto Service Encryption User" on the vault',
      };
    // No assignment of its own. A group holding the role may include the identity: membership lives in
    // Microsoft Graph, which the app does not read, so that is "cannot verify" (a warning), not "missing".
    const groups = [
      ...new Set(
        assignments
          .filter((a) => GROUP_PRINCIPAL_TYPES.has((a.principalType ?? '').toLowerCase()))
          .filter((a) => cryptoServiceEncryptionUserOnVault(a, vault.id))
          .map((a) => a.principalId),
      ),
    ].sort();
    if (groups.length > 0)
      return {
        ...base,
        model: 'rbac',
        granted: undefined,
        reason: `cannot verify: no "Key Vault Crypto Service Encryption User" assignment of its own, but the role is assigned at or above the vault to group${groups.length === 1 ? '' : 's'} ${groups.join(', ')}; group membership is not read (Microsoft Graph), so whether the identity is a member is unknown`,
        cannotVerifyGroups: groups,
      };
    return {
      ...base,
      model: 'rbac',
      granted: false,
      reason:
        'lacks "Key Vault Crypto Service Encryption User" on the vault (RBAC): the server cannot wrap or unwrap its key (no assignment to the identity, and none to a group)',
    };
  }
  const held = new Set(
    vault.accessPolicies
      .filter((p) => p.objectId.toLowerCase() === principalId.toLowerCase())
      .flatMap((p) => p.keys.map((k) => k.toLowerCase())),
  );
  const missing = held.has('all') ? [] : REQUIRED_KEY_PERMISSIONS.filter((p) => !held.has(p.toLowerCase()));
  return {
    ...base,
    model: 'accessPolicies',
    granted: missing.length === 0,
    reason:
      missing.length === 0
        ? 'access policy grants get, list, wrapKey and unwrapKey'
        : `access policy lacks ${missing.join(', ')}`,
  };
}

/** Who uses a vault, as its checks need to know: one row per server slot whose key is in it. */
export interface VaultUser {
  readonly serverId: string;
  readonly slot: Slot;
  readonly serverLocation: string;
  readonly tenantId: string | undefined;
}

/** The seeds' vault requirements and recommendations as named checks, each with its reason. */
/** Every vault check and its kind, in report order (what a vault that could not be read reports as `unknown`). */
const VAULT_CHECKS: readonly (readonly [VaultCheckName, VaultCheck['kind']])[] = [
  ['softDelete', 'requirement'],
  ['purgeProtection', 'requirement'],
  ['retentionDays', 'recommendation'],
  ['sameTenant', 'requirement'],
  ['sameRegion', 'requirement'],
  ['permissionModel', 'recommendation'],
  ['networkAccess', 'requirement'],
  [APP_REACHABILITY_CHECK, 'requirement'],
];

export function vaultChecks(vault: VaultProperties, users: readonly VaultUser[]): VaultCheck[] {
  const checks: VaultCheck[] = [];
  const add = (c: VaultCheck): void => {
    checks.push(c);
  };
  add(
    vault.enableSoftDelete === false
      ? {
          name: 'softDelete',
          kind: 'requirement',
          status: 'failing',
          reason: 'soft delete is off: a deleted key or vault cannot be recovered',
        }
      : { name: 'softDelete', kind: 'requirement', status: 'ok', reason: 'soft delete is on' },
  );
  add(
    vault.enablePurgeProtection === true
      ? { name: 'purgeProtection', kind: 'requirement', status: 'ok', reason: 'purge protection is on' }
      : {
          name: 'purgeProtection',
          kind: 'requirement',
          status: 'failing',
          reason:
            'purge protection is off: a deleted key can be purged before its retention ends, and the servers lose their data',
        },
  );
  const days = vault.softDeleteRetentionInDays ?? 90;
  add(
    days >= RECOMMENDED_RETENTION_DAYS
      ? {
          name: 'retentionDays',
          kind: 'recommendation',
          status: 'ok',
          reason: `deleted vaults are kept ${days} days`,
        }
      : {
          name: 'retentionDays',
          kind: 'recommendation',
          status: 'failing',
          reason: `deleted vaults are kept ${days} days; ${RECOMMENDED_RETENTION_DAYS} are recommended (fixed at creation: a new vault is needed to change it)`,
        },
  );
  const tenants = [
    ...new Set(
      users.map((u) => u.tenantId?.toLowerCase()).filter((t): t is string => t !== undefined && t !== ''),
    ),
  ];
  const foreign = tenants.filter((t) => t !== vault.tenantId.toLowerCase());
  add(
    tenants.length === 0
      ? {
          name: 'sameTenant',
          kind: 'requirement',
          status: 'unknown',
          reason: 'no server using the vault reports its identity tenant',
        }
      : foreign.length > 0
        ? {
            name: 'sameTenant',
            kind: 'requirement',
            status: 'failing',
            reason: `vault tenant ${vault.tenantId} differs from server tenant ${foreign.join(', ')}: cross-tenant CMK is not supported`,
          }
        : {
            name: 'sameTenant',
            kind: 'requirement',
            status: 'ok',
            reason: `vault and servers in tenant ${vault.tenantId}`,
          },
  );
  const vaultRegion = region(vault.location);
  const wrong: string[] = [];
  for (const u of users) {
    const server = region(u.serverLocation);
    if (u.slot === 'primary') {
      if (server !== vaultRegion)
        wrong.push(`${nameOf(u.serverId)} (primary) is in ${server}, the vault in ${vaultRegion}`);
    } else {
      const pair = REGION_PAIRS[server];
      if (vaultRegion === server)
        wrong.push(
          `${nameOf(u.serverId)} (geo-backup) uses a vault in its own region ${server}, not the backup region${pair !== undefined ? ` ${pair}` : ''}`,
        );
      else if (pair !== undefined && pair !== vaultRegion)
        wrong.push(`${nameOf(u.serverId)} (geo-backup) backs up to ${pair}, the vault is in ${vaultRegion}`);
    }
  }
  add(
    users.length === 0
      ? {
          name: 'sameRegion',
          kind: 'requirement',
          status: 'unknown',
          reason: 'no server in scope uses the vault',
        }
      : wrong.length > 0
        ? { name: 'sameRegion', kind: 'requirement', status: 'failing', reason: wrong.join('; ') }
        : {
            name: 'sameRegion',
            kind: 'requirement',
            status: 'ok',
            reason: `in ${vaultRegion}, where its servers (or their backups) are`,
          },
  );
  add(networkCheck(vault));
  add(
    vault.enableRbacAuthorization === true
      ? {
          name: 'permissionModel',
          kind: 'recommendation',
          status: 'ok',
          reason: 'Azure RBAC permission model (preferred)',
        }
      : {
          name: 'permissionModel',
          kind: 'recommendation',
          status: 'failing',
          reason:
            'access-policy permission model (legacy): Azure RBAC with "Key Vault Crypto Service Encryption User" is preferred',
        },
  );
  return checks;
}

function networkCheck(vault: VaultProperties): VaultCheck {
  const publicOff = (vault.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled';
  const acls = vault.networkAcls;
  const deny = (acls?.defaultAction ?? 'Allow').toLowerCase() === 'deny';
  const trusted = (acls?.bypass ?? 'AzureServices').toLowerCase().includes('azureservices');
  if ((publicOff || deny) && !trusted)
    return {
      name: 'networkAccess',
      kind: 'requirement',
      status: 'failing',
      reason: `${publicOff ? 'public network access is disabled' : 'the firewall denies by default'} and trusted Microsoft services may not bypass it: servers cannot reach their keys`,
    };
  if (publicOff)
    return {
      name: 'networkAccess',
      kind: 'recommendation',
      status: 'ok',
      reason: 'public access disabled, trusted Microsoft services bypass the firewall',
    };
  if (deny)
    return {
      name: 'networkAccess',
      kind: 'recommendation',
      status: 'ok',
      reason: 'firewall denies by default, trusted Microsoft services bypass it',
    };
  return {
    name: 'networkAccess',
    kind: 'recommendation',
    status: 'failing',
    reason:
      'public network access is open to all networks: disable public access and allow trusted Microsoft services to bypass the firewall',
  };
}

function nameOf(id: string): string {
  return id.split('/').pop() ?? id;
}

/** Risk of a vault from its checks: a failing requirement is critical, a failing recommendation a warning. */
export function vaultRisk(checks: readonly VaultCheck[]): { risk: Risk; reasons: string[] } {
  let risk: Risk = 'ok';
  const reasons: string[] = [];
  for (const c of checks) {
    if (c.status !== 'failing') continue;
    risk = worst(risk, c.kind === 'requirement' ? 'critical' : 'warning');
    reasons.push(`${c.name}: ${c.reason}`);
  }
  return { risk, reasons };
}

/** Summary of a key's rotation policy (Key Vault's `lifetimeActions` and `attributes.expiryTime`). */
export function summarizeRotationPolicy(policy: {
  readonly lifetimeActions?: readonly {
    readonly action: string;
    readonly timeAfterCreate?: string | undefined;
    readonly timeBeforeExpiry?: string | undefined;
  }[];
  readonly expiresIn?: string | undefined;
}): RotationPolicySummary {
  const rotate = policy.lifetimeActions?.find((a) => a.action.toLowerCase() === 'rotate');
  const notify = policy.lifetimeActions?.find((a) => a.action.toLowerCase() === 'notify');
  const parts: string[] = [];
  if (rotate?.timeAfterCreate !== undefined) parts.push(`rotates ${rotate.timeAfterCreate} after creation`);
  if (rotate?.timeBeforeExpiry !== undefined) parts.push(`rotates ${rotate.timeBeforeExpiry} before expiry`);
  if (notify?.timeBeforeExpiry !== undefined) parts.push(`notifies ${notify.timeBeforeExpiry} before expiry`);
  if (policy.expiresIn !== undefined) parts.push(`new versions expire after ${policy.expiresIn}`);
  const configured = rotate !== undefined || policy.expiresIn !== undefined;
  return {
    configured,
    rotateAfterCreate: rotate?.timeAfterCreate,
    rotateBeforeExpiry: rotate?.timeBeforeExpiry,
    notifyBeforeExpiry: notify?.timeBeforeExpiry,
    expiresAfter: policy.expiresIn,
    summary: parts.length > 0 ? parts.join('; ') : 'no automatic rotation (versions are created by hand)',
  };
}

/** A server slot that names a key, as the key's posture counts it. */
export interface KeyUse {
  readonly serverId: string;
  readonly slot: Slot;
  /** Lower-case version, undefined for versionless. */
  readonly version: string | undefined;
}

/**
 * A key's versions, who pins them and which may be disabled: a version is safe to disable when no
 * server slot pins it, it is not the current version, and it is enabled. When servers use the key
 * versionless, they move to a new current version on their own within hours (Learn: wait at least
 * `VERSIONLESS_PICKUP_HOURS` before disabling the old one), so until the current version is that old
 * no older version is safe. `complete` false (a discovery error or an unreadable server row for this
 * key) withholds every "safe": a server we could not read may pin any version.
 */
export function keyPosture(
  key: KeyInfo,
  uses: readonly KeyUse[],
  now: Date,
  complete: boolean,
  rotationPolicy: RotationPolicySummary | undefined,
): KeyPosture {
  const nowIso = now.toISOString();
  const current = latestVersion(key);
  const currentVersion = current?.version.toLowerCase();
  const pinned = new Map<string, number>();
  for (const u of uses) if (u.version !== undefined) pinned.set(u.version, (pinned.get(u.version) ?? 0) + 1);
  const versionless = uses.filter((u) => u.version === undefined).length;
  const currentAgeHours =
    current === undefined ? Infinity : (now.getTime() - Date.parse(current.createdOn)) / HOUR_MS;
  const versions: KeyVersionPosture[] = [...key.versions]
    .sort((a, b) => Date.parse(b.createdOn) - Date.parse(a.createdOn))
    .map((v) => {
      const id = v.version.toLowerCase();
      const pinnedBy = pinned.get(id) ?? 0;
      const isCurrent = id === currentVersion;
      let safe = false;
      let why: string;
      if (isCurrent) why = 'current version';
      else if (pinnedBy > 0) why = `pinned by ${pinnedBy} server slot(s)`;
      else if (!v.enabled) why = 'already disabled';
      else if (!complete) why = 'not every server using the key could be read';
      else if (versionless > 0 && currentAgeHours < VERSIONLESS_PICKUP_HOURS)
        why = `${versionless} versionless slot(s) may still use it: the current version is ${Math.max(0, Math.floor(currentAgeHours * 60))} min old, wait ${VERSIONLESS_PICKUP_HOURS} h after it was created`;
      else {
        safe = true;
        why =
          versionless > 0
            ? `pinned by no server; versionless servers had ${VERSIONLESS_PICKUP_HOURS} h to move to the current version`
            : 'pinned by no server and not current';
      }
      return {
        version: v.version,
        enabled: v.enabled,
        createdOn: v.createdOn,
        notBefore: v.notBefore,
        expiresOn: v.expiresOn,
        daysLeft: daysLeft(v.expiresOn, nowIso),
        current: isCurrent,
        pinnedBy,
        safeToDisable: safe,
        disableReason: why,
      };
    });
  let nextExpiry: KeyPosture['nextExpiry'];
  for (const v of versions) {
    if (!v.enabled || v.expiresOn === undefined || v.daysLeft === undefined) continue;
    if (!v.current && v.pinnedBy === 0) continue;
    if (nextExpiry === undefined || Date.parse(v.expiresOn) < Date.parse(nextExpiry.expiresOn))
      nextExpiry = { version: v.version, expiresOn: v.expiresOn, daysLeft: v.daysLeft };
  }
  return {
    vaultName: key.vaultName,
    keyName: key.name,
    currentVersion: current?.version,
    versions,
    safeToDisable: versions.filter((v) => v.safeToDisable).map((v) => v.version),
    versionlessSlots: versionless,
    pinnedSlots: uses.length - versionless,
    nextExpiry,
    rotationPolicy,
  };
}

/** Canary ring or opted out, by the configured tags (the same tags and values the rollout reads). */
export function ringOf(server: ServerSnapshot, canaryTag: string, optOutTag: string): Ring {
  if (isOptedOut(server, optOutTag)) return 'optedOut';
  // Ring "0" of the canary tag goes first: the rule the rollout applies (shared/activities, isCanary).
  return hasTag(server.tags, canaryTag)?.trim() === '0' ? 'canary' : 'default';
}

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

function principalOf(server: ServerSnapshot, identityId: string | undefined): string | undefined {
  if (identityId === undefined) return undefined;
  for (const [id, v] of Object.entries(server.identity?.userAssignedIdentities ?? {}))
    if (id.toLowerCase() === identityId.toLowerCase()) return v.principalId;
  return undefined;
}

/** The last rotation of a key as it concerns one server, from the durable instance's output. */
export function lastRotationFor(
  serverId: string,
  last: { readonly instanceId: string; readonly output: unknown; readonly runtimeStatus: string },
): LastRotation {
  const out =
    typeof last.output === 'object' && last.output !== null ? (last.output as Record<string, unknown>) : {};
  const status = typeof out['status'] === 'string' ? out['status'] : last.runtimeStatus;
  const servers = Array.isArray(out['servers']) ? (out['servers'] as Record<string, unknown>[]) : [];
  const mine = servers.find(
    (s) => typeof s['serverId'] === 'string' && s['serverId'].toLowerCase() === serverId.toLowerCase(),
  );
  // An output of version 2 or later lists only the servers that needed attention: one it does not list
  // was updated, verified or skipped by the plan, and only the audit trail says which.
  const listsOnlyAttention = typeof out['outputVersion'] === 'number' && out['outputVersion'] >= 2;
  const outcome =
    typeof mine?.['outcome'] === 'string' ? mine['outcome'] : listsOnlyAttention ? 'notListed' : status;
  return {
    outcome,
    at: typeof out['completedAt'] === 'string' ? out['completedAt'] : undefined,
    runStatus: last.runtimeStatus === 'Completed' ? status : last.runtimeStatus,
    targetVersion: typeof out['targetVersion'] === 'string' ? out['targetVersion'] : undefined,
    instanceId: last.instanceId,
    ...(typeof mine?.['reason'] === 'string'
      ? { reason: mine['reason'] }
      : outcome === 'notListed'
        ? {
            reason:
              'not among the servers that needed attention: updated, verified or skipped by the plan (its ServerVerified or ServerSkipped audit record says which)',
          }
        : {}),
    source: 'durableInstance',
  };
}

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
      ring: ringOf(server, input.canaryTag, input.optOutTag),
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
