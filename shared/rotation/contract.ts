import type { AuditRecord } from '../domain/audit';
import type {
  DataEncryptionInfo,
  EncryptionPatchBody,
  IdentityInfo,
  KeyInfo,
  KeyVersionInfo,
  Slot,
} from '../domain/model';
import type { Incident } from '../domain/incident';
import type {
  PlannedServer,
  RotationInput,
  RolloutBatchInput,
  RolloutBatchOutput,
  RotationOutput,
  ServerOutcome,
  ServerRolloverInput,
} from './policy';
import type { ArmQuota } from './pacing';

/**
 * The durable contract: every activity and orchestration by name, with its plain-JSON input and
 * output. `callStep` (shared/workflows), the handlers (shared/activities) and the registration
 * (functions/index.ts) are all typed from these maps, so a mismatch is a compile error.
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

/** A handler per activity, typed by the contract. */
export type StepHandlers = { readonly [K in StepName]: (input: StepInput<K>) => Promise<StepOutput<K>> };
/** The same, wrapped as registered: every answer a `StepResult`. */
export type StepActivities = {
  readonly [K in StepName]: (input: StepInput<K>) => Promise<StepResult<StepOutput<K>>>;
};

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

/** Last-known-good: what to restore by hand if the new version turns out unusable. */
export interface EncryptionSnapshot {
  readonly dataEncryption: DataEncryptionInfo;
  readonly identity: IdentityInfo | undefined;
}

/** The server as it is now, re-planned: discovery can be minutes old and another run may have moved it. */
export type PrepareServerOutput =
  | {
      readonly kind: 'update';
      readonly patch: EncryptionPatchBody;
      readonly snapshot: EncryptionSnapshot;
      readonly expected: Partial<Record<Slot, string>>;
      readonly from: Partial<Record<Slot, string>>;
    }
  | { readonly kind: 'verify'; readonly expected: Partial<Record<Slot, string>> }
  /** Busy with an operation (its own earlier PATCH, or someone else's): wait, never PATCH over it. */
  | { readonly kind: 'updating'; readonly expected: Partial<Record<Slot, string>> }
  /** Its key version is unusable (Inaccessible): access to that version must be restored first. */
  | { readonly kind: 'inaccessible'; readonly from: Partial<Record<Slot, string>>; readonly reason: string }
  | { readonly kind: 'skip'; readonly code: string; readonly reason: string };

export interface UpdateServerInput {
  readonly serverId: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly optOutTag: string;
  /** The operator hold tag: a held server is left alone, like an opted-out one. */
  readonly holdTag?: string | undefined;
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
}
export type VerifyServerOutput = (
  | { readonly ok: true; readonly dataEncryption: DataEncryptionInfo }
  | {
      readonly ok: false;
      /** Still settling (Updating, key status not yet reported): worth another look shortly. */
      readonly pending: boolean;
      readonly code: string;
      readonly message: string;
      readonly identityId: string | undefined;
    }
) & { readonly quota?: ArmQuota | undefined };

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
