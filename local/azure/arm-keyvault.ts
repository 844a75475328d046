import { isAllowed, requireAction } from './arm-authz';
import { armError, armPage } from './arm-common';
import type { Reply, Request } from './http';
import { vaultArmId, type Vault } from './keyvault-model';
import { roleAssignmentsAt } from './keyvault-rbac';
import type { WorldState } from './world-state';

/**
 * Control-plane stand-ins for the posture checks, answering what Azure answers (wire shapes of
 * Microsoft.KeyVault 2026-02-01 `Vault` and Microsoft.Authorization 2022-04-01 `RoleAssignment`; the
 * conformance suite validates them against the saved specs and examples):
 * - `GET /subscriptions/{s}/providers/Microsoft.KeyVault/vaults` (Vaults_ListBySubscription),
 *   `GET /subscriptions/{s}/resources?$filter=resourceType eq 'Microsoft.KeyVault/vaults'` (Vaults_List)
 *   and `GET .../resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}` (Vaults_Get);
 * - `GET /{scope}/providers/Microsoft.Authorization/roleAssignments` (RoleAssignments_ListForScope),
 *   with `$filter=atScope()` (at or above the scope) or `principalId eq '<id>'`. Without a filter Azure
 *   also lists assignments below the scope; the stand-in models none below a vault, so it answers the same.
 */
export const KEYVAULT_API_VERSIONS = ['2023-07-01', '2024-11-01', '2025-05-01', '2026-02-01'];
export const AUTHORIZATION_API_VERSIONS = ['2022-04-01'];

export function vaultView(v: Vault): Record<string, unknown> {
  const a = v.arm;
  const accessPolicies = a.enableRbacAuthorization
    ? []
    : v.access.map((e) => ({
        tenantId: a.tenantId,
        objectId: e.principalId,
        permissions: { keys: [...e.permissions].map(casedPermission), secrets: [], certificates: [] },
      }));
  return {
    id: vaultArmId(v),
    name: v.name,
    type: 'Microsoft.KeyVault/vaults',
    location: v.location,
    tags: {},
    properties: {
      tenantId: a.tenantId,
      sku: { family: 'A', name: 'standard' },
      accessPolicies,
      vaultUri: `https://${v.name}.vault.azure.net/`,
      enabledForDeployment: false,
      enabledForDiskEncryption: false,
      enabledForTemplateDeployment: false,
      enableSoftDelete: a.enableSoftDelete,
      softDeleteRetentionInDays: a.softDeleteRetentionInDays,
      enableRbacAuthorization: a.enableRbacAuthorization,
      // ARM omits enablePurgeProtection until it is turned on (it can never be turned off again).
      ...(a.enablePurgeProtection ? { enablePurgeProtection: true } : {}),
      ...(a.networkAcls !== undefined
        ? {
            networkAcls: {
              bypass: a.networkAcls.bypass,
              defaultAction: a.networkAcls.defaultAction,
              ipRules: a.networkAcls.ipRules.map((value) => ({ value })),
              virtualNetworkRules: a.networkAcls.virtualNetworkRules.map((id) => ({ id })),
            },
          }
        : {}),
      provisioningState: 'Succeeded',
      publicNetworkAccess: a.publicNetworkAccess,
    },
  };
}

/** Key Vault spells permissions in camelCase on the wire (`wrapKey`, `unwrapKey`, `getrotationpolicy`). */
function casedPermission(p: string): string {
  const known: Record<string, string> = { wrapkey: 'wrapKey', unwrapkey: 'unwrapKey' };
  return known[p] ?? p;
}

export const VAULT_READ = 'Microsoft.KeyVault/vaults/read';
export const ROLE_ASSIGNMENTS_READ = 'Microsoft.Authorization/roleAssignments/read';

/** Resource types of `GET /subscriptions/{s}/resources` that the stand-in models (only Key Vaults). */
export const RESOURCES_API_VERSIONS = ['2015-11-01', '2021-04-01'];
const VAULTS_FILTER = "resourceType eq 'Microsoft.KeyVault/vaults'";

function vaultsOf(world: WorldState, sub: string): Vault[] {
  return [...world.vaults.values()]
    .filter((v) => v.kind === 'vault' && v.subscriptionId.toLowerCase() === sub)
    .sort((a, b) => vaultArmId(a).toLowerCase().localeCompare(vaultArmId(b).toLowerCase()));
}

/**
 * Vaults_ListBySubscription (`GET /subscriptions/{s}/providers/Microsoft.KeyVault/vaults`): a
 * collection read of the resource provider. ARM authorizes a request against its own URI scope before
 * the RP sees it, so the caller needs `Microsoft.KeyVault/vaults/read` at the subscription (or above);
 * read granted only on single vaults is not enough and ARM answers 403 AuthorizationFailed. The RP then
 * lists every vault of the subscription with its properties.
 */
export function listVaults(world: WorldState, req: Request, sub: string, principal: string): Reply {
  requireAction(world, principal, VAULT_READ, `/subscriptions/${sub}`);
  return {
    status: 200,
    body: armPage(
      world,
      req,
      vaultsOf(world, sub).map((v) => vaultView(v)),
    ),
  };
}

/**
 * Vaults_List (`GET /subscriptions/{s}/resources?$filter=resourceType eq 'Microsoft.KeyVault/vaults'`,
 * api-version 2015-11-01 in the 2026-02-01 spec): ARM's generic resource list, answered by ARM itself
 * from its resource cache, not by the Key Vault RP. It shows each caller the resources it may read (a
 * vault with `Microsoft.KeyVault/vaults/read` granted at the vault appears, the others do not), and only
 * the envelope: the spec's `ResourceListResult` of `TrackedResource` (id, name, type, location, tags),
 * no `properties`. The stand-in models this one filter (its only resources of interest are vaults).
 */
export function listVaultResources(world: WorldState, req: Request, sub: string, principal: string): Reply {
  const filter = (req.query.get('$filter') ?? '').trim().replace(/\s+/g, ' ');
  if (filter.toLowerCase() !== VAULTS_FILTER.toLowerCase())
    throw armError(
      400,
      'UnsupportedQuery',
      `The local stand-in lists resources only with $filter=${VAULTS_FILTER}; got '${req.query.get('$filter') ?? ''}'.`,
    );
  const value = vaultsOf(world, sub)
    .filter((v) => isAllowed(world, principal, VAULT_READ, vaultArmId(v)))
    .map((v) => ({
      id: vaultArmId(v),
      name: v.name,
      type: 'Microsoft.KeyVault/vaults',
      location: v.location,
      tags: {},
    }));
  return { status: 200, body: armPage(world, req, value) };
}

export function getVault(world: WorldState, sub: string, rg: string, name: string, principal: string): Reply {
  requireAction(
    world,
    principal,
    VAULT_READ,
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`,
  );
  const v = world.vaults.get(name.toLowerCase());
  if (
    v?.kind !== 'vault' ||
    v.subscriptionId.toLowerCase() !== sub ||
    v.resourceGroup.toLowerCase() !== rg.toLowerCase()
  )
    throw armError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.KeyVault/vaults/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  return { status: 200, body: vaultView(v) };
}

const ROLE_ASSIGNMENTS = /^(\/.+?)\/providers\/Microsoft\.Authorization\/roleAssignments\/?$/i;

/** The scope of a RoleAssignments_ListForScope path, or undefined when the path is not one. */
export function roleAssignmentScope(path: string): string | undefined {
  return ROLE_ASSIGNMENTS.exec(path)?.[1];
}

export function listRoleAssignments(
  world: WorldState,
  req: Request,
  scope: string,
  principal: string,
): Reply {
  requireAction(world, principal, ROLE_ASSIGNMENTS_READ, scope);
  const filter = req.query.get('$filter');
  if (filter !== null && filter.trim() !== 'atScope()' && !/^principalId eq '[^']+'$/i.test(filter.trim()))
    throw armError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
  const only = /^principalId eq '([^']+)'$/i.exec(filter?.trim() ?? '')?.[1];
  const value = roleAssignmentsAt(world, scope)
    .filter((a) => only === undefined || a.principalId.toLowerCase() === only.toLowerCase())
    .map((a) => {
      const sub = /^\/subscriptions\/([^/]+)/i.exec(a.scope)?.[1] ?? '';
      return {
        id: a.id,
        type: 'Microsoft.Authorization/roleAssignments',
        name: a.id.split('/').pop() ?? '',
        properties: {
          roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${a.roleDefinitionGuid}`,
          principalId: a.principalId,
          principalType: a.principalType,
          scope: a.scope,
        },
      };
    });
  return { status: 200, body: { value } };
}
