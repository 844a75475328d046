import type { UnplannableServer } from '../../../../shared/rotation/activityIo';
import type {
  RotationOutput,
  RotationProgress,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { packIds } from '../../../../shared/rotation/packing';
import { stepFailed, stepOk, type ScheduledCall } from '../../../support/orchestration';
import { V2, planned, rotationInput, serverId, version } from './fixtures';
import { type Scenario, responder, run, subs, pages, audits, twoVersions } from './harness';

/**
 * Phase 2 (plan.ts): who uses the key and what each server needs; an operator's retry of named servers.
 */
describe('keyRotation: discovery and the plan (plan.ts)', () => {
  it("an operator's retry of one server rolls out only that server and resolves only its incident", async () => {
    const r = await run(
      rotationInput({
        trigger: 'operator:alice',
        reason: 'Operator',
        onlyServers: [serverId('b').toLowerCase()],
        openIncidents: [
          { dedupKey: 'server-a', kind: 'server', serverId: serverId('a'), version: V2 },
          { dedupKey: 'server-b', kind: 'server', serverId: serverId('b'), version: V2 },
          { dedupKey: 'preflight-old', kind: 'preflight', version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b'), planned('c')],
        outcomes: { a: 'updated', b: 'updated', c: 'updated' },
      },
    );
    expect(subs(r)).toEqual(['b']);
    const out = r.output as RotationOutput;
    expect(out.counts).toMatchObject({ updated: 1, failed: 0, skipped: 0 });
    expect(out.servers).toEqual([]);
    expect(out.resolvedIncidents).toEqual(['server-b']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-a', 'preflight-old']);
    expect((r.customStatuses as RotationProgress[]).at(-1)?.onlyServers).toEqual([
      serverId('b').toLowerCase(),
    ]);
  });

  it('takes the plan front-coded (as the activity answers): every server reaches a batch with its whole id', async () => {
    const servers = [planned('pg-0001'), planned('pg-0002', { ring: 'canary' }), planned('pg-0010')];
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers };
    const nested: ScheduledCall[] = [];
    const r = await run(rotationInput(), s, [], (call, now) =>
      call.name === 'planRollout'
        ? stepOk({ servers: packIds(servers), discovered: 3, unplannable: [] })
        : responder(s, nested)(call, now),
    );
    const planEntry = r.history.find((e) => e.EventType === 5 && String(e['Result']).includes('"shared"'));
    expect(planEntry).toBeDefined();
    expect(
      [...r.calls, ...nested]
        .filter((c) => c.name === 'serverRollover')
        .map((c) => (c.input as ServerRolloverInput).server.serverId),
    ).toEqual([serverId('pg-0002'), serverId('pg-0001'), serverId('pg-0010')]);
    expect((r.output as RotationOutput).counts?.updated).toBe(3);
  });

  describe('failure paths that hold', () => {
    it('a server that cannot be planned is skipped as InvalidConfiguration, audited and paged once; the others proceed', async () => {
      const bad: UnplannableServer = {
        serverId: serverId('no-identity'),
        serverName: 'no-identity',
        subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
        code: 'InvalidConfiguration',
        reason: 'Server has no primary key URI and identity to keep in the PATCH body.',
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b')],
        unplannable: [bad],
      });
      expect(subs(r)).toEqual(['a', 'b']);
      expect(pages(r)).toHaveLength(1);
      expect(pages(r)[0]?.dedupKey).toContain(':server:no-identity:');
      expect(audits(r).find((a) => a.serverId === serverId('no-identity'))).toMatchObject({
        step: 'ServerSkipped',
        reasonCode: 'InvalidConfiguration',
      });
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.find((o) => o.serverName === 'no-identity')).toMatchObject({
        outcome: 'skipped',
        reasonCode: 'InvalidConfiguration',
      });
    });

    it('a planning step that fails permanently (TypeError in discovery) is not retried: paged once, run stopped', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(rotationInput(), s, [], (call) =>
        call.name === 'planRollout'
          ? stepFailed('UnexpectedError', false, { message: 'TypeError: x is undefined' })
          : responder(s)(call, 0),
      );
      expect(r.calls.filter((c) => c.name === 'planRollout')).toHaveLength(1);
      expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:discoveryfailed']);
      expect(r.output).toMatchObject({ status: 'stopped' });
    });
  });
});
