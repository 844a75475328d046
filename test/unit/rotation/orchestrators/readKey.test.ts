import type { AuditRecord } from '../../../../shared/domain/audit';
import type { RotationOutput } from '../../../../shared/rotation/contract';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { runOrchestration, stepFailed, stepOk, type Response } from '../../../support/orchestration';
import { NOW, keyWith, rotationInput } from './fixtures';

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
