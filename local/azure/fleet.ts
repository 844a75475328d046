import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { closest, distance } from 'fastest-levenshtein';
import { readFileSync } from 'node:fs';
import fleetSchema from './fleet.schema.json';

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
   * Role assignments that name a Key Vault role ("Key Vault Crypto Service Encryption User", "Key Vault
   * Crypto User", "Key Vault Crypto Officer", "Key Vault Reader") at or above an RBAC vault grant that
   * role's key permissions on it, and `GET .../providers/Microsoft.Authorization/roleAssignments` lists
   * them (local/azure/keyvault-rbac.ts). See local/README.md.
   */
  readonly roleAssignments?: readonly FleetRoleAssignment[];
  readonly behaviour?: FleetBehaviour;
  /**
   * The app's network, which Key Vault's firewall judges its data-plane calls by (a vault with
   * `publicNetworkAccess: Disabled` answers 403 `ForbiddenByConnection`; `networkAcls.defaultAction:
   * Deny` without a rule matching the app, 403 `ForbiddenByFirewall`). Absent: no VNet integration, no private endpoint.
   */
  readonly appNetwork?: FleetAppNetwork;
  /** The Application Insights resource behind the ingestion stand-in. */
  readonly applicationInsights?: FleetApplicationInsights;
}

export interface FleetAppNetwork {
  /** Public IPv4 addresses the app's outbound calls leave from (matched against vault `ipRules`). */
  readonly outboundIpAddresses?: readonly string[];
  /** Subnet of the app's VNet integration (matched against vault `virtualNetworkRules`). */
  readonly subnetId?: string;
  /**
   * Names of the vaults the app reaches through a private endpoint (in its VNet or a peered one, with
   * the `privatelink.vaultcore.azure.net` zone linked): reached whatever their public settings.
   */
  readonly privateEndpoints?: readonly string[];
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
   * A built-in role name (`Owner`, `Contributor`, `Reader`, `Managed Identity Operator`, the Key Vault
   * roles above) or the infra's `PostgreSQL CMK Rotation Operator` / `PostgreSQL CMK Posture Reader`;
   * and/or explicit `actions` (wildcards `*` allowed).
   */
  readonly role?: string;
  readonly actions?: readonly string[];
  /**
   * The principal's type as ARM reports it on the assignment (RoleAssignmentProperties.principalType,
   * Microsoft.Authorization 2022-04-01): `ServicePrincipal` (default; managed identities are service
   * principals), `User`, `Group`, `ForeignGroup` or `Device`.
   */
  readonly principalType?: 'ServicePrincipal' | 'User' | 'Group' | 'ForeignGroup' | 'Device';
  /**
   * For a `Group` or `ForeignGroup`: the object ids of its members (Entra group membership, which ARM
   * does not show). They hold the role through the group: Key Vault and ARM authorize them; the role
   * assignment list names the group only.
   */
  readonly members?: readonly string[];
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
  /**
   * ARM properties of the vault (`GET Microsoft.KeyVault/vaults`), for the posture checks. Defaults are
   * what a vault created today gets: tenant of the fleet, soft delete on, 90 days retention, purge
   * protection off, Azure RBAC on, public network access enabled with no firewall.
   * With RBAC (`enableRbacAuthorization`, default true) `access` entries show as role assignments at the
   * vault; with access policies (false) as `properties.accessPolicies`.
   */
  readonly tenantId?: string;
  readonly enableSoftDelete?: boolean;
  readonly softDeleteRetentionInDays?: number;
  readonly enablePurgeProtection?: boolean;
  readonly enableRbacAuthorization?: boolean;
  /** `Enabled` or `Disabled`. */
  readonly publicNetworkAccess?: string;
  readonly networkAcls?: {
    /** `AzureServices` or `None`. */
    readonly bypass?: string;
    /** `Allow` or `Deny`. */
    readonly defaultAction?: string;
    readonly ipRules?: readonly string[];
    readonly virtualNetworkRules?: readonly string[];
  };
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
  /**
   * How far an operation's duration strays from `updateDurationMs`, either way (ms): each server's
   * operations last `updateDurationMs` ± up to this much, drawn from the server's id (spread evenly
   * over the servers, the same in every run). Default 0 (every operation exactly `updateDurationMs`).
   */
  readonly updateDurationSpreadMs?: number;
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

/** A fleet file that cannot be loaded: every problem with its JSON path, one per line. */
export class FleetFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file} is not a valid fleet file:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

export interface FleetCheck {
  /** What makes the file unusable (`vaults[0].keys[1].versions: required`). Empty when it is valid. */
  readonly problems: string[];
  /** What is allowed but probably not meant (a server pinned to a vault or version the file lacks). */
  readonly warnings: string[];
}

/** Key Vault key permissions (access policies), compared case-insensitively as Key Vault does. */
const KEY_PERMISSIONS = new Set(
  [
    'get',
    'list',
    'create',
    'update',
    'import',
    'delete',
    'recover',
    'backup',
    'restore',
    'decrypt',
    'encrypt',
    'unwrapKey',
    'wrapKey',
    'verify',
    'sign',
    'rotate',
    'getRotationPolicy',
    'setRotationPolicy',
    'purge',
    'release',
  ].map((p) => p.toLowerCase()),
);

let compiled: ValidateFunction | undefined;
function schemaValidator(): ValidateFunction {
  // verbose: each error carries its schema node, whose properties are the did-you-mean candidates.
  compiled ??= new Ajv({ allErrors: true, strict: true, verbose: true }).compile(fleetSchema);
  return compiled;
}

/** What the schema's named patterns mean, in words (ajv reports the pattern itself). */
const PATTERN_MEANING = new Map<string, string>(
  (
    [
      ['time', 'must be ISO-8601 or now, now-300d, now+1y (units s, m, h, d, w, y)'],
      ['uuid', 'must be a UUID'],
      [
        'identityId',
        'must be a user-assigned identity id (/subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)',
      ],
      [
        'serverId',
        'must be a flexible server id (/subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.DBforPostgreSQL/flexibleServers/<name>)',
      ],
    ] as const
  ).map(([name, meaning]) => [fleetSchema.definitions[name].pattern, meaning]),
);

/** `/vaults/0/keys/1` → `vaults[0].keys[1]` (JSON Pointer to the path people read). */
function readablePath(pointer: string, child?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts)
    out += /^\d+$/.test(p)
      ? `[${p}]`
      : /^[A-Za-z_$][\w$]*$/.test(p)
        ? `${out === '' ? '' : '.'}${p}`
        : `[${JSON.stringify(p)}]`;
  return out === '' ? '(file)' : out;
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${readablePath(e.instancePath, String(params['missingProperty']))}: required`;
    case 'additionalProperties': {
      const name = String(params['additionalProperty']);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const near = known.length > 0 ? closest(name, known) : undefined;
      const hint =
        near !== undefined && distance(name.toLowerCase(), near.toLowerCase()) <= Math.max(2, name.length / 3)
          ? ` (did you mean ${near}?)`
          : '';
      return `${readablePath(e.instancePath, name)}: unknown property${hint}`;
    }
    case 'pattern':
      return `${readablePath(e.instancePath)}: ${PATTERN_MEANING.get(String(params['pattern'])) ?? `must match ${String(params['pattern'])}`}`;
    case 'enum':
      return `${readablePath(e.instancePath)}: must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${readablePath(e.instancePath)}: ${e.message ?? e.keyword}`;
  }
}

const KEY_URI =
  /^https:\/\/([a-z0-9-]+)\.(?:vault|managedhsm)\.azure\.net(?::443)?\/keys\/([^/]+)(?:\/([^/]*))?\/?$/i;

/**
 * Checks a parsed fleet file against `fleet.schema.json` and the references between its parts, before
 * anything starts. Every problem is reported with its JSON path; nothing here throws on bad input.
 */
export function checkFleet(value: unknown): FleetCheck {
  const validate = schemaValidator();
  if (!validate(value)) {
    return { problems: [...new Set((validate.errors ?? []).map(describe))], warnings: [] };
  }
  const fleet = value as FleetFile;
  const problems: string[] = [];
  const warnings: string[] = [];
  const identities = new Set((fleet.identities ?? []).map((i) => i.id.toLowerCase()));
  const vaultNames = new Map<string, FleetVault>();
  (fleet.vaults ?? []).forEach((v, vi) => {
    if (vaultNames.has(v.name.toLowerCase())) problems.push(`vaults[${vi}].name: duplicate vault ${v.name}`);
    vaultNames.set(v.name.toLowerCase(), v);
    (v.access ?? []).forEach((a, ai) => {
      const at = `vaults[${vi}].access[${ai}]`;
      if (a.identity === undefined && a.principalId === undefined)
        problems.push(`${at}: needs identity or principalId`);
      if (a.identity !== undefined && !identities.has(a.identity.toLowerCase()))
        problems.push(`${at}.identity: not listed in identities`);
      a.permissions.forEach((p, pi) => {
        if (!KEY_PERMISSIONS.has(p.toLowerCase()))
          problems.push(`${at}.permissions[${pi}]: unknown key permission "${p}"`);
      });
    });
    const keyNames = new Set<string>();
    (v.keys ?? []).forEach((k, ki) => {
      if (keyNames.has(k.name.toLowerCase()))
        problems.push(`vaults[${vi}].keys[${ki}].name: duplicate key ${k.name}`);
      keyNames.add(k.name.toLowerCase());
      const versions = new Set<string>();
      k.versions.forEach((ver, xi) => {
        if (ver.version === undefined) return;
        if (versions.has(ver.version.toLowerCase()))
          problems.push(`vaults[${vi}].keys[${ki}].versions[${xi}].version: duplicate version`);
        versions.add(ver.version.toLowerCase());
      });
    });
  });
  (fleet.appNetwork?.privateEndpoints ?? []).forEach((name, i) => {
    if (!vaultNames.has(name.toLowerCase()))
      warnings.push(`appNetwork.privateEndpoints[${i}]: vault ${name} is not defined in the file`);
  });
  const serverIds = new Set<string>();
  (fleet.servers ?? []).forEach((raw, si) => {
    const server = raw as { id: string; properties?: { dataEncryption?: Record<string, unknown> } };
    if (serverIds.has(server.id.toLowerCase())) problems.push(`servers[${si}].id: duplicate server`);
    serverIds.add(server.id.toLowerCase());
    const name = server.id.split('/').pop() ?? '';
    const de = server.properties?.dataEncryption ?? {};
    for (const field of ['primaryKeyURI', 'geoBackupKeyURI']) {
      const uri = de[field];
      if (typeof uri !== 'string' || uri === '') continue;
      const at = `servers[${si}].properties.dataEncryption.${field}`;
      const m = KEY_URI.exec(uri);
      if (m === null) {
        warnings.push(`${at}: ${name} uses ${uri}, which is not a Key Vault key URI`);
        continue;
      }
      const [, vaultName = '', keyName = '', version = ''] = m;
      const vault = vaultNames.get(vaultName.toLowerCase());
      const key = vault?.keys?.find((k) => k.name.toLowerCase() === keyName.toLowerCase());
      if (vault === undefined)
        warnings.push(`${at}: ${name} is pinned to vault ${vaultName}, which the file does not define`);
      else if (key === undefined)
        warnings.push(`${at}: ${name} uses key ${keyName}, which vault ${vaultName} does not define`);
      else if (
        version !== '' &&
        !key.versions.some((x) => x.version?.toLowerCase() === version.toLowerCase())
      )
        warnings.push(
          `${at}: ${name} is pinned to version ${version} of ${vaultName}/${keyName}, which the file does not define`,
        );
    }
  });
  return { problems, warnings };
}

/** Reads, parses and checks a fleet file: a valid FleetFile and its warnings, or FleetFileError. */
export function loadFleetFile(path: string): { fleet: FleetFile; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FleetFileError(path, [
      code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(e)})`,
    ]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FleetFileError(path, [`not JSON: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const { problems, warnings } = checkFleet(value);
  if (problems.length > 0) throw new FleetFileError(path, problems);
  return { fleet: value as FleetFile, warnings };
}
