import type { AuditRecord } from '../../../../shared/domain/audit';
import type { RotationOutput } from '../../../../shared/rotation/contract';
import { RETRY_POLICIES } from '../../../../shared/rotation/policy';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { runOrchestration, stepFailed, stepOk, type Response } from '../../../support/orchestration';
import { NOW, V2, keyWith, planned, rotationInput, version } from './fixtures';
import { type Scenario, responder, run, batched, subs, pages, names, twoVersions } from './harness';

/**
 * Phase 1 of the rotation (readKey.ts): the key, from Key Vault, retried through an outage, else paged.
 */
describe('keyRotation: reading the key (readKey.ts)', () => {
  it('pages and stops when the key cannot be read', async () => {
    const r = await runOrchestration(keyRotationOrchestrator, rotationInput(), (c) =>
      c.name === 'readKey'
        ? stepFailed('Forbidden', false)
        : c.name === 'pageOperator'
          ? stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] })
          : stepOk(null),
    );
    // Recorded first, then paged, then the page's outcome; a look for waiting signals; the completion
    // record; a last look for signals raised meanwhile; the end.
    expect(names(r.calls)).toEqual([
      'readKey',
      'recordAudit',
      'pageOperator',
      'recordAudit',
      'timer',
      'recordAudit',
      'timer',
    ]);
    expect((r.output as RotationOutput).status).toBe('stopped');
  });

  describe('failure paths that hold', () => {
    it('Key Vault 503 for 120 s at the start: rides it out on durable-timer backoff and rolls out', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
      const ok = responder(s);
      const outageEnds = Date.parse(NOW) + 120_000;
      const r = await run(rotationInput(), s, [], (call, now) =>
        call.name === 'readKey' && now < outageEnds ? stepFailed('ServiceUnavailable', true) : ok(call, now),
      );
      expect(r.failed).toBeUndefined();
      // 5 + 10 + 20 + 40 + 80 s of backoff (plus the activities) outlast the 120 s outage.
      // Refused at 0, 6, 17, 38 and 79 s (the driver's activities take 1 s); the attempt at 160 s reads it.
      const waits = r.history
        .filter((h) => h.EventType === 10)
        .map((e) => (Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000);
      expect(waits.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
      expect(r.calls.filter((c) => c.name === 'readKey')).toHaveLength(6 + 1); // + the final re-read
      expect(batched(r)).toEqual(['a']);
      expect((r.output as RotationOutput).status).toBe('completed');
      expect(pages(r)).toEqual([]);
    });

    it('Key Vault failing beyond the retry budget: pages "key unreadable" once and ends cleanly (stopped, not Failed)', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [] },
        [],
        (call) =>
          call.name === 'readKey'
            ? stepFailed('ServiceUnavailable', true)
            : responder({ key: twoVersions, latest: version(V2, 1, 365), servers: [] })(call, 0),
      );
      expect(r.failed).toBeUndefined();
      expect(r.calls.filter((c) => c.name === 'readKey')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:keyunreadable']);
      expect(pages(r)[0]?.summary).toContain('key unreadable');
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'ServiceUnavailable' });
      expect(subs(r)).toEqual([]);
    });
  });
});

/**
 * A key the run cannot read is not a version that failed preflight: nothing was checked. It is
 * audited as `KeyUnreadable` with the reason, paged once, and the run stops.
 */
async function runWithRead(read: Response) {
  const r = await runOrchestration(
    keyRotationOrchestrator,
    rotationInput(),
    (call) =>
      call.name === 'readKey'
        ? read
        : call.name === 'pageOperator'
          ? stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] })
          : stepOk(null),
    { instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk', start: NOW },
  );
  const audits = r.calls
    .flatMap((c) => (c.name === 'recordAudit' ? (c.input as AuditRecord[]) : []))
    .filter((a) => a.step !== 'OperatorPaged' && a.step !== 'PageFailed');
  return { out: r.output as RotationOutput, audits };
}

describe('readKey phase: a key that cannot be read', () => {
  it.each<[string, Response, string]>([
    ['Key Vault refuses the app (permission)', stepFailed('Forbidden', false), 'Forbidden'],
    [
      'the vault cannot be reached (firewall)',
      stepFailed('ForbiddenByConnection', false),
      'ForbiddenByConnection',
    ],
    ['the key lists no versions', stepOk({ key: keyWith(), latest: undefined }), 'KeyHasNoVersions'],
  ])('%s: audited as KeyUnreadable (never PreflightFailed), paged, stopped', async (_name, read, code) => {
    const { out, audits } = await runWithRead(read);
    expect(audits.map((a) => [a.step, a.outcome, a.reasonCode])).toEqual(
      expect.arrayContaining([['KeyUnreadable', 'failure', code]]),
    );
    expect(audits.map((a) => a.step)).not.toContain('PreflightFailed');
    expect(out.status).toBe('stopped');
  });
});
