import type { AuditRecord } from '../domain/audit';
import type { KeyInfo, KeyVersionInfo, Slot } from '../domain/model';
import type { Incident } from '../domain/incident';
import type { Ring, ServerAction, SlotDecision } from '../domain/plan';
import type { PrepareServerOutput, Verification } from '../domain/serverUpdate';
import type { ArmQuota } from './pacing';

/**
 * The inputs and outputs of the rotation's activities, by activity (the map that names them is
 * `StepContract` in ./contract.ts), and the envelope every answer crosses the durable boundary in.
 */

/** What went wrong in a step, as it crosses the durable boundary. */
export interface StepError {
  /** Stable: Azure's own code when it sent one (`AuthorizationFailed`), else ours (`Transient`). */
  readonly code: string;
  readonly message: string;
  /** A later attempt may succeed (throttled, busy, 5xx, timeout); false: it fails the same way again. */
  readonly retryable: boolean;
  /** Azure's Retry-After, when it sent one. */
  readonly retryAfterSeconds?: number | undefined;
  /**
   * Azure answered 429: the quota asks us to wait. For ARM the request was refused before anything
   * started (no operation, no change), so it costs no write attempt (`serverRollover`).
   */
  readonly throttled?: boolean | undefined;
  /** Attempts made by the time the orchestrator gave up (set by `callStep`). */
  readonly attempts?: number | undefined;
}
export type StepResult<O> =
  { readonly ok: true; readonly value: O } | { readonly ok: false; readonly error: StepError };

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
  readonly ring: Ring;
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

export interface ReadKeyInput {
  readonly vaultUrl: string;
  readonly keyName: string;
}
export interface ReadKeyOutput {
  readonly key: KeyInfo;
  /** The newest version, read with its key material attributes (what preflight needs); undefined: none. */
  readonly latest: KeyVersionInfo | undefined;
}

export interface PlanRolloutInput {
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly optOutTag: string;
  readonly canaryTag: string;
  /** Operator hold tag (absent in inputs of older deployments: no hold). */
  readonly holdTag?: string | undefined;
}
/** A server discovery found but that cannot be planned (malformed row, no primary identity...). */
export interface UnplannableServer {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  readonly code: string;
  readonly reason: string;
}
export interface PlanRolloutOutput {
  readonly servers: readonly PlannedServer[];
  readonly discovered: number;
  /** Planned one by one: a server that cannot be planned is listed here and the others proceed. */
  readonly unplannable: readonly UnplannableServer[];
}

export interface RotateKeyInput {
  readonly vaultUrl: string;
  readonly keyName: string;
  /** The newest version when the run decided to rotate: rotate only if it still is (no blind second rotation). */
  readonly fromVersion: string;
}
export interface RotateKeyOutput {
  readonly version: KeyVersionInfo;
  /** False: a newer version than `fromVersion` already existed (an earlier attempt or a person made it). */
  readonly rotated: boolean;
}

export interface UpdateServerInput {
  readonly serverId: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly optOutTag: string;
  /** The operator hold tag: a held server is left alone, like an opted-out one. */
  readonly holdTag?: string | undefined;
}

/**
 * Whether the audit trail took the records a step put on record for the orchestrator (`audit` and
 * `along` in its input): true only when the trail accepted them all, in one write. False: refused (the
 * orchestrator records them through `recordAudit`, with that step's retries, and counts them
 * undelivered if that fails too). Absent: nothing was recorded by the step.
 */
export interface Audited {
  readonly audited?: boolean | undefined;
}

/**
 * One read of the server, and the PATCH when (and only when) that read says it needs one — the read
 * right before the write is what makes a re-run (a crash, a lost answer, a refusal ARM had in fact
 * taken) safe: it finds the server Updating or on the target and does not write again. A failed read
 * throws (retried as a read); a refused PATCH is an answer (`refused`), retried by the orchestrator
 * after Retry-After, each attempt reading first again.
 * - `verify`: nothing to write; `verification` is the proof from that same read.
 * - `accepted`: ARM took the PATCH; `handle` names its operation (undefined: none usable, watch the
 *   server). `snapshot` is the last-known-good the orchestrator puts on record.
 */
export type UpdateServerOutput = (
  | Exclude<PrepareServerOutput, { kind: 'update' } | { kind: 'verify' }>
  | {
      readonly kind: 'verify';
      readonly expected: Partial<Record<Slot, string>>;
      readonly verification: VerifyServerOutput;
    }
  | (Omit<Extract<PrepareServerOutput, { kind: 'update' }>, 'kind' | 'patch'> & {
      readonly kind: 'accepted';
      readonly handle: OperationRef | undefined;
      /** When ARM's acceptance reached the step (epoch ms, the worker's clock). */
      readonly acceptedAt?: number | undefined;
    })
  | (Omit<Extract<PrepareServerOutput, { kind: 'update' }>, 'kind' | 'patch'> & {
      readonly kind: 'refused';
      readonly error: StepError;
    })
) & { readonly quota?: ArmQuota | undefined };

export interface OperationRef {
  readonly serverId: string;
  /** ARM's operation status URL (`Azure-AsyncOperation`) from the PATCH's answer. */
  readonly operationUrl: string;
}
export interface PollServerUpdateInput {
  readonly handle: OperationRef;
  /** What the server must show once the operation succeeded: the same read is the verification. */
  readonly expected: Partial<Record<Slot, string>>;
}
export type PollServerUpdateOutput = (
  | { readonly status: 'InProgress' }
  /** `verification` from one read of the server right after; undefined when that read failed. */
  | {
      readonly status: 'Succeeded';
      readonly verification?: VerifyServerOutput | undefined;
      /** How long the operation ran by ARM's clock, when ARM said. */
      readonly operationSeconds?: number | undefined;
    }
  | { readonly status: 'Failed'; readonly code: string; readonly message: string }
) & { readonly quota?: ArmQuota | undefined };

export interface VerifyServerInput {
  readonly serverId: string;
  /** The URI each slot must name after the rollout (compared case-insensitively). */
  readonly expected: Partial<Record<Slot, string>>;
  /**
   * The `ServerVerified` record, put on record by this step when its read proves the server (its
   * `durationMs` then: the time since `startedAt`, epoch ms, the rollover's start), answered as
   * `audited`. A read that does not prove the server records only the `along` records.
   */
  readonly audit?: { readonly record: AuditRecord; readonly startedAt: number } | undefined;
  /**
   * Records the rollover earned before this look and has not put on the trail yet (the
   * `ServerUpdateStarted` of a PATCH ARM accepted): recorded after the read, whatever it found, in the
   * same write as the `ServerVerified` when the read proves the server. A read step carries them
   * because re-running it repeats a read, never a write (the write step carries none: see
   * `updateServer`); a record sent twice keeps its `auditId`, which the trail's readers fold.
   */
  readonly along?: readonly AuditRecord[] | undefined;
}
/** A verification, with what ARM said about its quota on the way. */
export type VerifyServerOutput = Verification &
  Audited & {
    readonly quota?: ArmQuota | undefined;
    /** How many of the `along` records the trail took (with `audited` true): all of them, or none. */
    readonly alongRecorded?: number | undefined;
  };

export interface PageOperatorInput {
  readonly incident: Incident;
}
/** Throws (retryable) when no configured channel accepted the page; `channels` empty: no pager configured. */
export interface PageOperatorOutput {
  readonly delivered: boolean;
  readonly channels: readonly {
    readonly channel: string;
    readonly ok: boolean;
    readonly reason?: string | undefined;
  }[];
}

export interface ResolvePagesInput {
  readonly dedupKeys: readonly string[];
  readonly summary: string;
  readonly audit: AuditRecord;
}
/**
 * Per dedup key: did every configured channel accept the resolve (true when no pager is configured)?
 * A refused resolve leaves the incident open at the pager: the caller keeps it open and tries again.
 */
export interface ResolvePagesOutput {
  readonly resolved: readonly { readonly dedupKey: string; readonly accepted: boolean }[];
}
