import { createHash } from 'node:crypto';
import type { Incident } from './incident';
import { tryParseKeyUri } from './keyId';
import type { ServerSnapshot, Slot } from './model';
import type { ServerPosture, SlotPosture, VaultPosture } from './posture';
import { resourceNameOf } from './resourceId';

/**
 * The health watch: a frequent timer finds flexible servers whose key status went Invalid or whose
 * state went Inaccessible (one Resource Graph query for the fleet), pages once per server incident with
 * the cause the posture checks can see and Learn's recovery steps, and resolves the page once the
 * server is Ready with every key status Valid again. Everything here is pure and plain JSON: the
 * orchestration (shared/workflows/healthWatch.ts) carries it across the durable boundary.
 *
 * Recovery (Microsoft Learn, "Data encryption at rest in Azure Database for PostgreSQL", flexible
 * server): a server whose key version is disabled, deleted, expired or not granted goes Inaccessible;
 * restore access to that SAME version, wait until the server is available again, and only then point
 * it at another version (a PATCH to a new version is refused meanwhile). PostgreSQL flexible server
 * has no "revalidate" operation.
 */

/** One durable instance runs the watch: a redelivered tick finds it running (or done) and adds nothing. */
export const HEALTH_WATCH_INSTANCE_ID = 'cmk-health-watch';
export const HEALTH_WATCH_SCHEMA_VERSION = 1;

/** A server as the watch reads it: state and key statuses (ARM's strings), its slots' URIs. */
export interface ServerHealth {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  readonly state: string | undefined;
  readonly slots: readonly {
    readonly slot: Slot;
    readonly keyUri: string;
    readonly keyStatus: string | undefined;
    readonly identityId: string | undefined;
  }[];
  /** Opted out or on operator hold: the rotator never moves it, the operator does. */
  readonly leftAlone?: 'optedOut' | 'held' | undefined;
}

const eq = (a: string | undefined, b: string): boolean =>
  a !== undefined && a.toLowerCase() === b.toLowerCase();

export function serverHealthOf(s: ServerSnapshot, leftAlone: 'optedOut' | 'held' | undefined): ServerHealth {
  const de = s.dataEncryption;
  const slots: ServerHealth['slots'][number][] = [];
  if (de?.primaryKeyURI !== undefined && de.primaryKeyURI !== '')
    slots.push({
      slot: 'primary',
      keyUri: de.primaryKeyURI,
      keyStatus: de.primaryEncryptionKeyStatus,
      identityId: de.primaryUserAssignedIdentityId,
    });
  if (de?.geoBackupKeyURI !== undefined && de.geoBackupKeyURI !== '')
    slots.push({
      slot: 'geoBackup',
      keyUri: de.geoBackupKeyURI,
      keyStatus: de.geoBackupEncryptionKeyStatus,
      identityId: de.geoBackupUserAssignedIdentityId,
    });
  return {
    serverId: s.id,
    serverName: s.name,
    subscriptionId: s.subscriptionId,
    state: s.state,
    slots,
    ...(leftAlone !== undefined ? { leftAlone } : {}),
  };
}

/** What the watch pages for: state Inaccessible, or a key status Invalid on any slot. */
export function isUnhealthy(s: ServerHealth): boolean {
  return eq(s.state, 'Inaccessible') || s.slots.some((x) => eq(x.keyStatus, 'Invalid'));
}

/** What resolves a page, and nothing less: state Ready and every slot's key status Valid. */
export function isRecovered(s: ServerHealth): boolean {
  return eq(s.state, 'Ready') && s.slots.length > 0 && s.slots.every((x) => eq(x.keyStatus, 'Valid'));
}

// ---------------------------------------------------------------------------------------------
// Causes: what the posture checks can see about a server's slot. One rule per cause; adding a cause
// is adding one line to CAUSE_RULES (and, if it needs its own words, one entry to RESTORE).

export const HEALTH_CAUSE_CODES = [
  'IdentityGrantMissing',
  'KeyVersionDisabled',
  'KeyVersionExpired',
  'KeyVersionNotListed',
  'VaultUnreachable',
  'Undetermined',
] as const;
export type HealthCauseCode = (typeof HEALTH_CAUSE_CODES)[number];

export interface HealthCause {
  readonly code: HealthCauseCode;
  readonly slot: Slot | undefined;
  /** Words for people: what is wrong. */
  readonly what: string;
}

/**
 * Vault checks (shared/domain/postureRules.ts) whose failing requirement means servers (or the app)
 * cannot reach the vault: a new reachability check joins this list.
 */
export const VAULT_UNREACHABLE_CHECKS: readonly string[] = ['networkAccess'];

type CauseRule = readonly [
  HealthCauseCode,
  (slot: SlotPosture, vault: VaultPosture | undefined) => string | undefined,
];

const name = (id: string | undefined): string => (id === undefined ? 'its identity' : resourceNameOf(id));
const ver = (s: SlotPosture): string =>
  `${s.keyName ?? '?'}/${s.effectiveVersion ?? s.pinnedVersion ?? '?'} in ${s.vaultName ?? '?'}`;

export const CAUSE_RULES: readonly CauseRule[] = [
  [
    'IdentityGrantMissing',
    (s) =>
      s.access.granted === false
        ? `identity ${name(s.identityId)} may not use ${ver(s)} (${s.access.reason})`
        : undefined,
  ],
  [
    'KeyVersionDisabled',
    (s) => (s.versionEnabled === false ? `key version ${ver(s)} is disabled` : undefined),
  ],
  [
    'KeyVersionExpired',
    (s) =>
      s.daysLeft !== undefined && s.daysLeft < 0
        ? `key version ${ver(s)} expired ${s.expiresOn ?? ''}`
        : undefined,
  ],
  [
    'KeyVersionNotListed',
    (s) =>
      s.effectiveVersion === undefined && s.reasons.some((r) => r.includes('is not listed by the vault'))
        ? `key version ${ver(s)} is not listed by the vault (deleted?)`
        : undefined,
  ],
  [
    'VaultUnreachable',
    (_s, v) =>
      v?.checks
        .filter(
          (c) =>
            c.status === 'failing' && c.kind === 'requirement' && VAULT_UNREACHABLE_CHECKS.includes(c.name),
        )
        .map((c) => `vault ${v.vaultName} is unreachable: ${c.reason}`)[0],
  ],
];

/** The causes the posture shows for a server's slots (each slot a key status Invalid, or all when Inaccessible). */
export function causesOf(
  server: ServerPosture,
  vaults: readonly VaultPosture[],
  health: ServerHealth | undefined,
): HealthCause[] {
  const invalid = new Set(health?.slots.filter((x) => eq(x.keyStatus, 'Invalid')).map((x) => x.slot) ?? []);
  const slots = invalid.size > 0 ? server.slots.filter((s) => invalid.has(s.slot)) : server.slots;
  const causes: HealthCause[] = [];
  for (const slot of slots) {
    const vault = vaults.find((v) => v.vaultName.toLowerCase() === slot.vaultName?.toLowerCase());
    for (const [code, test] of CAUSE_RULES) {
      const what = test(slot, vault);
      if (what !== undefined) causes.push({ code, slot: slot.slot, what });
    }
  }
  return causes;
}

/** The cause when nothing the posture shows explains it (or the posture could not be read). */
export function undetermined(why: string): HealthCause {
  return { code: 'Undetermined', slot: undefined, what: `cause not determined (${why})` };
}

/** The action that restores access to the same key version, per cause (Learn, see the module comment). */
interface Target {
  /** `<key>/<version> in <vault>`, or words when the URI cannot be read. */
  readonly version: string;
  /** `vault <name>`, or `its vault`. */
  readonly vault: string;
}
const RESTORE: Readonly<Record<HealthCauseCode, (t: Target) => string>> = {
  IdentityGrantMissing: (t) =>
    `re-grant the server's identity "Key Vault Crypto Service Encryption User" on ${t.vault} (RBAC) or get, wrapKey and unwrapKey (access policy)`,
  KeyVersionDisabled: (t) => `re-enable ${t.version}`,
  KeyVersionExpired: (t) => `extend the expiry date of ${t.version}`,
  KeyVersionNotListed: (t) => `recover ${t.version} from soft delete`,
  VaultUnreachable: (t) =>
    `let the server reach ${t.vault} again (allow trusted Microsoft services to bypass its firewall, or restore the private endpoint)`,
  Undetermined: (t) =>
    `check ${t.version}: enabled, not expired, not deleted, the server's identity granted, the vault reachable`,
};

// ---------------------------------------------------------------------------------------------
// Incidents: one per server while it is unhealthy, same dedup key until it is Ready and Valid again.

/** An incident the watch opened and keeps open until the server recovers. */
export interface HealthIncident {
  readonly dedupKey: string;
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  /** When the watch first saw the server unhealthy (orchestration time). */
  readonly since: string;
  readonly severity: 'critical';
  readonly causes: readonly HealthCause[];
  readonly summary: string;
  readonly nextStep: string;
  /** False when no pager is configured: the audit trail holds the incident. */
  readonly paged: boolean;
  /**
   * The server recovered (or was deleted) but a channel refused the resolve: the incident stays open
   * at the pager, so it stays open here and the next pass resolves it again (a later outage of the
   * server must not fold into a stale incident under the same dedup key).
   */
  readonly resolving?: boolean | undefined;
}

export function healthDedupKey(serverName: string, serverId: string): string {
  const hash = createHash('sha256').update(serverId.toLowerCase()).digest('hex').slice(0, 12);
  return `cmk-health:${serverName.toLowerCase().slice(0, 63)}:${hash}`;
}

/** The page for a server the watch found unhealthy. */
export function healthIncident(
  server: ServerHealth,
  causes: readonly HealthCause[],
  now: string,
  correlationId: string,
): { incident: Incident; record: HealthIncident } {
  const slots = server.slots.filter((x) => eq(server.state, 'Inaccessible') || eq(x.keyStatus, 'Invalid'));
  const target = (slot: Slot | undefined): Target => {
    const uri = server.slots.find((x) => x.slot === slot)?.keyUri ?? slots[0]?.keyUri;
    const ref = tryParseKeyUri(uri);
    return ref === undefined
      ? { version: 'the key version it uses', vault: 'its vault' }
      : {
          version: `${ref.name}/${ref.version ?? '(current version)'} in ${ref.vaultName}`,
          vault: `vault ${ref.vaultName}`,
        };
  };
  const first = tryParseKeyUri(slots[0]?.keyUri ?? server.slots[0]?.keyUri);
  const route = first === undefined ? '<vault>/<key>' : `${first.vaultName}/${first.name}`;
  const found = causes.length > 0 ? causes : [undetermined('no posture check fails for this server')];
  const actions = [...new Set(found.map((c) => RESTORE[c.code](target(c.slot))))];
  const status = eq(server.state, 'Inaccessible')
    ? 'is Inaccessible'
    : `has key status Invalid (${slots.map((s) => s.slot).join(', ')}) and goes Inaccessible within about an hour`;
  const then =
    server.leftAlone === undefined
      ? `then rotate: the rotator moves it to the newest version on its next run (sweep, event or POST /api/rotations/${route})`
      : `then rotate it yourself: it is ${server.leftAlone === 'optedOut' ? 'opted out' : 'on hold'}, the rotator does not move it`;
  const incident: Incident = {
    dedupKey: healthDedupKey(server.serverName, server.serverId),
    summary: `${server.serverName} ${status}: ${found.map((c) => c.what).join('; ')}`.slice(0, 1024),
    severity: 'critical',
    source: server.serverId,
    since: now,
    deadline: undefined,
    nextStep: `Restore access to the SAME key version: ${actions.join('; ')}. Wait until ${server.serverName} is Ready with key status Valid (up to about an hour; the page resolves itself then); ${then}. Do not point the server at another version before it is Ready: it refuses a new key until its current one is usable again.`,
    correlationId,
    facts: {
      server: server.serverName,
      state: server.state ?? 'unknown',
      reasonCode: found.map((c) => c.code).join(','),
      ...Object.fromEntries(server.slots.map((s) => [`${s.slot}.keyStatus`, s.keyStatus ?? 'unknown'])),
    },
  };
  return {
    incident,
    record: {
      dedupKey: incident.dedupKey,
      serverId: server.serverId,
      serverName: server.serverName,
      subscriptionId: server.subscriptionId,
      since: now,
      severity: 'critical',
      causes: found,
      summary: incident.summary,
      nextStep: incident.nextStep,
      paged: true,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The durable contract of the watch.

export interface HealthWatchInput {
  readonly schemaVersion: number;
  /** `health:<ISO time of the tick>` (the audit trail's trigger). */
  readonly trigger: string;
  /** Incidents the previous run left open. */
  readonly open: readonly HealthIncident[];
  /**
   * What the last completed pass (the one `open` comes from) said: the status page shows it while this
   * pass runs, since the task hub keeps one execution per instance id and this one replaced its output.
   * Absent when no pass completed before.
   */
  readonly previous?: HealthWatchPrevious | undefined;
}

export interface HealthWatchPrevious {
  readonly checkedAt: string;
  /** Why that pass could not read the fleet, when it could not. */
  readonly error?: string | undefined;
}

export interface HealthWatchOutput {
  readonly schemaVersion: number;
  readonly checkedAt: string;
  /** Incidents open after this run (the next run starts from them). */
  readonly open: readonly HealthIncident[];
  /** Servers found unhealthy by this run. */
  readonly unhealthy: number;
  readonly opened: number;
  /** Incidents whose resolve the pager accepted this run (recovered or deleted servers). */
  readonly resolved: number;
  /** Why the fleet could not be read (the open incidents are carried over unchanged). */
  readonly error?: string | undefined;
}

/** Input of the `checkFleetHealth` activity: the servers with an open incident are read whatever their state. */
export interface CheckFleetHealthInput {
  readonly watch: readonly string[];
}

export type CheckFleetHealthOutput =
  | {
      readonly ok: true;
      /** Unhealthy servers, and the watched ones whatever their state (absent: no longer found). */
      readonly servers: readonly ServerHealth[];
      /** Causes of the unhealthy servers not watched yet, by lower-case server id. */
      readonly causes: Readonly<Record<string, readonly HealthCause[]>>;
      /** Rows the query returned that are not readable servers (named in the audit trail). */
      readonly invalid: readonly string[];
      /**
       * Watched server ids that no longer exist (not returned by the query, and ARM's GET of the server
       * answered 404). Absent in the outputs of passes before it existed.
       */
      readonly deleted?: readonly string[] | undefined;
    }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Names the watch registers under (functions/index.ts). */
export const HEALTH_WATCH_NAMES = {
  timer: 'healthWatch',
  orchestrator: 'fleetHealthWatch',
  activity: 'checkFleetHealth',
} as const;
