import type { AuditRecord } from '../../../../shared/domain/audit';
import type { OpenIncident, RotationInput, RotationOutput } from '../../../../shared/rotation/contract';
import type { ResolvePagesInput } from '../../../../shared/rotation/activityIo';
import { stepFailed, stepOk, type Response } from '../../../support/orchestration';
import { V1, V2, V3, keyWith, planned, rotationInput, serverId, version } from './fixtures';
import { run, subs, audits, twoVersions } from './harness';

/**
 * Phase 7 (finish.ts): a newer version found on the re-read continues as new; else the run resolves
 * the incidents it proved fixed.
 */
describe('keyRotation: finishing the run (finish.ts)', () => {
  it('continues as new (same instance) when a newer version appeared during the rollout', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      rereadLatest: version(V3, 0, 365),
      servers: [planned('a')],
    });
    expect(subs(r)).toEqual(['a']);
    expect(r.continuedAsNewWith).toMatchObject({ generation: 1, hintVersion: V3, trigger: 'event:e1' });
    expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', reasonCode: 'Superseded' });
  });

  it('resolves the incidents of an earlier run once this run proves them fixed, and keeps the others open', async () => {
    const r = await run(
      rotationInput({
        openIncidents: [
          { dedupKey: 'server-a', kind: 'server', serverId: serverId('a'), version: V2 },
          { dedupKey: 'server-b', kind: 'server', serverId: serverId('b'), version: V2 },
          { dedupKey: 'preflight-old', kind: 'preflight', version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b')],
        outcomes: { a: 'updated', b: 'failed' },
      },
    );
    const resolve = r.calls.find((c) => c.name === 'resolvePages');
    expect((resolve?.input as { dedupKeys: string[] }).dedupKeys).toEqual(['server-a', 'preflight-old']);
    const out = r.output as RotationOutput;
    expect(out.resolvedIncidents).toEqual(['server-a', 'preflight-old']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-b']);
  });

  it('a retry of one server that continues as new (a newer version) runs the next generation for every server', async () => {
    const r = await run(
      rotationInput({
        reason: 'Operator',
        trigger: 'operator:alice',
        onlyServers: [serverId('b').toLowerCase()],
      }),
      {
        key: keyWith(version(V1, 300, 65), version(V2, 1, 365), version(V3, 0, 365)),
        latest: version(V2, 1, 365),
        rereadLatest: version(V3, 0, 365),
        servers: [planned('a'), planned('b')],
      },
    );
    expect(subs(r)).toEqual(['b']);
    expect(r.continuedAsNewWith).toMatchObject({ hintVersion: V3 });
    expect((r.continuedAsNewWith as RotationInput).onlyServers).toBeUndefined();
  });
});

/**
 * The finish phase resolves the incidents of earlier runs that this run proved fixed. An incident
 * counts as resolved only once the pager accepted the resolve: one it refused (or a resolve step that
 * failed outright) stays open in the output, so the next run resolves it again.
 */

const OPEN: OpenIncident[] = [
  { dedupKey: 'server-a', kind: 'server', serverId: serverId('a'), version: V2 },
  { dedupKey: 'preflight-old', kind: 'preflight', version: V2 },
];

/** A run that proves both incidents fixed; `resolve` answers the resolvePages step. */
async function finishWith(resolve: (input: ResolvePagesInput) => Response): Promise<{
  out: RotationOutput;
  resolveAudits: AuditRecord[];
  audits: AuditRecord[];
}> {
  const r = await run(rotationInput({ openIncidents: OPEN }), {
    key: twoVersions,
    latest: version(V2, 1, 365),
    servers: [planned('a')],
    resolve,
  });
  expect(r.failed).toBeUndefined();
  const resolveAudits = r.calls
    .filter((c) => c.name === 'resolvePages')
    .map((c) => (c.input as ResolvePagesInput).audit);
  const audits = r.calls.flatMap((c) => (c.name === 'recordAudit' ? (c.input as AuditRecord[]) : []));
  return { out: r.output as RotationOutput, resolveAudits, audits };
}

const answered = (accepted: Record<string, boolean>) => (input: ResolvePagesInput) =>
  stepOk({
    resolved: input.dedupKeys.map((dedupKey) => ({ dedupKey, accepted: accepted[dedupKey] ?? false })),
  });

describe('finish: resolving the incidents of earlier runs', () => {
  it('counts as resolved only the incidents whose resolve the pager accepted; a refused one stays open', async () => {
    const { out, resolveAudits } = await finishWith(answered({ 'server-a': true, 'preflight-old': false }));
    expect(resolveAudits).toHaveLength(1);
    expect(out.resolvedIncidents).toEqual(['server-a']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['preflight-old']);
  });

  it('keeps every incident open when the resolve step fails after its retries, and audits each as not resolved', async () => {
    const { out, audits } = await finishWith(() => stepFailed('ServiceUnavailable', false));
    expect(out.resolvedIncidents).toEqual([]);
    expect(out.openIncidents.map((i) => i.dedupKey).sort()).toEqual(['preflight-old', 'server-a']);
    expect(
      audits
        .filter((a) => a.step === 'PageResolved')
        .map((a) => [a.outcome, a.reasonCode, a.details?.['dedupKey']]),
    ).toEqual([
      ['failure', 'ServiceUnavailable', 'server-a'],
      ['failure', 'ServiceUnavailable', 'preflight-old'],
    ]);
  });

  it('drops from the open incidents those the pager accepted, and carries nothing else over', async () => {
    const { out } = await finishWith(answered({ 'server-a': true, 'preflight-old': true }));
    expect(out.resolvedIncidents).toEqual(['server-a', 'preflight-old']);
    expect(out.openIncidents).toEqual([]);
  });
});
