import { localAppSettings } from '../../../local/app';
import type { FleetFile } from '../../../local/azure/fleet';
import { SETTINGS, loadConfig } from '../../../shared/config';
import { SUB_A, SUB_B, SUB_SECURITY, armServer } from '../../support/fleet';

const target = { port: 4443, caCertPem: '', tenantId: 't', url: 'https://127.0.0.1:4443' };

const fleet: FleetFile = {
  vaults: [
    { name: 'Contoso-PG-KV', subscriptionId: SUB_SECURITY, resourceGroup: 'rg-sec' },
    { name: 'contoso-pg-hsm', kind: 'managedHsm', subscriptionId: SUB_SECURITY, resourceGroup: 'rg-sec' },
  ],
  servers: [
    armServer({
      sub: SUB_A,
      rg: 'rg',
      name: 'pg-a',
      primary: 'https://contoso-pg-kv.vault.azure.net/keys/k',
      identity: 'id',
    }),
    armServer({
      sub: SUB_B,
      rg: 'rg',
      name: 'pg-b',
      primary: 'https://contoso-pg-kv.vault.azure.net/keys/k',
      identity: 'id',
    }),
  ],
};

describe('the local app settings', () => {
  it('scopes servers by their subscriptions only, and names vaults by URL with their own subscriptions', () => {
    const s = localAppSettings(target, fleet);
    expect(s[SETTINGS.subscriptions]?.split(',').sort()).toEqual([SUB_A, SUB_B].sort());
    expect(s[SETTINGS.allowedVaults]).toBe(
      'https://contoso-pg-kv.vault.azure.net,https://contoso-pg-hsm.managedhsm.azure.net',
    );
    expect(s[SETTINGS.vaultSubscriptions]).toBe(SUB_SECURITY);
    const config = loadConfig(s);
    expect(config.subscriptions).not.toContain(SUB_SECURITY);
    expect(config.allowedVaults.map((v) => v.kind)).toEqual(['vault', 'managedHsm']);
  });

  it('lets settings from the environment win', () => {
    const s = localAppSettings(target, fleet, { [SETTINGS.subscriptions]: SUB_A });
    expect(s[SETTINGS.subscriptions]).toBe(SUB_A);
  });
});
