/**
 * Fleet posture: which server uses which key version, what expires first, and whether the vaults and
 * identities meet what Azure Database for PostgreSQL flexible server requires of a customer-managed key.
 *
 * Everything here is plain JSON (dates are ISO-8601 strings) so the same report is served by
 * `GET /api/posture`, rendered by the status page and the CLI, and summarised into the audit trail by
 * each sweep. `POSTURE_SCHEMA_VERSION` changes only when a field changes meaning or disappears; new
 * optional fields may be added without a bump, so readers must ignore fields they do not know.
 *
 * Sources of the rules (cited where each is applied below):
 * - Learn, "Data encryption at rest in Azure Database for PostgreSQL" (MicrosoftDocs/azure-databases-docs,
 *   articles/postgresql/security/security-data-encryption.md, ms.date 08/08/2025): CMK requirements
 *   (same Entra tenant, soft delete, purge protection, 90 days retention recommended, RBAC role
 *   "Key Vault Crypto Service Encryption User" preferred or get/list/wrapKey/unwrapKey access policies),
 *   recommendations (disable public access and allow trusted Microsoft services), geo-backup key in a
 *   vault in the backup region with its own identity, and the key-version pickup window: "While most
 *   reencryptions should happen within 30 minutes, we recommend that you wait at least 2 hours before
 *   disabling access to the old key version."
 */
import type { Slot } from './model';
import type { Ring } from './plan';

export const POSTURE_SCHEMA_VERSION = 1;

/** Hours to wait after a new current version before an older one may be disabled when versionless servers use the key (Learn, see above). */
export const VERSIONLESS_PICKUP_HOURS = 2;

/** Retention of soft-deleted vaults Learn recommends for CMK vaults. */
export const RECOMMENDED_RETENTION_DAYS = 90;

/** Built-in role "Key Vault Crypto Service Encryption User" (role definition name, the same in every cloud). */
export const CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';

/** Access-policy key permissions a server identity needs under the access-policy model (Learn, see above). */
export const REQUIRED_KEY_PERMISSIONS = ['get', 'list', 'wrapKey', 'unwrapKey'] as const;

export type Risk = 'ok' | 'warning' | 'critical';

/** A verdict with every reason that led to it (empty when `ok`). */
export interface RiskVerdict {
  readonly risk: Risk;
  readonly reasons: readonly string[];
}

// ---------------------------------------------------------------------------------------------------
// Inputs the rules read (what the adapters return): vault properties and role assignments.
// ---------------------------------------------------------------------------------------------------

/** One access-policy entry of a vault (the key permissions only; secrets and certificates are irrelevant here). */
export interface VaultAccessPolicy {
  readonly tenantId: string;
  readonly objectId: string;
  /** Lower-case key permissions (`get`, `list`, `wrapkey`, `unwrapkey`, `all`, ...). */
  readonly keys: readonly string[];
}

/** A vault's ARM properties that the checks read (`GET Microsoft.KeyVault/vaults`). */
export interface VaultProperties {
  readonly id: string;
  readonly name: string;
  readonly location: string;
  readonly tenantId: string;
  /** Absent in ARM means on (soft delete is default-on since 2020 and cannot be turned off). */
  readonly enableSoftDelete: boolean | undefined;
  readonly softDeleteRetentionInDays: number | undefined;
  readonly enablePurgeProtection: boolean | undefined;
  readonly enableRbacAuthorization: boolean | undefined;
  /** `Enabled` / `Disabled` (ARM's string; absent means Enabled). */
  readonly publicNetworkAccess: string | undefined;
  readonly networkAcls:
    | {
        /** `AzureServices` or `None`. */
        readonly bypass: string | undefined;
        /** `Allow` or `Deny`. */
        readonly defaultAction: string | undefined;
        readonly ipRules: number;
        readonly virtualNetworkRules: number;
      }
    | undefined;
  readonly accessPolicies: readonly VaultAccessPolicy[];
}

/** A vault ARM listed but whose properties could not be read (Vaults_Get failed): named, with Azure's code. */
export interface VaultReadFailure {
  readonly vaultName: string;
  readonly resourceId: string;
  /** Azure's error code (e.g. `AuthorizationFailed`, `ResourceNotFound`), or the error class's code. */
  readonly code: string;
}

/** What `KeyVaultManagement.listVaults` found: the vaults read, and those listed but not readable. */
export interface VaultListing {
  readonly vaults: readonly VaultProperties[];
  readonly unreadable: readonly VaultReadFailure[];
}

/** One Azure RBAC role assignment at or above a vault's scope. */
export interface RoleAssignmentInfo {
  readonly id: string;
  readonly scope: string;
  /** The full role definition id (`/subscriptions/.../providers/Microsoft.Authorization/roleDefinitions/<guid>`). */
  readonly roleDefinitionId: string;
  readonly principalId: string;
  /**
   * `User`, `Group`, `ServicePrincipal`, `ForeignGroup` or `Device` (RoleAssignmentProperties.principalType,
   * Microsoft.Authorization 2022-04-01); absent when ARM did not say.
   */
  readonly principalType?: string | undefined;
}

// ---------------------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------------------

/**
 * Where a server sits in a rollout: its ring (shared/domain/plan.ts, the rollout's own vocabulary), or
 * `optedOut`: in no ring, never touched.
 */
export type RolloutPlace = Ring | 'optedOut';

/** The last rotation of a key as the app can know it: its durable instance's output. */
export interface LastRotation {
  /**
   * What the run's output says of the server: `failed` or `skipped` for a server it lists; `notListed`
   * for one an output of version 2 or later does not list (those list only the servers that need
   * attention: updated, verified or plan-skipped servers have their ServerVerified or ServerSkipped
   * audit record); an older output lists every server, `updated` and `verified` included (the run's
   * status for one it does not list).
   */
  readonly outcome: string;
  /** When the run completed (orchestration time), when known. */
  readonly at: string | undefined;
  readonly runStatus: string;
  readonly targetVersion: string | undefined;
  readonly instanceId: string;
  readonly reason?: string | undefined;
  /** Always `durableInstance`: the audit trail (Application Insights) holds the full history. */
  readonly source: 'durableInstance';
}

/** Can a server identity use the key's vault? */
export interface IdentityAccess {
  readonly identityId: string | undefined;
  readonly principalId: string | undefined;
  /** `rbac` or `accessPolicies` (the vault's model); `unknown` when the vault could not be read. */
  readonly model: 'rbac' | 'accessPolicies' | 'unknown';
  /** True: granted; false: not granted; undefined: could not be determined (reason says why). */
  readonly granted: boolean | undefined;
  readonly reason: string;
  /**
   * Set when the identity holds no assignment of its own but groups do (principal ids of the groups with
   * "Key Vault Crypto Service Encryption User" at or above the vault): whether the identity is a member
   * cannot be verified, because group membership (Microsoft Graph) is not read. `granted` is undefined.
   */
  readonly cannotVerifyGroups?: readonly string[];
}

/** One slot (primary or geo-backup key) of one server. */
export interface SlotPosture {
  readonly slot: Slot;
  readonly keyUri: string;
  readonly vaultName: string | undefined;
  readonly keyName: string | undefined;
  /** The pinned version, or undefined for a versionless URI (automatic key version update). */
  readonly pinnedVersion: string | undefined;
  readonly versionless: boolean;
  /** The version in effect: the pinned one, or the key's current version for a versionless URI. */
  readonly effectiveVersion: string | undefined;
  readonly expiresOn: string | undefined;
  /** Whole days until `expiresOn` (negative once expired); undefined when the version has no expiry. */
  readonly daysLeft: number | undefined;
  readonly versionEnabled: boolean | undefined;
  /** `primaryEncryptionKeyStatus` / `geoBackupEncryptionKeyStatus` as ARM reports it (Valid, Invalid). */
  readonly keyStatus: string | undefined;
  readonly identityId: string | undefined;
  readonly access: IdentityAccess;
  readonly risk: Risk;
  readonly reasons: readonly string[];
}

export interface ServerPosture {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly state: string | undefined;
  /** `properties.replica.role` (Primary, AsyncReplica, ...), when ARM reports it. */
  readonly replicationRole: string | undefined;
  readonly ring: RolloutPlace;
  readonly slots: readonly SlotPosture[];
  /** True when both slots name an identity and it is the same one (Learn requires distinct identities). */
  readonly sameIdentityForGeoBackup: boolean;
  /** Per key the server uses: that key's last rotation. */
  readonly lastRotations: readonly LastRotation[];
  readonly risk: Risk;
  readonly reasons: readonly string[];
}

export interface KeyVersionPosture {
  readonly version: string;
  readonly enabled: boolean;
  readonly createdOn: string;
  readonly notBefore: string | undefined;
  readonly expiresOn: string | undefined;
  readonly daysLeft: number | undefined;
  readonly current: boolean;
  /** Server slots pinned to this version (versionless slots are counted on the key, not here). */
  readonly pinnedBy: number;
  readonly safeToDisable: boolean;
  /** Why it is (or is not) safe to disable. */
  readonly disableReason: string;
}

export interface RotationPolicySummary {
  readonly configured: boolean;
  /** ISO-8601 durations from the key's rotation policy. */
  readonly rotateAfterCreate?: string | undefined;
  readonly rotateBeforeExpiry?: string | undefined;
  readonly notifyBeforeExpiry?: string | undefined;
  readonly expiresAfter?: string | undefined;
  /** Words for people, e.g. "rotates 90 days after creation; notifies 30 days before expiry". */
  readonly summary: string;
}

export interface KeyPosture {
  readonly vaultName: string;
  readonly keyName: string;
  readonly currentVersion: string | undefined;
  readonly versions: readonly KeyVersionPosture[];
  /** Versions pinned by no server, not current, enabled; with versionless users only after the pickup window. */
  readonly safeToDisable: readonly string[];
  readonly versionlessSlots: number;
  readonly pinnedSlots: number;
  /** The earliest expiry among enabled versions that are current or pinned. */
  readonly nextExpiry:
    { readonly version: string; readonly expiresOn: string; readonly daysLeft: number } | undefined;
  /** Undefined when the policy could not be read (see the report's errors). */
  readonly rotationPolicy: RotationPolicySummary | undefined;
}

export type VaultCheckName =
  | 'softDelete'
  | 'purgeProtection'
  | 'retentionDays'
  | 'sameTenant'
  | 'sameRegion'
  | 'networkAccess'
  | 'permissionModel'
  /** The app itself can reach the vault's data plane (shared/domain/vaultReachability.ts). */
  | 'appReachable';

/** `failing` for a requirement is critical; for a recommendation a warning; `unknown` when it could not be read. */
export type CheckStatus = 'ok' | 'failing' | 'unknown';

export interface VaultCheck {
  readonly name: VaultCheckName;
  /** `requirement` (Learn's CMK requirements) or `recommendation`. */
  readonly kind: 'requirement' | 'recommendation';
  readonly status: CheckStatus;
  readonly reason: string;
  /** What to do about a failing check, when the rule knows (optional field: no schema bump). */
  readonly fix?: string | undefined;
}

export interface VaultPosture {
  readonly vaultName: string;
  readonly resourceId: string | undefined;
  readonly location: string | undefined;
  readonly tenantId: string | undefined;
  readonly model: 'rbac' | 'accessPolicies' | 'unknown';
  readonly checks: readonly VaultCheck[];
  /** Every server identity that uses a key in this vault, with whether it may. */
  readonly identities: readonly (IdentityAccess & { readonly usedBy: readonly string[] })[];
  readonly risk: Risk;
  readonly reasons: readonly string[];
}

export interface PostureReport {
  readonly schemaVersion: typeof POSTURE_SCHEMA_VERSION;
  readonly generatedAt: string;
  readonly settings: {
    readonly nearExpiryWarningDays: number;
    readonly nearExpiryCriticalDays: number;
    readonly versionlessPickupHours: number;
  };
  readonly summary: {
    readonly servers: number;
    readonly byRisk: Readonly<Record<Risk, number>>;
    readonly vaultChecksFailing: number;
    readonly nextExpiry:
      | {
          readonly vaultName: string;
          readonly keyName: string;
          readonly version: string;
          readonly expiresOn: string;
          readonly daysLeft: number;
        }
      | undefined;
  };
  /** Servers, most at risk first (critical, warning, ok), then by name. */
  readonly servers: readonly ServerPosture[];
  readonly keys: readonly KeyPosture[];
  readonly vaults: readonly VaultPosture[];
  /** What could not be read (named, with Azure's code): the report is partial where these apply. */
  readonly errors: readonly string[];
}
