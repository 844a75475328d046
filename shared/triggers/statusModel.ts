import type { Config } from '../config';
import { tryParseKeyUri } from '../domain/keyId';
import type { KeyInfo, ServerSnapshot, Slot } from '../domain/model';
import type { PostureReport } from '../domain/posture';
import { holdOf, isOptedOut, latestVersion } from '../domain/plan';
import { daysLeft, expirySeverity } from '../domain/expiry';
import { resourceNameOf } from '../domain/resourceId';
import type { HealthWatchState } from './healthWatch';
import type { RotationSummary } from './operator';
import type { RowIncident } from './statusIncidents';

/** The status page's model: its rows, and the pure rules that fill them (gathered in statusPage.ts). */

export type Risk = 'critical' | 'warning' | 'ok';

export interface KeyRow {
  readonly vault: string;
  readonly key: string;
  readonly latestVersion: string | undefined;
  readonly expiresOn: string | undefined;
  readonly daysLeft: number | undefined;
  readonly risk: Risk;
  readonly servers: number;
}

export interface ServerRow {
  readonly server: string;
  /** The ARM id (absent from rows built before it was kept). */
  readonly serverId?: string | undefined;
  readonly subscriptionId: string;
  readonly slot: Slot;
  readonly vault: string;
  readonly key: string;
  /** Pinned version, or undefined for a versionless URI. */
  readonly version: string | undefined;
  readonly daysLeft: number | undefined;
  readonly state: string | undefined;
  readonly keyStatus: string | undefined;
  readonly risk: Risk;
  readonly reason: string;
  /** What the posture checks (or the health watch's page) name as the cause, for a server at risk. */
  readonly cause?: string | undefined;
  /** The server's open incident, when it has one. */
  readonly incident?: RowIncident | undefined;
  /** The runbook section (docs/runbook.md anchor) for this row's problem; undefined when it is ok. */
  readonly runbook?: string | undefined;
}

export interface IncidentRow {
  /** The rotation instance that opened it; undefined for the health watch's. */
  readonly rotation: string | undefined;
  readonly dedupKey: string;
  readonly kind: string;
  readonly server: string | undefined;
  readonly version: string | undefined;
  readonly severity?: RowIncident['severity'] | undefined;
  readonly since?: string | undefined;
  readonly nextStep?: string | undefined;
  readonly source?: RowIncident['source'] | undefined;
  readonly runbook?: string | undefined;
}

/** A failing check from the fleet posture (when the app reports posture). */
export interface VaultCheckRow {
  readonly vault: string;
  readonly check: string;
  /** `failing`, or `not evaluated` (a vault that could not be read, access that cannot be verified). */
  readonly status: 'failing' | 'not evaluated';
  readonly reason: string;
}

/**
 * The vault checks of a posture report that do not pass, as the status page lists them: failing ones,
 * and ones that could not be evaluated (a vault that could not be read leaves all of its checks
 * unknown; an identity's access that cannot be verified, e.g. through a group) — "every vault check
 * passes" would not be true of either. An identity denied access is failing.
 */
export function failingVaultChecks(report: Pick<PostureReport, 'vaults'>): VaultCheckRow[] {
  return report.vaults.flatMap((v) => [
    ...v.checks
      .filter((c) => c.status !== 'ok')
      .map((c) => ({
        vault: v.vaultName,
        check: c.name,
        status: c.status === 'failing' ? ('failing' as const) : ('not evaluated' as const),
        reason: c.fix !== undefined && c.status === 'failing' ? `${c.reason}. Fix: ${c.fix}` : c.reason,
      })),
    ...v.identities
      .filter((i) => i.granted !== true)
      .map((i) => ({
        vault: v.vaultName,
        check: 'identityAccess',
        status: i.granted === false ? ('failing' as const) : ('not evaluated' as const),
        reason: `${i.identityId !== undefined ? resourceNameOf(i.identityId) : '?'}: ${i.reason}`,
      })),
  ]);
}

export interface StatusModel {
  readonly generatedAt: string;
  readonly keys: readonly KeyRow[];
  /** Servers at risk first (critical, then warning, then by days left). */
  readonly servers: readonly ServerRow[];
  readonly running: readonly RotationSummary[];
  readonly recent: readonly RotationSummary[];
  readonly incidents: readonly IncidentRow[];
  readonly vaultChecks: readonly VaultCheckRow[] | undefined;
  /** Vaults or keys that could not be read (named, with Azure's code). */
  readonly errors: readonly string[];
  /** What the health watch's last pass found; undefined when its state could not be read. */
  readonly health?: HealthWatchState | undefined;
  /** Rotations that ended (their open incidents are read): with `health`, what "no incident" rests on. */
  readonly rotationsRead?: number | undefined;
  /** Base URL of docs/runbook.md (CMK_RUNBOOK_BASE_URL); undefined: sections are named, not linked. */
  readonly runbookBaseUrl?: string | undefined;
}

/** The risk of one server slot on this key, and why. Pure. */
export function slotRisk(
  config: Pick<Config, 'nearExpiry' | 'optOutTag' | 'holdTag'>,
  key: KeyInfo,
  server: ServerSnapshot,
  slot: Slot,
  now: Date,
): { risk: Risk; reason: string; version: string | undefined; daysLeft: number | undefined } {
  const de = server.dataEncryption;
  const uri = slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI;
  const status = slot === 'primary' ? de?.primaryEncryptionKeyStatus : de?.geoBackupEncryptionKeyStatus;
  const version = tryParseKeyUri(uri)?.version;
  const latest = latestVersion(key);
  const pinned =
    version === undefined ? latest : key.versions.find((v) => v.version.toLowerCase() === version);
  const days = daysLeft(pinned?.expiresOn, now.toISOString());
  const severity = expirySeverity(days, config.nearExpiry);
  const state = server.state ?? 'unknown';
  const behind = version !== undefined && latest !== undefined && version !== latest.version.toLowerCase();
  const hold = holdOf(server, config.holdTag);
  const left = isOptedOut(server, config.optOutTag)
    ? ' (opted out)'
    : hold !== undefined
      ? ` (on hold: ${hold})`
      : '';
  if (state.toLowerCase() === 'inaccessible')
    return { risk: 'critical', reason: `server Inaccessible${left}`, version, daysLeft: days };
  if (status !== undefined && status.toLowerCase() === 'invalid')
    return { risk: 'critical', reason: `key status Invalid${left}`, version, daysLeft: days };
  if (days !== undefined && days < 0)
    return { risk: 'critical', reason: `pinned version expired${left}`, version, daysLeft: days };
  if (severity !== undefined)
    return {
      risk: severity,
      reason: `pinned version expires in ${days ?? '?'} day(s)${left}`,
      version,
      daysLeft: days,
    };
  if (pinned === undefined && version !== undefined)
    return {
      risk: 'warning',
      reason: 'pinned to a version the vault does not list',
      version,
      daysLeft: days,
    };
  if (behind) return { risk: 'warning', reason: `behind the newest version${left}`, version, daysLeft: days };
  return {
    risk: 'ok',
    reason: version === undefined ? 'versionless' : 'on the newest version',
    version,
    daysLeft: days,
  };
}
