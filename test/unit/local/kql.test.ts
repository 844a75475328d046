import { KqlError, runKql, type Row } from '../../../local/azure/kql';

const rows: Row[] = [
  {
    id: '/s/1/a',
    name: 'pg-a',
    type: 'microsoft.dbforpostgresql/flexibleservers',
    properties: { dataEncryption: { primaryKeyURI: 'https://kv1.vault.azure.net/keys/k/v1' } },
  },
  {
    id: '/s/1/b',
    name: 'pg-b',
    type: 'microsoft.dbforpostgresql/flexibleservers',
    properties: {
      dataEncryption: {
        primaryKeyURI: 'https://KV1.vault.azure.net/keys/k',
        geoBackupKeyURI: 'https://kv2.vault.azure.net/keys/g/v',
      },
    },
  },
  {
    id: '/s/1/c',
    name: 'pg-c',
    type: 'microsoft.dbforpostgresql/flexibleservers',
    properties: { dataEncryption: { type: 'SystemManaged' } },
  },
  { id: '/s/1/v', name: 'kv1', type: 'microsoft.keyvault/vaults', properties: {} },
];
const names = (q: string) => runKql(q, { resources: rows }).map((r) => r['name']);

describe('the Resource Graph KQL subset', () => {
  it.each([
    ["resources | where type =~ 'Microsoft.DBforPostgreSQL/flexibleServers'", ['pg-a', 'pg-b', 'pg-c']],
    ["resources | where type == 'Microsoft.DBforPostgreSQL/flexibleServers'", []],
    [
      "resources | where properties.dataEncryption.primaryKeyURI startswith 'https://kv1.vault.azure.net/keys/k/'",
      ['pg-a'],
    ],
    [
      "resources | where properties.dataEncryption.primaryKeyURI =~ 'https://kv1.vault.azure.net/keys/k'",
      ['pg-b'],
    ],
    ["resources | where properties.dataEncryption.primaryKeyURI startswith_cs 'https://kv1'", ['pg-a']],
    [
      "resources | where properties.dataEncryption.geoBackupKeyURI startswith 'https://kv2' or name == 'pg-a'",
      ['pg-a', 'pg-b'],
    ],
    [
      "resources | where type =~ 'microsoft.dbforpostgresql/flexibleservers' and (name == 'pg-a' or name == 'pg-c')",
      ['pg-a', 'pg-c'],
    ],
    ['resources | where isnotempty(properties.dataEncryption.geoBackupKeyURI)', ['pg-b']],
    ["resources | where not(name contains 'pg')", ['kv1']],
    ["Resources | where tostring(properties.dataEncryption.type) == 'SystemManaged'", ['pg-c']],
    ["resources | where name !~ 'PG-A' and type has 'flexibleservers'", ['pg-b', 'pg-c']],
    ['resources | order by name desc | take 2', ['pg-c', 'pg-b']],
    ['resources | where name == "pg-b" | project id, name', ['pg-b']],
    // Set membership (Kusto "in~ operator"): in is case-sensitive, in~ is not; ! negates; a missing value is in no list.
    ["resources | where id in~ ('/S/1/A', '/s/1/c')", ['pg-a', 'pg-c']],
    ["resources | where id in ('/S/1/A', '/s/1/c')", ['pg-c']],
    ["resources | where name !in~ ('PG-A', 'kv1')", ['pg-b', 'pg-c']],
    ["resources | where name !in ('PG-A', 'kv1')", ['pg-a', 'pg-b', 'pg-c']],
    ["resources | where properties.dataEncryption.type in~ ('systemmanaged')", ['pg-c']],
    [
      "resources | where properties.dataEncryption.type !in~ ('systemmanaged') and name startswith 'pg'",
      ['pg-a', 'pg-b'],
    ],
    ["resources | where name =~ 'pg-b' or id in~ ('/s/1/A')", ['pg-a', 'pg-b']],
  ])('%s', (query, expected) => {
    expect(names(query)).toEqual(expected);
  });

  it('projects only the named columns', () => {
    expect(runKql("resources | where name == 'pg-a' | project id, name", { resources: rows })).toEqual([
      { id: '/s/1/a', name: 'pg-a' },
    ]);
  });

  it.each([
    ['an unsupported operator', 'resources | summarize count() by type'],
    ['an unsupported function', 'resources | where strlen(name) > 3'],
    ['an unknown table', 'securityresources | take 1'],
    ['an unknown column', 'resources | project nope'],
    ['an unterminated string', "resources | where name == 'pg"],
    ['a dangling condition', 'resources | where name'],
    ['an empty in~ list', 'resources | where id in~ ()'],
    ['an in~ list of columns', 'resources | where id in~ (name)'],
    ['an in~ without its list', "resources | where id in~ '/s/1/a'"],
  ])('refuses %s instead of ignoring it', (_name, query) => {
    expect(() => runKql(query, { resources: rows })).toThrow(KqlError);
  });
});
