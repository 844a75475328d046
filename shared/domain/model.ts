/**
 * Plain-JSON shapes the domain reasons about. Activities pass these across the durable boundary, so
 * dates are ISO-8601 strings and nothing here is a class instance.
 */

/** One version of a Key Vault key, as read from the vault (the truth; events are only hints). */
export interface KeyVersionInfo {
  /** Versioned key URI, canonical (`https://<vault host>/keys/<name>/<version>`). */
  readonly kid: string;
  readonly version: string;
  readonly enabled: boolean;
  readonly createdOn: string;
  readonly notBefore?: string | undefined;
  readonly expiresOn?: string | undefined;
  /** Known when the version's key material was read; listing versions only returns attributes. */
  readonly keyType?: string | undefined;
  readonly keySize?: number | undefined;
  readonly keyOps?: readonly string[] | undefined;
}

export interface KeyInfo {
  readonly vaultUrl: string;
  readonly vaultName: string;
  readonly name: string;
  /** Every version the vault lists, in any order. */
  readonly versions: readonly KeyVersionInfo[];
  /**
   * The version Key Vault serves when asked for the key without a version: its current one. Creation
   * times are whole seconds, so two versions made in the same second tie; this is the tie-break.
   */
  readonly currentVersion?: string | undefined;
}

export type DataEncryptionType = 'SystemManaged' | 'AzureKeyVault';

/** `properties.dataEncryption` of a flexible server, as ARM returns it. */
export interface DataEncryptionInfo {
  readonly type?: string | undefined;
  readonly primaryKeyURI?: string | undefined;
  readonly primaryUserAssignedIdentityId?: string | undefined;
  readonly geoBackupKeyURI?: string | undefined;
  readonly geoBackupUserAssignedIdentityId?: string | undefined;
  readonly primaryEncryptionKeyStatus?: string | undefined;
  readonly geoBackupEncryptionKeyStatus?: string | undefined;
  /**
   * Cross-tenant CMK (preview): the client id of the multi-tenant Entra application the server's
   * identity federates with to reach a vault in another tenant. ARM returns it only for api-versions
   * that know it (2026-04-01-preview), Resource Graph with the stored properties; absent otherwise.
   */
  readonly primaryFederatedIdentityClientId?: string | undefined;
  readonly geoBackupFederatedIdentityClientId?: string | undefined;
}

export interface IdentityInfo {
  readonly type: string;
  /** `identity.tenantId`: the Entra tenant of the server's identities, when ARM reports it. */
  readonly tenantId?: string | undefined;
  /** Keyed by the identity's ARM id, as ARM returns it. */
  readonly userAssignedIdentities: Readonly<
    Record<string, { readonly principalId?: string; readonly clientId?: string }>
  >;
}

/** What the rotator needs of a flexible server (a projection of ARM's `Server`). */
export interface ServerSnapshot {
  readonly id: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location: string;
  /** `properties.state`: Ready, Updating, Inaccessible, ... */
  readonly state: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
  readonly identity: IdentityInfo | undefined;
  readonly dataEncryption: DataEncryptionInfo | undefined;
  /** `properties.replica.role` (or the older `properties.replicationRole`): Primary, AsyncReplica, ... */
  readonly replicationRole?: string | undefined;
}

export type Slot = 'primary' | 'geoBackup';
export const SLOTS: readonly Slot[] = ['primary', 'geoBackup'];

/**
 * The PATCH body that moves a server's encryption: `properties.dataEncryption` only, never `identity`
 * (why: the comment on `buildPatchBody` in plan.ts).
 */
export interface EncryptionPatchBody {
  readonly properties: {
    readonly dataEncryption: {
      readonly type: 'AzureKeyVault';
      readonly primaryKeyURI: string;
      readonly primaryUserAssignedIdentityId: string;
      readonly geoBackupKeyURI?: string;
      readonly geoBackupUserAssignedIdentityId?: string;
    };
  };
}
