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

    expect(out).toMatchObject({ status: 'stopped', reasonCode: 'ForbiddenByFirewall' });
    expect(await p.patches()).toEqual([]);

    const incidents = Object.entries(await p.incidents());
    expect(incidents).toHaveLength(1);
    const [dedupKey, incident] = incidents[0] ?? ['', { summary: '', status: '', severity: '' }];
    expect(dedupKey).toBe('cmk:contoso-pg-kv:pg-cmk:rotation:vaultunreachable');
    expect(incident.summary).toMatch(
      /cannot reach vault contoso-pg-kv .*vault unreachable.*ForbiddenByFirewall/,
    );
    expect(incident.summary).not.toMatch(/permission|Key Vault Reader/i);
    const pages = await p.admin<{ events: { eventAction: string; dedupKey: string }[] }>('pages');
    expect(pages.events.filter((e) => e.eventAction === 'trigger')).toHaveLength(1);

    // The fix travels with the page: the audit record of the page names it.
    const audit = await p.audit();
    const preflight = audit.filter((e) => e.name === 'CmkRotation.PreflightFailed');
    expect(preflight).toHaveLength(1);
    expect(preflight[0]?.properties).toMatchObject({ reasonCode: 'ForbiddenByFirewall' });
    expect(preflight[0]?.properties['reason']).toMatch(/over the network/);

    // Quick failure: the refused read was not retried (one 403; the 401s are the auth challenge).
    const refused = (await p.admin<LoggedRequest[]>('requests')).filter(
      (r) => r.service === 'keyvault' && r.status === 403,
    );
    expect(refused).toHaveLength(1);
  });
});
