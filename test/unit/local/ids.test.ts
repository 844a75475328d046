import { armIdOfType, FLEXIBLE_SERVER_TYPE, splitArmId, splitKeyUri } from '../../../local/azure/ids';

const SERVER =
  '/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg-db/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders';

describe("the stand-ins' own id parsing", () => {
  it.each([
    ['a flexible server id', SERVER, 'pg-orders'],
    ['an id with a trailing slash', `${SERVER}/`, 'pg-orders'],
    ['lower-case segment names', SERVER.toLowerCase(), 'pg-orders'],
  ])('reads %s', (_name, id, name) => {
    expect(armIdOfType(id, FLEXIBLE_SERVER_TYPE)?.name).toBe(name);
  });

  it.each([
    ['a child resource', `${SERVER}/databases/app`],
    ['a missing resource group', '/subscriptions/x/providers/Microsoft.DBforPostgreSQL/flexibleServers/a'],
    ['no leading slash', SERVER.slice(1)],
    ['an empty name', SERVER.replace('pg-orders', '')],
  ])('refuses %s', (_name, id) => {
    expect(splitArmId(id)).toBeUndefined();
  });

  it('refuses an id of another type', () => {
    expect(armIdOfType(SERVER, 'Microsoft.ManagedIdentity/userAssignedIdentities')).toBeUndefined();
  });

  it.each([
    [
      'a versioned URI',
      'https://kv1.vault.azure.net/keys/pg/ABCDEF',
      { vaultName: 'kv1', name: 'pg', version: 'abcdef' },
    ],
    [
      'a versionless URI',
      'https://kv1.vault.azure.net/keys/pg',
      { vaultName: 'kv1', name: 'pg', version: undefined },
    ],
    [
      'a trailing slash',
      'https://KV1.vault.azure.net/keys/pg/',
      { vaultName: 'kv1', name: 'pg', version: undefined },
    ],
    [
      'an explicit port',
      'https://kv1.vault.azure.net:443/keys/pg/v1',
      { vaultName: 'kv1', name: 'pg', version: 'v1' },
    ],
    [
      'a Managed HSM',
      'https://hsm1.managedhsm.azure.net/keys/pg/v1',
      { vaultName: 'hsm1', name: 'pg', version: 'v1' },
    ],
  ])('reads %s', (_name, uri, parts) => {
    expect(splitKeyUri(uri)).toEqual(parts);
  });

  it.each([
    ['http', 'http://kv1.vault.azure.net/keys/pg/v1'],
    ['a secret', 'https://kv1.vault.azure.net/secrets/pg/v1'],
    ['an extra segment', 'https://kv1.vault.azure.net/keys/pg/v1/x'],
  ])('refuses a key URI with %s', (_name, uri) => {
    expect(splitKeyUri(uri)).toBeUndefined();
  });
});
