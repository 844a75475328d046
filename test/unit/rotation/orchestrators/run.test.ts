import type { AuditRecord } from '../../../../shared/domain/audit';
import type { RotationOutput, ServerRolloverInput } from '../../../../shared/rotation/contract';
import { RUN_HISTORY_LENGTH, type RunRecord } from '../../../../shared/rotation/runs';
import { stepFailed, type Responder } from '../../../support/orchestration';
import { NOW, V1, V2, outcome, planned, rotationInput, serverId, version } from './fixtures';
import { type Scenario, responder, run, pages, twoVersions } from './harness';

/**
 * What a run carries in its output (run.ts): the audit records the trail refused, the count of failed
 * runs for the sweep's backoff, and the history of the runs before it.
 */
describe("keyRotation: the run's output and records (run.ts)", () => {
  describe('audit records the trail refused (never claimed sent: counted, paged)', () => {
    const AUDIT_GAP = 'cmk:contoso-pg-kv:pg-cmk:rotation:auditundelivered';
    const s: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b')],
    };

    it("counts its own refused records and its servers' into auditUndelivered and pages the gap once", async () => {
      const answer: Responder = (call, now) =>
        call.name === 'recordAudit'
          ? stepFailed('AuditDeliveryFailed', false)
          : call.name === 'serverRollover' && (call.input as ServerRolloverInput).server.serverName === 'b'
            ? { result: { ...outcome('b', 'updated'), auditUndelivered: 3 } }
            : base(call, now);
      const base = responder(s, [], answer);
      const r = await run(rotationInput(), s, [], answer);
      const out = r.output as RotationOutput;
      const own = r.calls
        .filter((c) => c.name === 'recordAudit')
        .reduce((n, c) => n + (c.input as AuditRecord[]).length, 0);
      expect(own).toBeGreaterThan(0);
      expect(out.auditUndelivered).toBe(own + 3);
      expect(out.status).toBe('completed');
      const gap = pages(r).filter((p) => p.dedupKey === AUDIT_GAP);
      expect(gap).toHaveLength(1);
      expect(gap[0]).toMatchObject({ severity: 'warning' });
      expect(gap[0]?.nextStep).toContain('GET /api/rotations/contoso-pg-kv/pg-cmk');
      expect(out.openIncidents.map((i) => i.dedupKey)).toContain(AUDIT_GAP);
    });

    it('every record accepted: no count in the output, no page; an earlier gap is resolved', async () => {
      const r = await run(rotationInput({ openIncidents: [{ dedupKey: AUDIT_GAP, kind: 'rotation' }] }), s);
      const out = r.output as RotationOutput;
      expect(out.auditUndelivered).toBeUndefined();
      expect(pages(r).map((p) => p.dedupKey)).not.toContain(AUDIT_GAP);
      expect(out.resolvedIncidents).toContain(AUDIT_GAP);
    });

    it('an earlier gap stays open while this run still loses records', async () => {
      const r = await run(
        rotationInput({ openIncidents: [{ dedupKey: AUDIT_GAP, kind: 'rotation' }] }),
        s,
        [],
        (call, now) =>
          call.name === 'recordAudit' ? stepFailed('AuditDeliveryFailed', false) : responder(s)(call, now),
      );
      const out = r.output as RotationOutput;
      expect(out.resolvedIncidents).not.toContain(AUDIT_GAP);
      expect(out.openIncidents.map((i) => i.dedupKey)).toContain(AUDIT_GAP);
    });
  });

  describe("runs that fail again for the same version (the sweep's exponential backoff)", () => {
    const s: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b')],
      outcomes: { b: 'failed' },
    };
    it.each([
      ['first failed run', undefined, { version: V2, count: 1 }],
      ['third in a row', { version: V2, count: 2 }, { version: V2, count: 3 }],
      ['after failures for an older version', { version: V1, count: 4 }, { version: V2, count: 1 }],
    ])('%s: the output carries the count', async (_, failedRuns, expected) => {
      const r = await run(rotationInput({ failedRuns }), s);
      expect(r.output).toMatchObject({ status: 'completedWithFailures', failedRuns: expected });
    });

    it('a clean run carries no count', async () => {
      const r = await run(rotationInput({ failedRuns: { version: V2, count: 5 } }), { ...s, outcomes: {} });
      expect((r.output as RotationOutput).failedRuns).toBeUndefined();
    });
  });

  describe('run history (the task hub keeps one instance per key: each output carries the runs before it)', () => {
    const earlier = (i: number): RunRecord => ({
      kind: 'sweep',
      trigger: `sweep:${i}`,
      startedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:00:00.000Z`,
      endedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:05:00.000Z`,
      status: 'completed',
      targetVersion: V1,
      reasonCode: undefined,
      counts: { done: 1, failed: 0, skipped: 0 },
    });
    const scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b'), planned('c', { action: 'skip' as const })],
      outcomes: { b: 'failed' as const },
    };

    it.each([
      ['an event', 'event:e1', undefined, 'event'],
      ['an operator', 'operator:alice', undefined, 'operator'],
      ['the sweep', 'sweep:2026-11-24T10:00:00Z', undefined, 'sweep'],
      ['the health watch', 'health:2026-11-24T10:00:00Z', undefined, 'health'],
      ['an operator’s retry', 'operator:alice', [serverId('b').toLowerCase()], 'retry'],
    ] as const)(
      'a run started by %s (%s) is recorded first, before the earlier runs',
      async (_, trigger, only, kind) => {
        const r = await run(
          rotationInput({
            trigger,
            history: [earlier(1)],
            ...(only !== undefined ? { onlyServers: only } : {}),
          }),
          scenario,
        );
        const out = r.output as RotationOutput;
        expect(out.history?.[0]).toEqual({
          kind,
          trigger,
          startedAt: NOW,
          endedAt: out.completedAt,
          status: 'completedWithFailures',
          targetVersion: V2,
          reasonCode: out.reasonCode,
          counts:
            only === undefined ? { done: 1, failed: 1, skipped: 1 } : { done: 0, failed: 1, skipped: 0 },
        });
        expect(out.history?.slice(1)).toEqual([earlier(1)]);
      },
    );

    it(`keeps the newest ${RUN_HISTORY_LENGTH} runs`, async () => {
      const many = Array.from({ length: RUN_HISTORY_LENGTH }, (_, i) => earlier(i));
      const out = (await run(rotationInput({ history: many }), scenario)).output as RotationOutput;
      expect(out.history).toHaveLength(RUN_HISTORY_LENGTH);
      expect(out.history?.slice(1)).toEqual(many.slice(0, RUN_HISTORY_LENGTH - 1));
    });
  });
});
