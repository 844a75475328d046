import type { AuditRecord } from '../../../../shared/domain/audit';
import type { Incident } from '../../../../shared/domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../../../../shared/domain/model';
import type {
  PlannedServer,
  ResolvePagesInput,
  UnplannableServer,
} from '../../../../shared/rotation/activityIo';
import type {
  RolloutBatchInput,
  RotationInput,
  ServerOutcome,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { packIds } from '../../../../shared/rotation/packing';
import { serverNameOf } from '../../../../shared/domain/resourceId';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { rolloutBatchOrchestrator } from '../../../../shared/rotation/orchestrators/rolloutBatch';
import {
  runOrchestration,
  stepFailed,
  stepOk,
  type Responder,
  type Response,
  type Run,
  type ScheduledCall,
  type Signal,
} from '../../../support/orchestration';
import { NOW, V1, V2, keyWith, outcome, version } from './fixtures';

/**
 * The keyRotation orchestrator driven by durable histories: a scenario's answers, the run, and what
 * the tests read back from it. Each phase file of shared/rotation/orchestrators has its test file next
 * to this one; keyRotation.test.ts tells the story end to end.
 */

export interface Scenario {
  key: KeyInfo;
  latest: KeyVersionInfo;
  /** What the final re-read of the key finds (defaults to `latest`). */
  rereadLatest?: KeyVersionInfo;
  servers: PlannedServer[];
  outcomes?: Record<string, ServerOutcome['outcome'] | 'crashed'>;
  /** A server's reason code other than its outcome's usual one. */
  reasonCodes?: Record<string, string>;
  rotateTo?: KeyVersionInfo;
  rotated?: boolean;
  unplannable?: UnplannableServer[];
  /** Every readKey is refused: the run stops before the rollout. */
  readRefused?: boolean;
  /** planRollout answers a malformed plan: the run stops on an unexpected error. */
  malformedPlan?: boolean;
  /** The pager's answer to resolvePages (default: every resolve accepted). */
  resolve?: (input: ResolvePagesInput) => Response;
}

/**
 * The scenario's answers. A `rolloutBatch` sub-orchestration runs for real (the batch orchestrator
 * through its own durable history), its servers answered from the scenario; what the batches
 * scheduled is collected in `nested`.
 */
export function responder(s: Scenario, nested: ScheduledCall[] = [], inner?: Responder): Responder {
  let reads = 0;
  const answer: Responder = async (call, now) => {
    switch (call.name) {
      case 'rolloutBatch': {
        // `inner`: a test's own answers reach the servers of the batch too.
        const batch = await runOrchestration(rolloutBatchOrchestrator, call.input, inner ?? answer, {
          instanceId: call.instanceId ?? 'batch',
          start: new Date(now).toISOString(),
        });
        nested.push(...batch.calls);
        return batch.failed === undefined ? { result: batch.output } : { error: batch.failed };
      }
      case 'readKey':
        reads++;
        if (s.readRefused === true) return stepFailed('Forbidden', false);
        return stepOk({ key: s.key, latest: reads === 1 ? s.latest : (s.rereadLatest ?? s.latest) });
      case 'planRollout':
        if (s.malformedPlan === true) return stepOk({ servers: null, discovered: 0, unplannable: [] });
        // Front-coded ids, as the activity answers.
        return stepOk({
          servers: packIds(s.servers),
          discovered: s.servers.length,
          unplannable: s.unplannable ?? [],
        });
      case 'serverRollover': {
        const name = (call.input as ServerRolloverInput).server.serverName;
        const kind = s.outcomes?.[name] ?? 'updated';
        return kind === 'crashed'
          ? { error: `serverRollover of ${name} failed: replay fault` }
          : {
              result: {
                ...outcome(name, kind),
                ...(s.reasonCodes?.[name] !== undefined ? { reasonCode: s.reasonCodes[name] } : {}),
              },
            };
      }
      case 'rotateKey':
        return s.rotateTo === undefined
          ? stepFailed('Forbidden', false)
          : stepOk({ version: s.rotateTo, rotated: s.rotated ?? true });
      case 'pageOperator':
        return stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] });
      case 'resolvePages': {
        const input = call.input as ResolvePagesInput;
        return s.resolve !== undefined
          ? s.resolve(input)
          : stepOk({ resolved: input.dedupKeys.map((k) => ({ dedupKey: k, accepted: true })) });
      }
      default:
        return stepOk(null);
    }
  };
  return answer;
}

export type NestedRun = Run & { readonly nested: ScheduledCall[] };
export const run = async (
  input: RotationInput,
  s: Scenario,
  signals: Signal[] = [],
  respond?: Responder,
): Promise<NestedRun> => {
  const nested: ScheduledCall[] = [];
  const r = await runOrchestration(keyRotationOrchestrator, input, respond ?? responder(s, nested), {
    instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    start: NOW,
    signals,
  });
  return { ...r, nested };
};

/** The servers the parent handed to its batches. */
export const batched = (r: Run): string[] =>
  r.calls
    .filter((c) => c.name === 'rolloutBatch')
    .flatMap((c) => (c.input as RolloutBatchInput).servers.map((s) => serverNameOf(s.serverId)));
/** The parent's calls, then what its batches scheduled. */
const everything = (r: Run): ScheduledCall[] => [...r.calls, ...((r as Partial<NestedRun>).nested ?? [])];
export const subs = (r: Run): string[] =>
  everything(r)
    .filter((c) => c.name === 'serverRollover')
    .map((c) => (c.input as ServerRolloverInput).server.serverName);
export const pages = (r: Run): Incident[] =>
  everything(r)
    .filter((c) => c.name === 'pageOperator')
    .map((c) => (c.input as { incident: Incident }).incident);
/** Audit records in the order sent (a page's own outcome, OperatorPaged/PageFailed, left out). */
export const audits = (r: Run): AuditRecord[] =>
  everything(r)
    .flatMap((c) => (c.name === 'recordAudit' ? (c.input as AuditRecord[]) : []))
    .filter((a) => a.step !== 'OperatorPaged' && a.step !== 'PageFailed');
export const names = (calls: ScheduledCall[]): string[] => calls.map((c) => c.name);

export const twoVersions = keyWith(version(V1, 300, 65), version(V2, 1, 365));

/** Raised while the run sends its completion record: after it looked at its signals. */
export const completionSent = (calls: readonly ScheduledCall[]) =>
  calls.some(
    (c) => c.name === 'recordAudit' && (c.input as AuditRecord[]).some((a) => a.step === 'RotationCompleted'),
  );
