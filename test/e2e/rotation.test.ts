import { FUNCTION_NAMES } from '../../shared/domain/names';
import { waitFor } from '../support/localAzure';
import { ELIGIBLE, INSTANCE_ID, KEY, VAULT, startProduct, type Product } from '../support/product';

const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const REPORTING_IDENTITY =
  '/subscriptions/b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg-reporting';

jest.setTimeout(120_000);

describe('the product end to end: Key Vault events through local/host and local/azure', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('moves every eligible server to the new version, leaves versionless and opted-out servers alone, pages the broken one once', async () => {
    p = await startProduct();
    const rotated = await p.keys.rotateKey(KEY);
    const v3 = rotated.properties.version ?? '';
    const out = await p.completed(v3);

    expect(out.status).toBe('completedWithFailures');
    // The output counts every server and lists only the one that needs attention; the audit trail
    // proves each of the others.
    expect(out.counts).toEqual({
      updated: 3,
      verified: 1,
      failed: 1,
      skipped: 1,
      skippedBy: { excluded: 1 },
    });
    expect(out.servers.map((s) => s.serverName)).toEqual(['pg-reporting']);
    const byName = Object.fromEntries((await p.results(out)).map((s) => [s.name, s]));
    for (const name of ELIGIBLE) expect(byName[name]?.outcome).toBe('updated');
    expect(byName['pg-analytics']?.outcome).toBe('verified');
    expect(byName['pg-legacy-erp']).toMatchObject({ outcome: 'skipped', reasonCode: 'excluded' });
    expect(byName['pg-reporting']).toMatchObject({
      outcome: 'failed',
      reasonCode: 'AzureKeyVaultMissingPermissions',
    });
    expect(byName['exampleserver2']).toBeUndefined();

    // ARM agrees: the truth, not the orchestration's word.
    const versions = await p.primaryVersions();
    for (const name of ELIGIBLE) expect(versions[name]).toBe(v3);
    expect(versions['pg-analytics']).toBeUndefined(); // still versionless
    expect(versions['pg-legacy-erp']).toBe(V1);
    expect(versions['pg-reporting']).toBe(V1);
    expect(await p.patches('pg-analytics')).toEqual([]);
    expect(await p.patches('pg-legacy-erp')).toEqual([]);

    const incidents = await p.incidents();
    const keys = Object.keys(incidents);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toContain(':server:pg-reporting:');
    expect(incidents[keys[0] ?? '']?.summary).toContain(
      'id-pg-reporting of pg-reporting may not use key pg-cmk',
    );

    const audit = await p.audit();
    const failed = audit.filter((e) => e.name === 'CmkRotation.ServerFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.properties).toMatchObject({
      correlationId: INSTANCE_ID,
      reasonCode: 'AzureKeyVaultMissingPermissions',
      toVersion: v3,
      fromVersion: V1,
    });
    expect(audit.filter((e) => e.name === 'CmkRotation.OperatorPaged')).toHaveLength(1);
    expect(audit.filter((e) => e.name === 'CmkRotation.ServerVerified')).toHaveLength(4);
    // No secret in any record, the health watch's included.
    for (const e of await p.audit({ healthWatch: true }))
      expect(JSON.stringify(e)).not.toMatch(/R0CALPGCMKROTATOR|hooks\/teams|Bearer/);
  });

  it('collapses a duplicate event delivered five more times into one rollout with one PATCH per server', async () => {
    p = await startProduct();
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const product = p;
    const delivery = await waitFor('the event delivery', async () => {
      const deliveries =
        await product.admin<{ event: Record<string, unknown>; state: string }[]>('deliveries');
      return deliveries.find((d) => d.state === 'delivered')?.event;
    });
    const url = `${p.hostUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${await eventGridKey(p)}`;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
          body: JSON.stringify([delivery]),
        }).then((r) => r.status),
      ),
    );
    expect(answers).toEqual([200, 200, 200, 200, 200]);
    await p.completed(v3);
    for (const name of [...ELIGIBLE, 'pg-reporting']) expect(await p.patches(name)).toHaveLength(1);
    const audit = await p.audit();
    const received = audit.filter((e) => e.name === 'CmkRotation.EventReceived');
    expect(received.filter((e) => e.properties['reason'] === 'rotation started')).toHaveLength(1);
    // The five duplicates are one fact (one auditId); those judged while the same record was being
    // written shared that write, so there are 1 to 5 of them.
    const duplicates = received.filter((e) => e.properties['outcome'] === 'skipped');
    expect(duplicates.length).toBeGreaterThanOrEqual(1);
    expect(received).toHaveLength(1 + duplicates.length);
    expect(new Set(duplicates.map((e) => e.properties['auditId'])).size).toBe(1);
    expect(duplicates[0]?.properties['reason']).toBe(
      'this event (same id) already started the rotation: duplicate ignored',
    );
    expect(audit.filter((e) => e.name === 'CmkRotation.PlanComputed')).toHaveLength(1);
  });

  it('ends on the newest version when another version is created during the rollout', async () => {
    p = await startProduct();
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const product = p;
    await waitFor('the canary to start', async () =>
      (await product.audit()).find((e) => e.name === 'CmkRotation.ServerUpdateStarted'),
    );
    const v4 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await p.completed(v4);
    expect(out.targetVersion).toBe(v4);
    const versions = await p.primaryVersions();
    for (const name of ELIGIBLE) expect(versions[name]).toBe(v4);
    expect(v4).not.toBe(v3);
    const audit = await p.audit();
    expect(
      audit.some(
        (e) => e.name === 'CmkRotation.RotationCompleted' && e.properties['reasonCode'] === 'Superseded',
      ),
    ).toBe(true);
    // One instance id throughout: the newer version was signalled to it, not raced by a second one.
    expect(
      new Set(audit.map((e) => e.properties['correlationId']).filter((c) => c?.startsWith('cmk-rotation:'))),
    ).toEqual(new Set([INSTANCE_ID]));
  });

  it('pages near expiry with the days left and the servers at risk, then escalates to critical when the key expires', async () => {
    p = await startProduct();
    // V2 (the newest) expires 335 days from the start; Key Vault notifies 30 days before.
    await p.admin('clock/advance', { method: 'POST', body: { days: 310 } });
    const product = p;
    const expiryKey = `cmk:${VAULT}:${KEY}:${V2}:expiry`;
    const warning = await waitFor(
      'the near-expiry page',
      async () => (await product.incidents())[`${expiryKey}:warning`],
      30_000,
    );
    expect(warning.severity).toBe('warning');
    expect(warning.summary).toMatch(/expires in 2[45] day\(s\); 2 server\(s\) use it: .*pg-inventory-prod/);
    expect(warning.summary).toContain('pg-analytics');
    await p.completed();
    expect(await p.patches()).toEqual([]);

    await p.admin('clock/advance', { method: 'POST', body: { days: 30 } });
    const critical = await waitFor(
      'the expiry page',
      async () => {
        const i = (await product.incidents())[`${expiryKey}:critical`];
        return i?.severity === 'critical' ? i : undefined;
      },
      30_000,
    );
    expect(critical.summary).toContain('has EXPIRED');
    const audit = await p.audit();
    expect(audit.some((e) => e.name === 'CmkRotation.NearExpiryNotified')).toBe(true);
    expect(audit.some((e) => e.name === 'CmkRotation.KeyExpired')).toBe(true);
  });

  it('resolves the page once the grant is fixed and the rotation is re-run', async () => {
    p = await startProduct();
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    await p.completed(v3);
    const [dedupKey] = Object.keys(await p.incidents());
    expect((await p.incidents())[dedupKey ?? '']?.status).toBe('triggered');

    await p.admin(`vaults/${VAULT}/access`, {
      method: 'POST',
      body: { identity: REPORTING_IDENTITY, permissions: ['get', 'wrapKey', 'unwrapKey'] },
    });
    const rerun = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(rerun.status).toBe(202);
    expect(await rerun.json()).toEqual({ kind: 'started', instanceId: INSTANCE_ID });
    const product = p;
    const out = await waitFor('the re-run', async () => {
      const o = (await product.instance())?.output;
      return o?.resolvedIncidents.length === 1 ? o : undefined;
    });
    expect(out.resolvedIncidents).toEqual([dedupKey]);
    expect(out.servers).toEqual([]);
    expect((await p.results(out)).find((s) => s.name === 'pg-reporting')?.outcome).toBe('updated');
    expect((await p.incidents())[dedupKey ?? '']?.status).toBe('resolved');
    expect((await p.primaryVersions())['pg-reporting']).toBe(v3);
    // Servers already on the new version are only verified the second time.
    for (const name of ELIGIBLE) expect(await p.patches(name)).toHaveLength(1);
    expect((await p.audit()).filter((e) => e.name === 'CmkRotation.PageResolved')).toHaveLength(1);
  });

  it('registers the intake under the name the Event Grid subscription in infra/ targets', async () => {
    p = await startProduct();
    expect(p.functions).toEqual(
      expect.arrayContaining([
        { name: FUNCTION_NAMES.keyVaultEvents, trigger: 'eventGridTrigger' },
        { name: FUNCTION_NAMES.reconcileSweep, trigger: 'timerTrigger' },
        { name: FUNCTION_NAMES.keyRotation, trigger: 'orchestrationTrigger' },
        { name: FUNCTION_NAMES.serverRollover, trigger: 'orchestrationTrigger' },
      ]),
    );
  });

  it('refuses an operator request for a vault outside the configured scope, changing nothing', async () => {
    p = await startProduct();
    const res = await fetch(`${p.hostUrl}/api/rotations/other-vault/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'Vault "other-vault" is not in CMK_ALLOWED_VAULTS.',
      code: 'InvalidOperatorRequest',
    });
    expect(await p.instance()).toBeUndefined();
  });
});

async function eventGridKey(p: Product): Promise<string> {
  const subs = await p.admin<{ endpoint: string }[]>('eventgrid/subscriptions');
  const endpoint = subs[0]?.endpoint ?? '';
  return new URL(endpoint).searchParams.get('code') ?? '';
}
