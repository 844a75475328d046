import { call, CliError, EXIT, type Target } from './client';
import { didYouMean } from '../shared/domain/suggest';

/**
 * The vault and key an operator typed, checked against the app's own list (`GET /api/vaults`: the
 * allowed vaults and their keys) before anything else is asked: one error for an unknown vault or key
 * in every command, with the names there are and a did-you-mean, never an SDK's words. When the list
 * cannot be had (an app without the route, a vault Key Vault would not list) the API decides.
 */
interface VaultKeys {
  readonly vault: string;
  readonly vaultUrl: string;
  readonly keys?: readonly string[];
}

const hostOf = (url: string) =>
  url
    .replace(/^https:\/\//, '')
    .replace(/\/+$/, '')
    .toLowerCase();

export async function checkVaultAndKey(target: Target, vault: string, key: string): Promise<void> {
  const { status, body } = await call(target, 'GET', '/api/vaults', { accept: [404] });
  if (status === 404) return;
  const vaults = (body as { vaults?: VaultKeys[] } | undefined)?.vaults;
  if (!Array.isArray(vaults)) return;
  const wanted = vault.toLowerCase();
  const found = vaults.filter(
    (v) => v.vault.toLowerCase() === wanted || hostOf(v.vaultUrl) === hostOf(wanted),
  );
  if (found.length === 0) {
    const names = vaults.map((v) => v.vault);
    throw new CliError(
      `No vault "${vault}" among the vaults the app may use (CMK_ALLOWED_VAULTS)${didYouMean(vault, names)}. Allowed: ${names.join(', ') || '(none)'}. Nothing was sent.`,
      EXIT.refused,
    );
  }
  if (found.length > 1) return; // two vaults of one name (Key Vault and Managed HSM): the API asks for the host
  const [v] = found;
  if (v?.keys === undefined) return;
  if (v.keys.some((k) => k.toLowerCase() === key.toLowerCase())) return;
  throw new CliError(
    `No key "${key}" in vault ${v.vault}${didYouMean(key, v.keys)}. Its keys: ${v.keys.join(', ') || '(none)'}. Nothing was sent.`,
    EXIT.refused,
  );
}
