import { closest, distance } from 'fastest-levenshtein';
import { isObject, type Reply } from './http';
import { currentVersion, findVersion, type Vault } from './keyvault-model';
import { setExpiry } from './keyvault';
import type { World } from './world';
import { FleetError } from './world-state';

/**
 * Admin routes that change a vault: key permissions (`/admin/vaults/<vault>/access`) and a key
 * version's expiry (`/admin/vaults/<vault>/keys/<key>/expiry`). A name that matches nothing is refused
 * with what is known, never answered 200 with nothing changed.
 */

const notFound = (error: string, known: Record<string, readonly string[]>): Reply => ({
  status: 404,
  body: { error, ...known },
});

function suggestion(wanted: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const near = closest(
    wanted.toLowerCase(),
    known.map((k) => k.toLowerCase()),
  );
  const index = known.findIndex((k) => k.toLowerCase() === near);
  return distance(wanted.toLowerCase(), near) <= Math.max(2, wanted.length / 3)
    ? ` (did you mean ${known[index] ?? near}?)`
    : '';
}

/** The vault named in the path, or a 404 listing the vaults there are. */
export function adminVault(world: World, name: string): Vault | Reply {
  const vault = world.vaultByName(name);
  if (vault !== undefined) return vault;
  const vaults = [...world.vaults.values()].map((v) => v.name);
  return notFound(`no vault named ${name}${suggestion(name, vaults)}`, { vaults });
}

const shortName = (id: string) => id.split('/').pop() ?? id;

/**
 * The principal an access request names. `identity`: a user-assigned identity's resource id, or its
 * name when exactly one identity of the fleet has it (names repeat across resource groups, so an
 * ambiguous name is refused with the ids to choose from). `principalId`: any principal for a grant; for
 * a revoke one that holds permissions in the vault.
 */
function grantee(
  world: World,
  vault: Vault,
  body: Record<string, unknown>,
  revoking: boolean,
): string | Reply {
  const identities = [...world.identities.values()].map((i) => i.id);
  const identity = body['identity'];
  if (typeof identity === 'string') {
    const byId = world.identities.get(identity.toLowerCase());
    if (byId !== undefined) return byId.principalId;
    const named = [...world.identities.values()].filter(
      (i) => shortName(i.id).toLowerCase() === identity.toLowerCase(),
    );
    const [only] = named;
    if (named.length === 1 && only !== undefined && !identity.startsWith('/')) return only.principalId;
    if (named.length > 1 && !identity.startsWith('/'))
      return {
        status: 400,
        body: {
          error: `${named.length} identities are named ${identity}: give the resource id of one`,
          identities: named.map((i) => i.id),
        },
      };
    return notFound(
      `no identity ${identity}${suggestion(shortName(identity), identities.map(shortName))}: give a user-assigned identity's resource id or its name`,
      { identities },
    );
  }
  const principalId = body['principalId'];
  if (typeof principalId !== 'string' || principalId === '')
    return { status: 400, body: { error: 'give "identity" (resource id or name) or "principalId"' } };
  if (revoking && !vault.access.some((a) => a.principalId.toLowerCase() === principalId.toLowerCase()))
    return notFound(`principal ${principalId} holds no key permissions in vault ${vault.name}`, {
      principals: vault.access.map((a) => a.principalId),
    });
  return principalId;
}

/** `POST` (grant) or `DELETE` (revoke) `/admin/vaults/<vault>/access`. */
export function changeAccess(
  world: World,
  vaultName: string,
  method: 'POST' | 'DELETE',
  body: unknown,
): Reply {
  const vault = adminVault(world, vaultName);
  if ('status' in vault) return vault;
  if (!isObject(body) || !Array.isArray(body['permissions']))
    return { status: 400, body: { error: 'give {"identity" or "principalId", "permissions": [...]}' } };
  const who = grantee(world, vault, body, method === 'DELETE');
  if (typeof who !== 'string') return who;
  const perms = body['permissions'].map(String);
  try {
    if (method === 'POST') world.grant(vault, who, perms);
    else world.revoke(vault, who, perms);
  } catch (e) {
    if (e instanceof FleetError) return { status: 400, body: { error: e.message } };
    throw e;
  }
  world.evaluateServers();
  return {
    status: 200,
    body: {
      principalId: who,
      access: vault.access.map((a) => ({ principalId: a.principalId, permissions: [...a.permissions] })),
    },
  };
}

const DAY_MS = 86_400_000;

/**
 * `POST /admin/vaults/<vault>/keys/<key>/expiry` `{"version"?: "<id>", "expires": "<ISO time>"}` or
 * `{"version"?, "days": n}` (from the stand-in clock's now): what `az keyvault key set-attributes
 * --expires` (Key Vault's updateKeyProperties, `attributes.exp`) does to the version, default the
 * current one. The runbook's "extend the expiry of the key version", offline.
 */
export function extendExpiry(world: World, vaultName: string, keyName: string, body: unknown): Reply {
  const vault = adminVault(world, vaultName);
  if ('status' in vault) return vault;
  const key = vault.keys.get(keyName.toLowerCase());
  if (key === undefined || key.deleted !== undefined) {
    const keys = [...vault.keys.values()].filter((k) => k.deleted === undefined).map((k) => k.name);
    return notFound(`vault ${vault.name} has no key ${keyName}${suggestion(keyName, keys)}`, { keys });
  }
  if (!isObject(body))
    return { status: 400, body: { error: 'give {"expires": "<ISO time>"} or {"days": n}' } };
  const unknown = Object.keys(body).filter((k) => !['version', 'expires', 'days'].includes(k));
  if (unknown.length > 0)
    return { status: 400, body: { error: `unknown field(s) ${unknown.join(', ')}: version, expires, days` } };
  const wanted = body['version'];
  if (wanted !== undefined && typeof wanted !== 'string')
    return { status: 400, body: { error: '"version" must be a version id' } };
  const version = wanted === undefined ? currentVersion(key) : findVersion(key, wanted);
  if (version === undefined)
    return notFound(`${vault.name}/${key.name} has no version ${String(wanted)}`, {
      versions: key.versions.map((v) => v.version),
    });
  const { expires, days } = body;
  const exp =
    typeof expires === 'string' && days === undefined
      ? Date.parse(expires)
      : typeof days === 'number' && expires === undefined
        ? world.clock.now() + days * DAY_MS
        : NaN;
  if (!Number.isFinite(exp))
    return { status: 400, body: { error: 'give either "expires" (an ISO time) or "days" (a number)' } };
  setExpiry(key, version, exp);
  version.updated = world.clock.now();
  world.evaluateServers();
  return {
    status: 200,
    body: { vault: vault.name, key: key.name, version: version.version, exp: new Date(exp).toISOString() },
  };
}
