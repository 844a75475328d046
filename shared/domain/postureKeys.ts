/**
 * Posture rules for keys and their versions: the rotation policy's summary, which versions servers pin,
 * which may be disabled, and the next expiry.
 */
import type { KeyInfo, Slot } from './model';
import { latestVersion } from './plan';
import {
  VERSIONLESS_PICKUP_HOURS,
  type KeyPosture,
  type KeyVersionPosture,
  type RotationPolicySummary,
} from './posture';
import { daysLeft } from './expiry';

const HOUR_MS = 3_600_000;

/** Summary of a key's rotation policy (Key Vault's `lifetimeActions` and `attributes.expiryTime`). */
export function summarizeRotationPolicy(policy: {
  readonly lifetimeActions?: readonly {
    readonly action: string;
    readonly timeAfterCreate?: string | undefined;
    readonly timeBeforeExpiry?: string | undefined;
  }[];
  readonly expiresIn?: string | undefined;
}): RotationPolicySummary {
  const rotate = policy.lifetimeActions?.find((a) => a.action.toLowerCase() === 'rotate');
  const notify = policy.lifetimeActions?.find((a) => a.action.toLowerCase() === 'notify');
  const parts: string[] = [];
  if (rotate?.timeAfterCreate !== undefined) parts.push(`rotates ${rotate.timeAfterCreate} after creation`);
  if (rotate?.timeBeforeExpiry !== undefined) parts.push(`rotates ${rotate.timeBeforeExpiry} before expiry`);
  if (notify?.timeBeforeExpiry !== undefined) parts.push(`notifies ${notify.timeBeforeExpiry} before expiry`);
  if (policy.expiresIn !== undefined) parts.push(`new versions expire after ${policy.expiresIn}`);
  const configured = rotate !== undefined || policy.expiresIn !== undefined;
  return {
    configured,
    rotateAfterCreate: rotate?.timeAfterCreate,
    rotateBeforeExpiry: rotate?.timeBeforeExpiry,
    notifyBeforeExpiry: notify?.timeBeforeExpiry,
    expiresAfter: policy.expiresIn,
    summary: parts.length > 0 ? parts.join('; ') : 'no automatic rotation (versions are created by hand)',
  };
}

/** A server slot that names a key, as the key's posture counts it. */
export interface KeyUse {
  readonly serverId: string;
  readonly slot: Slot;
  /** Lower-case version, undefined for versionless. */
  readonly version: string | undefined;
}

/**
 * A key's versions, who pins them and which may be disabled: a version is safe to disable when no
 * server slot pins it, it is not the current version, and it is enabled. When servers use the key
 * versionless, they move to a new current version on their own within hours (Learn: wait at least
 * `VERSIONLESS_PICKUP_HOURS` before disabling the old one), so until the current version is that old
 * no older version is safe. `complete` false (a discovery error or an unreadable server row for this
 * key) withholds every "safe": a server we could not read may pin any version.
 */
export function keyPosture(
  key: KeyInfo,
  uses: readonly KeyUse[],
  now: Date,
  complete: boolean,
  rotationPolicy: RotationPolicySummary | undefined,
): KeyPosture {
  const nowIso = now.toISOString();
  const current = latestVersion(key);
  const currentVersion = current?.version.toLowerCase();
  const pinned = new Map<string, number>();
  for (const u of uses) if (u.version !== undefined) pinned.set(u.version, (pinned.get(u.version) ?? 0) + 1);
  const versionless = uses.filter((u) => u.version === undefined).length;
  const currentAgeHours =
    current === undefined ? Infinity : (now.getTime() - Date.parse(current.createdOn)) / HOUR_MS;
  const versions: KeyVersionPosture[] = [...key.versions]
    .sort((a, b) => Date.parse(b.createdOn) - Date.parse(a.createdOn))
    .map((v) => {
      const id = v.version.toLowerCase();
      const pinnedBy = pinned.get(id) ?? 0;
      const isCurrent = id === currentVersion;
      let safe = false;
      let why: string;
      if (isCurrent) why = 'current version';
      else if (pinnedBy > 0) why = `pinned by ${pinnedBy} server slot(s)`;
      else if (!v.enabled) why = 'already disabled';
      else if (!complete) why = 'not every server using the key could be read';
      else if (versionless > 0 && currentAgeHours < VERSIONLESS_PICKUP_HOURS)
        why = `${versionless} versionless slot(s) may still use it: the current version is ${Math.max(0, Math.floor(currentAgeHours * 60))} min old, wait ${VERSIONLESS_PICKUP_HOURS} h after it was created`;
      else {
        safe = true;
        why =
          versionless > 0
            ? `pinned by no server; versionless servers had ${VERSIONLESS_PICKUP_HOURS} h to move to the current version`
            : 'pinned by no server and not current';
      }
      return {
        version: v.version,
        enabled: v.enabled,
        createdOn: v.createdOn,
        notBefore: v.notBefore,
        expiresOn: v.expiresOn,
        daysLeft: daysLeft(v.expiresOn, nowIso),
        current: isCurrent,
        pinnedBy,
        safeToDisable: safe,
        disableReason: why,
      };
    });
  let nextExpiry: KeyPosture['nextExpiry'];
  for (const v of versions) {
    if (!v.enabled || v.expiresOn === undefined || v.daysLeft === undefined) continue;
    if (!v.current && v.pinnedBy === 0) continue;
    if (nextExpiry === undefined || Date.parse(v.expiresOn) < Date.parse(nextExpiry.expiresOn))
      nextExpiry = { version: v.version, expiresOn: v.expiresOn, daysLeft: v.daysLeft };
  }
  return {
    vaultName: key.vaultName,
    keyName: key.name,
    currentVersion: current?.version,
    versions,
    safeToDisable: versions.filter((v) => v.safeToDisable).map((v) => v.version),
    versionlessSlots: versionless,
    pinnedSlots: uses.length - versionless,
    nextExpiry,
    rotationPolicy,
  };
}
