import type { PlannedServer } from '../../../../shared/rotation/activityIo';
import type { RotationOutput } from '../../../../shared/rotation/contract';
import type { Run } from '../../../support/orchestration';
import { V1, V2, outcome, planned, rotationInput, serverId, version } from './fixtures';
import { type Scenario, responder, run, subs, pages, audits, twoVersions } from './harness';

/**
 * Phase 5 (rollout.ts): the canary ring first, the rest only if every canary verified; what the rollout
 * did, counted for every server, listed only for those that need attention.
 */
describe('keyRotation: the rollout, canary ring first (rollout.ts)', () => {
  it('holds the main ring back and pages once when a canary server fails', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('canary-1', { ring: 'canary' }), planned('main-a'), planned('main-b')],
      outcomes: { 'canary-1': 'failed' },
    });
    expect(subs(r)).toEqual(['canary-1']);
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    // The held-back servers are counted by their reason; only the failed canary is listed.
    expect(out.counts).toEqual({
      updated: 0,
      verified: 0,
      failed: 1,
      skipped: 2,
      skippedBy: { CanaryFailed: 2 },
    });
    expect(out.servers.map((s) => [s.serverName, s.outcome])).toEqual([['canary-1', 'failed']]);
    expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed']);
    expect(out.openIncidents.map((i) => i.dedupKey).sort()).toEqual([
      'cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed',
      'server-canary-1',
    ]);
  });

  describe('failure paths that hold', () => {
    const pagesBy = (r: Run, prefix: string) => pages(r).filter((p) => p.dedupKey.startsWith(prefix));

    it('a server rollover that fails as a sub-orchestration does not fail the run: its siblings keep their outcomes, it is recorded and paged', async () => {
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b'), planned('c')],
        outcomes: { b: 'crashed' },
      });
      expect(r.failed).toBeUndefined();
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.map((o) => [o.serverName, o.outcome])).toEqual([['b', 'failed']]);
      expect(out.counts).toMatchObject({ updated: 2, failed: 1 });
      expect(pagesBy(r, 'cmk:contoso-pg-kv:pg-cmk:' + V2 + ':server:b:')).toHaveLength(1);
      expect(audits(r).find((a) => a.step === 'ServerFailed')).toMatchObject({
        serverId: serverId('b'),
        reasonCode: 'SubOrchestrationFailed',
      });
    });

    it('an Inaccessible server goes through its rollover (which pages the recovery) and keeps the run completedWithFailures', async () => {
      const base = planned('dark', { action: 'skip' });
      const inaccessible: PlannedServer = {
        ...base,
        state: 'Inaccessible',
        slots: base.slots.map((x) => ({
          ...x,
          decision: 'deferred' as const,
          reason: 'server is Inaccessible, not Ready',
        })),
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [inaccessible, planned('a')],
        outcomes: { dark: 'failed' },
      });
      expect(subs(r)).toEqual(['dark', 'a']);
      expect((r.output as RotationOutput).status).toBe('completedWithFailures');
    });

    it('an Inaccessible canary (it never tried the new version) does not hold the main ring back', async () => {
      const base = planned('dark-canary', { ring: 'canary', action: 'skip' });
      const canary: PlannedServer = {
        ...base,
        state: 'Inaccessible',
        slots: base.slots.map((x) => ({ ...x, decision: 'deferred' as const })),
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [canary, planned('a')],
        outcomes: { 'dark-canary': 'failed' },
        reasonCodes: { 'dark-canary': 'ServerInaccessible' },
      });
      expect(subs(r)).toEqual(['dark-canary', 'a']);
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.map((o) => o.serverName)).toEqual(['dark-canary']);
      expect(out.counts).toMatchObject({ updated: 1, failed: 1, skipped: 0 });
      expect(pages(r).map((p) => p.dedupKey)).not.toContain('cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed');
    });

    it.each(['CrossTenantCmk', 'CrossTenantUndetermined'])(
      'a canary left alone as %s (never PATCHed: it never tried the new version) does not hold the main ring back',
      async (code) => {
        const r = await run(rotationInput(), {
          key: twoVersions,
          latest: version(V2, 1, 365),
          servers: [planned('xt-canary', { ring: 'canary' }), planned('a')],
          outcomes: { 'xt-canary': 'failed' },
          reasonCodes: { 'xt-canary': code },
        });
        expect(subs(r)).toEqual(['xt-canary', 'a']);
        expect((r.output as RotationOutput).counts).toMatchObject({ updated: 1, failed: 1, skipped: 0 });
        expect(pages(r).map((p) => p.dedupKey)).not.toContain(
          'cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed',
        );
      },
    );
  });
});

describe("the rotation's output: counts for every server, details only for those that need attention", () => {
  it.each([
    ['updated', 'updated', undefined, false],
    ['verified', 'verified', undefined, false],
    ['failed', 'failed', 'AzureKeyVaultMissingPermissions', true],
    ['skipped by its rollover (planned to move, left where it was)', 'skipped', 'ServerBusy', true],
  ] as const)(
    'a server %s: counted as %s (reason code %s); listed with its details: %s',
    async (_, kind, code, listed) => {
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('x'), planned('ok')],
        outcomes: { x: kind },
        ...(code !== undefined ? { reasonCodes: { x: code } } : {}),
      });
      const out = r.output as RotationOutput;
      expect(out.counts).toMatchObject({ [kind]: kind === 'updated' ? 2 : 1 });
      if (kind === 'skipped') expect(out.counts?.skippedBy).toEqual({ ServerBusy: 1 });
      expect(out.servers).toEqual(listed ? [{ ...outcome('x', kind), reasonCode: code }] : []);
    },
  );

  it('lists what needs attention with its details, counts the rest (skipped ones by reason), and resolves only proven fixes', async () => {
    const r = await run(
      rotationInput({
        openIncidents: [
          { dedupKey: 'server-ok', kind: 'server', serverId: serverId('ok'), version: V2 },
          { dedupKey: 'server-optout', kind: 'server', serverId: serverId('optout'), version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [
          planned('ok'),
          planned('same', { action: 'verify' }),
          planned('bad'),
          planned('optout', { action: 'skip' }),
          planned('optout-2', { action: 'skip' }),
        ],
        outcomes: { same: 'verified', bad: 'failed' },
        unplannable: [
          {
            serverId: serverId('odd'),
            serverName: 'odd',
            subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
            code: 'InvalidConfiguration',
            reason: 'no primary identity',
          },
        ],
      },
    );
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    expect(out.counts).toEqual({
      updated: 1,
      verified: 1,
      failed: 1,
      skipped: 3,
      skippedBy: { InvalidConfiguration: 1, excluded: 2 },
    });
    expect(out.servers.map((s) => [s.serverName, s.outcome, s.reasonCode, s.incident?.dedupKey])).toEqual([
      ['odd', 'skipped', 'InvalidConfiguration', expect.stringContaining(':server:odd:')],
      ['bad', 'failed', 'AzureKeyVaultMissingPermissions', 'server-bad'],
    ]);
    expect(out.servers[1]?.slots).toEqual([{ slot: 'primary', from: V1, to: V2 }]);
    // `ok` went well (a batch lists every other outcome): its incident is resolved; the opted-out
    // server was not touched, so nothing proves its incident fixed.
    expect(out.resolvedIncidents).toEqual(['server-ok']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toContain('server-optout');
    // The run's audit record carries the counts; each skipped server has its own record.
    expect(audits(r).find((a) => a.step === 'RotationCompleted')?.reason).toBe(
      '1 updated, 1 verified, 1 failed, 3 skipped',
    );
    expect(
      audits(r)
        .filter((a) => a.step === 'ServerSkipped')
        .map((a) => a.serverId),
    ).toEqual([serverId('odd'), serverId('optout'), serverId('optout-2')]);
  });

  it('a batch output whose counts do not add up proves no server of it fixed', async () => {
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('ok')] };
    const incident = {
      dedupKey: 'server-ok',
      kind: 'server' as const,
      serverId: serverId('ok'),
      version: V2,
    };
    const r = await run(rotationInput({ openIncidents: [incident] }), s, [], (call, now) =>
      call.name === 'rolloutBatch'
        ? {
            result: {
              counts: { updated: 0, verified: 0, failed: 0, skipped: 0, skippedBy: {} },
              servers: [],
              peakInFlight: 0,
              throttled: 0,
            },
          }
        : responder(s)(call, now),
    );
    const out = r.output as RotationOutput;
    expect(out.resolvedIncidents).toEqual([]);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-ok']);
  });

  it('a batch that counts a failure it does not list still makes the run completedWithFailures', async () => {
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
    const r = await run(rotationInput(), s, [], (call, now) =>
      call.name === 'rolloutBatch'
        ? {
            result: {
              counts: { updated: 0, verified: 0, failed: 1, skipped: 0, skippedBy: {} },
              servers: [],
              peakInFlight: 1,
              throttled: 0,
            },
          }
        : responder(s)(call, now),
    );
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    expect(out.counts?.failed).toBe(1);
  });
});
