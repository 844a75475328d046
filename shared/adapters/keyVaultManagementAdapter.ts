import {
  KeyVaultManagementClient,
  type KeyVaultManagementClientOptionalParams,
  type Vault,
} from '@azure/arm-keyvault';
import type { TokenCredential } from '@azure/core-auth';
import type { VaultListing, VaultProperties, VaultReadFailure } from '../domain/posture';
import { resourceNameOf } from '../domain/resourceId';
import type { KeyVaultManagement } from '../ports/vaultPosture';
import { mapAzureError } from './azureErrors';
import { AzureCallError } from '../ports/errors';

export interface KeyVaultManagementAdapterOptions {
  readonly credential: TokenCredential;
  readonly subscriptions: readonly string[];
  readonly clientOptions?: KeyVaultManagementClientOptionalParams;
}

/** What the posture checks read of a vault, from the SDK's model (`properties` flattened by the SDK's deserializer). */
export function vaultFromSdk(v: Vault): VaultProperties {
  const p = v.properties;
  const acls = p.networkAcls;
  return {
    id: v.id ?? '',
    name: v.name ?? '',
    location: v.location ?? '',
    tenantId: p.tenantId,
    enableSoftDelete: p.enableSoftDelete,
    softDeleteRetentionInDays: p.softDeleteRetentionInDays,
    enablePurgeProtection: p.enablePurgeProtection,
    enableRbacAuthorization: p.enableRbacAuthorization,
    publicNetworkAccess: p.publicNetworkAccess,
    networkAcls:
      acls === undefined
        ? undefined
        : {
            bypass: acls.bypass,
            defaultAction: acls.defaultAction,
            ipRules: acls.ipRules?.length ?? 0,
            virtualNetworkRules: acls.virtualNetworkRules?.length ?? 0,
          },
    accessPolicies: (p.accessPolicies ?? []).map((a) => ({
      tenantId: a.tenantId,
      objectId: a.objectId,
      keys: (a.permissions.keys ?? []).map((k) => k.toLowerCase()),
    })),
  };
}

/** Resource group and name of a vault's ARM id (`/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/name`). */
function vaultCoordinates(id: string): { resourceGroup: string; name: string } | undefined {
  const m =
    /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i.exec(
      id,
    );
  return m?.[1] === undefined || m[2] === undefined ? undefined : { resourceGroup: m[1], name: m[2] };
}

/**
 * `KeyVaultManagement` over `@azure/arm-keyvault` 5.0.0, for a caller granted read at each vault only
 * (infra/modules/vaultAccess.bicep assigns the posture reader at vault scope):
 * 1. Vaults_List (`vaults.list()`: `GET /subscriptions/{s}/resources?$filter=resourceType eq
 *    'Microsoft.KeyVault/vaults'&api-version=2015-11-01`, the 2026-02-01 spec's path) finds the vaults.
 *    It is ARM's generic resource list, which shows the caller the resources it may read; its items are
 *    the spec's `TrackedResource` (id, name, type, location, tags) without properties. azure-cli's
 *    `az keyvault list` uses the same call when no resource group is given (keyvault/custom.py
 *    `list_vault`: `client.list()`).
 * 2. Vaults_Get (`vaults.get(resourceGroup, name)`) reads each vault's properties, authorized at the vault.
 * Vaults_ListBySubscription (`GET /subscriptions/{s}/providers/Microsoft.KeyVault/vaults`) is not used: ARM
 * authorizes that collection read at the subscription scope, which a vault-scoped grant does not cover
 * (403 AuthorizationFailed).
 */
export class KeyVaultManagementAdapter implements KeyVaultManagement {
  constructor(private readonly options: KeyVaultManagementAdapterOptions) {}

  async listVaults(only?: ReadonlySet<string>): Promise<VaultListing> {
    const vaults: VaultProperties[] = [];
    const unreadable: VaultReadFailure[] = [];
    for (const subscription of this.options.subscriptions) {
      const client = new KeyVaultManagementClient(
        this.options.credential,
        subscription,
        this.options.clientOptions ?? {},
      );
      const ids: string[] = [];
      try {
        for await (const r of client.vaults.list()) if (r.id !== undefined) ids.push(r.id);
      } catch (e) {
        throw mapAzureError(e, `Key Vault vaults of subscription ${subscription}`);
      }
      for (const id of ids) {
        const at = vaultCoordinates(id);
        if (only !== undefined && !only.has((at?.name ?? resourceNameOf(id)).toLowerCase())) continue;
        if (at === undefined) {
          unreadable.push({
            vaultName: resourceNameOf(id),
            resourceId: id,
            code: 'UnexpectedResourceId',
          });
          continue;
        }
        try {
          vaults.push(vaultFromSdk(await client.vaults.get(at.resourceGroup, at.name)));
        } catch (e) {
          const err = mapAzureError(e, `Key Vault ${id}`);
          const code = err instanceof AzureCallError ? (err.azureCode ?? err.code) : err.code;
          unreadable.push({ vaultName: at.name, resourceId: id, code });
        }
      }
    }
    return { vaults, unreadable };
  }
}
