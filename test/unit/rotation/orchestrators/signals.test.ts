import type { RotationInput, RotationOutput } from '../../../../shared/rotation/contract';
import { RUN_HISTORY_LENGTH, type RunRecord } from '../../../../shared/rotation/runs';
import { stepOk, type Signal } from '../../../support/orchestration';
import { NOW, SETTINGS, V2, V3, keyWith, planned, rotationInput, version } from './fixtures';
import { type Scenario, responder, run, audits, twoVersions, completionSent } from './harness';

/**
 * The keyEvent signals a running rotation takes in (signals.ts): a newer version or an operator
 * request raised during a run, even while it sends its last records, continues as new with it; a
 * redelivered or malformed one is dropped. And what the continued input carries into the next
 * generation.
 */

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

const operator = (who: string, when: Signal['when']): Signal => ({
  name: 'keyEvent',
  input: { trigger: `operator:${who}`, reason: 'Operator', version: undefined },
  when,
});

const rollout: Scenario = {
  key: twoVersions,
  latest: version(V2, 1, 365),
  servers: [planned('a'), planned('b')],
  outcomes: { b: 'failed' },
};

describe('keyRotation: signals taken in before the end (signals.ts)', () => {
  describe('failure paths that hold', () => {
    it('a key event for a newer version signalled during the rollout is consumed before completing: continue as new with it', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'event:e2', reason: 'KeyNewVersionCreated', version: V3 },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'event:e2', hintVersion: V3, generation: 1 });
      expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', reasonCode: 'Superseded' });
    });

    it('an operator request during a run is honoured after it (continue as new, attributed to the operator)', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:alice', reason: 'Operator', version: undefined },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.continuedAsNewWith).toMatchObject({
        trigger: 'operator:alice',
        reason: 'Operator',
        generation: 1,
      });
    });

    it('a redelivered event for the version this run handles is consumed and dropped: the run completes', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'event:e1-again', reason: 'KeyNewVersionCreated', version: V2 },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toBeUndefined();
      expect((r.output as RotationOutput).status).toBe('completed');
    });

    // The window issue 20 §3 named: the run has looked at its signals, then still sends its last
    // records. A signal raised then found the instance Running (the intake answered "signalled") and
    // was never read: the instance completed with it unconsumed in its history.
    it.each([
      [
        'a key event for a newer version',
        { trigger: 'event:e3', reason: 'KeyNewVersionCreated', version: V3 },
      ],
      ['an operator request', { trigger: 'operator:carol', reason: 'Operator', version: undefined }],
    ])(
      '%s raised after the run looked at its signals, while it sends its completion record, is consumed: continue as new with it',
      async (_, signal) => {
        const r = await run(
          rotationInput(),
          { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
          [{ name: 'keyEvent', input: signal, when: completionSent }],
        );
        expect(r.raised).toHaveLength(1);
        expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', outcome: 'success' });
        // Its last look is published (the intake waits for the end of a closing run).
        expect(r.customStatuses.at(-1)).toMatchObject({ phase: 'finishing', closing: true });
        expect(r.continuedAsNewWith).toMatchObject({
          trigger: signal.trigger,
          reason: signal.reason,
          hintVersion: signal.version,
          generation: 1,
        });
      },
    );

    it('a signal raised while an unexpected error is paged still gets its run', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:erin', reason: 'Operator', version: undefined },
            when: (calls) => calls.some((c) => c.name === 'pageOperator'),
          },
        ],
        (call) =>
          call.name === 'planRollout'
            ? stepOk({ servers: null, discovered: 0, unplannable: [] })
            : responder(s)(call, 0),
      );
      expect(r.failed).toBeUndefined();
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'UnexpectedError' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:erin', generation: 1 });
    });

    it('a malformed keyEvent (raised by hand) is read and ignored; the run completes', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: null,
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.failed).toBeUndefined();
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toBeUndefined();
      expect((r.output as RotationOutput).status).toBe('completed');
    });
  });
});

/**
 * A run that continues as new never has its output stored: the next generation replaces it. What the
 * run history (`GET /api/runs`, the CLI's `runs`) and the sweep's backoff (`failedRuns`) need of it
 * must therefore travel in the continued input. Driven by durable histories, like keyRotation.test.ts.
 */
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
