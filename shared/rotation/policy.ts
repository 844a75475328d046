import type { RunRecord } from '../domain/runs';
import { createHash } from 'node:crypto';
import type { KeyEventType } from '../domain/events';
import type { KeyInfo, Slot } from '../domain/model';
import type { ServerAction, SlotDecision } from '../domain/plan';
import type { OutcomeCounts } from './outcomes';
import type { ArmQuota } from './pacing';

/**
 * The plain-JSON contract between the intake, the orchestrations and the activities of a rotation.
 * Everything here crosses the durable boundary, so it is data only (ISO strings, no classes).
 */

/** Settings a rotation runs with. Carried in the orchestration input so a replay never sees new values. */
export interface RotationSettings {
  /**
   * Upper bound on servers in flight per subscription. The rollout keeps as many in flight as ARM's
   * remaining quota allows (shared/domain/throughput.ts), never more than this.
   */
  readonly maxParallelUpdates: number;
  /** Tag whose value `0` puts a server in the canary ring, rolled out (and verified) first. */
  readonly canaryTag: string;
  /** Tag that opts a server out (any value but false/0/no/off). */
  readonly optOutTag: string;
  /**
   * Tag that puts a server on operator hold (any value but false/0/no/off: the value says why). Absent
   * in the inputs of older deployments: no hold.
   */
  readonly holdTag?: string | undefined;
  /** A rollout target must stay valid at least this long. */
  readonly minKeyLifetimeDays: number;
  /** Page severity by days left before expiry: warning at or below `warningDays`, critical at or below `criticalDays`. */
  readonly nearExpiry: { readonly warningDays: number; readonly criticalDays: number };
  /** Rotate the key in Key Vault when the newest version nears expiry and no newer one exists. Off unless set. */
  readonly autoRotateOnNearExpiry: boolean;
  /** Seconds between two polls of a server's PATCH operation (a durable timer each). */
  readonly pollIntervalSeconds: number;
  /** A PATCH still running after this long is diagnosed as stuck. */
  readonly operationTimeoutMinutes: number;
  /** Attempts to get a PATCH accepted through throttling, busy servers and transient errors. */
  readonly maxWriteAttempts: number;
}

/** What prompted a rotation: an event type, the reconcile sweep or an operator. Informational only. */
export type RotationReason = KeyEventType | 'Sweep' | 'Operator';

export type IncidentKind = 'server' | 'preflight' | 'expiry' | 'rotation';

/** An incident a run opened and a later run resolves once its cause is gone. */
export interface OpenIncident {
  readonly dedupKey: string;
  readonly kind: IncidentKind;
  readonly serverId?: string;
  readonly version?: string;
}

/**
 * The version of the orchestration contract (inputs, activity names and answers). An instance started
 * by an older deployment carries an older (or no) version: the new code ends it cleanly instead of
 * replaying a history its steps no longer match, and the next event, sweep or operator request starts
 * it again under this version.
 */
export const ROTATION_SCHEMA_VERSION = 4;

export interface RotationInput {
  /** `ROTATION_SCHEMA_VERSION` of the deployment that started this instance. */
  readonly schemaVersion?: number | undefined;
  readonly vaultUrl: string;
  readonly vaultName: string;
  readonly keyName: string;
  /** `event:<id>`, `sweep:<time>` or `operator:<who>`. */
  readonly trigger: string;
  readonly reason: RotationReason;
  /** The version the trigger named, if any (a hint: the run reads the key itself). */
  readonly hintVersion?: string | undefined;
  readonly settings: RotationSettings;
  /** Incidents earlier runs for this key left open (from the previous instance's output). */
  readonly openIncidents: readonly OpenIncident[];
  /** Incremented on every continue-as-new. */
  readonly generation: number;
  /** Set after auto-rotating from this version, so a short rotation policy cannot loop. */
  readonly autoRotatedFrom?: string | undefined;
  /** The previous run's count of consecutive runs with failures for one version (the sweep's backoff). */
  readonly failedRuns?: FailedRuns | undefined;
  /**
   * An operator's retry of named servers (ids, lower-case): the run rolls out only these; the others'
   * outcomes and incidents are left as they were.
   */
  readonly onlyServers?: readonly string[] | undefined;
  /** The key's earlier runs, newest first (from the previous instance's output; shared/domain/runs.ts). */
  readonly history?: readonly RunRecord[] | undefined;
}

/** Consecutive runs that ended `completedWithFailures` for the same target version. */
export interface FailedRuns {
  readonly version: string;
  readonly count: number;
}

/** The external event a running rotation receives when another trigger arrives for its key. */
export const KEY_EVENT_SIGNAL = 'keyEvent';
export interface KeyEventSignal {
  readonly trigger: string;
  readonly reason: RotationReason;
  readonly version: string | undefined;
}

/**
 * One server in the compact plan the orchestrator carries (no PATCH body: each server re-reads). The
 * plan is the rotation's one snapshot of the fleet, so it is in the rotation's history once per
 * server: only what the rotation itself decides with is kept (the name and subscription are in the
 * id: `serverNameOf`, `subscriptionOf`).
 */
export interface PlannedServer {
  /** The id; in the planRollout activity's output only the rest after `shared` characters (`packIds`). */
  readonly serverId: string;
  /**
   * In the planRollout activity's output: the id starts with this many characters of the previous
   * server's id (front coding: servers of a resource group share most of theirs). Absent: a whole id.
   */
  readonly shared?: number | undefined;
  readonly action: ServerAction;
  /** `canary`: carries the canary tag with value `0`; rolled out and verified before the others. */
  readonly ring: 'canary' | 'main';
  /** `properties.state` at discovery when it is not `Ready` (Updating, Inaccessible...); absent: Ready. */
  readonly state?: string | undefined;
  readonly slots: readonly PlannedSlot[];
}

export interface PlannedSlot {
  readonly slot: Slot;
  readonly decision: SlotDecision;
  /** The version the slot names now; absent for a versionless URI. */
  readonly version?: string | undefined;
  /** Why, for a server the plan skips (its `ServerSkipped` record says it); absent for the others. */
  readonly reason?: string | undefined;
}

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

/** A flexible server's name: the last segment of its resource id. */
export function serverNameOf(serverId: string): string {
  return serverId.split('/').pop() ?? serverId;
}

/** The subscription of a resource id, as the id spells it ('' when it names none). */
export function subscriptionOf(resourceId: string): string {
  return /\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? '';
}

export type ServerOutcomeKind = 'updated' | 'verified' | 'failed' | 'skipped';

export interface SlotChange {
  readonly slot: Slot;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** What became of one server; the sub-orchestration's output. */
export interface ServerOutcome {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  readonly outcome: ServerOutcomeKind;
  readonly slots: readonly SlotChange[];
  readonly reasonCode?: string | undefined;
  readonly reason?: string | undefined;
  /** The dedup key of the incident opened for this server, when one was. */
  readonly incident?: OpenIncident | undefined;
  /** ARM's remaining quota for the server's subscription as its last step saw it: paces the rollout. */
  readonly armQuota?: ArmQuota | undefined;
  /** How long ARM's operation for this server's PATCH ran: paces the first polls of the servers after it. */
  readonly operationSeconds?: number | undefined;
  /** Audit records of this server's rollover the trail still refused after the retries (not sent). */
  readonly auditUndelivered?: number | undefined;
}

/** The settings one server's rollover needs (a slice: the rest stays with the rotation). */
export type ServerSettings = Pick<
  RotationSettings,
  'optOutTag' | 'holdTag' | 'pollIntervalSeconds' | 'operationTimeoutMinutes' | 'maxWriteAttempts'
>;

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

/** A server by reference: what a rollover needs to name it (it reads everything else itself). */
export interface ServerRef {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  /** The earliest expiry among the versions it was on at discovery: the deadline its page names. */
  readonly expiresOn?: string | undefined;
  /**
   * Behind the target at discovery: found on the target later (its own PATCH re-run after a crash,
   * whose answer was lost), it counts as `updated`, not as a server that needed nothing.
   */
  readonly behind?: boolean | undefined;
}

/**
 * A server in a rollout batch's input: its id, and only what its rollover cannot re-read (the deadline
 * its page names, whether discovery found it behind). The name and subscription are in the id.
 */
export interface BatchServer {
  /** In a batch's input front-coded: the rest after `shared` characters of the previous server's id (`packIds`). */
  readonly serverId: string;
  readonly shared?: number | undefined;
  readonly expiresOn?: string | undefined;
  readonly behind?: true | undefined;
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

export interface ServerRolloverInput {
  /** `ROTATION_SCHEMA_VERSION` of the deployment that started the parent rotation. */
  readonly schemaVersion?: number | undefined;
  readonly correlationId: string;
  readonly trigger: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly server: ServerRef;
  readonly settings: ServerSettings;
  /** Seconds to wait after ARM accepted the PATCH before the first poll (`firstPollSeconds`); the poll interval when absent. */
  readonly firstPollSeconds?: number | undefined;
}

/**
 * One batch of a rollout: at most `ROLLOUT_BATCH_SIZE` servers of one subscription, rolled out by
 * the `rolloutBatch` sub-orchestration in a sliding window governed by ARM's quota. The rotation's
 * own history holds one entry per batch, not per server.
 */
export interface RolloutBatchInput {
  readonly schemaVersion?: number | undefined;
  readonly correlationId: string;
  readonly trigger: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly subscriptionId: string;
  readonly servers: readonly BatchServer[];
  /** Once per batch: every rollover of the batch gets the same key and settings from here. */
  readonly settings: ServerSettings;
  /** Upper bound on this batch's servers in flight (its share of `maxParallelUpdates`). */
  readonly maxInFlight: number;
  /** Typical duration of the rotation's operations so far (the batches finished before): paces first polls until this batch has its own. */
  readonly operationSeconds?: number | undefined;
}

/**
 * What a batch did: counts for all its servers, details only for the servers that need attention
 * (failed, or skipped by their rollover: planned to move, left where they are). A batch lists every
 * server that was not updated or verified, so the rotation knows a batch server it does not see
 * listed went well (its `ServerVerified` audit record is the per-server proof).
 */
export interface RolloutBatchOutput {
  readonly counts: OutcomeCounts;
  readonly servers: readonly ServerOutcome[];
  /** Audit records of the batch's rollovers (listed or not) the trail refused after the retries. */
  readonly auditUndelivered?: number | undefined;
  /** Most servers the batch had in flight at once, and how often ARM throttled it (figures). */
  readonly peakInFlight: number;
  readonly throttled: number;
  /** Typical duration of this batch's operations (`typicalOperationSeconds`), for the batches after it. */
  readonly operationSeconds?: number | undefined;
}

export type RotationStatus = 'completed' | 'completedWithFailures' | 'stopped';

/** Where a running rotation is: the orchestration's custom status (what `GET` and the status page show). */
export type RotationPhase = 'reading' | 'planning' | 'canary' | 'rollout' | 'finishing';

export interface RotationProgress {
  readonly phase: RotationPhase;
  readonly trigger: string;
  readonly targetVersion?: string | undefined;
  /** Wave (batch of sub-orchestrations) of the phase, 1-based, while canary or rollout runs. */
  readonly wave?: { readonly index: number; readonly of: number } | undefined;
  /** Servers planned in this run: done (updated or verified), failed, skipped, remaining. */
  readonly counts: {
    readonly total: number;
    readonly done: number;
    readonly failed: number;
    readonly skipped: number;
    readonly remaining: number;
  };
  /** Names of the servers being rolled over now (at most 20). */
  readonly current: readonly string[];
  /** Set for an operator's retry of named servers. */
  readonly onlyServers?: readonly string[] | undefined;
  /**
   * The run has sent its last records and takes its last look at its signals: it ends (or continues
   * as new) without another activity. A signal raised now may land after that look: the intake waits
   * for the end and judges it (`requestRotation`).
   */
  readonly closing?: true | undefined;
}

/** Counts for the progress from the servers planned and the counts so far. Pure. */
export function progressFromCounts(total: number, c: OutcomeCounts): RotationProgress['counts'] {
  const done = c.updated + c.verified;
  return {
    total,
    done,
    failed: c.failed,
    skipped: c.skipped,
    remaining: Math.max(0, total - done - c.failed - c.skipped),
  };
}

/** Reads a custom status back (it crosses the durable boundary as JSON); undefined when it is not one. */
export function asRotationProgress(v: unknown): RotationProgress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Partial<RotationProgress>;
  const phases: readonly string[] = ['reading', 'planning', 'canary', 'rollout', 'finishing'];
  if (typeof p.phase !== 'string' || !phases.includes(p.phase)) return undefined;
  if (typeof p.counts !== 'object' || !Array.isArray(p.current)) return undefined;
  return p as RotationProgress;
}

/**
 * The orchestration's output: what it did, and what a later run needs (open incidents). Its size does
 * not grow with the fleet's healthy servers: they are counted (`counts`), and `servers` lists only the
 * servers that need attention. Outputs of older deployments (no `outputVersion`) list every server:
 * read outputs with `rotationOutcomesOf` (shared/domain/outcomes.ts), which takes both.
 */
export interface RotationOutput {
  /** `ROTATION_OUTPUT_VERSION` (2): `counts` plus the servers that need attention. Absent: every server listed. */
  readonly outputVersion?: number | undefined;
  readonly status: RotationStatus;
  readonly vaultName: string;
  readonly keyName: string;
  readonly targetVersion: string | undefined;
  readonly reasonCode?: string | undefined;
  /** Every server of the run by outcome; the skipped ones by reason code (opted out, on hold, held back...). */
  readonly counts?: OutcomeCounts | undefined;
  /**
   * The servers that were neither updated nor verified, with their reason, slots and incident: failed
   * servers, servers that could not be planned, and servers their rollover skipped (planned to move,
   * left where they were). Servers the plan skipped (opt-out, hold, not Ready...) are only counted, in
   * `counts.skippedBy`; each has its `ServerSkipped` audit record. Format 1: every server.
   */
  readonly servers: readonly ServerOutcome[];
  readonly openIncidents: readonly OpenIncident[];
  readonly resolvedIncidents: readonly string[];
  /** When the run ended (orchestration time): the sweep's retry backoff counts from it. */
  readonly completedAt?: string | undefined;
  /**
   * Audit records of this run (its own and its servers') the trail still refused after the retries:
   * logged, paged (`AuditUndelivered`), never claimed sent. Absent when every record was accepted.
   */
  readonly auditUndelivered?: number | undefined;
  /** With `completedWithFailures`: how many runs in a row ended with failures for this target version. */
  readonly failedRuns?: FailedRuns | undefined;
  /** This run and the key's earlier ones, newest first (bounded; shared/domain/runs.ts). */
  readonly history?: readonly RunRecord[] | undefined;
}

/**
 * A key whose runs keep ending with failures for its newest version is retried by the sweep after an
 * exponential backoff from the last run: 1 h after the first failed run, then 2, 4, 8, 16 h, capped at
 * this many hours (sooner by an operator request or a change: a new version, a server that became
 * Ready again, a version in use about to expire).
 */
export const SWEEP_RETRY_BACKOFF_HOURS = 24;
export const SWEEP_RETRY_FIRST_BACKOFF_HOURS = 1;

/** Hours the sweep waits after the `count`-th consecutive failed run for a version. */
export function sweepRetryBackoffHours(count: number): number {
  const n = Number.isFinite(count) ? Math.max(1, Math.floor(count)) : 1;
  return Math.min(SWEEP_RETRY_FIRST_BACKOFF_HOURS * 2 ** Math.min(n - 1, 30), SWEEP_RETRY_BACKOFF_HOURS);
}

/**
 * The failed-run count a finishing run reports: one more than the previous run's when it failed for
 * the same version again, 1 for a first failure (or another version), none when the run did not end
 * `completedWithFailures`.
 */
export function nextFailedRuns(
  previous: FailedRuns | undefined,
  status: RotationStatus,
  targetVersion: string | undefined,
): FailedRuns | undefined {
  if (status !== 'completedWithFailures' || targetVersion === undefined) return undefined;
  const same = previous !== undefined && previous.version.toLowerCase() === targetVersion.toLowerCase();
  return { version: targetVersion, count: same ? previous.count + 1 : 1 };
}

/** The failed-run count in a previous run's output (unchecked JSON), if well formed. */
export function failedRunsOf(output: unknown): FailedRuns | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const f = (output as { failedRuns?: unknown }).failedRuns;
  if (typeof f !== 'object' || f === null) return undefined;
  const { version, count } = f as { version?: unknown; count?: unknown };
  return typeof version === 'string' && typeof count === 'number' && Number.isInteger(count) && count >= 1
    ? { version, count }
    : undefined;
}

/**
 * Durable Functions instance ids: 1–100 characters, none of `/ \ # ?`, no control characters, and not
 * starting with `@` (Microsoft Learn, "Instance management with Durable Functions" / orchestration
 * identity; the Durable Task Framework refuses anything else). Returns the reason an id is refused.
 */
export function instanceIdProblem(id: string): string | undefined {
  if (id.length < 1 || id.length > MAX_INSTANCE_ID)
    return `must be 1 to ${MAX_INSTANCE_ID} characters (has ${id.length})`;
  if (/[/\\#?]/.test(id)) return 'must not contain / \\ # or ?';

  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'must not contain control characters';
  if (id.startsWith('@')) return 'must not start with @';
  return undefined;
}

export const MAX_INSTANCE_ID = 100;

function shortHash(s: string): string {
  return createHash('sha256').update(s.toLowerCase()).digest('hex').slice(0, 12);
}
const ROTATION_PREFIX = 'cmk-rotation:';
const SERVER_PREFIX = 'cmk-server:';

/**
 * How a vault appears in ids: its name on the public cloud's Key Vault host (`<name>.vault.azure.net`,
 * the ids existing instances have), else the name and a short hash of the URL, so a Managed HSM or a
 * sovereign-cloud vault with the same name gets a different id. Accepts a vault URL or, as before, a
 * bare vault name (meaning the public host).
 */
export function vaultToken(vaultUrlOrName: string): string {
  const v = vaultUrlOrName.trim().toLowerCase().replace(/\/+$/, '');
  if (!v.includes('://')) return v;
  const host = v.replace(/^https:\/\//, '').replace(/:443$/, '');
  const name = host.split('.')[0] ?? host;
  return host === `${name}.vault.azure.net` ? name : `${name}~${shortHash(host).slice(0, 6)}`;
}

/** `text` cut to `max` characters, the cut part replaced by `~` and a hash of the whole, so it stays unique. */
function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = shortHash(text);
  return `${text.slice(0, max - hash.length - 1)}~${hash}`;
}

/**
 * One rotation instance per key: duplicates collapse onto it and newer versions are signalled to it.
 * `cmk-rotation:<vault>:<key>` (lower-case) while that fits in 100 characters; a longer key name keeps
 * its first characters and ends in `~<hash>` of the whole id.
 */
export function rotationInstanceId(vaultUrlOrName: string, keyName: string): string {
  return bounded(`${ROTATION_PREFIX}${vaultToken(vaultUrlOrName)}:${keyName.toLowerCase()}`, MAX_INSTANCE_ID);
}

/**
 * A server's rollover sub-orchestration: `cmk-server:<server name>:<hash of the parent id and the
 * deterministic per-server guid>`, at most 99 characters for a 63-character server name; the name stays
 * readable and the hash keeps it unique per rotation instance, generation and server.
 */
export function serverRolloverInstanceId(
  parentInstanceId: string,
  serverName: string,
  unique: string,
): string {
  const hash = createHash('sha256')
    .update(`${parentInstanceId}|${unique}`.toLowerCase())
    .digest('hex')
    .slice(0, 24);
  return bounded(`${SERVER_PREFIX}${serverName.toLowerCase()}:${hash}`, MAX_INSTANCE_ID);
}

/** PagerDuty's limit on `dedup_key` (Events API v2). */
export const MAX_DEDUP_KEY = 255;

/**
 * PagerDuty dedup keys (at most 255 characters, so server ids are hashed): one per key + version for
 * key-wide problems, one per key + version + server for a server.
 */
export const incidentKeys = {
  server: (vault: string, key: string, version: string, serverName: string, serverId: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:server:${serverName}:${shortHash(serverId)}`),
  preflight: (vault: string, key: string, version: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:preflight`),
  /**
   * Per severity: PagerDuty folds a repeat trigger into the open alert without raising its severity,
   * so escalating from warning to critical needs an incident of its own.
   */
  expiry: (vault: string, key: string, version: string, severity: 'warning' | 'critical'): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:expiry:${severity}`),
  rotation: (vault: string, key: string, code: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:rotation:${code}`),
};

/** Lower-case, at most 255 characters (a longer key keeps its start and ends in a hash of the whole). */
function dedup(key: string): string {
  return bounded(key.toLowerCase(), MAX_DEDUP_KEY);
}

const DAY_MS = 86_400_000;

/** Whole days from `now` until `expiresOn` (negative once expired); undefined for a key that never expires. */
export function daysLeft(expiresOn: string | undefined, now: string): number | undefined {
  if (expiresOn === undefined) return undefined;
  return Math.floor((Date.parse(expiresOn) - Date.parse(now)) / DAY_MS);
}

/** Page severity for a key version that expires in `days`; undefined when it is not yet worth a page. */
export function expirySeverity(
  days: number | undefined,
  thresholds: RotationSettings['nearExpiry'],
): 'critical' | 'warning' | undefined {
  if (days === undefined || days > thresholds.warningDays) return undefined;
  return days <= thresholds.criticalDays ? 'critical' : 'warning';
}

/**
 * How a step is retried when it fails with a retryable error (throttled, busy, 5xx, timeout): at most
 * `maxAttempts` tries, waiting on durable timers from `firstDelaySeconds`, doubling, capped at
 * `maxDelaySeconds` (Azure's Retry-After wins when it sent one). Permanent errors are never retried.
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly firstDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

export const RETRY_POLICIES = {
  /**
   * Reads (Key Vault, ARM, Resource Graph) and records (audit, pages): 8 tries over about 6.5 minutes
   * (5+10+20+40+80+120+120 s), long enough to ride out a short regional blip, bounded so a real
   * outage is paged instead of waited on for hours.
   */
  read: { maxAttempts: 8, firstDelaySeconds: 5, maxDelaySeconds: 120 },
  /** Writes retry in the orchestrator itself, each attempt re-reading the server first. */
  once: { maxAttempts: 1, firstDelaySeconds: 0, maxDelaySeconds: 0 },
} as const satisfies Record<string, RetryPolicy>;

/** Seconds to wait before attempt `attempt + 1`. */
export function backoffSeconds(policy: RetryPolicy, attempt: number, retryAfterSeconds?: number): number {
  if (retryAfterSeconds !== undefined && retryAfterSeconds > 0) return Math.min(retryAfterSeconds, 3600);
  return Math.min(policy.firstDelaySeconds * 2 ** (attempt - 1), policy.maxDelaySeconds);
}

/** Delay before the next attempt of a write: Azure's Retry-After when it sent one, else exponential backoff. */
export function retryDelaySeconds(attempt: number, retryAfterSeconds: number | undefined): number {
  if (retryAfterSeconds !== undefined && retryAfterSeconds > 0) return Math.min(retryAfterSeconds, 3600);
  return Math.min(5 * 2 ** (attempt - 1), 300);
}

/**
 * May this run rotate the key in Key Vault because its newest version nears expiry? At most one
 * automatic rotation per expiring version:
 * - never again from the version this chain of runs already rotated away from (`autoRotatedFrom`);
 * - never a version that was already inside the warning window when it was created: a rotation
 *   policy whose expiry is shorter than the window (P28D with 30 days) would otherwise rotate every
 *   new version again at once, forever. Such a key is paged instead (its policy needs fixing).
 * (The activity also rotates only while `fromVersion` is still the newest: no second rotation after
 * a lost answer.)
 */
export function autoRotateDecision(
  latest: { readonly version: string; readonly createdOn: string; readonly expiresOn?: string | undefined },
  input: Pick<RotationInput, 'autoRotatedFrom' | 'settings'>,
): { rotate: true } | { rotate: false; reason: 'off' | 'alreadyRotatedFromIt' | 'bornInsideWarningWindow' } {
  if (!input.settings.autoRotateOnNearExpiry) return { rotate: false, reason: 'off' };
  if (input.autoRotatedFrom?.toLowerCase() === latest.version.toLowerCase())
    return { rotate: false, reason: 'alreadyRotatedFromIt' };
  const lifetime = daysLeft(latest.expiresOn, latest.createdOn);
  if (lifetime !== undefined && lifetime <= input.settings.nearExpiry.warningDays)
    return { rotate: false, reason: 'bornInsideWarningWindow' };
  return { rotate: true };
}

/**
 * Must a finishing run act on this signal (continue as new), or did it already cover it? An operator
 * request is honoured after the run (it asked for a run, whatever this one found). A key event counts
 * when it names a version newer than the one this run handled, or one the run's last read of the key
 * did not list (created after it). A sweep's request is covered by the run that is finishing.
 */
export function signalNeedsRun(
  signal: KeyEventSignal,
  handledVersion: string | undefined,
  key: KeyInfo,
): boolean {
  if (signal.reason === 'Operator') return true;
  if (signal.version === undefined) return false;
  const wanted = signal.version.toLowerCase();
  if (handledVersion !== undefined && wanted === handledVersion.toLowerCase()) return false;
  const named = key.versions.find((v) => v.version.toLowerCase() === wanted);
  if (named === undefined) return true;
  const handled = key.versions.find((v) => v.version.toLowerCase() === handledVersion?.toLowerCase());
  return handled === undefined || Date.parse(named.createdOn) > Date.parse(handled.createdOn);
}
