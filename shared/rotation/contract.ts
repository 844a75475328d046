import type { AuditRecord } from '../domain/audit';
import { KEY_EVENT_TYPES, type KeyEventType } from '../domain/events';
import type { KeyInfo } from '../domain/model';
import type { SlotChange } from '../domain/serverUpdate';
import type {
  PageOperatorInput,
  PageOperatorOutput,
  PlanRolloutInput,
  PlanRolloutOutput,
  PollServerUpdateInput,
  PollServerUpdateOutput,
  ReadKeyInput,
  ReadKeyOutput,
  ResolvePagesInput,
  ResolvePagesOutput,
  RotateKeyInput,
  RotateKeyOutput,
  StepResult,
  UpdateServerInput,
  UpdateServerOutput,
  VerifyServerInput,
  VerifyServerOutput,
} from './activityIo';
import type { ArmQuota } from './pacing';
import type { RunRecord } from './runs';

/**
 * The durable contract: every activity and orchestration by name, with its plain-JSON input and
 * output. `callStep` (shared/workflows/activityCalls.ts), the handlers (shared/rotation/activities)
 * and the registration (functions/index.ts) are all typed from these maps, so a mismatch is a compile error.
 *
 * Every activity answers with a `StepResult`: its output, or the error it met, classified (a named
 * error keeps its code and whether a retry can help). Error classes do not survive the durable
 * boundary; this envelope does, so the orchestrator retries transient errors on durable timers
 * within a bounded budget and never retries a permanent one.
 */
export interface StepContract {
  readKey: { input: ReadKeyInput; output: ReadKeyOutput };
  planRollout: { input: PlanRolloutInput; output: PlanRolloutOutput };
  rotateKey: { input: RotateKeyInput; output: RotateKeyOutput };
  updateServer: { input: UpdateServerInput; output: UpdateServerOutput };
  pollServerUpdate: { input: PollServerUpdateInput; output: PollServerUpdateOutput };
  verifyServer: { input: VerifyServerInput; output: VerifyServerOutput };
  recordAudit: { input: readonly AuditRecord[]; output: null };
  pageOperator: { input: PageOperatorInput; output: PageOperatorOutput };
  resolvePages: { input: ResolvePagesInput; output: ResolvePagesOutput };
}
export type StepName = keyof StepContract;
export type StepInput<K extends StepName> = StepContract[K]['input'];
export type StepOutput<K extends StepName> = StepContract[K]['output'];

export const ACTIVITY_NAMES: { readonly [K in StepName]: K } = {
  readKey: 'readKey',
  planRollout: 'planRollout',
  rotateKey: 'rotateKey',
  updateServer: 'updateServer',
  pollServerUpdate: 'pollServerUpdate',
  verifyServer: 'verifyServer',
  recordAudit: 'recordAudit',
  pageOperator: 'pageOperator',
  resolvePages: 'resolvePages',
};
export const STEP_NAMES = Object.keys(ACTIVITY_NAMES) as readonly StepName[];

/** The orchestrations: input (from `getInput`) and output. */
export interface OrchestrationContract {
  keyRotation: { input: RotationInput; output: RotationOutput };
  rolloutBatch: { input: RolloutBatchInput; output: RolloutBatchOutput };
  serverRollover: { input: ServerRolloverInput; output: ServerOutcome };
}

/** A handler per activity, typed by the contract. */
export type StepHandlers = { readonly [K in StepName]: (input: StepInput<K>) => Promise<StepOutput<K>> };
/** The same, wrapped as registered: every answer a `StepResult`. */
export type StepActivities = {
  readonly [K in StepName]: (input: StepInput<K>) => Promise<StepResult<StepOutput<K>>>;
};

/**
 * The plain-JSON contract between the intake, the orchestrations and the activities of a rotation.
 * Everything here crosses the durable boundary, so it is data only (ISO strings, no classes). The
 * activities' own inputs and outputs are in ./activityIo.ts.
 */

/** Settings a rotation runs with. Carried in the orchestration input so a replay never sees new values. */
export interface RotationSettings {
  /**
   * Upper bound on servers in flight per subscription. The rollout keeps as many in flight as ARM's
   * remaining quota allows (shared/rotation/pacing.ts), never more than this.
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
export type RotationReason = KeyEventType | (typeof TRIGGER_REASONS)[number];
/** The reasons that are not a Key Vault event type (those are `KEY_EVENT_TYPES`). */
const TRIGGER_REASONS = ['Sweep', 'Operator'] as const;

/** Is `v` one of the contract's rotation reasons (a value read back from the task hub or a signal)? */
export function isRotationReason(v: unknown): v is RotationReason {
  return (
    (KEY_EVENT_TYPES as readonly unknown[]).includes(v) || (TRIGGER_REASONS as readonly unknown[]).includes(v)
  );
}

export const INCIDENT_KINDS = ['server', 'preflight', 'expiry', 'rotation'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/**
 * Is `v` an `OpenIncident` as the contract's schema requires it (a value read back from the task hub:
 * the next run's input must pass the durable boundary's schema check)?
 */
export function isOpenIncident(v: unknown): v is OpenIncident {
  if (typeof v !== 'object' || v === null) return false;
  const { dedupKey, kind, serverId, version } = v as Partial<Record<keyof OpenIncident, unknown>>;
  return (
    typeof dedupKey === 'string' &&
    (INCIDENT_KINDS as readonly unknown[]).includes(kind) &&
    (serverId === undefined || typeof serverId === 'string') &&
    (version === undefined || typeof version === 'string')
  );
}

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
 * it again under this version. Bump it whenever the durable actions a run schedules change order or
 * kind (a replay would match a new call against an old result), not only when a shape changes.
 * 5: the finish phase records the PageResolved failures of a failed `resolvePages` (a `recordAudit`
 * after it, before `recordAudit(RotationCompleted)`): an instance past a failed resolve under 4 would
 * replay that new call against its old RotationCompleted result.
 * 6: after its PATCH a server's rollover looks at the server (`verifyServer`) where it read ARM's
 * operation status (`pollServerUpdate`): a rollover under 5 between its PATCH and its verification
 * would replay the new call against its old poll result.
 * 7: a batch asks its subscription's quota governor (a durable entity) for its servers' start times
 * before it starts any, and a server waits for its start time first: a batch or server under 6 would
 * replay those new calls against its old sub-orchestration and activity results.
 * 8: a server's write step and its verifying read put `ServerUpdateStarted` and `ServerVerified` on
 * record themselves (no `recordAudit` after them when the trail took it): a rollover under 7 would
 * replay its next call against its old `recordAudit` result.
 * 9: the write step records nothing again (an audit call between ARM's acceptance and the step's answer
 * widened the window in which a crash re-runs the PATCH); only the verifying read records its own
 * `ServerVerified`: a rollover under 8 would replay its `ServerUpdateStarted` `recordAudit` against a
 * history that has none.
 * 10: a governed batch starts a server once its start time has come (at its next look), not up to a
 * look before it for the server to wait out on its own timer: a batch under 9 would replay its fill
 * against sub-orchestrations it started earlier.
 * 11: a PATCH ARM accepted puts its `ServerUpdateStarted` on record with the first look at the server
 * (`verifyServer`, a read) when that look is due within `STARTED_RECORD_MAX_WAIT_SECONDS`, not through
 * a `recordAudit` of its own: a rollover under 10 would replay its first look's timer against a history
 * that has that `recordAudit` in its place.
 * 12: the canary ring's windows, with nothing left to start and every task in flight started at their
 * last look, wait for all of them without a timer (`canary` on a batch's input): a rotation or canary
 * batch under 11 would replay its next call against that look's timer.
 * 13: the batches of a subscription share one in-flight budget (the `rolloutLane` entity) instead of
 * a third each: a rotation under 12 would replay its batches' ids against the lane keys' guids.
 */
export const ROTATION_SCHEMA_VERSION = 13;

/** The format of `RotationOutput`: 1 (absent) lists every server; 2 counts them and lists only the others. */
export const ROTATION_OUTPUT_VERSION = 2;

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
  /** The key's earlier runs, newest first (from the previous instance's output; shared/rotation/runs.ts). */
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

export type ServerOutcomeKind = 'updated' | 'verified' | 'failed' | 'skipped';

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
  /**
   * How long ARM's operation for this server's PATCH ran (ARM's clock where its status was read, else as
   * the rollover's looks at the server saw it, `DONE_AT_FIRST_LOOK_SHARE`): paces the first looks of the
   * servers after it.
   */
  readonly operationSeconds?: number | undefined;
  /** Audit records of this server's rollover the trail still refused after the retries (not sent). */
  readonly auditUndelivered?: number | undefined;
}

/** The settings one server's rollover needs (a slice: the rest stays with the rotation). */
export type ServerSettings = Pick<
  RotationSettings,
  'optOutTag' | 'holdTag' | 'pollIntervalSeconds' | 'operationTimeoutMinutes' | 'maxWriteAttempts'
>;

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

export interface ServerRolloverInput {
  /** `ROTATION_SCHEMA_VERSION` of the deployment that started the parent rotation. */
  readonly schemaVersion?: number | undefined;
  readonly correlationId: string;
  readonly trigger: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly server: ServerRef;
  readonly settings: ServerSettings;
  /** Seconds to wait after ARM accepted the PATCH before the first look at the server (`firstPollSeconds`); the poll interval when absent. */
  readonly firstPollSeconds?: number | undefined;
  /**
   * The start time its subscription's quota governor gave it (epoch ms): the rollover waits until then
   * before its first read, and reports a 429 to the governor. Absent when the batch paces itself.
   */
  readonly notBefore?: number | undefined;
  /**
   * Its start time took from a full bucket of the governor's model: it reports when its first
   * request reached ARM (the governor moves its model by the wait, shared/rotation/governor.ts).
   */
  readonly reportArrival?: boolean | undefined;
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
  /**
   * Upper bound on this batch's servers in flight on its own: its even share of `maxParallelUpdates`,
   * kept when it has no lane or gave up on it (its lane unanswered `LANE_ATTEMPTS` looks in a row).
   */
  readonly maxInFlight: number;
  /**
   * The in-flight budget this batch shares with its subscription's other batches of the phase (the
   * `rolloutLane` entity's key, and `maxParallelUpdates`); absent when the batch runs alone.
   */
  readonly lane?: { readonly key: string; readonly limit: number } | undefined;
  /** Typical duration of the rotation's operations so far (the batches finished before): paces first polls until this batch has its own. */
  readonly operationSeconds?: number | undefined;
  /** A batch of the canary ring: the main ring waits for its end, so it drains its servers together. */
  readonly canary?: true | undefined;
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
  /** Batch (`rolloutBatch` sub-orchestration) of the phase, 1-based, while canary or rollout runs. */
  readonly batch?: { readonly index: number; readonly of: number } | undefined;
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

/**
 * The orchestration's output: what it did, and what a later run needs (open incidents). Its size does
 * not grow with the fleet's healthy servers: they are counted (`counts`), and `servers` lists only the
 * servers that need attention. Outputs of older deployments (no `outputVersion`) list every server:
 * read outputs with `rotationOutcomesOf` (shared/rotation/outcomes.ts), which takes both.
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
  /** This run and the key's earlier ones, newest first (bounded; shared/rotation/runs.ts). */
  readonly history?: readonly RunRecord[] | undefined;
}

/**
 * What a rotation (or one of its rollout batches) did, in numbers: servers by outcome, the skipped
 * ones by reason code. This is what crosses the durable boundary for the servers that went well, so
 * the rotation's history does not grow with the fleet. Per-server success is provable where it is
 * recorded, not here: every updated or verified server has its own `ServerVerified` audit record
 * (correlation id = the rotation's instance id, its server id, from and to versions).
 */
export interface OutcomeCounts {
  readonly updated: number;
  readonly verified: number;
  readonly failed: number;
  readonly skipped: number;
  /** The skipped servers by reason code (`excluded`, `held`, `deferred`, `CanaryFailed`, ...). */
  readonly skippedBy: Readonly<Record<string, number>>;
}
