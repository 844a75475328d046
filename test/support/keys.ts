import type { KeyInfo, KeyVersionInfo } from '../../shared/domain/model';
import { VAULT_URL } from './servers';

/** Key Vault keys and versions for unit tests: one builder each, typed, with overrides. */
export const DAY_MS = 86_400_000;

/** An ISO time `days` after `from` (negative: before). */
export const daysFrom = (from: Date | string, days: number): string =>
  new Date(new Date(from).getTime() + days * DAY_MS).toISOString();

/** A versioned key URI (`vaultUrl/keys/name/version`), or the versionless one without a version. */
export const keyUri = (version?: string, name = 'pg-cmk', vaultUrl = VAULT_URL): string =>
  version === undefined ? `${vaultUrl}/keys/${name}` : `${vaultUrl}/keys/${name}/${version}`;

/**
 * An enabled version of `pg-cmk` in `VAULT_URL` (the kid follows `vaultUrl`, `name` and the version
 * unless `kid` is given), created at `createdOn`, no expiry unless given.
 */
export function keyVersion(
  version: string,
  createdOn: string,
  over: Partial<KeyVersionInfo> & { readonly vaultUrl?: string; readonly name?: string } = {},
): KeyVersionInfo {
  const { vaultUrl, name, ...rest } = over;
  return { kid: keyUri(version, name, vaultUrl), version, enabled: true, createdOn, ...rest };
}

/** `pg-cmk` in `VAULT_URL` (vault contoso-pg-kv) with these versions. */
export function keyInfo(
  versions: readonly KeyVersionInfo[],
  over: Partial<Omit<KeyInfo, 'versions'>> = {},
): KeyInfo {
  return { vaultUrl: VAULT_URL, vaultName: 'contoso-pg-kv', name: 'pg-cmk', versions, ...over };
}
