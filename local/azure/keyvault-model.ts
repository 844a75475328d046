import {
  constants,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';

const generateRsa = promisify(generateKeyPair);

export const DEFAULT_KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];
export const WRAP_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const;
export type WrapAlgorithm = (typeof WRAP_ALGORITHMS)[number];

export interface KeyVersion {
  readonly version: string;
  readonly created: number;
  updated: number;
  enabled: boolean;
  nbf: number | undefined;
  exp: number | undefined;
  readonly kty: string;
  readonly size: number;
  ops: string[];
  tags: Record<string, string>;
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject | undefined;
}

export interface RotationPolicy {
  id: string;
  lifetimeActions: {
    trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
    action: { type: string };
  }[];
  attributes: { expiryTime?: string; created: number; updated: number };
}

export interface VaultKey {
  readonly name: string;
  versions: KeyVersion[];
  deleted: { deletedDate: number; scheduledPurgeDate: number } | undefined;
  rotationPolicy: RotationPolicy | undefined;
  /** Event Grid notifications already sent (`near:<version>`, `expired:<version>`, `rotated:<version>`). */
  readonly notified: Set<string>;
}

export interface AccessEntry {
  readonly principalId: string;
  permissions: Set<string>;
}

export interface Vault {
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly keys: Map<string, VaultKey>;
  readonly access: AccessEntry[];
  enforceCallerAccess: boolean;
  /** A Key Vault (`<name>.vault.azure.net`) or a Managed HSM (`<name>.managedhsm.azure.net`). */
  readonly kind: 'vault' | 'managedHsm';
  /** ARM properties the control plane serves for a Key Vault (local/azure/arm-keyvault.ts). */
  readonly arm: VaultArm;
}

export interface VaultArm {
  readonly tenantId: string;
  readonly enableSoftDelete: boolean;
  readonly softDeleteRetentionInDays: number;
  readonly enablePurgeProtection: boolean;
  readonly enableRbacAuthorization: boolean;
  readonly publicNetworkAccess: string;
  readonly networkAcls:
    | {
        readonly bypass: string;
        readonly defaultAction: string;
        readonly ipRules: readonly string[];
        readonly virtualNetworkRules: readonly string[];
      }
    | undefined;
}

/** The data-plane host of a vault or Managed HSM (public cloud; the seam maps it to loopback). */
export function vaultHost(v: Pick<Vault, 'name' | 'kind'>): string {
  return `${v.name}.${v.kind === 'managedHsm' ? 'managedhsm' : 'vault'}.azure.net`;
}

/** The token audience (and challenge resource) of a vault's data plane. */
export function dataPlaneAudience(v: Pick<Vault, 'kind'>): string {
  return v.kind === 'managedHsm' ? 'https://managedhsm.azure.net' : 'https://vault.azure.net';
}

export function newVersionId(): string {
  return randomBytes(16).toString('hex');
}

export async function generateKeyMaterial(
  kty: string,
  size: number,
): Promise<{ privateKey?: KeyObject; publicKey?: KeyObject }> {
  if (kty !== 'RSA' && kty !== 'RSA-HSM') return {};
  const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength: size });
  return { privateKey, publicKey };
}

export function vaultArmId(v: Vault): string {
  return `/subscriptions/${v.subscriptionId}/resourceGroups/${v.resourceGroup}/providers/Microsoft.KeyVault/${v.kind === 'managedHsm' ? 'managedHSMs' : 'vaults'}/${v.name}`;
}

/** Newest version by creation (Key Vault's "current" version). */
export function currentVersion(key: VaultKey): KeyVersion | undefined {
  return key.versions.reduce<KeyVersion | undefined>(
    (a, b) => (a === undefined || b.created >= a.created ? b : a),
    undefined,
  );
}

export function findVersion(key: VaultKey, version: string | undefined): KeyVersion | undefined {
  if (version === undefined || version === '') return currentVersion(key);
  return key.versions.find((v) => v.version === version.toLowerCase());
}

export function hasPermissions(vault: Vault, principalId: string, needed: readonly string[]): boolean {
  const entries = vault.access.filter((a) => a.principalId.toLowerCase() === principalId.toLowerCase());
  return needed.every((p) => entries.some((e) => e.permissions.has(p.toLowerCase())));
}

function oaepHash(alg: WrapAlgorithm): string {
  return alg === 'RSA-OAEP-256' ? 'sha256' : 'sha1';
}

export function wrap(version: KeyVersion, alg: WrapAlgorithm, plaintext: Buffer): Buffer {
  if (version.publicKey === undefined) throw new Error('not an RSA key');
  if (alg === 'RSA1_5')
    return publicEncrypt({ key: version.publicKey, padding: constants.RSA_PKCS1_PADDING }, plaintext);
  return publicEncrypt(
    { key: version.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(alg) },
    plaintext,
  );
}

export function unwrap(version: KeyVersion, alg: WrapAlgorithm, ciphertext: Buffer): Buffer {
  if (version.privateKey === undefined) throw new Error('not an RSA key');
  if (alg !== 'RSA1_5') {
    return privateDecrypt(
      { key: version.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(alg) },
      ciphertext,
    );
  }
  // Node refuses PKCS#1 v1.5 private decryption (Marvin attack hardening), so strip the padding of a
  // raw RSA decryption: 00 02 <non-zero padding> 00 <message>.
  const raw = privateDecrypt({ key: version.privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  const sep = raw.indexOf(0, 2);
  if (raw[0] !== 0 || raw[1] !== 2 || sep < 10) throw new Error('decryption error');
  return raw.subarray(sep + 1);
}

/** Round-trips a fresh data key: proves the version really wraps and unwraps, like a server's revalidation. */
export function roundTrip(version: KeyVersion): boolean {
  const dek = randomBytes(32);
  try {
    return unwrap(version, 'RSA-OAEP-256', wrap(version, 'RSA-OAEP-256', dek)).equals(dek);
  } catch {
    return false;
  }
}

export function jwk(vaultUrl: string, keyName: string, v: KeyVersion): Record<string, unknown> {
  const base: Record<string, unknown> = {
    kid: `${vaultUrl}/keys/${keyName}/${v.version}`,
    kty: v.kty,
    key_ops: v.ops,
  };
  if (v.publicKey !== undefined) {
    const pub = v.publicKey.export({ format: 'jwk' });
    base['n'] = pub.n;
    base['e'] = pub.e;
  }
  return base;
}

export function attributes(v: KeyVersion, recoverableDays = 90): Record<string, unknown> {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: Math.floor(v.nbf / 1000) } : {}),
    ...(v.exp !== undefined ? { exp: Math.floor(v.exp / 1000) } : {}),
    created: Math.floor(v.created / 1000),
    updated: Math.floor(v.updated / 1000),
    recoveryLevel: 'Recoverable+Purgeable',
    recoverableDays,
    exportable: false,
  };
}

/** Why a version cannot encrypt a server's data now; undefined when it can. */
export function unusableReason(
  key: VaultKey,
  v: KeyVersion,
  now: number,
): { code: string; message: string } | undefined {
  if (key.deleted !== undefined)
    return { code: 'AzureKeyVaultKeyNotFound', message: `Key ${key.name} was deleted.` };
  if (!v.enabled)
    return { code: 'AzureKeyVaultKeyDisabled', message: `Key ${key.name} version ${v.version} is disabled.` };
  if (v.nbf !== undefined && v.nbf > now)
    return {
      code: 'AzureKeyVaultKeyNotYetValid',
      message: `Key ${key.name} version ${v.version} is not active yet.`,
    };
  if (v.exp !== undefined && v.exp <= now)
    return { code: 'AzureKeyVaultKeyExpired', message: `Key ${key.name} version ${v.version} has expired.` };
  if (v.kty !== 'RSA' && v.kty !== 'RSA-HSM')
    return {
      code: 'AzureKeyVaultInvalidKey',
      message: `Key type ${v.kty} is not supported; use RSA or RSA-HSM.`,
    };
  if (![2048, 3072, 4096].includes(v.size))
    return {
      code: 'AzureKeyVaultInvalidKey',
      message: `Key size ${v.size} is not supported; use 2048, 3072 or 4096 bits.`,
    };
  if (!v.ops.includes('wrapKey') || !v.ops.includes('unwrapKey')) {
    return {
      code: 'AzureKeyVaultInvalidKey',
      message: `Key ${key.name} version ${v.version} does not allow wrapKey and unwrapKey.`,
    };
  }
  return undefined;
}
