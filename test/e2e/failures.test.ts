import type { RotationOutput } from '../../shared/rotation/contract';
import { waitFor } from '../support/localAzure';
import {
  ELIGIBLE,
  INSTANCE_ID,
  KEY,
  VAULT,
  demoFleet,
  startProduct,
  type AuditEvent,
  type Product,
} from '../support/product';

const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';

jest.setTimeout(300_000);

/**
 * Failure paths through the real runtime (local/host running functions/, local/azure with its fault
 * injection): the durable retries wait on durable timers, which run on the stand-ins' clock, so the
 * tests move that clock forward instead of waiting minutes of backoff in real time.
 */
async function completeWhileAdvancing(
  p: Product,
  opts: { seconds?: number; timeoutMs?: number; version?: string } = {},
): Promise<RotationOutput> {
  const deadline = Date.now() + (opts.timeoutMs ?? 240_000);
  for (;;) {
    const i = await p.instance();
    if (i?.runtimeStatus === 'Failed') throw new Error(`rotation Failed: ${JSON.stringify(i.output)}`);
    if (
      i?.runtimeStatus === 'Completed' &&
      i.output !== undefined &&
      (opts.version === undefined || i.output.targetVersion === opts.version)
    )
      return i.output;
    if (Date.now() > deadline)
      throw new Error(`timed out; instance: ${JSON.stringify(i)}\n${p.logs().slice(-3000)}`);
    await p.admin('clock/advance', { method: 'POST', body: { seconds: opts.seconds ?? 10 } });
    await new Promise((r) => setTimeout(r, 250));
  }
}

const named = (audit: AuditEvent[], step: string, server?: string) =>
  audit.filter(
    (e) =>
      e.name === `CmkRotation.${step}` &&
      (server === undefined || e.properties['serverId']?.endsWith(`/flexibleServers/${server}`) === true),
  );

async function accepted(p: Product, server: string): Promise<number> {
  return (await p.patches(server)).filter((r) => r.status < 300).length;
}

async function pagerTriggers(p: Product, fragment: string): Promise<number> {
  const pages = await p.admin<{ events: { eventAction: string; dedupKey: string }[] }>('pages');
  return pages.events.filter((e) => e.eventAction === 'trigger' && e.dedupKey.includes(fragment)).length;
}

describe('failure paths that hold, end to end', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('servers.get answering 500 forever for one server: that server fails (diagnosed, paged once), every other one is rolled, the run completes', async () => {
    p = await startProduct();
    await p.admin('faults', {
      method: 'POST',
      body: { service: 'arm', operation: 'servers.get', pathContains: 'pg-billing-prod', status: 500 },
    });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await completeWhileAdvancing(p, { version: v3, seconds: 20 });

    expect(out.status).toBe('completedWithFailures');
    const byName = Object.fromEntries((await p.results(out)).map((s) => [s.name, s]));
    expect(out.servers.map((s) => s.serverName).sort()).toEqual(['pg-billing-prod', 'pg-reporting']);
    expect(byName['pg-billing-prod']).toMatchObject({ outcome: 'failed', reasonCode: 'InternalServerError' });
    for (const name of ELIGIBLE.filter((n) => n !== 'pg-billing-prod'))
      expect(byName[name]?.outcome).toBe('updated');
    const versions = await p.primaryVersions();
    expect(versions['pg-orders-prod']).toBe(v3);
    expect(versions['pg-inventory-prod']).toBe(v3);
    expect(await p.patches('pg-billing-prod')).toEqual([]);

    expect(await pagerTriggers(p, ':server:pg-billing-prod:')).toBe(1);
    const audit = await p.audit();
    expect(named(audit, 'ServerFailed', 'pg-billing-prod')).toHaveLength(1);
    const retried = named(audit, 'ServerUpdateRetried', 'pg-billing-prod');
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0]?.properties).toMatchObject({
      reasonCode: 'InternalServerError',
      'detail.step': 'updateServer',
    });
    expect(named(audit, 'RotationCompleted')).toHaveLength(1);
  });

  it('4 × 500 on the reads of the servers (before or after their PATCH, the look at the operation): exactly one accepted PATCH per server', async () => {
    p = await startProduct();
    await p.admin('faults', {
      method: 'POST',
      body: { service: 'arm', operation: 'servers.get', status: 500, count: 4 },
    });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await completeWhileAdvancing(p, { version: v3 });

    const faults = await p.admin<{ fired: number }[]>('faults');
    expect(faults[0]?.fired).toBe(4);
    for (const name of ELIGIBLE) {
      expect((await p.results(out)).find((s) => s.name === name)?.outcome).toBe('updated');
      expect(await accepted(p, name)).toBe(1);
    }
    expect(await accepted(p, 'pg-reporting')).toBe(1);
    const versions = await p.primaryVersions();
    for (const name of ELIGIBLE) expect(versions[name]).toBe(v3);
  });

  it('a 500 on the PATCH after ARM applied it (the answer lost): no resend by the SDK, the retry re-reads and finds it, exactly one accepted PATCH', async () => {
    p = await startProduct();
    await p.admin('faults', {
      method: 'POST',
      body: {
        service: 'arm',
        operation: 'servers.update',
        pathContains: '/flexibleServers/pg-orders-prod',
        status: 500,
        afterApply: true,
        count: 1,
      },
    });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await completeWhileAdvancing(p, { version: v3 });

    expect((await p.results(out)).find((s) => s.name === 'pg-orders-prod')?.outcome).toBe('updated');
    const state = await p.admin<{ servers: { id: string; acceptedOperations: number }[] }>('state');
    for (const name of ELIGIBLE)
      expect(state.servers.find((s) => s.id.endsWith(`/flexibleServers/${name}`))?.acceptedOperations).toBe(
        1,
      );
    // The one PATCH request the client sent for it (answered 500), none resent below our code.
    expect((await p.patches('pg-orders-prod')).map((r) => r.status)).toEqual([500]);
    expect(named(await p.audit(), 'ServerUpdateRetried', 'pg-orders-prod').length).toBeGreaterThanOrEqual(1);
    expect((await p.primaryVersions())['pg-orders-prod']).toBe(v3);
  });

  it('Key Vault answering 503 for 120 s at the start: the rotation rides it out on durable-timer backoff and rolls out', async () => {
    p = await startProduct();
    await p.admin('faults', {
      method: 'POST',
      body: { service: 'keyvault', operation: 'keys.get', status: 503 },
    });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    // The outage lasts 120 s on the shared clock from the first refused read. The clock moves only
    // while Key Vault sees no request (the orchestrator waits on a durable timer), so an attempt and
    // the SDK's own quick retries inside it take no outage time.
    const product = p;
    const refused = async () =>
      (
        await product.admin<{ service: string; operation: string; status: number; at: string }[]>('requests')
      ).filter((r) => r.service === 'keyvault' && r.operation === 'keys.get' && r.status === 503);
    let seen = 0;
    let quietSince = Date.now();
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('the outage never spanned 120 s');
      if ((await p.instance())?.runtimeStatus === 'Failed')
        throw new Error('rotation Failed during the outage');
      const r = await refused();
      const now = Date.parse((await p.admin<{ now: string }>('clock')).now);
      if (r[0] !== undefined && now - Date.parse(r[0].at) >= 120_000) break;
      if (r.length !== seen) [seen, quietSince] = [r.length, Date.now()];
      if (r.length > 0 && Date.now() - quietSince > 1_500)
        await p.admin('clock/advance', { method: 'POST', body: { seconds: 5 } });
      await new Promise((res) => setTimeout(res, 200));
    }
    await p.admin('faults', { method: 'DELETE' });
    const out = await completeWhileAdvancing(p, { version: v3 });
    expect(out.status).toBe('completedWithFailures'); // pg-reporting lacks grants, as in the demo fleet
    for (const name of ELIGIBLE)
      expect((await p.results(out)).find((s) => s.name === name)?.outcome).toBe('updated');
    expect(await pagerTriggers(p, ':rotation:keyunreadable')).toBe(0);
    // Ridden out, not skipped: Key Vault was first read successfully 120 s or more (shared clock)
    // after it first refused, by the same instance.
    const reads = (
      await product.admin<{ service: string; operation: string; status: number; at: string }[]>('requests')
    ).filter((r) => r.service === 'keyvault' && r.operation === 'keys.get');
    const firstRefused = Date.parse(reads.find((r) => r.status === 503)?.at ?? '');
    const firstAnswered = Date.parse(
      reads.find((r) => r.status === 200 && Date.parse(r.at) >= firstRefused)?.at ?? '',
    );
    expect(firstAnswered - firstRefused).toBeGreaterThanOrEqual(120_000);
  });

  it('Key Vault unavailable beyond the retry budget: pages "key unreadable" once and ends cleanly; a later request resumes', async () => {
    p = await startProduct();
    await p.admin('faults', {
      method: 'POST',
      body: { service: 'keyvault', operation: 'keys.get', status: 503 },
    });
    await p.keys.rotateKey(KEY);
    const out = await completeWhileAdvancing(p, { seconds: 30 });
    expect(out).toMatchObject({ status: 'stopped', reasonCode: 'ServiceUnavailable' });
    expect(await pagerTriggers(p, ':rotation:keyunreadable')).toBe(1);
    expect(await p.patches()).toEqual([]);

    await p.admin('faults', { method: 'DELETE' });
    const rerun = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(rerun.status).toBe(202);
    const product = p;
    const resumed = await waitFor(
      'the resumed rotation',
      async () => {
        const i = await product.instance();
        return i?.runtimeStatus === 'Completed' && i.output?.status !== 'stopped' ? i.output : undefined;
      },
      120_000,
    );
    for (const name of ELIGIBLE)
      expect((await p.results(resumed)).find((s) => s.name === name)?.outcome).toBe('updated');
  });

  it('the same key event redelivered after a run that ended completedWithFailures: no second PATCH, no second page', async () => {
    p = await startProduct();
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await p.completed(v3);
    expect(out.status).toBe('completedWithFailures');
    const product = p;
    const delivery = await waitFor('the event delivery', async () => {
      const deliveries =
        await product.admin<{ event: Record<string, unknown>; state: string }[]>('deliveries');
      return deliveries.find((d) => d.state === 'delivered')?.event;
    });
    const subs = await p.admin<{ endpoint: string }[]>('eventgrid/subscriptions');
    const code = new URL(subs[0]?.endpoint ?? '').searchParams.get('code') ?? '';
    const url = `${p.hostUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${code}`;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body: JSON.stringify([delivery]),
      });
      expect(res.status).toBe(200);
    }
    const audit = await waitFor('the redeliveries to be audited', async () => {
      const a = await product.audit();
      return named(a, 'EventReceived').filter((e) => e.properties['outcome'] === 'skipped').length === 3
        ? a
        : undefined;
    });
    expect(named(audit, 'PlanComputed')).toHaveLength(1);
    expect(await accepted(p, 'pg-reporting')).toBe(1);
    for (const name of ELIGIBLE) expect(await accepted(p, name)).toBe(1);
    expect(await pagerTriggers(p, ':server:pg-reporting:')).toBe(1);
    expect((await p.instance())?.runtimeStatus).toBe('Completed');
    expect(INSTANCE_ID).toContain(KEY);
  });

  it('ARM read throttling (burst 2, 1 per second): retried after Retry-After, exactly one accepted PATCH per server', async () => {
    const fleet = demoFleet();
    // A bucket of 2 reads: a rollout of four ARM requests per server, paced by the quota its answers
    // report, no longer empties a bucket of 5 at all (issue 13); this one it still does.
    p = await startProduct({
      fleet: {
        ...fleet,
        behaviour: { ...fleet.behaviour, armThrottling: { reads: { burst: 2, perSecond: 1 } } },
      },
    });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await completeWhileAdvancing(p, { version: v3, seconds: 5 });
    for (const name of ELIGIBLE) {
      expect((await p.results(out)).find((s) => s.name === name)?.outcome).toBe('updated');
      expect(await accepted(p, name)).toBe(1);
    }
    const throttled = (await p.admin<{ service: string; status: number }[]>('requests')).filter(
      (r) => r.service === 'arm' && r.status === 429,
    );
    expect(throttled.length).toBeGreaterThan(0);
  });

  it('Inaccessible servers (their key version disabled): paged critical with the documented recovery, run completedWithFailures, rolled forward once Ready again', async () => {
    p = await startProduct();
    const product = p;
    await p.keys.updateKeyProperties(KEY, V1, { enabled: false });
    const state = async (name: string) =>
      (await product.admin<{ name: string; properties: { state?: string } }[]>('servers')).find(
        (s) => s.name === name,
      )?.properties.state;
    const status = async (name: string) =>
      (
        await product.admin<
          { name: string; properties: { dataEncryption?: { primaryEncryptionKeyStatus?: string } } }[]
        >('servers')
      ).find((s) => s.name === name)?.properties.dataEncryption?.primaryEncryptionKeyStatus;
    // Azure marks the key status Invalid at once and the server Inaccessible within the hour.
    await waitFor('the key status to turn Invalid', async () =>
      (await status('pg-orders-prod')) === 'Invalid' ? true : undefined,
    );
    await p.admin('clock/advance', { method: 'POST', body: { seconds: 11 * 60 } });
    await waitFor('pg-orders-prod to go Inaccessible', async () =>
      (await state('pg-orders-prod')) === 'Inaccessible' ? true : undefined,
    );

    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await p.completed(v3);
    expect(out.status).toBe('completedWithFailures');
    for (const name of ['pg-orders-prod', 'pg-billing-prod']) {
      expect((await p.results(out)).find((s) => s.name === name)).toMatchObject({
        outcome: 'failed',
        reasonCode: 'ServerInaccessible',
      });
      expect(await p.patches(name)).toEqual([]);
    }
    expect((await p.results(out)).find((s) => s.name === 'pg-inventory-prod')?.outcome).toBe('updated');
    const incidents = await p.incidents();
    const orders = Object.entries(incidents).find(([k]) => k.includes(':server:pg-orders-prod:'))?.[1];
    expect(orders).toMatchObject({ status: 'triggered', severity: 'critical' });
    expect(orders?.summary).toContain('Inaccessible');
    const failed = named(await p.audit(), 'ServerFailed', 'pg-orders-prod')[0];
    expect(failed?.properties['reasonCode']).toBe('ServerInaccessible');

    // Access restored to the version they use: Ready again, then the next run moves them.
    await p.keys.updateKeyProperties(KEY, V1, { enabled: true });
    await waitFor('pg-orders-prod to be Ready', async () =>
      (await state('pg-orders-prod')) === 'Ready' ? true : undefined,
    );
    const rerun = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(rerun.status).toBe(202);
    const next = await waitFor(
      'the roll-forward',
      async () => {
        const i = await product.instance();
        const o = i?.runtimeStatus === 'Completed' ? i.output : undefined;
        // The first run listed it (failed); the roll-forward counts it among the servers that went well.
        return o !== undefined && !o.servers.some((s) => s.serverName === 'pg-orders-prod') ? o : undefined;
      },
      120_000,
    );
    const results = await p.results(next);
    for (const name of ['pg-orders-prod', 'pg-billing-prod'])
      expect(results.find((s) => s.name === name)?.outcome).toBe('updated');
    const versions = await p.primaryVersions();
    expect(versions['pg-orders-prod']).toBe(v3);
    expect(versions['pg-billing-prod']).toBe(v3);
  });
});
