import type { VaultPosture, VaultProperties } from '../../shared/domain/posture';
import { SUBSCRIPTION, TENANT } from './servers';

/** Key Vault control-plane properties (what the posture reads) for unit tests. */
export const vaultResourceId = (
  name: string,
  subscriptionId = SUBSCRIPTION,
  resourceGroup = 'rg-kv',
): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`;

/**
 * A vault as the seeds recommend (soft delete with 90 days, purge protection, RBAC, public access off
 * with the trusted-services bypass) in `SUBSCRIPTION`/rg-kv; the id follows `name` unless `id` is given.
 */
export function vaultProperties(name = 'contoso-kv', over: Partial<VaultProperties> = {}): VaultProperties {
  return {
    id: vaultResourceId(name),
    name,
    location: 'westeurope',
    tenantId: TENANT,
    enableSoftDelete: true,
    softDeleteRetentionInDays: 90,
    enablePurgeProtection: true,
    enableRbacAuthorization: true,
    publicNetworkAccess: 'Disabled',
    networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', ipRules: 0, virtualNetworkRules: 0 },
    accessPolicies: [],
    ...over,
  };
}

/** A vault's posture (what the posture report says of it): RBAC, nothing checked, at no risk. */
export function vaultPosture(vaultName: string, over: Partial<VaultPosture> = {}): VaultPosture {
  return {
    vaultName,
    resourceId: undefined,
    location: undefined,
    tenantId: undefined,
    model: 'rbac',
    checks: [],
    identities: [],
    risk: 'ok',
    reasons: [],
    ...over,
  };
}
