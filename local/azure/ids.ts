/**
 * The stand-ins' own identifier parsing, deliberately simple and independent of the product's parsers
 * (shared/domain/keyId, resourceId): an oracle that shares code with the system under test cannot catch
 * its bugs. A lint rule keeps local/azure away from shared/domain.
 */

/** An ARM resource id split into its parts; `id` is the input with any trailing slash removed. */
export interface ArmIdParts {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** `Microsoft.DBforPostgreSQL/flexibleServers`, as written. */
  readonly type: string;
  readonly name: string;
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}`, or undefined. */
export function splitArmId(id: string): ArmIdParts | undefined {
  const trimmed = id.replace(/\/+$/, '');
  const p = trimmed.split('/');
  if (p.length !== 9 || p[0] !== '') return undefined;
  const [, subs, sub, rgs, rg, providers, ns, type, name] = p;
  if (
    subs?.toLowerCase() !== 'subscriptions' ||
    rgs?.toLowerCase() !== 'resourcegroups' ||
    providers?.toLowerCase() !== 'providers' ||
    sub === undefined ||
    rg === undefined ||
    ns === undefined ||
    type === undefined ||
    name === undefined ||
    [sub, rg, ns, type, name].some((s) => s === '')
  ) {
    return undefined;
  }
  return { id: trimmed, subscriptionId: sub, resourceGroup: rg, type: `${ns}/${type}`, name };
}

/** Like `splitArmId`, and the type must be `type` (case-insensitive). */
export function armIdOfType(id: string, type: string): ArmIdParts | undefined {
  const parts = splitArmId(id);
  return parts !== undefined && parts.type.toLowerCase() === type.toLowerCase() ? parts : undefined;
}

export const FLEXIBLE_SERVER_TYPE = 'Microsoft.DBforPostgreSQL/flexibleServers';
export const USER_ASSIGNED_IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';

/** A key URI as the stand-ins read it: `https://<vault>.<dns suffix>/keys/<name>[/<version>]`. */
export interface KeyUriParts {
  /** First DNS label, lower-case: the vault (or Managed HSM) name. */
  readonly vaultName: string;
  readonly name: string;
  /** Lower-case; undefined for a versionless URI. */
  readonly version: string | undefined;
}

export function splitKeyUri(uri: string): KeyUriParts | undefined {
  const m = /^https:\/\/([a-z0-9-]+)\.[a-z0-9.-]+(?::443)?\/keys\/([^/?#]+)(?:\/([^/?#]*))?\/?$/i.exec(
    uri.trim(),
  );
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const version = m[3] === undefined || m[3] === '' ? undefined : m[3].toLowerCase();
  return { vaultName: m[1].toLowerCase(), name: m[2], version };
}
