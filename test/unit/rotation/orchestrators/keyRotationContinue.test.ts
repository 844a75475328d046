import type { AuditRecord } from '../../../../shared/domain/audit';
import type { KeyInfo, KeyVersionInfo } from '../../../../shared/domain/model';
import type { PlannedServer } from '../../../../shared/rotation/activityIo';
import type {
  RotationInput,
  RotationOutput,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { packIds } from '../../../../shared/rotation/packing';
import { RUN_HISTORY_LENGTH, type RunRecord } from '../../../../shared/rotation/runs';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { rolloutBatchOrchestrator } from '../../../../shared/rotation/orchestrators/rolloutBatch';
import {
  runOrchestration,
  stepFailed,
  stepOk,
  type Responder,
  type ScheduledCall,
  type Signal,
} from '../../../support/orchestration';
import { NOW, SETTINGS, V1, V2, V3, keyWith, outcome, planned, rotationInput, version } from './fixtures';

/**
 * A run that continues as new never has its output stored: the next generation replaces it. What the
 * run history (`GET /api/runs`, the CLI's `runs`) and the sweep's backoff (`failedRuns`) need of it
 * must therefore travel in the continued input. Driven by durable histories, like keyRotation.test.ts.
 */

interface Scenario {
  readonly key: KeyInfo;
  readonly latest: KeyVersionInfo;
  readonly rereadLatest?: KeyVersionInfo;
  readonly servers: PlannedServer[];
  readonly failing?: readonly string[];
  readonly rotateTo?: KeyVersionInfo;
  /** The first readKey is refused: the run stops before the rollout. */
  readonly readRefused?: boolean;
  /** planRollout answers a malformed plan: the run stops on an unexpected error. */
  readonly malformedPlan?: boolean;
}

function responder(s: Scenario): Responder {
  let reads = 0;
  const answer: Responder = async (call, now) => {
    switch (call.name) {
      case 'rolloutBatch': {
        const batch = await runOrchestration(rolloutBatchOrchestrator, call.input, answer, {
          instanceId: call.instanceId ?? 'batch',
          start: new Date(now).toISOString(),
        });
        return batch.failed === undefined ? { result: batch.output } : { error: batch.failed };
      }
      case 'readKey':
        reads++;
        if (s.readRefused === true) return stepFailed('Forbidden', false);
        return stepOk({ key: s.key, latest: reads === 1 ? s.latest : (s.rereadLatest ?? s.latest) });
      case 'planRollout':
        return s.malformedPlan === true
          ? stepOk({ servers: null, discovered: 0, unplannable: [] })
          : stepOk({ servers: packIds(s.servers), discovered: s.servers.length, unplannable: [] });
      case 'serverRollover': {
        const name = (call.input as ServerRolloverInput).server.serverName;
        return { result: outcome(name, s.failing?.includes(name) === true ? 'failed' : 'updated') };
      }
      case 'rotateKey':
        return s.rotateTo === undefined
          ? stepFailed('Forbidden', false)
          : stepOk({ version: s.rotateTo, rotated: true });
      case 'pageOperator':
        return stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] });
      default:
        return stepOk(null);
    }
  };
  return answer;
}

const run = (input: RotationInput, s: Scenario, signals: Signal[] = []) =>
  runOrchestration(keyRotationOrchestrator, input, responder(s), {
    instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    start: NOW,
    signals,
  });

const earlier = (i: number): RunRecord => ({
  kind: 'sweep',
  trigger: `sweep:${i}`,
  startedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:00:00.000Z`,
  endedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:05:00.000Z`,
  status: 'completedWithFailures',
  targetVersion: V2,
  reasonCode: undefined,
  counts: { done: 1, failed: 1, skipped: 0 },
});

const completionSent = (calls: readonly ScheduledCall[]) =>
  calls.some(
    (c) => c.name === 'recordAudit' && (c.input as AuditRecord[]).some((a) => a.step === 'RotationCompleted'),
  );
const operator = (who: string, when: Signal['when']): Signal => ({
  name: 'keyEvent',
  input: { trigger: `operator:${who}`, reason: 'Operator', version: undefined },
  when,
});

const twoVersions = keyWith(version(V1, 300, 65), version(V2, 1, 365));
const rollout: Scenario = {
  key: twoVersions,
  latest: version(V2, 1, 365),
  servers: [planned('a'), planned('b')],
  failing: ['b'],
};

describe('keyRotation continue-as-new carries this generation into the next one', () => {
  const cases: [
    string,
    Scenario,
    Signal[],
    Partial<RotationInput>,
    Pick<RunRecord, 'status' | 'targetVersion' | 'reasonCode' | 'counts'>,
    RotationInput['failedRuns'],
  ][] = [
    [
      'superseded by a newer version found on the re-read',
      { ...rollout, rereadLatest: version(V3, 0, 365) },
      [],
      {},
      {
        status: 'completedWithFailures',
        targetVersion: V2,
        reasonCode: undefined,
        counts: { done: 1, failed: 1, skipped: 0 },
      },
      { version: V2, count: 3 },
    ],
    [
      'a signal raised while the completion record is sent (the run is done and audited)',
      rollout,
      [operator('carol', completionSent)],
      {},
      {
        status: 'completedWithFailures',
        targetVersion: V2,
        reasonCode: undefined,
        counts: { done: 1, failed: 1, skipped: 0 },
      },
      { version: V2, count: 3 },
    ],
    [
      'a stopped run (the key could not be read) with a request waiting',
      { ...rollout, readRefused: true },
      [operator('bob', () => true)],
      {},
      {
        status: 'stopped',
        targetVersion: undefined,
        reasonCode: 'Forbidden',
        counts: { done: 0, failed: 0, skipped: 0 },
      },
      undefined,
    ],
    [
      'a run stopped by an unexpected error with a request waiting',
      { ...rollout, malformedPlan: true },
      [operator('erin', (calls) => calls.some((c) => c.name === 'pageOperator'))],
      {},
      {
        status: 'stopped',
        targetVersion: undefined,
        reasonCode: 'UnexpectedError',
        counts: { done: 0, failed: 0, skipped: 0 },
      },
      undefined,
    ],
    [
      'an automatic rotation of a version near expiry',
      {
        key: keyWith(version(V2, 300, 20)),
        latest: version(V2, 300, 20),
        rotateTo: version(V3, 0, 365),
        servers: [planned('a', { action: 'verify', from: V2 })],
      },
      [],
      { reason: 'KeyNearExpiry', settings: { ...SETTINGS, autoRotateOnNearExpiry: true } },
      {
        status: 'completed',
        targetVersion: V3,
        reasonCode: 'KeyRotated',
        counts: { done: 0, failed: 0, skipped: 0 },
      },
      undefined,
    ],
  ];

  it.each(cases)(
    '%s: the continued input holds its run-history entry first and its failed-run count',
    async (_, scenario, signals, overrides, entry, failedRuns) => {
      const r = await run(
        rotationInput({
          ...overrides,
          trigger: 'event:e1',
          history: [earlier(1), earlier(2)],
          failedRuns: { version: V2, count: 2 },
        }),
        scenario,
        signals,
      );
      expect(r.failed).toBeUndefined();
      const next = r.continuedAsNewWith as RotationInput;
      expect(next).toMatchObject({ generation: 1 });
      expect(next.history).toHaveLength(3);
      const [first, ...rest] = next.history ?? [];
      expect(first).toEqual({
        kind: 'event',
        trigger: 'event:e1',
        startedAt: NOW,
        endedAt: expect.any(String) as string,
        ...entry,
      });
      expect(Date.parse(first?.endedAt ?? '')).toBeGreaterThan(Date.parse(NOW));
      expect(rest).toEqual([earlier(1), earlier(2)]);
      expect(next.failedRuns).toEqual(failedRuns);
    },
  );

  it(`keeps the continued history bounded (${RUN_HISTORY_LENGTH} runs, newest first)`, async () => {
    const many = Array.from({ length: RUN_HISTORY_LENGTH }, (_, i) => earlier(i));
    const r = await run(rotationInput({ history: many }), { ...rollout, rereadLatest: version(V3, 0, 365) });
    const next = r.continuedAsNewWith as RotationInput;
    expect(next.history).toHaveLength(RUN_HISTORY_LENGTH);
    expect(next.history?.[0]).toMatchObject({ trigger: 'event:e1', targetVersion: V2 });
    expect(next.history?.slice(1)).toEqual(many.slice(0, RUN_HISTORY_LENGTH - 1));
  });

  it('the next generation’s output lists both generations (what GET /api/runs and the CLI show)', async () => {
    const first = await run(rotationInput({ history: [earlier(1)] }), rollout, [
      operator('dave', completionSent),
    ]);
    const next = first.continuedAsNewWith as RotationInput;
    expect(next).toMatchObject({ trigger: 'operator:dave', generation: 1 });
    const second = await run(next, rollout);
    const out = second.output as RotationOutput;
    expect(second.continuedAsNewWith).toBeUndefined();
    expect(out.history?.map((h) => [h.kind, h.trigger, h.status])).toEqual([
      ['operator', 'operator:dave', 'completedWithFailures'],
      ['event', 'event:e1', 'completedWithFailures'],
      ['sweep', 'sweep:1', 'completedWithFailures'],
    ]);
    // Two failed runs in a row for V2: the sweep backs off from the second.
    expect(out.failedRuns).toEqual({ version: V2, count: 2 });
  });
});
