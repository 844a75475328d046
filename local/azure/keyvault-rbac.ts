import { vaultArmId } from './keyvault-model';
import type { FleetRoleAssignment } from './fleet';
import { grant } from './world-grants';
import { FleetError, type KeyVaultRoleAssignment, type WorldState as World } from './world-state';

/**
 * Azure RBAC for the Key Vault data plane, as far as the stand-ins model it: built-in Key Vault roles
 * (ids from Azure's built-in role list: "Key Vault Crypto Service Encryption User" is
 * e147488a-f6f5-4113-8e2d-b22465e65bf6) and the key permissions each grants on a vault that uses the
 * RBAC permission model. Role assignments are listed by the Microsoft.Authorization stand-in route
 * (local/azure/arm-keyvault.ts).
 */
export const KEY_VAULT_ROLES: Readonly<
  Record<string, { readonly id: string; readonly keys: readonly string[] }>
> = {
  'key vault crypto service encryption user': {
    id: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
    keys: ['get', 'wrapKey', 'unwrapKey'],
  },
  'key vault crypto officer': {
    id: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
    keys: [
      'get',
      'list',
      'create',
      'update',
      'import',
      'delete',
      'rotate',
      'getrotationpolicy',
      'setrotationpolicy',
      'wrapKey',
      'unwrapKey',
      'encrypt',
      'decrypt',
      'sign',
      'verify',
    ],
  },
  'key vault crypto user': {
    id: '12338af0-0e69-4776-bea7-57ae8d297424',
    keys: ['get', 'list', 'wrapKey', 'unwrapKey', 'encrypt', 'decrypt', 'sign', 'verify'],
  },
  'key vault reader': {
    id: '21090545-7ca7-4776-b22c-e363652d74d2',
    keys: ['get', 'list', 'getrotationpolicy'],
  },
};

/** Principal types whose assignments reach their members (2022-04-01 RoleAssignmentProperties.principalType). */
export function isGroupPrincipal(principalType: string | undefined): boolean {
  return principalType === 'Group' || principalType === 'ForeignGroup';
}

/** Is `id` at or below `scope` (ARM ids, case-insensitive)? */
export function covers(scope: string, id: string): boolean {
  const s = scope.replace(/\/+$/, '').toLowerCase();
  const i = id.toLowerCase();
  return i === s || i.startsWith(`${s}/`);
}

function guidFrom(...parts: string[]): string {
  // Deterministic, GUID-shaped: role assignment names are GUIDs in Azure.
  let h = 0x811c9dc5;
  const hex: string[] = [];
  const text = parts.join('|').toLowerCase();
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    h = Math.imul(h ^ round, 0x01000193) >>> 0;
    hex.push(h.toString(16).padStart(8, '0'));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-8${s.slice(17, 20)}-${s.slice(20, 32)}`;
}

/** Reads the fleet's role assignments that name Key Vault roles; grants their key permissions on RBAC vaults. */
export function applyKeyVaultRoleAssignments(world: World, raw: readonly FleetRoleAssignment[]): void {
  for (const a of raw) {
    const role = a.role === undefined ? undefined : KEY_VAULT_ROLES[a.role.toLowerCase()];
    if (role === undefined) continue; // other roles are ARM control-plane RBAC, not modelled here
    if (!/^\/subscriptions\/[^/]+/i.test(a.scope))
      throw new FleetError(`role assignment scope must start with /subscriptions/<id>, got '${a.scope}'`);
    const group = isGroupPrincipal(a.principalType);
    if (!group && (a.members ?? []).length > 0)
      throw new FleetError(`role assignment to ${a.principalId}: only a Group or ForeignGroup has members`);
    world.keyVaultRoleAssignments.push({
      id: `${a.scope.replace(/\/+$/, '')}/providers/Microsoft.Authorization/roleAssignments/${guidFrom(a.scope, a.principalId, role.id)}`,
      scope: a.scope.replace(/\/+$/, ''),
      roleDefinitionGuid: role.id,
      principalId: a.principalId,
      principalType: a.principalType ?? 'ServicePrincipal',
      members: group ? [...(a.members ?? [])] : [],
    });
    // A group's members hold the role (Key Vault resolves membership from the caller's token); the
    // group's own object id never calls.
    const holders = group ? (a.members ?? []) : [a.principalId];
    for (const vault of world.vaults.values())
      if (vault.arm.enableRbacAuthorization && covers(a.scope, vaultArmId(vault)))
        for (const holder of holders) grant(world, vault, holder, role.keys);
  }
}

/**
 * Role assignments that apply at `scope` (ARM's `$filter=atScope()`: at or above it): the fleet's, and,
 * on RBAC vaults, the vault's `access` entries shown as the role they amount to (get + wrapKey +
 * unwrapKey [+ list] is "Key Vault Crypto Service Encryption User"; anything more, "Key Vault Crypto
 * Officer"), so one source of truth serves both the data plane and the control plane.
 */
export function roleAssignmentsAt(world: World, scope: string): KeyVaultRoleAssignment[] {
  const target = scope.replace(/\/+$/, '');
  const out = world.keyVaultRoleAssignments.filter((a) => covers(a.scope, target));
  for (const vault of world.vaults.values()) {
    const vaultId = vaultArmId(vault);
    if (!vault.arm.enableRbacAuthorization || (!covers(vaultId, target) && !covers(target, vaultId)))
      continue;
    if (!covers(vaultId, target)) continue; // below the scope: atScope() lists only at or above
    for (const entry of vault.access) {
      const perms = [...entry.permissions];
      if (perms.length === 0) continue;
      const encryptionUser = perms.every((p) => ['get', 'list', 'wrapkey', 'unwrapkey'].includes(p));
      const role = encryptionUser
        ? KEY_VAULT_ROLES['key vault crypto service encryption user']
        : KEY_VAULT_ROLES['key vault crypto officer'];
      if (role === undefined) continue;
      if (encryptionUser && !['get', 'wrapkey', 'unwrapkey'].every((p) => perms.includes(p))) continue;
      const already = out.some(
        (a) =>
          a.roleDefinitionGuid === role.id &&
          (a.principalId.toLowerCase() === entry.principalId.toLowerCase() ||
            // held through a group: ARM lists the group's assignment, not one per member
            a.members.some((m) => m.toLowerCase() === entry.principalId.toLowerCase())),
      );
      if (already) continue;
      out.push({
        id: `${vaultId}/providers/Microsoft.Authorization/roleAssignments/${guidFrom(vaultId, entry.principalId, role.id)}`,
        scope: vaultId,
        roleDefinitionGuid: role.id,
        principalId: entry.principalId,
        principalType: 'ServicePrincipal',
        members: [],
      });
    }
  }
  return out;
}

/** The subscription of a scope, for routing and throttling. */
export function subscriptionOf(scope: string): string | undefined {
  return /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1]?.toLowerCase();
}
