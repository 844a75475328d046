import {
  InvalidResourceIdError,
  parseFlexibleServerId,
  parseUserAssignedIdentityId,
  resourceNameOf,
  sameResourceId,
  serverNameOf,
  subscriptionOf,
} from '../../../shared/domain/resourceId';

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';

describe('parseFlexibleServerId', () => {
  it.each([
    [
      'a canonical id',
      `/subscriptions/${SUB}/resourceGroups/rg-db/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders`,
      { subscriptionId: SUB, resourceGroup: 'rg-db', name: 'pg-orders' },
    ],
    [
      'an id in ARM lower case',
      `/subscriptions/${SUB.toUpperCase()}/resourcegroups/rg-db/providers/microsoft.dbforpostgresql/flexibleservers/pg-orders`,
      {
        subscriptionId: SUB,
        id: `/subscriptions/${SUB}/resourceGroups/rg-db/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-orders`,
      },
    ],
    [
      'a resource group with dots and parentheses',
      `/subscriptions/${SUB}/resourceGroups/rg.db(prod)/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
      { resourceGroup: 'rg.db(prod)' },
    ],
  ])('accepts %s', (_name, input, expected) => {
    expect(parseFlexibleServerId(input)).toMatchObject(expected);
  });

  it.each([
    [
      'a subscription that is not a UUID',
      '/subscriptions/{subscription-id}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1',
      'subscription must be a UUID',
    ],
    [
      'a single server (not flexible)',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/pg-1`,
      'resource type must be',
    ],
    [
      'a child resource',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1/databases/db`,
      'expected /subscriptions',
    ],
    [
      'a relative id',
      `subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
      'expected /subscriptions',
    ],
    [
      'an invalid server name',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/PG_1`,
      'invalid name',
    ],
    [
      'a resource group ending in a period',
      `/subscriptions/${SUB}/resourceGroups/rg./providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
      'invalid resource group',
    ],
  ])('rejects %s', (_name, input, reason) => {
    expect(() => parseFlexibleServerId(input)).toThrow(InvalidResourceIdError);
    expect(() => parseFlexibleServerId(input)).toThrow(reason);
  });
});

describe('parseUserAssignedIdentityId', () => {
  it('accepts an identity id and rejects a server id', () => {
    expect(
      parseUserAssignedIdentityId(
        `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg_primary`,
      ).name,
    ).toBe('id-pg_primary');
    expect(() =>
      parseUserAssignedIdentityId(
        `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
      ),
    ).toThrow('resource type must be Microsoft.ManagedIdentity/userAssignedIdentities');
  });

  it('compares ids case-insensitively', () => {
    expect(
      sameResourceId(
        `/subscriptions/${SUB}/resourceGroups/RG`,
        `/SUBSCRIPTIONS/${SUB.toUpperCase()}/resourcegroups/rg`,
      ),
    ).toBe(true);
  });
});

describe('resourceNameOf: the name of a resource from its id', () => {
  it.each([
    [
      'a flexible server',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a`,
      'pg-a',
    ],
    [
      'a user-assigned identity',
      `/subscriptions/${SUB}/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg`,
      'id-pg',
    ],
    [
      'a role definition',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`,
      'e147488a-f6f5-4113-8e2d-b22465e65bf6',
    ],
    [
      'a vault, with a trailing slash',
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-1/`,
      'kv-1',
    ],
    ['a bare name', 'pg-a', 'pg-a'],
    ['an empty id', '', ''],
    ['a lone slash', '/', '/'],
  ])('%s', (_what, id, name) => {
    expect(resourceNameOf(id)).toBe(name);
  });

  it('is what serverNameOf answers, and subscriptionOf reads the subscription as the id spells it', () => {
    const id = `/subscriptions/${SUB.toUpperCase()}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-b`;
    expect(serverNameOf(id)).toBe('pg-b');
    expect(subscriptionOf(id)).toBe(SUB.toUpperCase());
    expect(subscriptionOf('pg-b')).toBe('');
  });
});
