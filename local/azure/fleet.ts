/**
 * The fleet file: what the local Azure holds when it starts. Servers are ARM `Server` JSON exactly as
 * `GET` returns it, so examples from the REST specs (and `az ... show` output) seed it unchanged.
 * Times are ISO-8601 or relative to the stand-in clock (`now`, `now-200d`, `now+1y`). See local/README.md.
 */
export interface FleetFile {
  /** Entra tenant of the vaults (goes into Key Vault's auth challenge). */
  readonly tenantId?: string;
  /** Clock start, ISO or relative; defaults to real time. */
  readonly clockStart?: string;
  readonly identities?: readonly FleetIdentity[];
  readonly vaults?: readonly FleetVault[];
  readonly servers?: readonly unknown[];
  /**
   * Azure RBAC role assignments ARM checks callers against (flexibleServers/read and /write, and
   * userAssignedIdentities/assign/action on every identity a request body assigns). Absent: every
   * caller holds what infra grants the app (the rotation operator role) on every server subscription.
   */
  readonly roleAssignments?: readonly FleetRoleAssignment[];
  readonly behaviour?: FleetBehaviour;
  /** The Application Insights resource behind the ingestion stand-in. */
  readonly applicationInsights?: FleetApplicationInsights;
}

export interface FleetApplicationInsights {
  /**
   * `DisableLocalAuth`: ingestion accepts only Entra-authenticated telemetry (a bearer token for
   * `https://monitor.azure.com`); requests without one get 401. Default true, as infra deploys it.
   */
  readonly disableLocalAuth?: boolean;
  /** Principal ids holding "Monitoring Metrics Publisher" (others get 403); any principal when absent. */
  readonly publishers?: readonly string[];
}

export interface FleetRoleAssignment {
  /** Object id of the caller (the app's principal locally: see local/app.ts); `*` for every caller. */
  readonly principalId: string;
  /** `/subscriptions/<id>[/resourceGroups/<rg>[/providers/<type>/<name>]]`; covers everything below it. */
  readonly scope: string;
  /**
   * A built-in role name (`Owner`, `Contributor`, `Reader`, `Managed Identity Operator`) or the infra's
   * `PostgreSQL CMK Rotation Operator`; and/or explicit `actions` (wildcards `*` allowed).
   */
  readonly role?: string;
  readonly actions?: readonly string[];
}

export interface FleetIdentity {
  /** ARM id of the user-assigned identity. */
  readonly id: string;
  readonly principalId: string;
  readonly clientId: string;
}

export interface FleetVault {
  readonly name: string;
  /**
   * `vault` (default): a Key Vault at `https://<name>.vault.azure.net`. `managedHsm`: a Managed HSM at
   * `https://<name>.managedhsm.azure.net` (tokens for `https://managedhsm.azure.net`; publishes no
   * Event Grid events, as in Azure).
   */
  readonly kind?: 'vault' | 'managedHsm';
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location?: string;
  /**
   * Data-plane key permissions (the RBAC role "Key Vault Crypto Service Encryption User" grants
   * get, wrapKey and unwrapKey). `identity` is a user-assigned identity id; `principalId` any principal.
   */
  readonly access?: readonly FleetAccess[];
  /** When true, callers (the app's principal) also need permissions in `access`. Default false. */
  readonly enforceCallerAccess?: boolean;
  readonly keys?: readonly FleetKey[];
}

export interface FleetAccess {
  readonly identity?: string;
  readonly principalId?: string;
  readonly permissions: readonly string[];
}

export interface FleetKey {
  readonly name: string;
  /** RSA, RSA-HSM, EC, EC-HSM, oct-HSM; default RSA. */
  readonly kty?: string;
  /** RSA modulus bits; default 2048. */
  readonly size?: number;
  /** Default: encrypt, decrypt, sign, verify, wrapKey, unwrapKey. */
  readonly ops?: readonly string[];
  /** Key Vault's rotation policy JSON, as `GET /keys/<name>/rotationpolicy` returns it. */
  readonly rotationPolicy?: unknown;
  /** Oldest first is not required: order is by `created`. */
  readonly versions: readonly FleetKeyVersion[];
}

export interface FleetKeyVersion {
  /** 32 hex digits; generated when absent. */
  readonly version?: string;
  readonly created?: string;
  readonly nbf?: string;
  readonly exp?: string;
  readonly enabled?: boolean;
  /** Overrides the key's size for this version (to seed a too-small version). */
  readonly size?: number;
  readonly ops?: readonly string[];
}

export interface FleetBehaviour {
  /** How long a PATCH keeps a server `Updating` before it completes. Default 2000 ms. */
  readonly updateDurationMs?: number;
  /** How long after its key becomes unusable a server turns `Inaccessible`. Default 10 minutes. */
  readonly inaccessibleAfterMs?: number;
  /** Page size of ARM server lists. Default 100. */
  readonly armPageSize?: number;
  /** Page size of Key Vault version lists when the client asks for none. Default 25. */
  readonly keyVaultPageSize?: number;
  /** Multiplies Event Grid's retry delays (1 = Azure's schedule; 0.001 compresses an hour into 3.6 s). */
  readonly eventGridRetryScale?: number;
  readonly eventGridDeliveryTimeoutMs?: number;
  /** ARM token buckets per subscription and principal. */
  readonly armThrottling?: { readonly writes?: Bucket; readonly reads?: Bucket };
  /** Resource Graph's per-principal quota: `requests` per `windowMs`. Default 15 per 5000 ms. */
  readonly resourceGraphQuota?: { readonly requests?: number; readonly windowMs?: number };
}

export interface Bucket {
  readonly burst: number;
  readonly perSecond: number;
}

export function isFleetFile(v: unknown): v is FleetFile {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
