import { V2, planned, rotationInput, version } from './fixtures';
import { run, subs, pages, audits, twoVersions } from './harness';

/**
 * Phase 4 (preflight.ts): the target version checked before any server is touched.
 */
describe('keyRotation: the preflight of the target version (preflight.ts)', () => {
  it('pages a failed preflight and PATCHes nothing', async () => {
    const latest = { ...version(V2, 1, 365), enabled: false, keyType: 'EC' };
    const r = await run(rotationInput(), { key: twoVersions, latest, servers: [planned('a')] });
    expect(subs(r)).toEqual([]);
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V2}:preflight`,
        summary: expect.stringContaining('key version is disabled'),
      }),
    ]);
    expect(audits(r).find((a) => a.step === 'PreflightFailed')?.reasonCode).toBe('keyType,enabled');
  });
});
