import { parseKeyVaultKeyIdentifier } from '@azure/keyvault-keys';
import { InvalidInputError } from './errors';

/** DNS suffixes of Key Vault and Managed HSM in the public and sovereign clouds. */
const VAULT_SUFFIXES: readonly { suffix: string; kind: KeyRef['kind'] }[] = [
  { suffix: '.vault.azure.net', kind: 'vault' },
  { suffix: '.vault.azure.cn', kind: 'vault' },
  { suffix: '.vault.usgovcloudapi.net', kind: 'vault' },
  { suffix: '.vault.microsoftazure.de', kind: 'vault' },
  { suffix: '.managedhsm.azure.net', kind: 'managedHsm' },
  { suffix: '.managedhsm.azure.cn', kind: 'managedHsm' },
  { suffix: '.managedhsm.usgovcloudapi.net', kind: 'managedHsm' },
];

// Key Vault's own naming rules: vault 3-24 chars, key 1-127 chars, versions are 32 hex digits.
const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/i;
const KEY_NAME = /^[a-z0-9-]{1,127}$/i;
const KEY_VERSION = /^[0-9a-f]{32}$/i;

/** A parsed, validated Key Vault (or Managed HSM) key identifier. */
export interface KeyRef {
  /** `https://<vault>.vault.azure.net` — lower-case host, no port, no trailing slash. */
  readonly vaultUrl: string;
  /** The vault (or HSM) name: the first DNS label, lower-case. */
  readonly vaultName: string;
  readonly kind: 'vault' | 'managedHsm';
  /** Key name as written in the URI (Key Vault treats it case-insensitively). */
  readonly name: string;
  /** Version, lower-case; undefined for a versionless URI (automatic key version update). */
  readonly version: string | undefined;
}

export class InvalidKeyIdentifierError extends InvalidInputError {
  constructor(input: string, reason: string) {
    super(
      'InvalidKeyIdentifier',
      `Not a Key Vault key identifier: "${truncate(withoutUserInfo(input))}" (${reason}).`,
    );
  }
}

/**
 * The input with any `user:password@` of its authority masked: the message goes to the audit trail
 * and into HTTP answers, and whatever stands there may be a credential.
 */
function withoutUserInfo(s: string): string {
  return s.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

/**
 * Parses a key URI with the Key Vault SDK's parser, then checks what that parser does not: the scheme,
 * the collection (it accepts `/secrets/`), the host being a vault or managed HSM, and the name/version
 * syntax. Accepts `:443` and a trailing slash after a versionless name, as Azure does.
 */
export function parseKeyUri(input: string): KeyRef {
  const raw = input.trim();
  if (raw === '') throw new InvalidKeyIdentifierError(input, 'empty');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidKeyIdentifierError(input, 'not a URI');
  }
  if (url.protocol !== 'https:') throw new InvalidKeyIdentifierError(input, 'scheme must be https');
  if (url.port !== '' && url.port !== '443') throw new InvalidKeyIdentifierError(input, 'port must be 443');
  // Key Vault identifiers carry no user information; `new URL` would keep the host after it, so a
  // `user:password@` prefix would otherwise pass as the vault's own identifier.
  if (url.username !== '' || url.password !== '' || /^[^/]*\/\/[^/?#]*@/.test(raw))
    throw new InvalidKeyIdentifierError(input, 'user information (user:password@) not allowed');
  if (url.search !== '' || url.hash !== '')
    throw new InvalidKeyIdentifierError(input, 'query or fragment not allowed');
  const host = url.hostname.toLowerCase();
  const match = VAULT_SUFFIXES.find((s) => host.endsWith(s.suffix));
  if (!match) throw new InvalidKeyIdentifierError(input, `host ${host} is not a Key Vault or Managed HSM`);
  const vaultName = host.slice(0, -match.suffix.length);
  if (!VAULT_NAME.test(vaultName))
    throw new InvalidKeyIdentifierError(input, `vault name "${vaultName}" is invalid`);
  if (url.pathname.split('/')[1] !== 'keys')
    throw new InvalidKeyIdentifierError(input, 'collection must be "keys"');

  let parsed: ReturnType<typeof parseKeyVaultKeyIdentifier>;
  try {
    parsed = parseKeyVaultKeyIdentifier(raw);
  } catch {
    throw new InvalidKeyIdentifierError(input, 'expected /keys/<name>[/<version>]');
  }
  if (!KEY_NAME.test(parsed.name))
    throw new InvalidKeyIdentifierError(input, `key name "${parsed.name}" is invalid`);
  const version = parsed.version === undefined || parsed.version === '' ? undefined : parsed.version;
  if (version !== undefined && !KEY_VERSION.test(version)) {
    throw new InvalidKeyIdentifierError(input, `version "${version}" is not 32 hex digits`);
  }
  return {
    vaultUrl: `https://${host}`,
    vaultName,
    kind: match.kind,
    name: parsed.name,
    version: version?.toLowerCase(),
  };
}

/** Parses without throwing: the key ref, or undefined when the input is not a key URI. */
export function tryParseKeyUri(input: string | undefined | null): KeyRef | undefined {
  if (input === undefined || input === null || input.trim() === '') return undefined;
  try {
    return parseKeyUri(input);
  } catch {
    return undefined;
  }
}

export function isVersioned(ref: KeyRef): boolean {
  return ref.version !== undefined;
}

/** Same vault and key name. Key Vault host names and key names are case-insensitive. */
export function sameKey(a: KeyRef, b: KeyRef): boolean {
  return a.vaultUrl === b.vaultUrl && a.name.toLowerCase() === b.name.toLowerCase();
}

/** Same key and same version (both versionless counts as the same). */
export function sameKeyVersion(a: KeyRef, b: KeyRef): boolean {
  return sameKey(a, b) && a.version === b.version;
}

/** Canonical URI: `https://<vault host>/keys/<name>[/<version>]`. */
export function formatKeyUri(ref: Pick<KeyRef, 'vaultUrl' | 'name' | 'version'>): string {
  const base = `${ref.vaultUrl}/keys/${ref.name}`;
  return ref.version === undefined ? base : `${base}/${ref.version}`;
}

/** The validated ref of a key given as vault URL and name (and version); throws like `parseKeyUri`. */
export function keyRef(vaultUrl: string, name: string, version?: string): KeyRef {
  return parseKeyUri(formatKeyUri({ vaultUrl, name, version }));
}

/** A stable identity of a key (not a version) for instance ids, dedup keys and maps. */
export function keyIdentity(ref: Pick<KeyRef, 'vaultName' | 'name'>): string {
  return `${ref.vaultName}/${ref.name.toLowerCase()}`;
}

/** A vault or Managed HSM named by its URL: the identity of a vault (two clouds can share a name). */
export interface VaultRef {
  /** `https://<name>.<suffix>` — lower-case host, no port, no trailing slash. */
  readonly vaultUrl: string;
  readonly vaultName: string;
  readonly kind: KeyRef['kind'];
}

/**
 * Parses a vault URL (`https://<name>.vault.azure.net`, `https://<name>.managedhsm.azure.net`, or a
 * sovereign cloud's suffix); a path, query or port other than 443 is refused. Undefined when it is not one.
 */
export function tryParseVaultUrl(input: string): VaultRef | undefined {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || (url.port !== '' && url.port !== '443')) return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') return undefined;
  const host = url.hostname.toLowerCase();
  const match = VAULT_SUFFIXES.find((s) => host.endsWith(s.suffix));
  if (match === undefined) return undefined;
  const vaultName = host.slice(0, -match.suffix.length);
  if (!VAULT_NAME.test(vaultName)) return undefined;
  return { vaultUrl: `https://${host}`, vaultName, kind: match.kind };
}

/** Whether the vault lives on the public cloud's Key Vault host (`<name>.vault.azure.net`). */
export function isPublicKeyVaultHost(vaultUrl: string): boolean {
  return /^https:\/\/[a-z0-9-]+\.vault\.azure\.net$/i.test(vaultUrl);
}

/** What `groupByKey` reads of a server: the key URIs of its slots. */
export interface KeyUser {
  readonly dataEncryption?:
    | { readonly primaryKeyURI?: string | undefined; readonly geoBackupKeyURI?: string | undefined }
    | undefined;
}

/** The key a URI names, versions aside: the versionless URI, lower-case (Key Vault ignores case). */
export function keyOf(vaultUrl: string, keyName: string): string {
  return formatKeyUri(keyRef(vaultUrl, keyName)).toLowerCase();
}

/** Servers by the key(s) their primary or geo-backup slot names; a server using two keys is in both. */
export function groupByKey<T extends KeyUser>(servers: readonly T[]): Map<string, T[]> {
  const byKey = new Map<string, T[]>();
  for (const server of servers) {
    const keys = new Set<string>();
    for (const uri of [server.dataEncryption?.primaryKeyURI, server.dataEncryption?.geoBackupKeyURI]) {
      const ref = tryParseKeyUri(uri);
      if (ref !== undefined) keys.add(keyOf(ref.vaultUrl, ref.name));
    }
    for (const k of keys) {
      const group = byKey.get(k);
      if (group === undefined) byKey.set(k, [server]);
      else group.push(server);
    }
  }
  return byKey;
}
