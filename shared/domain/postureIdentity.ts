/**
 * Posture rules for identity and access: can a server's user-assigned identity use the keys of its
 * vault (RBAC role assignments or access policies)?
 */
import type { ServerSnapshot } from './model';
import { resourceNameOf } from './resourceId';
import {
  CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID,
  REQUIRED_KEY_PERMISSIONS,
  type IdentityAccess,
  type RoleAssignmentInfo,
  type VaultProperties,
} from './posture';

/** Is this a "Key Vault Crypto Service Encryption User" assignment at or above the vault? */
function cryptoServiceEncryptionUserOnVault(a: RoleAssignmentInfo, vaultId: string): boolean {
  const roleId = resourceNameOf(a.roleDefinitionId).toLowerCase();
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

/** The principal id of one of the server's user-assigned identities, as the server's identity map says. */
export function principalOf(server: ServerSnapshot, identityId: string | undefined): string | undefined {
  if (identityId === undefined) return undefined;
  for (const [id, v] of Object.entries(server.identity?.userAssignedIdentities ?? {}))
    if (id.toLowerCase() === identityId.toLowerCase()) return v.principalId;
  return undefined;
}
