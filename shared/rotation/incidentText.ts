import type { Diagnosis } from '../domain/diagnosis';
import type { Incident, Severity } from '../domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../domain/model';
import { leavesAlone } from '../domain/plan';
import { serverNameOf } from '../domain/resourceId';
import type { PlannedServer, UnplannableServer } from './activityIo';
import type { ServerRef } from './contract';
import { incidentKeys } from './ids';

/**
 * The rotation's pages, worded: every incident a rotation, a batch or a server's rollover opens is
 * built here (pure), next to the diagnosis rules that give a server's page its cause and next step
 * (shared/domain/diagnosis.ts). The orchestrators decide when to page; these say what.
 */

/**
 * Words of the expiry pages that depend on which servers they list: the rotator moves a server only if
 * its plan lets it (an opted-out or held server is left alone, whatever happens to its key), so a page
 * listing such servers says who moves them.
 */

/** Names of the listed servers the rotator leaves alone (opt-out tag: `excluded`; hold tag: `held`). */
export function leftAloneServers(servers: readonly PlannedServer[]): { optedOut: string[]; held: string[] } {
  const optedOut: string[] = [];
  const held: string[] = [];
  for (const s of servers) {
    const decisions = s.slots.map((x) => x.decision).filter(leavesAlone);
    if (decisions.includes('excluded')) optedOut.push(serverNameOf(s.serverId));
    else if (decisions.includes('held')) held.push(serverNameOf(s.serverId));
  }
  return { optedOut, held };
}

const list = (names: readonly string[]): string =>
  names.slice(0, 20).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');

/** " The rotator does not move X (opted out) or Y (on hold): ..." — empty when every server is the rotator's. */
export function leftAloneNote(servers: readonly PlannedServer[]): string {
  const { optedOut, held } = leftAloneServers(servers);
  if (optedOut.length === 0 && held.length === 0) return '';
  const parts = [
    ...(optedOut.length > 0 ? [`${list(optedOut)} (opted out: whoever owns them moves them)`] : []),
    ...(held.length > 0 ? [`${list(held)} (on hold: remove the hold tag, or move them yourself)`] : []),
  ];
  return ` The rotator does not move ${parts.join(' or ')}.`;
}

/**
 * An expired version: restore access to it first (Microsoft Learn, PostgreSQL flexible server data
 * encryption: an Inaccessible server refuses a new key until its current one is usable again), wait
 * for Ready, then move the servers — the rotator those it may move, the operator the others.
 */
export function expiredRecovery(
  keyName: string,
  version: string,
  vaultName: string,
  routeKey: string,
  newest: boolean,
  servers: readonly PlannedServer[],
): string {
  const { optedOut, held } = leftAloneServers(servers);
  const all = optedOut.length + held.length === servers.length;
  const moves = all
    ? `then move them to ${newest ? 'a new version (create one: "Rotate now")' : 'the newest version'} yourself: the rotator leaves them alone`
    : `then the rotator moves ${optedOut.length + held.length > 0 ? 'the others' : 'them'} to ${newest ? 'a new version (create one: "Rotate now")' : 'the newest version'} on its next run (sweep, event, or POST /api/rotations/${vaultName}/${routeKey})`;
  return `Restore access to ${keyName}/${version} first: extend its expiry date (or re-enable / recover it) in ${vaultName}; wait until the servers listed are Ready again (up to about an hour); ${moves}. A new version alone does not help: an Inaccessible server refuses a new key until its current one is usable again.${all ? '' : leftAloneNote(servers)}`;
}

/** The run a page comes from: when it looked, its instance id (the correlation id) and its key. */
export interface PageSource {
  readonly now: string;
  readonly instanceId: string;
  readonly vaultUrl: string;
  readonly vaultName: string;
  readonly keyName: string;
}

/** A key-wide incident of one run (`incidentKeys.rotation`: one per key and code). */
export function rotationIncident(
  at: PageSource,
  code: string,
  summary: string,
  nextStep: string,
  severity: Severity,
): Incident {
  return {
    since: at.now,
    correlationId: at.instanceId,
    dedupKey: incidentKeys.rotation(at.vaultName, at.keyName, code),
    summary,
    severity,
    source: `${at.vaultUrl}/keys/${at.keyName}`,
    deadline: undefined,
    nextStep,
    facts: { vault: at.vaultName, key: at.keyName, reasonCode: code },
  };
}

/** A bug or a malformed answer stopped the run: nobody would know otherwise. */
export function unexpectedErrorIncident(at: PageSource): Incident {
  return rotationIncident(
    at,
    'UnexpectedError',
    `CMK rotation of ${at.keyName} in ${at.vaultName} stopped on an unexpected error`,
    `Look up the audit trail and the Function App's logs for ${at.instanceId}; re-run it (POST /api/rotations/${at.vaultName}/${at.keyName}) once the cause is fixed.`,
    'error',
  );
}

/** Audit records the trail kept refusing: the gap is the operators' to know. */
export function auditUndeliveredIncident(at: PageSource, count: number): Incident {
  return rotationIncident(
    at,
    'AuditUndelivered',
    `${count} audit record(s) of the CMK rotation of ${at.keyName} in ${at.vaultName} were refused by Application Insights`,
    `The audit trail of ${at.instanceId} is incomplete. Its outcome per server is in the instance output (GET /api/rotations/${at.vaultName}/${at.keyName}); check the Application Insights ingestion (identity role "Monitoring Metrics Publisher", local auth, daily cap, outage) and the Function App's logs.`,
    'warning',
  );
}

/** Key Vault's firewall refused the app (`nextStep`: the network fix `diagnose` names). */
export function vaultUnreachableIncident(at: PageSource, code: string, nextStep: string): Incident {
  return rotationIncident(
    at,
    'VaultUnreachable',
    `CMK rotation cannot reach vault ${at.vaultName} for key ${at.keyName} (vault unreachable): ${code}`,
    nextStep,
    'error',
  );
}

/** The key could not be read: `transient`, Key Vault kept failing through every retry; else access. */
export function keyUnreadableIncident(at: PageSource, code: string, transient: boolean): Incident {
  return rotationIncident(
    at,
    'KeyUnreadable',
    `CMK rotation cannot read key ${at.keyName} in ${at.vaultName} (key unreadable): ${code}`,
    transient
      ? `Key Vault ${at.vaultName} kept failing (${code}) through every retry. Check its availability and network access; the next event or sweep retries, or POST /api/rotations/${at.vaultName}/${at.keyName}.`
      : `Give the rotator's identity "Key Vault Reader" and "Key Vault Crypto User" (or get/list permissions) on ${at.vaultName}, and check the key exists.`,
    'error',
  );
}

/** The servers that use the key could not be listed. */
export function discoveryFailedIncident(at: PageSource, code: string): Incident {
  return rotationIncident(
    at,
    'DiscoveryFailed',
    `CMK rotation of ${at.keyName} cannot list the servers that use it: ${code}`,
    `Give the rotator's identity Reader (or the rotator's custom role) on the configured subscriptions.`,
    'error',
  );
}

/** The automatic rotation of a key whose newest version nears expiry was refused. */
export function rotateFailedIncident(at: PageSource, code: string, severity: Severity): Incident {
  return rotationIncident(
    at,
    'RotateFailed',
    `CMK rotation could not rotate ${at.keyName} in ${at.vaultName}: ${code}`,
    `Give the rotator "Key Vault Crypto Officer" on ${at.vaultName}, or rotate the key by hand.`,
    severity,
  );
}

/** A canary failed: the rest of the fleet is held back. */
export function canaryFailedIncident(at: PageSource, targetVersion: string, heldBack: number): Incident {
  return rotationIncident(
    at,
    'CanaryFailed',
    `CMK rotation of ${at.keyName} to ${targetVersion} stopped after the canary ring: ${heldBack} server(s) held back`,
    `Fix the failed canary server (see its own page), then re-run the rotation.`,
    'error',
  );
}

/** The target version failed preflight (`incidentKeys.preflight`: one per version). */
export function preflightIncident(
  at: PageSource,
  latest: KeyVersionInfo,
  summary: string,
  reasonCode: string,
  minKeyLifetimeDays: number,
): Incident {
  return {
    since: at.now,
    correlationId: at.instanceId,
    dedupKey: incidentKeys.preflight(at.vaultName, at.keyName, latest.version),
    summary: `CMK rotation will not use ${at.keyName}/${latest.version}: ${summary}`,
    severity: 'error',
    source: latest.kid,
    deadline: undefined,
    nextStep: `Create a compliant version (RSA or RSA-HSM, 2048/3072/4096 bits, enabled, wrapKey+unwrapKey, at least ${minKeyLifetimeDays} days to expiry); servers stay on their current version meanwhile.`,
    facts: { vault: at.vaultName, key: at.keyName, version: latest.version, reasonCode },
  };
}

/** A server discovery found but could not plan (`InvalidConfiguration`). */
export function unplannableIncident(
  at: PageSource,
  u: UnplannableServer,
  target: string,
  dedupKey: string,
): Incident {
  return {
    since: at.now,
    correlationId: at.instanceId,
    dedupKey,
    summary: `CMK rotation of ${u.serverName} to ${at.keyName}/${target} skipped: its configuration cannot be planned`,
    severity: 'error',
    source: u.serverId,
    deadline: undefined,
    nextStep: `Check ${u.serverName}'s dataEncryption (primary key URI and user-assigned identity) and identities (${u.reason}); the rotator leaves it alone until they are consistent.`,
    facts: {
      vault: at.vaultName,
      key: at.keyName,
      targetVersion: target,
      reasonCode: u.code,
      subscription: u.subscriptionId,
    },
  };
}

/**
 * The page for servers on an expiring version. Before expiry: create a new version, the rotator
 * moves them. After expiry the servers are (or soon go) Inaccessible and refuse a new key until access
 * to the version they use is back (Microsoft Learn, PostgreSQL flexible server data encryption):
 * restore that version first, wait for Ready, then the rotator moves them.
 */
export function expiryIncident(
  at: PageSource,
  key: KeyInfo,
  version: KeyVersionInfo,
  days: number | undefined,
  severity: 'critical' | 'warning',
  servers: readonly PlannedServer[],
  newest: boolean,
): Incident {
  const expired = days !== undefined && days < 0;
  const names = servers.map((s) => serverNameOf(s.serverId));
  const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');
  const restore = expiredRecovery(key.name, version.version, at.vaultName, at.keyName, newest, servers);
  return {
    since: at.now,
    correlationId: at.instanceId,
    dedupKey: incidentKeys.expiry(at.vaultName, at.keyName, version.version, severity),
    summary: expired
      ? `Key ${at.keyName}/${version.version} in ${at.vaultName} has EXPIRED; ${servers.length} server(s) still use it: ${shown}`
      : `Key ${at.keyName}/${version.version} in ${at.vaultName} expires in ${days ?? '?'} day(s); ${servers.length} server(s) use it: ${shown}`,
    severity,
    source: version.kid,
    deadline: version.expiresOn,
    nextStep: expired
      ? restore
      : newest
        ? `Create a new version of ${at.keyName} (Key Vault "Rotate now", or set the rotation policy to rotate) before the deadline; the rotator then moves the servers it may move.${leftAloneNote(servers)}`
        : `The rotator could not move these servers to the newest version (see their own pages or the opt-out tag); fix that before the deadline, or they go Inaccessible when this version expires.${leftAloneNote(servers)}`,
    facts: {
      vault: at.vaultName,
      key: at.keyName,
      version: version.version,
      reasonCode: expired ? 'KeyExpired' : 'KeyNearExpiry',
      servers: String(servers.length),
    },
  };
}

/** Where a server's page comes from: its rollover's start, the rotation, the key and versions. */
export interface ServerPageSource {
  readonly since: string;
  readonly correlationId: string;
  readonly key: Pick<KeyInfo, 'vaultName' | 'name'>;
  readonly targetVersion: string;
  readonly fromVersion: string | undefined;
  readonly server: ServerRef;
}

/** A server's rollover failed (`diagnosis`: what and the next step, from shared/domain/diagnosis.ts). */
export function serverFailedIncident(
  at: ServerPageSource,
  dedupKey: string,
  code: string,
  diagnosis: Diagnosis,
): Incident {
  const { server, key } = at;
  return {
    dedupKey,
    summary: `CMK rotation of ${server.serverName} to ${key.name}/${at.targetVersion} failed: ${diagnosis.what}`,
    severity: code === 'ServerInaccessible' ? 'critical' : 'error',
    source: server.serverId,
    since: at.since,
    deadline: server.expiresOn,
    nextStep: diagnosis.nextStep,
    correlationId: at.correlationId,
    facts: {
      vault: key.vaultName,
      key: key.name,
      targetVersion: at.targetVersion,
      fromVersion: at.fromVersion ?? '-',
      reasonCode: code,
      subscription: server.subscriptionId,
    },
  };
}

/** A server's rollover sub-orchestration itself failed (a host or replay fault): what it did is unknown. */
export function subOrchestrationFailedIncident(
  since: string,
  rollout: {
    readonly correlationId: string;
    readonly vaultName: string;
    readonly keyName: string;
    readonly targetVersion: string;
  },
  server: ServerRef,
  dedupKey: string,
): Incident {
  return {
    since,
    correlationId: rollout.correlationId,
    dedupKey,
    summary: `CMK rotation of ${server.serverName} to ${rollout.keyName}/${rollout.targetVersion} failed: its rollover stopped unexpectedly`,
    severity: 'error',
    source: server.serverId,
    deadline: server.expiresOn,
    nextStep: `Look up the audit trail and the Function App's logs for this rotation; re-run it (POST /api/rotations) once the cause is fixed.`,
    facts: {
      vault: rollout.vaultName,
      key: rollout.keyName,
      targetVersion: rollout.targetVersion,
      reasonCode: 'SubOrchestrationFailed',
    },
  };
}
