import type { FleetFile } from '../../local/azure/fleet';
import { KEY, VAULT, demoFleet, startProduct, type Product } from '../support/product';

jest.setTimeout(300_000);

/**
 * The demo fleet as a tenant that followed Learn's advice (the vault refuses public access, trusted
 * services bypass it) but gave the app no network path: no private endpoint, no VNet integration.
 * Key Vault rotates the key by its own policy (a month after creation), so the event comes from the
 * vault through Event Grid, as it would in Azure; the app's key read is what the firewall refuses.
 */
function unreachableFleet(): FleetFile {
  const { appNetwork: _none, ...fleet } = demoFleet();
  return {
    ...fleet,
    vaults: (fleet.vaults ?? []).map((v) =>
      v.name !== VAULT
        ? v
        : {
            ...v,
            keys: (v.keys ?? []).map((k) =>
              k.name !== KEY
                ? k
                : {
                    ...k,
                    rotationPolicy: {
                      lifetimeActions: [{ trigger: { timeAfterCreate: 'P31D' }, action: { type: 'Rotate' } }],
                      attributes: { expiryTime: 'P1Y' },
                    },
                  },
            ),
          },
    ),
  };
}

interface LoggedRequest {
  readonly service: string;
  readonly operation?: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

describe('a vault the app cannot reach (Key Vault firewall), end to end', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('the rotation is diagnosed as an unreachable vault: one page naming it and the network fix, no PATCH, no retry', async () => {
    p = await startProduct({ fleet: unreachableFleet() });
    // A month and a day: Key Vault rotates the key by its policy and publishes KeyNewVersionCreated.
    await p.admin('clock/advance', { method: 'POST', body: { days: 2 } });
    const out = await p.completed();

    expect(out).toMatchObject({ status: 'stopped', reasonCode: 'ForbiddenByConnection' });
    expect(await p.patches()).toEqual([]);

    const incidents = Object.entries(await p.incidents());
    expect(incidents).toHaveLength(1);
    const [dedupKey, incident] = incidents[0] ?? ['', { summary: '', status: '', severity: '' }];
    expect(dedupKey).toBe('cmk:contoso-pg-kv:pg-cmk:rotation:vaultunreachable');
    expect(incident.summary).toMatch(
      /cannot reach vault contoso-pg-kv .*vault unreachable.*ForbiddenByConnection/,
    );
    expect(incident.summary).not.toMatch(/permission|Key Vault Reader/i);
    const pages = await p.admin<{ events: { eventAction: string; dedupKey: string }[] }>('pages');
    // The health watch's pages (`cmk-health:*`, on the host's real-time timer) are not the rotation's.
    expect(
      pages.events.filter((e) => e.eventAction === 'trigger' && !e.dedupKey.startsWith('cmk-health:')),
    ).toHaveLength(1);

    // The fix travels with the page: the audit record of the page names it.
    const audit = await p.audit();
    const unreadable = audit.filter((e) => e.name === 'CmkRotation.KeyUnreadable');
    expect(unreadable).toHaveLength(1);
    expect(unreadable[0]?.properties).toMatchObject({ reasonCode: 'ForbiddenByConnection' });
    expect(unreadable[0]?.properties['reason']).toMatch(/over the network/);
    expect(audit.filter((e) => e.name === 'CmkRotation.PreflightFailed')).toEqual([]);

    // Quick failure: the refused read was not retried: one 403 for the intake's check of the event against
    // Key Vault (which, refused, hands the event on as it came) and one for the run's own read; the 401s
    // are the auth challenge.
    const refused = (await p.admin<LoggedRequest[]>('requests')).filter(
      (r) => r.service === 'keyvault' && r.status === 403,
    );
    expect(refused).toHaveLength(2);
  });
});

const CLIENT = '3c3c3c3c-0000-4000-8000-000000000001';

/** The demo fleet with pg-orders-prod configured for cross-tenant CMK (its vault "in another tenant"). */
function crossTenantFleet(): FleetFile {
  const fleet = demoFleet();
  return {
    ...fleet,
    servers: (fleet.servers ?? []).map((raw) => {
      const s = raw as { name: string; properties: { dataEncryption: Record<string, unknown> } };
      return s.name !== 'pg-orders-prod'
        ? raw
        : {
            ...s,
            properties: {
              ...s.properties,
              dataEncryption: { ...s.properties.dataEncryption, primaryFederatedIdentityClientId: CLIENT },
            },
          };
    }),
  };
}

describe('a cross-tenant CMK server, end to end', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('is never PATCHed (its federated id survives the rotation), skipped with the reason and paged once; the others roll', async () => {
    p = await startProduct({ fleet: crossTenantFleet() });
    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    const out = await p.completed(v3);

    const byName = Object.fromEntries((await p.results(out)).map((s) => [s.name, s]));
    expect(byName['pg-orders-prod']).toMatchObject({ outcome: 'failed', reasonCode: 'CrossTenantCmk' });
    expect(await p.patches('pg-orders-prod')).toEqual([]);
    for (const name of ['pg-billing-prod', 'pg-inventory-prod'])
      expect(byName[name]?.outcome).toBe('updated');

    const servers =
      await p.admin<{ name: string; properties: { dataEncryption: Record<string, unknown> } }[]>('servers');
    const orders = servers.find((s) => s.name === 'pg-orders-prod')?.properties.dataEncryption;
    expect(orders?.['primaryFederatedIdentityClientId']).toBe(CLIENT);
    expect(orders?.['primaryKeyURI']).toMatch(/5f1e2d3c4b5a69788796a5b4c3d2e1f0$/);

    const incidents = Object.entries(await p.incidents()).filter(([k]) =>
      k.includes(':server:pg-orders-prod:'),
    );
    expect(incidents).toHaveLength(1);
    expect(incidents[0]?.[1].summary).toMatch(/cross-tenant/i);
    const audit = await p.audit();
    const failed = audit.filter(
      (e) =>
        e.name === 'CmkRotation.ServerFailed' &&
        e.properties['serverId']?.endsWith('/flexibleServers/pg-orders-prod') === true,
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]?.properties['reason']).toMatch(/cross-tenant CMK on primary .*never PATCHed/);
  });
});
