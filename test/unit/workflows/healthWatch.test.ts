import {
  HEALTH_WATCH_SCHEMA_VERSION,
  type CheckFleetHealthOutput,
  type HealthIncident,
  type HealthWatchInput,
  type HealthWatchOutput,
  type ServerHealth,
} from '../../../shared/domain/healthWatch';
import type { Incident } from '../../../shared/domain/incident';
import type { ResolvePagesInput } from '../../../shared/rotation/activityIo';
import { healthWatchOrchestrator } from '../../../shared/workflows/healthWatch';
import {
  LATER,
  runOrchestration,
  stepFailed,
  stepOk,
  type Response,
  type ScheduledCall,
} from '../../support/orchestration';

const URI = 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const id = (name: string) =>
  `/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;
const server = (name: string, state: string, keyStatus: string): ServerHealth => ({
  serverId: id(name),
  serverName: name,
  subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
  state,
  slots: [{ slot: 'primary', keyUri: URI, keyStatus, identityId: undefined }],
});
const GRANT = {
  code: 'IdentityGrantMissing' as const,
  slot: 'primary' as const,
  what: 'identity id-x may not use pg-cmk',
};

type Pager = (incident: Incident) => Response | typeof LATER;
const accepted: Pager = () => stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] });
/** The `resolvePages` activity's answer: every key accepted unless the test says otherwise. */
type Resolver = (input: ResolvePagesInput) => Response;
const resolveAccepted: Resolver = (i) =>
  stepOk({ resolved: i.dedupKeys.map((dedupKey) => ({ dedupKey, accepted: true })) });
const resolveRefused: Resolver = (i) =>
  stepOk({ resolved: i.dedupKeys.map((dedupKey) => ({ dedupKey, accepted: false })) });

async function pass(
  open: readonly HealthIncident[],
  fleet: CheckFleetHealthOutput,
  pager: Pager = accepted,
  resolver: Resolver = resolveAccepted,
): Promise<{ output: HealthWatchOutput; calls: ScheduledCall[] }> {
  const input: HealthWatchInput = { schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, trigger: 'health:t', open };
  const asked = new Set<string>();
  const r = await runOrchestration(healthWatchOrchestrator, input, (call) => {
    if (call.name === 'checkFleetHealth') return { result: fleet };
    if (call.name === 'pageOperator') {
      const incident = (call.input as { incident: Incident }).incident;
      // A page answered LATER the first time it is asked is answered by the pager the next time.
      const answer = pager(incident);
      if (answer === LATER && asked.has(incident.dedupKey)) return accepted(incident);
      asked.add(incident.dedupKey);
      return answer;
    }
    if (call.name === 'resolvePages') return resolver(call.input as ResolvePagesInput);
    return stepOk(null);
  });
  return { output: r.output as HealthWatchOutput, calls: r.calls };
}
const named = (calls: readonly ScheduledCall[], name: string) => calls.filter((c) => c.name === name);
const audits = (calls: readonly ScheduledCall[]) =>
  named(calls, 'recordAudit').flatMap((c) => c.input as { step: string; reasonCode?: string }[]);
const found = (
  servers: ServerHealth[],
  causes: Record<string, (typeof GRANT)[]> = {},
  deleted: string[] = [],
): CheckFleetHealthOutput => ({
  ok: true,
  servers,
  causes,
  invalid: [],
  deleted,
});

describe('health watch pass', () => {
  it('pages a newly unhealthy server once with its cause; the next pass (a redelivered tick) pages nothing again', async () => {
    const fleet = found([server('pg-a', 'Ready', 'Invalid')], { [id('pg-a').toLowerCase()]: [GRANT] });
    const first = await pass([], fleet);
    const pages = named(first.calls, 'pageOperator').map((c) => (c.input as { incident: Incident }).incident);
    expect(pages).toHaveLength(1);
    expect(pages[0]).toMatchObject({ severity: 'critical', facts: { reasonCode: 'IdentityGrantMissing' } });
    expect(pages[0]?.summary).toContain('identity id-x may not use pg-cmk');
    expect(first.output.open.map((o) => o.serverName)).toEqual(['pg-a']);

    const second = await pass(first.output.open, fleet);
    expect(named(second.calls, 'pageOperator')).toEqual([]);
    expect(second.output.open).toEqual(first.output.open);
  });

  it('a page no channel accepted is not counted as sent: the server is not recorded open, and the next pass pages it', async () => {
    const fleet = found([server('pg-a', 'Inaccessible', 'Invalid'), server('pg-b', 'Ready', 'Invalid')]);
    const first = await pass([], fleet, (i) =>
      i.summary.startsWith('pg-a') ? stepFailed('PagingFailed', true) : accepted(i),
    );
    // One refused page never holds the other back.
    expect(first.output.open.map((o) => o.serverName)).toEqual(['pg-b']);
    expect(audits(first.calls).filter((a) => a.step === 'PageFailed')).toEqual([
      expect.objectContaining({ reasonCode: 'PagingFailed' }),
    ]);
    const second = await pass(first.output.open, fleet);
    expect(
      named(second.calls, 'pageOperator').map((c) => (c.input as { incident: Incident }).incident.source),
    ).toEqual([id('pg-a')]);
  });

  it('with no pager configured the incident is audited and kept open (paged: false), not recorded again every pass', async () => {
    const first = await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]), () =>
      stepOk({ delivered: false, channels: [] }),
    );
    expect(first.output.open).toEqual([expect.objectContaining({ serverName: 'pg-a', paged: false })]);
    expect(audits(first.calls).some((a) => a.reasonCode === 'NoPagerConfigured')).toBe(true);
  });

  it.each([
    ['Ready with a Valid key', server('pg-a', 'Ready', 'Valid'), true],
    ['Ready but the key still Invalid', server('pg-a', 'Ready', 'Invalid'), false],
    ['Valid but still Inaccessible', server('pg-a', 'Inaccessible', 'Valid'), false],
    ['Valid but Updating', server('pg-a', 'Updating', 'Valid'), false],
  ])(
    'an open incident whose server reads %s: resolved only when Ready and Valid',
    async (_name, now, resolves) => {
      const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
      const next = await pass(open, found([now]));
      const resolved = named(next.calls, 'resolvePages').map(
        (c) => (c.input as { dedupKeys: string[] }).dedupKeys,
      );
      expect(resolved).toEqual(resolves ? [[open[0]?.dedupKey]] : []);
      expect(next.output.open).toHaveLength(resolves ? 0 : 1);
      expect(named(next.calls, 'pageOperator')).toEqual([]);
    },
  );

  it('an open incident whose server the query no longer returns stays open (nothing is resolved unread)', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const next = await pass(open, found([]));
    expect(named(next.calls, 'resolvePages')).toEqual([]);
    expect(next.output.open).toEqual(open);
  });

  it('a fleet read that fails carries the open incidents over unchanged and audits the failure', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const next = await pass(open, { ok: false, code: 'Throttled', message: 'quota' });
    expect(next.output).toMatchObject({ open, error: 'Throttled: quota' });
    expect(named(next.calls, 'pageOperator')).toEqual([]);
    expect(audits(next.calls)).toEqual([
      expect.objectContaining({ step: 'HealthChecked', reasonCode: 'Throttled' }),
    ]);
  });

  it('asks the query for the servers it watches (their incidents are open) whatever their state', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const next = await pass(open, found([]));
    expect(named(next.calls, 'checkFleetHealth').map((c) => c.input)).toEqual([{ watch: [id('pg-a')] }]);
  });

  it('a page activity that crashed (no answer after its retries) fails only its own server: the others are recorded paged and not paged again', async () => {
    const fleet = found([
      server('pg-a', 'Inaccessible', 'Invalid'),
      server('pg-b', 'Inaccessible', 'Invalid'),
      server('pg-c', 'Ready', 'Invalid'),
    ]);
    const first = await pass([], fleet, (i) =>
      i.summary.startsWith('pg-b')
        ? { error: 'worker died' }
        : i.summary.startsWith('pg-c')
          ? LATER
          : accepted(i),
    );
    expect(first.output.open.map((o) => o.serverName)).toEqual(['pg-a', 'pg-c']);
    // pg-c was still being paged when pg-b's activity failed: the pass looked again on a durable timer.
    expect(first.calls.filter((c) => c.kind === 'timer')).not.toEqual([]);
    const pages = audits(first.calls).filter((a) => a.step === 'OperatorPaged' || a.step === 'PageFailed');
    expect(pages).toEqual([
      expect.objectContaining({ step: 'OperatorPaged' }),
      expect.objectContaining({ step: 'PageFailed', reasonCode: 'ActivityFailed' }),
      expect.objectContaining({ step: 'OperatorPaged' }),
    ]);
    const second = await pass(first.output.open, fleet);
    expect(
      named(second.calls, 'pageOperator').map((c) => (c.input as { incident: Incident }).incident.source),
    ).toEqual([id('pg-b')]);
  });

  it('a resolve the pager refused keeps the incident open (resolving) until a later pass has it accepted', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const refused = await pass(open, found([server('pg-a', 'Ready', 'Valid')]), accepted, resolveRefused);
    expect(refused.output.open).toEqual([{ ...open[0], resolving: true }]);
    expect(refused.output.resolved).toBe(0);

    const again = await pass(refused.output.open, found([server('pg-a', 'Ready', 'Valid')]));
    expect(named(again.calls, 'resolvePages').map((c) => (c.input as ResolvePagesInput).dedupKeys)).toEqual([
      [open[0]?.dedupKey],
    ]);
    expect(again.output).toMatchObject({ open: [], resolved: 1 });
  });

  it('a resolve whose activity failed without an answer keeps the incident open and audits the failure', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const next = await pass(open, found([server('pg-a', 'Ready', 'Valid')]), accepted, () =>
      stepFailed('PagerUnavailable', false),
    );
    expect(next.output.open).toEqual([{ ...open[0], resolving: true }]);
    expect(audits(next.calls)).toContainEqual(
      expect.objectContaining({ step: 'PageResolved', reasonCode: 'PagerUnavailable' }),
    );
  });

  it('a server unhealthy again while its resolve was refused stays open under its incident, not paged anew', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const refused = await pass(open, found([server('pg-a', 'Ready', 'Valid')]), accepted, resolveRefused);
    const down = await pass(refused.output.open, found([server('pg-a', 'Inaccessible', 'Invalid')]));
    expect(named(down.calls, 'pageOperator')).toEqual([]);
    expect(named(down.calls, 'resolvePages')).toEqual([]);
    expect(down.output.open).toEqual(open);
  });

  it('an incident of a server that no longer exists is resolved as deleted, with its audit reason', async () => {
    const open = (await pass([], found([server('pg-a', 'Inaccessible', 'Invalid')]))).output.open;
    const next = await pass(open, found([], {}, [id('pg-a').toLowerCase()]));
    const resolves = named(next.calls, 'resolvePages').map((c) => c.input as ResolvePagesInput);
    expect(resolves).toEqual([
      expect.objectContaining({
        dedupKeys: [open[0]?.dedupKey],
        summary: 'pg-a no longer exists (server deleted)',
        audit: expect.objectContaining({ reasonCode: 'ServerDeleted', serverId: id('pg-a') }) as unknown,
      }),
    ]);
    expect(next.output).toMatchObject({ open: [], resolved: 1 });
  });
});
