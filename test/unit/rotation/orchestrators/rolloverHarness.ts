import type { AuditRecord } from '../../../../shared/domain/audit';
import type { Incident } from '../../../../shared/domain/incident';
import { ROTATION_SCHEMA_VERSION, type ServerRolloverInput } from '../../../../shared/rotation/contract';
import type {
  PollServerUpdateOutput,
  StepError,
  UpdateServerOutput,
  VerifyServerInput,
  VerifyServerOutput,
} from '../../../../shared/rotation/activityIo';
import { serverRolloverOrchestrator } from '../../../../shared/rotation/orchestrators/serverRollover';
import {
  runOrchestration,
  stepOk,
  type Response,
  type Run,
  type ScheduledCall,
} from '../../../support/orchestration';
import { NOW, SETTINGS, V1, V2, VAULT_URL, inDays, keyWith, serverId, version } from './fixtures';

/**
 * The serverRollover orchestrator driven by durable histories: one server's input, what each activity
 * answers in turn (a script), and what the tests read back. Used by serverRollover.test.ts and
 * rolloverVerify.test.ts.
 */

export const TARGET = `${VAULT_URL}/keys/pg-cmk/${V2}`;
export const FROM = `${VAULT_URL}/keys/pg-cmk/${V1}`;
export const IDENTITY =
  '/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a';

export const input: ServerRolloverInput = {
  schemaVersion: ROTATION_SCHEMA_VERSION,
  correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
  trigger: 'event:e1',
  key: keyWith(version(V1, 300, 65), version(V2, 1, 365)),
  targetVersion: V2,
  server: {
    serverId: serverId('pg-a'),
    serverName: 'pg-a',
    subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
    expiresOn: inDays(65),
  },
  settings: {
    optOutTag: SETTINGS.optOutTag,
    pollIntervalSeconds: SETTINGS.pollIntervalSeconds,
    operationTimeoutMinutes: SETTINGS.operationTimeoutMinutes,
    maxWriteAttempts: SETTINGS.maxWriteAttempts,
  },
};

export const HANDLE = { serverId: input.server.serverId, operationUrl: 'https://management.azure.com/op/1' };
export const written = {
  snapshot: {
    dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: FROM, primaryUserAssignedIdentityId: IDENTITY },
    identity: undefined,
  },
  expected: { primary: TARGET },
  from: { primary: FROM },
} as const;
export const accepted = {
  kind: 'accepted',
  ...written,
  handle: HANDLE,
} as const satisfies UpdateServerOutput;
export const refused = (code: string, retryable: boolean, retryAfterSeconds?: number): UpdateServerOutput => {
  const error: StepError = { code, message: `${code} (test)`, retryable, retryAfterSeconds };
  return { kind: 'refused', ...written, error };
};
/** A PATCH ARM refused with 429 and `Retry-After` (and, as the activity reports it, the quota reading). */
export const throttledUpdate = (
  retryAfterSeconds: number,
  quota?: UpdateServerOutput['quota'],
): UpdateServerOutput => ({
  kind: 'refused',
  ...written,
  error: {
    code: 'TooManyRequests',
    message: 'throttled (test)',
    retryable: true,
    retryAfterSeconds,
    throttled: true,
  },
  ...(quota !== undefined ? { quota } : {}),
});
export const valid: VerifyServerOutput = { ok: true, dataEncryption: { primaryKeyURI: TARGET } };
export const updating: VerifyServerOutput = {
  ok: false,
  pending: true,
  updating: true,
  code: 'VerificationFailed',
  message: 'server state is Updating',
  identityId: undefined,
};
/** Ready on the version it had: an operation that ended without moving it (or has not shown yet). */
export const onOld: VerifyServerOutput = {
  ok: false,
  pending: false,
  code: 'VerificationFailed',
  message: `primary key URI is ${FROM}, expected ${TARGET}`,
  identityId: IDENTITY,
};
export const busy: UpdateServerOutput = { kind: 'updating', expected: { primary: TARGET } };
export const onTarget: UpdateServerOutput = {
  kind: 'verify',
  expected: { primary: TARGET },
  verification: valid,
};
export const succeeded = {
  status: 'Succeeded',
  verification: valid,
} as const satisfies PollServerUpdateOutput;

/** What each activity answers, in order (the last answer repeats): an output, or a full Response. */
type Answer<T> = T | Response;
export interface Script {
  update?: Answer<UpdateServerOutput>[];
  poll?: Answer<PollServerUpdateOutput>[];
  verify?: Answer<VerifyServerOutput>[];
  page?: Answer<unknown>[];
  audit?: Answer<null>[];
  /** The look is answered by a worker from before `along`: it records the proof only, and says nothing of `along`. */
  ignoresAlong?: boolean;
}

const isResponse = (v: unknown): v is Response =>
  typeof v === 'object' && v !== null && ('result' in v || 'error' in v) && Object.keys(v).length === 1;

export function run(
  script: Script,
  settings: Partial<ServerRolloverInput['settings']> = {},
  extra: Partial<ServerRolloverInput> = {},
): Promise<Run> {
  const queues: Record<string, unknown[]> = {
    updateServer: [...(script.update ?? [accepted])],
    pollServerUpdate: [...(script.poll ?? [succeeded])],
    verifyServer: [...(script.verify ?? [valid])],
    pageOperator: [...(script.page ?? [{ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] }])],
    recordAudit: [...(script.audit ?? [null])],
  };
  const next = (name: string): unknown => {
    const q = queues[name];
    if (q === undefined) throw new Error(`unexpected call ${name}`);
    return q.length > 1 ? q.shift() : q[0];
  };
  /**
   * As the real step does (rotationActivities.ts): a look at the server puts on record, after its read,
   * the records it carries (`along`) and the proof when the read proves the server, in one write; the
   * trail answers from the same script as `recordAudit` (`audit`), and the step answers `audited`
   * accordingly. The write step records nothing.
   */
  const recordAlong = (call: ScheduledCall, records: AuditRecord[]): { audited?: boolean } => {
    if (records.length === 0) return {};
    const trail = next('recordAudit');
    // Refused: the activity failed, or answered a failed step (what `stepFailed` scripts).
    const refused =
      isResponse(trail) &&
      ('error' in trail || (trail.result as { ok?: boolean } | null | undefined)?.ok === false);
    if (!refused) along.set(call, records);
    return { audited: !refused };
  };
  return runOrchestration(
    serverRolloverOrchestrator,
    { ...input, ...extra, settings: { ...input.settings, ...settings } },
    (call) => {
      const v = next(call.name);
      if (isResponse(v)) return v;
      if (v === null || typeof v !== 'object') return stepOk(v);
      if (call.name === 'verifyServer') {
        const { audit, along: earlier } = call.input as VerifyServerInput;
        const proof = (v as VerifyServerOutput).ok && audit !== undefined ? [audit.record] : [];
        const carried = script.ignoresAlong === true ? [] : (earlier ?? []);
        const written = recordAlong(call, [...carried, ...proof]);
        const alongRecorded =
          written.audited === true && carried.length > 0 ? { alongRecorded: carried.length } : {};
        return stepOk({ ...(v as VerifyServerOutput), ...written, ...alongRecorded });
      }
      return stepOk(v);
    },
    { start: NOW },
  );
}

/** Records a step put on record itself (the trail took them), by the call that carried them. */
const along = new WeakMap<ScheduledCall, AuditRecord[]>();

export const timerWaits = (r: Run): number[] =>
  r.history
    .filter((h) => h.EventType === 10)
    .map((e) => (Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000);
export const called = (r: Run, name: string) => r.calls.filter((c) => c.name === name);
export const pageOf = (r: Run) =>
  called(r, 'pageOperator').map((c) => (c.input as { incident: Incident }).incident);
/** What reached the audit trail, in order: `recordAudit` steps and the records steps put there themselves. */
export const audits = (r: Run): AuditRecord[] =>
  r.calls.flatMap((c) => (c.name === 'recordAudit' ? (c.input as AuditRecord[]) : (along.get(c) ?? [])));
export const steps = (r: Run): string[] => audits(r).map((a) => a.step);
