import type { RoleAssignmentInfo, RotationPolicySummary, VaultListing } from '../domain/posture';

/**
 * Key Vault's control plane (ARM `Microsoft.KeyVault/vaults`): vault properties and access policies,
 * for the posture checks. Read-only. Adapters throw the named errors of `./errors`.
 */
export interface KeyVaultManagement {
  /**
   * Every vault the caller may read in the subscriptions in scope, with its properties. A vault that is
   * listed but whose properties cannot be read is in `unreadable` (the others are still returned); a
   * subscription that cannot be listed at all throws.
   */
  /**
   * `only`: the names (lower case) of the vaults to read; the others are not read at all (each read is
   * an ARM request against the subscription's quota). Every vault when absent.
   */
  listVaults(only?: ReadonlySet<string>): Promise<VaultListing>;
}

/** Azure RBAC role assignments (ARM `Microsoft.Authorization/roleAssignments`). Read-only. */
export interface RoleAssignments {
  /** Assignments at or above `scope` (ARM's `$filter=atScope()`), following every page. */
  listAtScope(scope: string): Promise<RoleAssignmentInfo[]>;
}

/** A key's rotation policy (Key Vault data plane `GET /keys/<name>/rotationpolicy`). */
export interface KeyRotationPolicies {
  readRotationPolicy(vaultUrl: string, keyName: string): Promise<RotationPolicySummary>;
}
