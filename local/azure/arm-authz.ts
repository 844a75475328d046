import { armError } from './arm-common';
import type { FleetRoleAssignment } from './fleet';
import { isObject } from './http';
import { vaultArmId } from './keyvault-model';
import type { RoleAssignment, WorldState as World } from './world-state';

/**
 * ARM's caller authorization (Azure RBAC) for the flexible server routes: role assignments from the
 * fleet file (`roleAssignments`), or, when the file has none, what infra grants the app (the custom
 * "PostgreSQL CMK Rotation Operator" role of infra/modules/serverOperatorRole.bicep) to every caller on
 * every subscription that holds a server, and Key Vault Reader on every vault. Resource Graph shows a
 * caller only the rows it may read.
 */

export const ACTIONS = {
  read: 'Microsoft.DBforPostgreSQL/flexibleServers/read',
  write: 'Microsoft.DBforPostgreSQL/flexibleServers/write',
  assignIdentity: 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
} as const;

/** What infra/modules/serverOperatorRole.bicep grants the app (keep the two in step). */
export const ROTATION_OPERATOR_ACTIONS = [
  'Microsoft.DBforPostgreSQL/flexibleServers/read',
  'Microsoft.DBforPostgreSQL/flexibleServers/write',
  'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read',
  'Microsoft.DBforPostgreSQL/locations/operationResults/read',
];

/** What infra/modules/vaultPostureRole.bicep grants the app at each vault (keep the two in step). */
export const POSTURE_READER_ACTIONS = [
  'Microsoft.KeyVault/vaults/read',
  'Microsoft.Authorization/roleAssignments/read',
];

/** Control-plane actions of the built-in Key Vault Reader and Key Vault Crypto Officer roles. */
const KEY_VAULT_READER_ACTIONS = [
  'Microsoft.Authorization/*/read',
  'Microsoft.Resources/deployments/*',
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.KeyVault/checkNameAvailability/read',
  'Microsoft.KeyVault/deletedVaults/read',
  'Microsoft.KeyVault/locations/*/read',
  'Microsoft.KeyVault/vaults/*/read',
  'Microsoft.KeyVault/operations/read',
];

/** Built-in roles by name (their `actions`; `notActions` of Contributor do not matter here). */
const ROLES: Readonly<Record<string, readonly string[]>> = {
  owner: ['*'],
  contributor: ['*'],
  reader: ['*/read'],
  'managed identity operator': [
    'Microsoft.ManagedIdentity/userAssignedIdentities/*/read',
    'Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action',
  ],
  'postgresql cmk rotation operator': ROTATION_OPERATOR_ACTIONS,
  'postgresql cmk posture reader': POSTURE_READER_ACTIONS,
  // Key Vault's built-in roles: their control-plane actions (the key permissions they grant on RBAC
  // vaults are the data plane's business: local/azure/keyvault-rbac.ts).
  'key vault reader': KEY_VAULT_READER_ACTIONS,
  'key vault crypto officer': KEY_VAULT_READER_ACTIONS,
  'key vault crypto user': [],
  'key vault crypto service encryption user': [
    'Microsoft.EventGrid/eventSubscriptions/write',
    'Microsoft.EventGrid/eventSubscriptions/read',
    'Microsoft.EventGrid/eventSubscriptions/delete',
  ],
};

export class RoleError extends Error {}

export function roleAssignmentsFrom(raw: readonly FleetRoleAssignment[]): RoleAssignment[] {
  // An assignment to a group authorizes its members (ARM reads membership from the caller's token).
  const expanded = raw.flatMap((a) =>
    a.principalType === 'Group' || a.principalType === 'ForeignGroup'
      ? (a.members ?? []).map((m) => ({ ...a, principalId: m }))
      : [a],
  );
  return expanded.map((a) => {
    const byRole = a.role === undefined ? [] : ROLES[a.role.toLowerCase()];
    if (byRole === undefined)
      throw new RoleError(`unknown role '${a.role ?? ''}' (known: ${Object.keys(ROLES).join(', ')})`);
    if (!/^\/subscriptions\/[^/]+/i.test(a.scope))
      throw new RoleError(`role assignment scope must start with /subscriptions/<id>, got '${a.scope}'`);
    const actions = [...byRole, ...(a.actions ?? [])];
    if (actions.length === 0 && a.role === undefined)
      throw new RoleError('a role assignment needs a role or actions');
    return { principalId: a.principalId, scope: a.scope, actions };
  });
}

/** The infra defaults, computed once per set of servers (a list checks every server it returns). */
const defaults = new WeakMap<World, { servers: number; assignments: readonly RoleAssignment[] }>();

function assignments(world: World): readonly RoleAssignment[] {
  if (world.roleAssignments !== undefined) return world.roleAssignments;
  const cached = defaults.get(world);
  if (cached?.servers === world.servers.size) return cached.assignments;
  const subs = new Set<string>();
  for (const r of world.servers.values()) subs.add(String(r.json['id']).split('/')[2] ?? '');
  const computed: RoleAssignment[] = [...subs].map((s) => ({
    principalId: '*',
    scope: `/subscriptions/${s}`,
    actions: ROTATION_OPERATOR_ACTIONS,
  }));
  // infra/modules/vaultAccess.bicep: Key Vault Reader and the posture reader on each vault.
  for (const v of world.vaults.values())
    computed.push({
      principalId: '*',
      scope: vaultArmId(v),
      actions: ['Microsoft.KeyVault/*/read', ...POSTURE_READER_ACTIONS],
    });
  defaults.set(world, { servers: world.servers.size, assignments: computed });
  return computed;
}

// RBAC wildcards: a star matches anything, and a star between two slashes also matches a single
// slash, so the built-in Managed Identity Operator's "userAssignedIdentities/(star)/assign/action"
// covers "userAssignedIdentities/assign/action".
const compiled = new Map<string, RegExp>();

function actionMatches(pattern: string, action: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    const source = pattern
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\/\.\*\//g, '/(?:.*/)?');
    re = new RegExp(`^${source}$`, 'i');
    compiled.set(pattern, re);
  }
  return re.test(action);
}

function inScope(scope: string, resourceId: string): boolean {
  const s = scope.replace(/\/+$/, '').toLowerCase();
  const r = resourceId.toLowerCase();
  return r === s || r.startsWith(`${s}/`);
}

export function isAllowed(world: World, principal: string, action: string, resourceId: string): boolean {
  return assignments(world).some(
    (a) =>
      (a.principalId === '*' || a.principalId.toLowerCase() === principal.toLowerCase()) &&
      inScope(a.scope, resourceId) &&
      a.actions.some((p) => actionMatches(p, action)),
  );
}

/** 403 AuthorizationFailed, in ARM's words. */
export function requireAction(world: World, principal: string, action: string, scope: string): void {
  if (isAllowed(world, principal, action, scope)) return;
  throw armError(
    403,
    'AuthorizationFailed',
    `The client '${principal}' with object id '${principal}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/**
 * Linked authorization: every user-assigned identity a request body assigns (a non-null entry of
 * `identity.userAssignedIdentities`, already assigned or not) needs `assign/action` on that identity,
 * or ARM refuses the whole request with 403 LinkedAuthorizationFailed (message shape as ARM returns it,
 * e.g. Azure/aad-pod-identity#339, #613). Removing one (`null`) needs no linked permission.
 */
export function requireLinkedIdentities(
  world: World,
  principal: string,
  writeAction: string,
  resourceId: string,
  body: unknown,
): void {
  const identity = isObject(body) ? body['identity'] : undefined;
  const map = isObject(identity) ? identity['userAssignedIdentities'] : undefined;
  if (!isObject(map)) return;
  const denied = Object.entries(map)
    .filter(([, v]) => v !== null)
    .map(([id]) => id)
    .filter((id) => !isAllowed(world, principal, ACTIONS.assignIdentity, id));
  if (denied.length === 0) return;
  throw armError(
    403,
    'LinkedAuthorizationFailed',
    `The client '${principal}' with object id '${principal}' has permission to perform action '${writeAction}' on scope '${resourceId}'; however, it does not have permission to perform action '${ACTIONS.assignIdentity}' on the linked scope(s) '${denied.map((d) => d.toLowerCase()).join(',')}' or the linked scope(s) are invalid.`,
  );
}
