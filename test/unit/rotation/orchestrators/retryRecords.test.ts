import { auditId } from '../../../../shared/domain/audit';
import { stepFailed } from '../../../support/orchestration';
import { accepted, audits, busy, run, updating, valid } from './rolloverHarness';

/**
 * Every retry of a step is its own fact in the audit trail: the records of two retries never share an
 * `auditId` (the trail collapses records by it, `summarize arg_max(...) by auditId`, so a shared id
 * would lose one). A step called again on a later pass of the server's loop (the server was Updating,
 * so it is read again) starts its attempts at 1 again: the pass must be part of the record.
 */
describe('serverRollover: retry records', () => {
  it('keeps apart the retries of the same step on two passes of the loop (same attempt, same error)', async () => {
    const r = await run({
      update: [
        stepFailed('ServiceUnavailable', true),
        busy,
        stepFailed('ServiceUnavailable', true),
        accepted,
      ],
    });
    const retried = audits(r).filter((a) => a.step === 'ServerUpdateRetried');
    expect(retried.map((a) => [a.details?.['step'], a.details?.['attempt'], a.reasonCode])).toEqual([
      ['updateServer', '1', 'ServiceUnavailable'],
      ['updateServer', '1', 'ServiceUnavailable'],
    ]);
    expect(new Set(retried.map(auditId)).size).toBe(2);
  });

  it('keeps apart the retries of the looks at one server after its PATCH', async () => {
    const r = await run({
      verify: [
        stepFailed('ServiceUnavailable', true),
        updating,
        stepFailed('ServiceUnavailable', true),
        valid,
      ],
    });
    const retried = audits(r).filter(
      (a) => a.step === 'ServerUpdateRetried' && a.details?.['step'] === 'verifyServer',
    );
    expect(retried.length).toBeGreaterThanOrEqual(2);
    expect(new Set(retried.map(auditId)).size).toBe(retried.length);
  });

  it('gives the same record twice the same id (a re-sent batch still collapses)', async () => {
    const script = { update: [stepFailed('ServiceUnavailable', true), accepted] };
    const [a, b] = [await run(script), await run(script)].map((r) =>
      audits(r)
        .filter((x) => x.step === 'ServerUpdateRetried')
        .map(auditId),
    );
    expect(a).toEqual(b);
    expect(a).toHaveLength(1);
  });
});
