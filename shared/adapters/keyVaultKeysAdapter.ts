import type { TokenCredential } from '@azure/core-auth';
import { KeyClient, type KeyClientOptions, type KeyProperties, type KeyVaultKey } from '@azure/keyvault-keys';
import { formatKeyUri, keyRef, parseKeyUri } from '../domain/keyId';
import type { KeyInfo, KeyVersionInfo } from '../domain/model';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationPolicySummary } from '../domain/posture';
import { summarizeRotationPolicy } from '../domain/postureKeys';
import type { KeyRotationPolicies } from '../ports/vaultPosture';
import { keyVaultFirewallPolicy, mapAzureError } from './azureErrors';
import { writeOnceOptions } from './writeOnce';

/** Bit length of an RSA modulus, ignoring leading zero bytes. */
export function modulusBits(n: Uint8Array | undefined): number | undefined {
  if (n === undefined) return undefined;
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  const first = n[i];
  if (first === undefined) return undefined;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(first));
}

function iso(d: Date | undefined): string | undefined {
  return d === undefined ? undefined : d.toISOString();
}

function fromProperties(p: KeyProperties): KeyVersionInfo {
  const version = (p.version ?? '').toLowerCase();
  const ref = parseKeyUri(p.id ?? formatKeyUri({ vaultUrl: p.vaultUrl, name: p.name, version }));
  return {
    kid: formatKeyUri(ref),
    version,
    enabled: p.enabled ?? false,
    createdOn: iso(p.createdOn) ?? new Date(0).toISOString(),
    notBefore: iso(p.notBefore),
    expiresOn: iso(p.expiresOn),
  };
}

function fromKey(k: KeyVaultKey): KeyVersionInfo {
  const isRsa = k.keyType === 'RSA' || k.keyType === 'RSA-HSM';
  return {
    ...fromProperties(k.properties),
    keyType: k.keyType,
    keySize: isRsa ? modulusBits(k.key?.n) : undefined,
    keyOps: k.keyOperations ?? [],
  };
}

export interface KeyVaultKeysAdapterOptions {
  readonly credential: TokenCredential;
  /** Transport options (retry, TLS, extra policies); the local runtime passes its loopback seam here. */
  readonly clientOptions?: KeyClientOptions;
  /** Page size when listing versions; Key Vault's maximum is 25. */
  readonly pageSize?: number;
}

/** `KeyVaultKeys` over `@azure/keyvault-keys`. One client per vault, created on first use. */
export class KeyVaultKeysAdapter implements KeyVaultKeys, KeyRotationPolicies {
  private readonly clients = new Map<string, KeyClient>();
  private readonly writeClients = new Map<string, KeyClient>();
  private readonly options: KeyVaultKeysAdapterOptions;

  constructor(options: KeyVaultKeysAdapterOptions) {
    // Every call, listings included, keeps Key Vault's firewall refusal recognisable (azureErrors.ts).
    const base = options.clientOptions ?? {};
    this.options = {
      ...options,
      clientOptions: {
        ...base,
        additionalPolicies: [
          ...(base.additionalPolicies ?? []),
          { policy: keyVaultFirewallPolicy, position: 'perCall' },
        ],
      },
    };
  }

  private client(vaultUrl: string): KeyClient {
    const url = vaultUrl.toLowerCase();
    let client = this.clients.get(url);
    if (client === undefined) {
      client = new KeyClient(url, this.options.credential, this.options.clientOptions);
      this.clients.set(url, client);
    }
    return client;
  }

  /**
   * Rotate (a POST that creates a version): no SDK retry (`writeOnceOptions`), so a 5xx or a timeout
   * after Key Vault made the version never makes a second one; the rotateKey activity re-reads the key
   * before it rotates again.
   */
  private writeClient(vaultUrl: string): KeyClient {
    const url = vaultUrl.toLowerCase();
    let client = this.writeClients.get(url);
    if (client === undefined) {
      client = new KeyClient(
        url,
        this.options.credential,
        writeOnceOptions(this.options.clientOptions ?? {}),
      );
      this.writeClients.set(url, client);
    }
    return client;
  }

  async listKeys(vaultUrl: string): Promise<string[]> {
    const url = vaultUrl.toLowerCase().replace(/\/+$/, '');
    const names: string[] = [];
    try {
      const pages = this.client(url)
        .listPropertiesOfKeys()
        .byPage({ maxPageSize: this.options.pageSize ?? 25 });
      for await (const page of pages) for (const p of page) if (p.managed !== true) names.push(p.name);
    } catch (e) {
      throw mapAzureError(e, `listing keys in ${new URL(url).hostname.split('.')[0] ?? url}`);
    }
    return names;
  }

  async readKey(vaultUrl: string, keyName: string): Promise<KeyInfo> {
    const ref = keyRef(vaultUrl, keyName);
    const versions: KeyVersionInfo[] = [];
    try {
      const pages = this.client(ref.vaultUrl)
        .listPropertiesOfKeyVersions(keyName)
        .byPage({ maxPageSize: this.options.pageSize ?? 25 });
      for await (const page of pages) for (const p of page) versions.push(fromProperties(p));
    } catch (e) {
      throw mapAzureError(e, `listing versions of key ${keyName} in ${ref.vaultName}`);
    }
    // The current version settles which version is newest when creation times tie (whole seconds).
    let current: KeyVersionInfo;
    try {
      current = fromKey(await this.client(ref.vaultUrl).getKey(keyName));
    } catch (e) {
      throw mapAzureError(e, `reading key ${keyName} in ${ref.vaultName}`);
    }
    // Created after the listing: a version all the same.
    if (!versions.some((v) => v.version.toLowerCase() === current.version.toLowerCase()))
      versions.push(current);
    return {
      vaultUrl: ref.vaultUrl,
      vaultName: ref.vaultName,
      name: keyName,
      versions,
      currentVersion: current.version,
    };
  }

  async readKeyVersion(vaultUrl: string, keyName: string, version: string): Promise<KeyVersionInfo> {
    const ref = keyRef(vaultUrl, keyName, version);
    try {
      return fromKey(await this.client(ref.vaultUrl).getKey(keyName, { version }));
    } catch (e) {
      throw mapAzureError(e, `reading key ${keyName}/${version} in ${ref.vaultName}`);
    }
  }

  async rotateKey(vaultUrl: string, keyName: string): Promise<KeyVersionInfo> {
    const ref = keyRef(vaultUrl, keyName);
    try {
      return fromKey(await this.writeClient(ref.vaultUrl).rotateKey(keyName));
    } catch (e) {
      throw mapAzureError(e, `rotating key ${keyName} in ${ref.vaultName}`);
    }
  }

  async readRotationPolicy(vaultUrl: string, keyName: string): Promise<RotationPolicySummary> {
    const ref = keyRef(vaultUrl, keyName);
    try {
      const policy = await this.client(ref.vaultUrl).getKeyRotationPolicy(keyName);
      return summarizeRotationPolicy({
        lifetimeActions: (policy.lifetimeActions ?? []).map((a) => ({
          action: a.action,
          timeAfterCreate: a.timeAfterCreate,
          timeBeforeExpiry: a.timeBeforeExpiry,
        })),
        expiresIn: policy.expiresIn,
      });
    } catch (e) {
      throw mapAzureError(e, `reading the rotation policy of key ${keyName} in ${ref.vaultName}`);
    }
  }
}
