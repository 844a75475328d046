import type { AuditRecord } from './audit';
import type {
  DataEncryptionInfo,
  EncryptionPatchBody,
  IdentityInfo,
  KeyInfo,
  KeyVersionInfo,
  Slot,
} from './model';
import type { Incident } from './incident';
import type { PlannedServer } from './rotation';

/**
 * Activity names and their plain-JSON inputs and outputs: the contract between the orchestrators
 * (shared/workflows) and the activity handlers (shared/activities). Expected outcomes are tagged
 * results; an activity throws only for what the durable retry policy should try again.
 */
export const ACTIVITY_NAMES = {
  readKey: 'readKey',
  planRollout: 'planRollout',
  rotateKey: 'rotateKey',
  prepareServer: 'prepareServer',
  beginServerUpdate: 'beginServerUpdate',
  pollServerUpdate: 'pollServerUpdate',
  verifyServer: 'verifyServer',
  recordAudit: 'recordAudit',
  pageOperator: 'pageOperator',
  resolvePages: 'resolvePages',
} as const;

/** A failure the orchestrator acts on, in words and a stable code (Azure's, when it sent one). */
export interface StepFailure {
  readonly ok: false;
  readonly code: string;
  readonly message: string;
}

export interface ReadKeyInput {
  readonly vaultUrl: string;
  readonly keyName: string;
}
export type ReadKeyOutput =
  | {
      readonly ok: true;
      readonly key: KeyInfo;
      /** The newest version, read with its key material attributes (what preflight needs). */
      readonly latest: KeyVersionInfo | undefined;
    }
  | StepFailure;

export interface PlanRolloutInput {
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly optOutTag: string;
  readonly canaryTag: string;
}
export type PlanRolloutOutput =
  | { readonly ok: true; readonly servers: readonly PlannedServer[]; readonly discovered: number }
  | StepFailure;

export interface RotateKeyInput {
  readonly vaultUrl: string;
  readonly keyName: string;
}
export type RotateKeyOutput = { readonly ok: true; readonly version: KeyVersionInfo } | StepFailure;

export interface PrepareServerInput {
  readonly serverId: string;
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly optOutTag: string;
}
/** The server as it is now, re-planned: discovery can be minutes old and another run may have moved it. */
export type PrepareServerOutput =
  | {
      readonly kind: 'update';
      readonly patch: EncryptionPatchBody;
      /** Last-known-good: what to restore by hand if the new version turns out unusable. */
      readonly snapshot: {
        readonly dataEncryption: DataEncryptionInfo;
        readonly identity: IdentityInfo | undefined;
      };
      readonly expected: Partial<Record<Slot, string>>;
      readonly from: Partial<Record<Slot, string>>;
    }
  | { readonly kind: 'verify'; readonly expected: Partial<Record<Slot, string>> }
  | { readonly kind: 'skip'; readonly code: string; readonly reason: string };

export interface BeginServerUpdateInput {
  readonly serverId: string;
  readonly patch: EncryptionPatchBody;
}
export type BeginServerUpdateOutput =
  | { readonly ok: true; readonly handle: { readonly serverId: string; readonly pollerState: string } }
  | (StepFailure & { readonly retryable: boolean; readonly retryAfterSeconds: number | undefined });

export interface PollServerUpdateInput {
  readonly handle: { readonly serverId: string; readonly pollerState: string };
}
export type PollServerUpdateOutput =
  | { readonly status: 'InProgress' }
  | { readonly status: 'Succeeded' }
  | { readonly status: 'Failed'; readonly code: string; readonly message: string };

export interface VerifyServerInput {
  readonly serverId: string;
  /** The URI each slot must name after the rollout (compared case-insensitively). */
  readonly expected: Partial<Record<Slot, string>>;
}
export type VerifyServerOutput =
  | { readonly ok: true; readonly dataEncryption: DataEncryptionInfo }
  | {
      readonly ok: false;
      /** Still settling (Updating, key status not yet reported): worth another look shortly. */
      readonly pending: boolean;
      readonly code: string;
      readonly message: string;
      readonly identityId: string | undefined;
    };

export interface PageOperatorInput {
  readonly incident: Incident;
  /** The audit record of the step that pages; recorded with the page's own OperatorPaged / PageFailed. */
  readonly audit: AuditRecord;
}
export interface PageOperatorOutput {
  readonly delivered: boolean;
  readonly channels: readonly { readonly channel: string; readonly ok: boolean }[];
}

export interface ResolvePagesInput {
  readonly dedupKeys: readonly string[];
  readonly summary: string;
  readonly audit: AuditRecord;
}
