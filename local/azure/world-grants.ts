import {
  findVersion,
  hasPermissions,
  roundTrip,
  unusableReason,
  type KeyVersion,
  type Vault,
} from './keyvault-model';
import { splitKeyUri } from './ids';
import { FleetError, REQUIRED_SERVER_PERMISSIONS, type WorldState } from './world-state';

/** Resolves an identity id or principal id to a principal id. */
export function principalOf(world: WorldState, identityOrPrincipal: string): string {
  if (identityOrPrincipal.startsWith('/')) {
    const identity = world.identities.get(identityOrPrincipal.toLowerCase());
    if (identity === undefined) throw new FleetError(`unknown identity ${identityOrPrincipal}`);
    return identity.principalId;
  }
  return identityOrPrincipal;
}

export function grant(
  world: WorldState,
  vault: Vault,
  identityOrPrincipal: string,
  permissions: readonly string[],
): void {
  const principalId = principalOf(world, identityOrPrincipal);
  let entry = vault.access.find((a) => a.principalId.toLowerCase() === principalId.toLowerCase());
  if (entry === undefined) {
    entry = { principalId, permissions: new Set() };
    vault.access.push(entry);
  }
  for (const p of permissions) entry.permissions.add(p.toLowerCase());
}

export function revoke(
  world: WorldState,
  vault: Vault,
  identityOrPrincipal: string,
  permissions: readonly string[],
): void {
  const principalId = principalOf(world, identityOrPrincipal);
  for (const entry of vault.access) {
    if (entry.principalId.toLowerCase() === principalId.toLowerCase())
      for (const p of permissions) entry.permissions.delete(p.toLowerCase());
  }
}

/**
 * Can this identity use this key URI for a server right now? Checks what the service checks: the key
 * exists, is usable, is RSA of a supported size, the identity holds get/wrapKey/unwrapKey, and a real
 * wrap/unwrap round trip works (when `prove` is set).
 */
export function checkKeyAccess(
  world: WorldState,
  uri: string,
  identityId: string | undefined,
  prove: boolean,
): { ok: true; version: KeyVersion } | { ok: false; code: string; message: string } {
  const ref = splitKeyUri(uri);
  if (ref === undefined)
    return {
      ok: false,
      code: 'AzureKeyVaultKeyNotFound',
      message: `The key ${uri} was not found in Azure Key Vault.`,
    };
  // The key's host must be the vault's (a same-named vault in another cloud, or an HSM, is another store).
  const vault = world.vaultByHost(new URL(uri.trim()).hostname);
  const key = vault?.keys.get(ref.name.toLowerCase());
  if (vault === undefined || key === undefined) {
    return {
      ok: false,
      code: 'AzureKeyVaultKeyNotFound',
      message: `The key ${uri} was not found in Azure Key Vault.`,
    };
  }
  const version = findVersion(key, ref.version);
  if (version === undefined)
    return {
      ok: false,
      code: 'AzureKeyVaultKeyNotFound',
      message: `The key ${uri} was not found in Azure Key Vault.`,
    };
  const reason = unusableReason(key, version, world.clock.now());
  if (reason !== undefined) return { ok: false, ...reason };
  const identity = identityId === undefined ? undefined : world.identities.get(identityId.toLowerCase());
  if (identity === undefined || !hasPermissions(vault, identity.principalId, REQUIRED_SERVER_PERMISSIONS)) {
    return {
      ok: false,
      code: 'AzureKeyVaultMissingPermissions',
      message: `The server's identity ${identityId ?? '(none)'} is missing get, wrapKey or unwrapKey permissions on key vault ${vault.name}.`,
    };
  }
  if (prove && !roundTrip(version))
    return { ok: false, code: 'AzureKeyVaultInvalidKey', message: `Wrap/unwrap with ${uri} failed.` };
  return { ok: true, version };
}
