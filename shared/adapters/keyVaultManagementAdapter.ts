import {
  KeyVaultManagementClient,
  type KeyVaultManagementClientOptionalParams,
  type Vault,
} from '@azure/arm-keyvault';
import type { TokenCredential } from '@azure/core-auth';
import type { VaultProperties } from '../domain/posture';
import type { KeyVaultManagement } from '../ports/vaultPosture';
import { mapAzureError } from './azureErrors';

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

/** `KeyVaultManagement` over `@azure/arm-keyvault` (Vaults_ListBySubscription, paged by the SDK). */
export class KeyVaultManagementAdapter implements KeyVaultManagement {
  constructor(private readonly options: KeyVaultManagementAdapterOptions) {}

  async listVaults(): Promise<VaultProperties[]> {
    const out: VaultProperties[] = [];
    for (const subscription of this.options.subscriptions) {
      const client = new KeyVaultManagementClient(
        this.options.credential,
        subscription,
        this.options.clientOptions ?? {},
      );
      try {
        for await (const v of client.vaults.listBySubscription()) out.push(vaultFromSdk(v));
      } catch (e) {
        throw mapAzureError(e, `Key Vault vaults of subscription ${subscription}`);
      }
    }
    return out;
  }
}
