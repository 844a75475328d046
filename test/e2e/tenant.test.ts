import { KeyClient } from '@azure/keyvault-keys';
import { rotationInstanceId } from '../../shared/rotation/ids';
import type { RotationOutput } from '../../shared/rotation/contract';
import { SETTINGS } from '../../shared/config';
import { localAppSettings } from '../../local/app';
import { LocalTokenCredential } from '../../local/azure/credential';
import type { FleetFile } from '../../local/azure/fleet';
import { loopbackClientOptions } from '../../local/azure/seam';
import { SUB_A, SUB_SECURITY, armServer, uai } from '../support/fleet';
import { waitFor } from '../support/localAzure';
import { INSTANCE_ID, KEY, VAULT, demoFleet, startProduct, type Product } from '../support/product';

jest.setTimeout(120_000);

interface Delivery {
  readonly event: { id: string; topic: string };
  readonly state: string;
  readonly attempts: readonly { status?: number }[];
}

const OPERATOR_HEADERS = {
  'content-type': 'application/json',
  'x-ms-client-principal-name': 'mallory@contoso.com',
};

/** Real-tenant shapes on the local runtime: Entra-only ingestion, vaults in their own subscription, HSM keys. */
describe('the product in a realistic tenant (end to end through local/host)', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('acts on key events from vaults in a security subscription outside CMK_SUBSCRIPTIONS', async () => {
    const fleet = demoFleet();
    const settings = localAppSettings(
      { port: 1, caCertPem: '', tenantId: '', url: 'https://127.0.0.1:1' },
      fleet,
    );
    const serverSubscriptions = new Set(settings[SETTINGS.subscriptions]?.split(','));
    expect(serverSubscriptions.has(SUB_SECURITY)).toBe(false);
    expect(settings[SETTINGS.vaultSubscriptions]).toBe(SUB_SECURITY);
    expect(fleet.vaults?.every((v) => !serverSubscriptions.has(v.subscriptionId))).toBe(true);
    p = await startProduct({ fleet });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await p.completed(v3);
    expect(out.counts?.updated).toBeGreaterThan(0);
    const deliveries = await p.admin<Delivery[]>('deliveries');
    expect(deliveries[0]?.event.topic).toContain(`/subscriptions/${SUB_SECURITY}/`);
    const audit = await p.audit();
    expect(audit.filter((e) => e.name === 'CmkRotation.EventRejected')).toEqual([]);
  });

  it('fails the intake while ingestion answers 503 (Event Grid redelivers), and audits the event once it recovers', async () => {
    p = await startProduct();
    await p.admin('faults', { method: 'POST', body: { service: 'ingestion', status: 503 } });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const product = p;
    const failed = await waitFor('a refused delivery', async () =>
      (await product.admin<Delivery[]>('deliveries')).find((d) => (d.attempts[0]?.status ?? 0) >= 500),
    );
    // Nothing reached the audit trail while ingestion refused it: nothing was claimed sent.
    expect(await p.audit()).toEqual([]);
    await p.admin('faults', { method: 'DELETE' });
    const delivered = await waitFor('the redelivery', async () =>
      (await product.admin<Delivery[]>('deliveries')).find(
        (d) => d.event.id === failed.event.id && d.state === 'delivered',
      ),
    );
    expect(delivered.attempts.length).toBeGreaterThan(1);
    await p.completed(v3);
    const received = (await p.audit()).filter(
      (e) => e.name === 'CmkRotation.EventReceived' && e.properties['trigger'] === `event:${failed.event.id}`,
    );
    expect(received.length).toBeGreaterThanOrEqual(1);
    const refused = (await p.admin<{ service: string; status: number }[]>('requests')).filter(
      (r) => r.service === 'ingestion' && r.status === 503,
    );
    expect(refused.length).toBeGreaterThan(0);
  });

  it('answers 404 for a key the vault does not have, starting nothing and paging nobody; 503 when Key Vault is down', async () => {
    p = await startProduct();
    const typo = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/pg-cmk-typo?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(typo.status).toBe(404);
    const unknownKey = {
      error: `No such key in vault: https://${VAULT}.vault.azure.net has no key "pg-cmk-typo". Its keys: pg-cmk. Nothing was started.`,
      code: 'KeyNotFound',
    };
    expect(await typo.json()).toEqual(unknownKey);
    // The same answer from the plan and the status of the key (the plan answered the SDK's
    // "Pagination failed with unexpected statusCode 404", the status "no rotation has run").
    for (const path of ['pg-cmk-typo/plan', 'pg-cmk-typo']) {
      const res = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${path}?code=${p.functionKey}`);
      expect([path, res.status, await res.json()]).toEqual([path, 404, unknownKey]);
    }
    const near = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/pg-cmc/plan?code=${p.functionKey}`);
    expect(((await near.json()) as { error: string }).error).toContain(
      'has no key "pg-cmc" (did you mean pg-cmk?)',
    );
    const typoId = rotationInstanceId(`https://${VAULT}.vault.azure.net`, 'pg-cmk-typo');
    const status = await fetch(
      `${p.hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(typoId)}?code=${p.systemKey}`,
    );
    expect(status.status).toBe(404);

    await p.admin('faults', { method: 'POST', body: { service: 'keyvault', status: 503 } });
    const outage = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
    });
    expect(outage.status).toBe(503);
    expect(((await outage.json()) as { error: string }).error).toContain('Key Vault could not be asked');
    expect(await p.instance()).toBeUndefined();
    await new Promise((r) => setTimeout(r, 500));
    expect(await p.incidents()).toEqual({});
    expect(
      (await p.admin<{ events: { dedupKey: string }[] }>('pages')).events.filter(
        (e) => !e.dedupKey.startsWith('cmk-health:'),
      ),
    ).toEqual([]);
  });

  it('names an operator "function-key" under function-key auth whatever header is sent, and records the reason and ticket', async () => {
    p = await startProduct();
    const bad = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
      headers: OPERATOR_HEADERS,
      body: JSON.stringify({ reason: 'x'.repeat(501) }),
    });
    expect(bad.status).toBe(400);
    const res = await fetch(`${p.hostUrl}/api/rotations/${VAULT}/${KEY}?code=${p.functionKey}`, {
      method: 'POST',
      headers: OPERATOR_HEADERS,
      body: JSON.stringify({ reason: 'rotate after incident', ticket: 'INC-4711' }),
    });
    expect(res.status).toBe(202);
    const product = p;
    const record = await waitFor('the operator request in the audit trail', async () =>
      (await product.audit()).find((e) => e.name === 'CmkRotation.EventReceived'),
    );
    expect(record.properties).toMatchObject({
      trigger: 'operator:function-key',
      'detail.operatorReason': 'rotate after incident',
      'detail.ticket': 'INC-4711',
    });
    expect(JSON.stringify(await p.audit())).not.toContain('mallory');
  });

  it('keeps running with an unresolved Key Vault reference as the PagerDuty key: that channel disabled, audited, shown by /api/health', async () => {
    p = await startProduct({
      env: {
        PAGERDUTY_ROUTING_KEY:
          '@Microsoft.KeyVault(SecretUri=https://contoso-ops-kv.vault.azure.net/secrets/pagerduty/)',
      },
    });
    const health = await fetch(`${p.hostUrl}/api/health?code=${p.functionKey}`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'degraded',
      pagerChannels: [
        {
          channel: 'pagerDuty',
          state: 'disabled',
          reason: expect.stringContaining('unresolved Key Vault reference'),
        },
        { channel: 'teams', state: 'enabled' },
        { channel: 'webhook', state: 'notConfigured' },
      ],
    });
    expect((await fetch(`${p.hostUrl}/api/health`)).status).toBe(401);
    const product = p;
    await waitFor('the startup audit record', async () =>
      (await product.audit()).find((e) => e.name === 'CmkRotation.PagerChannelDisabled'),
    );
    // Rotation and the remaining channel (Teams) still work.
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out: RotationOutput = await p.completed(v3);
    expect(out.status).toBe('completedWithFailures');
    expect((await p.admin<unknown[]>('webhooks')).length).toBeGreaterThan(0);
    expect(
      (await p.admin<{ events: { dedupKey: string }[] }>('pages')).events.filter(
        (e) => !e.dedupKey.startsWith('cmk-health:'),
      ),
    ).toEqual([]);
    expect(INSTANCE_ID).toBe(`cmk-rotation:${VAULT}:${KEY}`);
  });

  it('rotates servers on a Managed HSM key, found by the sweep (Managed HSM publishes no Event Grid events)', async () => {
    const HSM = 'contoso-pg-hsm';
    const HSM_URL = `https://${HSM}.managedhsm.azure.net`;
    const HSM_KEY = 'pg-cmk-hsm';
    const V1 = '1c2d3e4f5061728394a5b6c7d8e9f0a1';
    const identity = {
      id: uai(SUB_A, 'id-pg-hsm'),
      principalId: '1a2b3c4d-0009-4000-8000-000000000009',
      clientId: '9e8d7c6b-0009-4000-8000-000000000009',
    };
    const fleet: FleetFile = {
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      identities: [identity],
      vaults: [
        {
          name: HSM,
          kind: 'managedHsm',
          subscriptionId: SUB_SECURITY,
          resourceGroup: 'rg-security',
          access: [{ identity: identity.id, permissions: ['get', 'wrapKey', 'unwrapKey'] }],
          keys: [
            {
              name: HSM_KEY,
              kty: 'RSA-HSM',
              size: 3072,
              versions: [{ version: V1, created: 'now-30d', exp: 'now+300d' }],
            },
          ],
        },
      ],
      servers: [
        armServer({
          sub: SUB_A,
          rg: 'rg-hsm',
          name: 'pg-hsm-prod',
          primary: `${HSM_URL}/keys/${HSM_KEY}/${V1}`,
          identity: 'id-pg-hsm',
        }),
      ],
      behaviour: { updateDurationMs: 300 },
    };
    p = await startProduct({ fleet, env: { CMK_SWEEP_SCHEDULE: '*/2 * * * * *' } });
    const keys = new KeyClient(
      HSM_URL,
      new LocalTokenCredential(
        '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9',
        '72f988bf-86f1-41af-91ab-2d7cd011db47',
      ),
      loopbackClientOptions(p.loopback),
    );
    const v2 = (await keys.rotateKey(HSM_KEY)).properties.version ?? '';
    const id = rotationInstanceId(HSM_URL, HSM_KEY);
    expect(id).toMatch(/^cmk-rotation:contoso-pg-hsm~[0-9a-f]{6}:pg-cmk-hsm$/);
    const product = p;
    const out = await waitFor(
      'the sweep-started HSM rotation',
      async () => {
        const res = await fetch(
          `${product.hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?code=${product.systemKey}`,
        );
        if (res.status === 404) return undefined;
        const body = (await res.json()) as { runtimeStatus: string; output?: RotationOutput };
        return body.runtimeStatus === 'Completed' && body.output?.targetVersion === v2
          ? body.output
          : undefined;
      },
      60_000,
    );
    // One server, updated: counted (the output lists only servers that need attention).
    expect(out.counts).toMatchObject({ updated: 1, verified: 0, failed: 0, skipped: 0 });
    expect(out.servers).toEqual([]);
    const servers = await p.admin<{ properties: { dataEncryption: { primaryKeyURI: string } } }[]>('servers');
    expect(servers[0]?.properties.dataEncryption.primaryKeyURI).toBe(`${HSM_URL}/keys/${HSM_KEY}/${v2}`);
    expect(await p.admin<unknown[]>('deliveries')).toEqual([]);
    const started = (await p.audit()).find(
      (e) => e.name === 'CmkRotation.EventReceived' && e.properties['correlationId'] === id,
    );
    expect(started?.properties['trigger']).toMatch(/^sweep:/);
  });
});
