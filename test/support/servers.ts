import type { DataEncryptionInfo, IdentityInfo, ServerSnapshot } from '../../shared/domain/model';

/**
 * Flexible-server snapshots (what `ServerFleet` and Resource Graph reads hand the domain) for unit tests:
 * one builder, typed, with overrides, instead of a hand-written literal per test file.
 */
export const SUBSCRIPTION = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
/** The version a built server's primary key points at unless told otherwise. */
export const SERVER_KEY_VERSION = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';

export const flexibleServerId = (subscriptionId: string, resourceGroup: string, name: string): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;

export const userAssignedIdentityId = (subscriptionId: string, resourceGroup: string, name: string): string =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

/** `identity` of a server with user-assigned identities: ARM id → principal id (or none). */
export function userAssigned(
  identities: Readonly<Record<string, string | undefined>>,
  tenantId?: string,
): IdentityInfo {
  return {
    type: 'UserAssigned',
    ...(tenantId === undefined ? {} : { tenantId }),
    userAssignedIdentities: Object.fromEntries(
      Object.entries(identities).map(([id, principalId]) => [
        id,
        principalId === undefined ? {} : { principalId },
      ]),
    ),
  };
}

export interface ServerOverrides extends Partial<Omit<ServerSnapshot, 'dataEncryption'>> {
  /**
   * Merged over the default encryption (AzureKeyVault, the primary key on `SERVER_KEY_VERSION` of
   * `VAULT_URL`/pg-cmk, status Valid); `undefined` given explicitly: a server with no encryption info.
   */
  readonly dataEncryption?: DataEncryptionInfo | undefined;
}

/**
 * A Ready server in `SUBSCRIPTION`/rg (westeurope, no tags, no identity) whose primary key is a versioned
 * Key Vault key in good standing. The id follows the subscription, group and name unless `id` is given.
 */
export function serverSnapshot(name: string, over: ServerOverrides = {}): ServerSnapshot {
  const { dataEncryption, ...rest } = over;
  const subscriptionId = rest.subscriptionId ?? SUBSCRIPTION;
  const resourceGroup = rest.resourceGroup ?? 'rg';
  const encryption: DataEncryptionInfo | undefined =
    'dataEncryption' in over && dataEncryption === undefined
      ? undefined
      : {
          type: 'AzureKeyVault',
          primaryKeyURI: `${VAULT_URL}/keys/pg-cmk/${SERVER_KEY_VERSION}`,
          primaryEncryptionKeyStatus: 'Valid',
          ...dataEncryption,
        };
  return {
    id: flexibleServerId(subscriptionId, resourceGroup, name),
    name,
    subscriptionId,
    resourceGroup,
    location: 'westeurope',
    state: 'Ready',
    tags: {},
    identity: undefined,
    ...rest,
    dataEncryption: encryption,
  };
}
