import type { RotationInput, RotationOutput } from '../../../../shared/rotation/contract';
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
