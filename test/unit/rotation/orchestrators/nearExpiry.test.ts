import type { RotationInput, RotationOutput } from '../../../../shared/rotation/contract';
import { SETTINGS, V1, V2, V3, keyWith, planned, rotationInput, version } from './fixtures';
import { run, subs, pages, audits, names } from './harness';

/**
 * Phase 3 (nearExpiry.ts): the newest version near expiry: a newer one, a page, or an automatic rotation.
 */
describe('keyRotation: the newest version near expiry (nearExpiry.ts)', () => {
  it('on KeyNearExpiry with a newer valid version, rolls out to the newer version without an expiry page', async () => {
    const r = await run(rotationInput({ reason: 'KeyNearExpiry', hintVersion: V1 }), {
      key: keyWith(version(V1, 340, 25), version(V2, 5, 365)),
      latest: version(V2, 5, 365),
      servers: [planned('a', { from: V1 })],
    });
    expect(subs(r)).toEqual(['a']);
    expect((r.output as RotationOutput).targetVersion).toBe(V2);
    expect(pages(r)).toEqual([]);
  });

  it.each([
    [25, 'warning'],
    [5, 'critical'],
    [-1, 'critical'],
  ] as const)(
    'on a newest version expiring in %i days with no newer one and auto-rotate off, pages %s with the servers at risk and PATCHes nothing',
    async (days, severity) => {
      const latest = version(V2, 300, days);
      const r = await run(rotationInput({ reason: days < 0 ? 'KeyExpired' : 'KeyNearExpiry' }), {
        key: keyWith(version(V1, 400, -30), latest),
        latest,
        servers: [planned('a', { action: 'verify', from: V2 }), planned('b', { action: 'verify', from: V2 })],
      });
      expect(subs(r)).toEqual([]);
      const [page, ...others] = pages(r);
      expect(others).toEqual([]);
      expect(page).toMatchObject({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V2}:expiry:${severity}`,
        severity,
        deadline: latest.expiresOn,
      });
      expect(page?.summary).toContain('2 server(s)');
      expect(page?.summary).toContain(days < 0 ? 'EXPIRED' : `expires in ${days} day(s)`);
      // Preflight fails on the same expiry: recorded, not paged a second time.
      expect(audits(r).map((a) => a.step)).toContain('PreflightFailed');
      expect((r.output as RotationOutput).status).toBe('stopped');
    },
  );

  it('on near expiry with auto-rotate on, rotates the key in Key Vault and continues as new with the new version', async () => {
    const latest = version(V2, 300, 20);
    const r = await run(
      rotationInput({ reason: 'KeyNearExpiry', settings: { ...SETTINGS, autoRotateOnNearExpiry: true } }),
      {
        key: keyWith(latest),
        latest,
        rotateTo: version(V3, 0, 365),
        servers: [planned('a', { action: 'verify', from: V2 })],
      },
    );
    expect(names(r.calls)).toContain('rotateKey');
    expect(subs(r)).toEqual([]);
    expect(r.continuedAsNewWith).toMatchObject({ autoRotatedFrom: V2, hintVersion: V3, generation: 1 });
    expect(audits(r).find((a) => a.step === 'KeyRotated')).toMatchObject({ fromVersion: V2, toVersion: V3 });
  });

  it('does not auto-rotate twice in a row from the same version (a short rotation policy cannot loop)', async () => {
    const latest = version(V2, 300, 20);
    const r = await run(
      rotationInput({ settings: { ...SETTINGS, autoRotateOnNearExpiry: true }, autoRotatedFrom: V2 }),
      { key: keyWith(latest), latest, rotateTo: version(V3, 0, 365), servers: [] },
    );
    expect(names(r.calls)).not.toContain('rotateKey');
    expect(pages(r).map((p) => p.severity)).toEqual(['warning']);
  });

  describe('failure paths that hold', () => {
    it('auto-rotate with a rotation policy shorter than the warning window (P28D, 30 days): at most one automatic rotation per expiring version', async () => {
      const settings = { ...SETTINGS, autoRotateOnNearExpiry: true };
      const old = version(V1, 340, 20); // a 360-day version, 20 days left
      const fresh = version(V2, 0, 28); // what a P28D policy creates: inside the window from birth
      const first = await run(rotationInput({ reason: 'KeyNearExpiry', settings }), {
        key: keyWith(old),
        latest: old,
        rotateTo: fresh,
        servers: [planned('a', { action: 'verify', from: V1 })],
      });
      expect(names(first.calls).filter((n) => n === 'rotateKey')).toHaveLength(1);
      // The next generation (continue as new), and a fresh instance for the new version's own
      // KeyNearExpiry event: neither rotates again.
      for (const next of [
        first.continuedAsNewWith as RotationInput,
        rotationInput({ reason: 'KeyNearExpiry', settings, hintVersion: V2 }),
      ]) {
        const r = await run(next, {
          key: keyWith(old, fresh),
          latest: fresh,
          rotateTo: version(V3, 0, 28),
          servers: [planned('a', { from: V1 })],
        });
        expect(names(r.calls)).not.toContain('rotateKey');
        expect(pages(r).map((p) => p.severity)).toContain('warning');
      }
    });

    it('a rotateKey retried after Key Vault already made the version does not rotate again (rotated: false)', async () => {
      const latest = version(V2, 300, 20);
      const r = await run(
        rotationInput({ reason: 'KeyNearExpiry', settings: { ...SETTINGS, autoRotateOnNearExpiry: true } }),
        { key: keyWith(latest), latest, rotateTo: version(V3, 0, 365), rotated: false, servers: [] },
      );
      expect(r.calls.find((c) => c.name === 'rotateKey')?.input).toMatchObject({ fromVersion: V2 });
      expect(audits(r).find((a) => a.step === 'KeyRotated')).toMatchObject({
        outcome: 'skipped',
        toVersion: V3,
      });
      expect(r.continuedAsNewWith).toMatchObject({ hintVersion: V3 });
    });
  });
});
