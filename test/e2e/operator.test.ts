import type { RotationOutput } from '../../shared/rotation/contract';
import { waitFor } from '../support/localAzure';
import { demoFleet, INSTANCE_ID, KEY, VAULT, startProduct, type Product } from '../support/product';

/** The operator API through local/host (functions/ unchanged) against local/azure, as an operator uses it. */
jest.setTimeout(120_000);

const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';

/** The API's answer; its JSON typed as the test expects it (the assertions check it). */
interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

async function api<T = unknown>(
  p: Product,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer<T>> {
  const res = await fetch(`${p.hostUrl}/api/${path}`, {
    method,
    headers: {
      'x-functions-key': p.functionKey,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
    headers: res.headers,
  };
}

interface Plan {
  dryRun: true;
  targetVersion: string;
  servers: {
    serverName: string;
    action: string;
    ring: string;
    slots: { slot: string; decision: string; reason: string }[];
    patch?: { properties: { dataEncryption: { primaryKeyURI: string } } };
  }[];
  summary: Record<string, number>;
}

interface RotationState {
  runtimeStatus: string;
  createdTime: string | null;
  lastUpdatedTime: string | null;
  progress: { phase: string; counts: { total: number; done: number }; current: string[] } | null;
  result: { status: string; failedServers: string[] } | null;
  output: RotationOutput | null;
}

describe('operator API', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('refuses a mistyped query parameter with 400 and the accepted values (dryRun=1, dryrun=true, dry-run=true, dryRun=TRUE): no instance starts, no PATCH reaches ARM, every refusal audited', async () => {
    p = await startProduct();
    const typos = ['dryRun=1', 'dryrun=true', 'dry-run=true', 'dryRun=TRUE'];
    for (const typo of typos) {
      const res = await api<{ error: string; code: string; accepted: Record<string, string> }>(
        p,
        'POST',
        `rotations/${VAULT}/${KEY}?${typo}`,
      );
      expect([typo, res.status]).toEqual([typo, 400]);
      expect(res.body.code).toBe('InvalidQueryParameter');
      expect(res.body.accepted).toEqual({ dryRun: 'true | false' });
      expect(res.body.error).toContain('Nothing was done');
    }
    // Every other endpoint too: a parameter it does not take, a repeat of one it does.
    for (const [method, path] of [
      ['GET', 'rotations?all=true'],
      ['GET', `rotations/${VAULT}/${KEY}/plan?dryRun=true`],
      ['POST', 'sweep?force=true'],
      ['POST', `rotations/${VAULT}/${KEY}?dryRun=true&dryRun=false`],
    ] as const) {
      const res = await api<{ code: string }>(p, method, path);
      expect([path, res.status, res.body.code]).toEqual([path, 400, 'InvalidQueryParameter']);
    }
    // Scope and syntax refusals of the path, audited the same way.
    expect((await api(p, 'POST', `rotations/not-allowed-kv/${KEY}`)).status).toBe(400);
    expect((await api(p, 'POST', `rotations/${VAULT}/bad_name`)).status).toBe(400);

    // Nothing started, nothing written: no instance, no PATCH of any server.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await p.instance()).toBeUndefined();
    expect(await p.patches()).toEqual([]);
    const refused = await waitFor('the refusals in the audit trail', async () => {
      const records = (await p?.audit())?.filter((e) => e.name === 'CmkRotation.OperatorRequestRefused');
      return records !== undefined && records.length >= typos.length + 6 ? records : undefined;
    });
    expect(refused.map((e) => e.properties['reasonCode'])).toEqual([
      ...typos.map(() => 'InvalidQueryParameter'),
      'InvalidQueryParameter',
      'InvalidQueryParameter',
      'InvalidQueryParameter',
      'InvalidQueryParameter',
      'InvalidOperatorRequest',
      'InvalidOperatorRequest',
    ]);
    for (const e of refused) {
      expect(e.properties).toMatchObject({ outcome: 'failure', trigger: 'operator:function-key' });
      // No secret: never the function key, never the URL.
      expect(JSON.stringify(e)).not.toContain(p.functionKey);
    }
    expect(refused[0]?.properties).toMatchObject({
      vault: VAULT,
      key: KEY,
      'detail.route': 'keyRotationApi',
      'detail.method': 'POST',
      'detail.status': '400',
    });
    expect(
      (await p.audit()).filter(
        (e) => e.name === 'CmkRotation.EventReceived' || e.name === 'CmkRotation.PlanPreviewed',
      ),
    ).toEqual([]);
  });

  it('previews the plan (GET .../plan and POST ?dryRun=true) with decisions, reasons and exact PATCH bodies; changes nothing; audited PlanPreviewed', async () => {
    const fleet = demoFleet();
    // pg-billing-prod on operator hold: the plan leaves it alone like an opt-out, and says why.
    for (const s of fleet.servers ?? []) {
      const json = s as { name?: string; tags?: Record<string, string> };
      if (json.name === 'pg-billing-prod') json.tags = { ...json.tags, 'cmk-rotation-hold': 'CHG-42' };
    }
    p = await startProduct({ fleet });
    const got = await api<Plan>(p, 'GET', `rotations/${VAULT}/${KEY}/plan`);
    const posted = await api<Plan>(p, 'POST', `rotations/${VAULT}/${KEY}?dryRun=true`);
    expect(got.status).toBe(200);
    expect(posted.status).toBe(200);
    expect(posted.body.servers).toEqual(got.body.servers);
    const plan = got.body;
    expect(plan.dryRun).toBe(true);
    expect(plan.targetVersion).toBe(V2);
    const byName = Object.fromEntries(plan.servers.map((s) => [s.serverName, s]));
    expect(byName['pg-orders-prod']).toMatchObject({ action: 'update', ring: 'canary' });
    expect(byName['pg-orders-prod']?.patch?.properties.dataEncryption.primaryKeyURI).toBe(
      `https://${VAULT}.vault.azure.net/keys/${KEY}/${V2}`,
    );
    expect(byName['pg-billing-prod']?.action).toBe('skip');
    expect(byName['pg-billing-prod']?.patch).toBeUndefined();
    expect(byName['pg-billing-prod']?.slots[0]).toMatchObject({
      decision: 'held',
      reason: 'on operator hold by tag cmk-rotation-hold=CHG-42',
    });
    expect(byName['pg-legacy-erp']?.slots[0]?.decision).toBe('excluded');
    expect(byName['pg-analytics']?.slots[0]?.decision).toBe('versionless');

    // Nothing changed: no PATCH, no rotation instance, two PlanPreviewed records.
    expect(await p.patches()).toEqual([]);
    expect(await p.instance()).toBeUndefined();
    const previews = (await p.audit()).filter((e) => e.name === 'CmkRotation.PlanPreviewed');
    expect(previews).toHaveLength(2);
    expect(previews[0]?.properties).toMatchObject({
      vault: VAULT,
      key: KEY,
      toVersion: V2,
      trigger: 'operator:function-key',
    });

    // Refusals: a vault outside the scope (400), a key the vault does not have (404), no key (401).
    expect((await api(p, 'GET', `rotations/other-vault/${KEY}/plan`)).status).toBe(400);
    expect((await api(p, 'GET', `rotations/${VAULT}/no-such-key/plan`)).status).toBe(404);
    expect((await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}/plan`)).status).toBe(401);
  });

  it('reports progress while running (phase, counts, servers in flight, times) and lists every key’s run; the held server stays untouched', async () => {
    const fleet = demoFleet();
    for (const s of fleet.servers ?? []) {
      const json = s as { name?: string; tags?: Record<string, string> };
      if (json.name === 'pg-billing-prod') json.tags = { ...json.tags, 'cmk-rotation-hold': 'CHG-42' };
    }
    p = await startProduct({ fleet });
    // Slow ARM reads of one server keep the rollout running long enough to watch it.
    await p.admin('faults', {
      method: 'POST',
      body: { service: 'arm', operation: 'servers.get', pathContains: 'pg-inventory-prod', latencyMs: 700 },
    });
    const started = await api<{ kind: string; instanceId: string }>(p, 'POST', `rotations/${VAULT}/${KEY}`, {
      reason: 'CHG-7 rotate now',
    });
    expect(started).toMatchObject({ status: 202, body: { kind: 'started', instanceId: INSTANCE_ID } });
    const product = p;
    const running = await waitFor(
      'a rollout phase in the custom status',
      async () => {
        const s = (await api<RotationState>(product, 'GET', `rotations/${VAULT}/${KEY}`)).body;
        return s.progress !== null && ['canary', 'rollout'].includes(s.progress.phase) ? s : undefined;
      },
      30_000,
    );
    expect(running.runtimeStatus).toBe('Running');
    expect(running.progress?.counts.total).toBe(6);
    expect(running.progress?.current.length).toBeGreaterThan(0);
    expect(Date.parse(running.createdTime ?? '')).not.toBeNaN();
    expect(Date.parse(running.lastUpdatedTime ?? '')).toBeGreaterThanOrEqual(
      Date.parse(running.createdTime ?? ''),
    );
    const listed = await api<{ rotations: { instanceId: string; running: boolean; progress: unknown }[] }>(
      p,
      'GET',
      'rotations',
    );
    // One row per key: the servers' sub-orchestrations are not listed.
    expect(listed.body.rotations.map((r) => [r.instanceId, r.running])).toEqual([[INSTANCE_ID, true]]);

    await p.admin('faults', { method: 'DELETE' });
    const out = await p.completed();
    expect(out.status).toBe('completedWithFailures');
    // Skipped by the plan: counted by its reason code, and its ServerSkipped record names it.
    expect(out.counts?.skippedBy['held']).toBe(1);
    expect((await p.results(out)).find((s) => s.name === 'pg-billing-prod')).toMatchObject({
      outcome: 'skipped',
      reasonCode: 'held',
    });
    expect(await p.patches('pg-billing-prod')).toEqual([]);
    const done = (await api<RotationState>(p, 'GET', `rotations/${VAULT}/${KEY}`)).body;
    expect(done.progress).toBeNull();
    expect(done.result).toMatchObject({ status: 'completedWithFailures', failedServers: ['pg-reporting'] });
    const request = (await p.audit()).find(
      (e) => e.name === 'CmkRotation.EventReceived' && e.properties['trigger'] === 'operator:function-key',
    );
    expect(request?.properties['detail.operatorReason']).toBe('CHG-7 rotate now');
  });

  it('retries one failed server only: the others are not touched again; refused while running and for a server that did not fail', async () => {
    p = await startProduct();
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    await p.completed(v3);
    const patchesBefore = (await p.patches()).length;
    expect((await api(p, 'POST', `rotations/${VAULT}/${KEY}/servers/pg-orders-prod/retry`)).status).toBe(409);
    expect((await api(p, 'POST', `rotations/${VAULT}/${KEY}/servers/no-such-server/retry`)).status).toBe(409);

    const retry = await api<{ kind: string; serverId: string }>(
      p,
      'POST',
      `rotations/${VAULT}/${KEY}/servers/pg-reporting/retry`,
    );
    expect(retry.status).toBe(202);
    expect(retry.body.serverId).toMatch(/\/flexibleServers\/pg-reporting$/);
    // While it runs, a second retry is refused (409), never a second instance.
    const second = await api(p, 'POST', `rotations/${VAULT}/${KEY}/servers/pg-reporting/retry`);
    const product = p;
    const out = await waitFor(
      'the retry to complete',
      async () => {
        const s = (await api<RotationState>(product, 'GET', `rotations/${VAULT}/${KEY}`)).body;
        // The retry's run has one server (the first run listed pg-reporting too, among six counted).
        const c = s.output?.counts;
        const total = c === undefined ? 0 : c.updated + c.verified + c.failed + c.skipped;
        return s.runtimeStatus === 'Completed' && total === 1 ? (s.output ?? undefined) : undefined;
      },
      60_000,
    );
    expect([409, 202]).toContain(second.status);
    expect(out.servers.map((s) => [s.serverName, s.outcome])).toEqual([['pg-reporting', 'failed']]);
    // Only pg-reporting was tried again (its grant is still missing: ARM refuses the PATCH).
    const after = await p.patches();
    expect(after.slice(patchesBefore).every((r) => r.path.includes('/flexibleServers/pg-reporting'))).toBe(
      true,
    );
    // Still one incident for it: re-paged under the same dedup key, not a second incident.
    expect(Object.keys(await p.incidents())).toHaveLength(1);
  });

  it('runs the sweep now (POST /api/sweep) on the stand-ins’ clock, and the host runs the timer through POST /admin/functions/{name}', async () => {
    p = await startProduct();
    // Move the stand-ins' clock close to the expiry of the version servers still use: the sweep's
    // "now" must be that clock, not the wall clock, to see it.
    const sweep = await api<{ keysChecked: number; requested: { key: string; why: string }[] }>(
      p,
      'POST',
      'sweep',
    );
    expect(sweep.status).toBe(200);
    expect(sweep.body.keysChecked).toBeGreaterThan(0);
    expect(sweep.body.requested.map((r) => r.key)).toEqual([`${VAULT}/${KEY}`]);
    await p.completed();

    const now = Date.parse((await p.admin<{ now: string }>('clock')).now);
    await p.admin('clock/advance', { method: 'POST', body: { seconds: 400 * 86_400 } });
    const later = await api<{ requested: { why: string }[] }>(p, 'POST', 'sweep');
    expect(Date.parse((await p.admin<{ now: string }>('clock')).now) - now).toBeGreaterThanOrEqual(
      400 * 86_400_000,
    );
    expect(later.body.requested[0]?.why).toMatch(/expires in -?\d+ day/);

    const refused = await fetch(`${p.hostUrl}/admin/functions/reconcileSweep`, {
      method: 'POST',
      headers: { 'x-functions-key': p.functionKey, 'content-type': 'application/json' },
      body: '{"input":""}',
    });
    expect(refused.status).toBe(401); // the master key only
    const sweepsBefore = (await p.audit()).filter((e) => e.name === 'CmkRotation.SweepCompleted').length;
    const accepted = await fetch(`${p.hostUrl}/admin/functions/reconcileSweep`, {
      method: 'POST',
      headers: { 'x-functions-key': p.masterKey, 'content-type': 'application/json' },
      body: '{"input":""}',
    });
    expect(accepted.status).toBe(202);
    const product = p;
    await waitFor(
      'the timer-triggered sweep to record SweepCompleted',
      async () =>
        (await product.audit()).filter((e) => e.name === 'CmkRotation.SweepCompleted').length >
          sweepsBefore || undefined,
      30_000,
    );
    const unknown = await fetch(`${p.hostUrl}/admin/functions/noSuchFunction`, {
      method: 'POST',
      headers: { 'x-functions-key': p.masterKey },
      body: '{"input":""}',
    });
    expect(unknown.status).toBe(404);
  });
});
