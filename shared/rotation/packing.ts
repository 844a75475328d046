import { serverNameOf, subscriptionOf } from '../domain/resourceId';
import type { KeyInfo } from '../domain/model';
import type { BatchServer, RotationSettings, ServerRef, ServerSettings } from './contract';

/**
 * What crosses into a rotation's history once per server, kept small: server ids front-coded, the
 * key and the settings sliced to what a server's rollover needs.
 */

/**
 * Server ids front-coded, for lists that cross into the rotation's history once per server (the plan,
 * a batch's servers): each entry keeps what its id does not share with the previous entry's, and
 * `shared`, how many characters it does share (servers of a resource group share all but their name's
 * end). Order and exact spelling are kept; `unpackIds` undoes it.
 */
export function packIds<T extends { readonly serverId: string; readonly shared?: number | undefined }>(
  entries: readonly T[],
): T[] {
  let previous = '';
  return entries.map((e) => {
    const id = e.serverId;
    let shared = 0;
    while (shared < previous.length && shared < id.length - 1 && id[shared] === previous[shared]) shared++;
    // Never split a surrogate pair (a resource group name may hold any Unicode letter): a lone half is
    // not valid UTF-16, and the durable store's JSON may replace it with U+FFFD.
    const cut = id.charCodeAt(shared - 1);
    if (shared > 0 && cut >= 0xd800 && cut <= 0xdbff) shared--;
    previous = id;
    return shared > 0 ? { ...e, serverId: id.slice(shared), shared } : e;
  });
}

/** The entries with their whole ids again (an entry without `shared` holds a whole id already). */
export function unpackIds<T extends { readonly serverId: string; readonly shared?: number | undefined }>(
  entries: readonly T[],
): Omit<T, 'shared'>[] {
  let previous = '';
  return entries.map(({ shared, ...e }) => {
    const serverId = previous.slice(0, shared ?? 0) + e.serverId;
    previous = serverId;
    return { ...e, serverId };
  });
}

export function serverSettings(s: RotationSettings): ServerSettings {
  return {
    optOutTag: s.optOutTag,
    holdTag: s.holdTag,
    pollIntervalSeconds: s.pollIntervalSeconds,
    operationTimeoutMinutes: s.operationTimeoutMinutes,
    maxWriteAttempts: s.maxWriteAttempts,
  };
}

/**
 * The key as a server's rollover needs it to re-plan the server: every version's id and creation time
 * (which versions exist and which is newer), without the attributes only preflight uses.
 */
export function compactKey(key: KeyInfo): KeyInfo {
  return {
    vaultUrl: key.vaultUrl,
    vaultName: key.vaultName,
    name: key.name,
    ...(key.currentVersion !== undefined ? { currentVersion: key.currentVersion } : {}),
    versions: key.versions.map((v) => ({
      kid: v.kid,
      version: v.version,
      enabled: v.enabled,
      createdOn: v.createdOn,
    })),
  };
}

/** The rollover's reference to a batch server (its whole id: see `unpackIds`). */
export function serverRefOf(s: BatchServer): ServerRef {
  const { serverId } = s;
  return {
    serverId,
    serverName: serverNameOf(serverId),
    subscriptionId: subscriptionOf(serverId),
    ...(s.expiresOn !== undefined ? { expiresOn: s.expiresOn } : {}),
    ...(s.behind === true ? { behind: true } : {}),
  };
}
