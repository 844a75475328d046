import type { KeyInfo, KeyVersionInfo } from '../domain/model';

/** Key Vault, as the rotator needs it. Adapters throw the named errors of `./errors`. */
export interface KeyVaultKeys {
  /** Names of the keys in a vault (certificate-backed managed keys excluded). */
  listKeys(vaultUrl: string): Promise<string[]>;
  /**
   * Every version of a key with its attributes (listing carries no key type, size or operations), and
   * which one is current.
   */
  readKey(vaultUrl: string, keyName: string): Promise<KeyInfo>;
  /** One version with its key material attributes: what preflight needs. */
  readKeyVersion(vaultUrl: string, keyName: string, version: string): Promise<KeyVersionInfo>;
  /** Creates a new version per the key's rotation policy (Key Vault's Rotate operation). */
  rotateKey(vaultUrl: string, keyName: string): Promise<KeyVersionInfo>;
}
