import { V1, V2, keyWith, planned, rotationInput, version } from './fixtures';
import { run, pages } from './harness';

/**
 * Phase 6 (expiryPages.ts): the servers left on an expiring version are paged, with what to do.
 */
describe('keyRotation: servers left on an expiring version (expiryPages.ts)', () => {
  it('pages the servers left on an older version that expires soon (opted out or failed)', async () => {
    const r = await run(rotationInput(), {
      key: keyWith(version(V1, 360, 6), version(V2, 1, 365)),
      latest: version(V2, 1, 365),
      servers: [planned('legacy', { action: 'skip' }), planned('a')],
    });
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V1}:expiry:critical`,
        severity: 'critical',
        summary: expect.stringContaining('legacy'),
      }),
    ]);
  });

  it('pages a server its rollover skipped that is left on an expiring version (it is listed, so the run knows)', async () => {
    const r = await run(rotationInput(), {
      key: keyWith(version(V1, 360, 6), version(V2, 1, 365)),
      latest: version(V2, 1, 365),
      servers: [planned('busy'), planned('a')],
      outcomes: { busy: 'skipped' },
      reasonCodes: { busy: 'ServerBusy' },
    });
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V1}:expiry:critical`,
        summary: expect.stringMatching(/1 server\(s\) use it: busy$/),
      }),
    ]);
  });

  describe('failure paths that hold', () => {
    it('an expired pinned version is paged with the documented recovery (restore access first), never "the rotator moves them"', async () => {
      const r = await run(rotationInput(), {
        key: keyWith(version(V1, 400, -2), version(V2, 1, 365)),
        latest: version(V2, 1, 365),
        servers: [planned('legacy', { action: 'skip' }), planned('a')],
      });
      const [page] = pages(r);
      expect(page?.summary).toContain('EXPIRED');
      expect(page?.nextStep).toContain(`Restore access to pg-cmk/${V1} first`);
      expect(page?.nextStep).toContain('Ready again');
      expect(page?.nextStep).not.toMatch(/moves them as soon as a valid version exists/);
    });

    it.each([
      [
        'only opted-out servers',
        [planned('legacy', { action: 'skip' })],
        /yourself: the rotator leaves them alone/,
        /rotator moves/,
      ],
      [
        'an opted-out, a held and a failed server',
        [
          planned('legacy', { action: 'skip' }),
          {
            ...planned('frozen', { action: 'skip' }),
            slots: [{ slot: 'primary' as const, decision: 'held' as const, version: V1, reason: 'test' }],
          },
          planned('a'),
        ],
        /the rotator moves the others .*The rotator does not move legacy \(opted out: whoever owns them moves them\) or frozen \(on hold: remove the hold tag, or move them yourself\)/,
        /the rotator moves them/,
      ],
    ])(
      'an expired version listing %s: the page never says the rotator moves a server it leaves alone',
      async (_name, servers, says, never) => {
        const r = await run(rotationInput(), {
          key: keyWith(version(V1, 400, -2), version(V2, 1, 365)),
          latest: version(V2, 1, 365),
          servers,
          outcomes: { a: 'failed' },
        });
        const page = pages(r).find((p) => p.dedupKey.includes(`${V1}:expiry`));
        expect(page?.nextStep).toMatch(says);
        expect(page?.nextStep).not.toMatch(never);
      },
    );
  });
});
