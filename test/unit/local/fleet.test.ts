import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFleet, FleetFileError, loadFleetFile, type FleetFile } from '../../../local/azure/fleet';

const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
const SERVER_ID = `/subscriptions/${SUB}/resourceGroups/rg-db/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a`;
const IDENTITY = `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a`;
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';

function fleet(): Record<string, unknown> {
  return {
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    identities: [
      {
        id: IDENTITY,
        principalId: '1a2b3c4d-0001-4000-8000-000000000001',
        clientId: '9e8d7c6b-0001-4000-8000-000000000001',
      },
    ],
    vaults: [
      {
        name: 'kv-a',
        subscriptionId: SUB,
        resourceGroup: 'rg-sec',
        access: [{ identity: IDENTITY, permissions: ['get', 'wrapKey', 'unwrapKey'] }],
        keys: [
          { name: 'k1', versions: [{ version: V1, created: 'now-300d', exp: 'now+65d' }] },
          { name: 'k2', versions: [{}] },
        ],
      },
    ],
    servers: [
      {
        id: SERVER_ID,
        location: 'westeurope',
        properties: {
          dataEncryption: {
            type: 'AzureKeyVault',
            primaryKeyURI: `https://kv-a.vault.azure.net/keys/k1/${V1}`,
          },
        },
      },
    ],
    behaviour: { updateDurationMs: 100 },
  };
}

type Path = readonly (string | number)[];
const DELETE = Symbol('delete');

/** A copy of the valid fleet with the value at each path replaced (or deleted). */
function broken(...edits: [Path, unknown][]): unknown {
  const f = structuredClone(fleet());
  for (const [path, value] of edits) {
    let node = f as Record<string | number, unknown>;
    for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
    const last = path[path.length - 1] ?? '';
    if (value === DELETE) Reflect.deleteProperty(node, last);
    else node[last] = value;
  }
  return f;
}

describe('fleet files are checked before anything starts', () => {
  it('accepts a valid fleet and the demo fleet without a warning', () => {
    expect(checkFleet(fleet())).toEqual({ problems: [], warnings: [] });
    expect(loadFleetFile(join(__dirname, '..', '..', '..', 'local', 'fleets', 'demo.json')).warnings).toEqual(
      [],
    );
  });

  it('accepts a Managed HSM and the Application Insights section', () => {
    const hsm = broken(
      [['vaults', 0, 'kind'], 'managedHsm'],
      [
        ['applicationInsights'],
        { disableLocalAuth: true, publishers: ['1a2b3c4d-0001-4000-8000-000000000001'] },
      ],
      [
        ['servers', 0, 'properties', 'dataEncryption', 'primaryKeyURI'],
        `https://kv-a.managedhsm.azure.net/keys/k1/${V1}`,
      ],
    );
    expect(checkFleet(hsm)).toEqual({ problems: [], warnings: [] });
    expect(checkFleet(broken([['vaults', 0, 'kind'], 'hsm'])).problems).toEqual([
      'vaults[0].kind: must be one of "vault", "managedHsm"',
    ]);
  });

  it.each<[string, unknown, string[]]>([
    ['not an object', [], ['(file): must be object']],
    [
      'a key without versions',
      broken([['vaults', 0, 'keys', 1, 'versions'], DELETE]),
      ['vaults[0].keys[1].versions: required'],
    ],
    [
      'versions that are not a list',
      broken([['vaults', 0, 'keys', 0, 'versions'], 'v1']),
      ['vaults[0].keys[0].versions: must be array'],
    ],
    [
      'a vault without a subscription',
      broken([['vaults', 0, 'subscriptionId'], DELETE]),
      ['vaults[0].subscriptionId: required'],
    ],
    [
      'a subscription that is not a UUID',
      broken([['vaults', 0, 'subscriptionId'], 'prod']),
      ['vaults[0].subscriptionId: must be a UUID'],
    ],
    [
      'a misspelt property',
      broken([['vaults', 0, 'keys', 0, 'version'], []]),
      ['vaults[0].keys[0].version: unknown property (did you mean versions?)'],
    ],
    [
      // It passed, and the server silently dropped out of the CMK fleet (issue 19).
      'a misspelt dataEncryption inside a server',
      broken([['servers', 0, 'properties', 'dataEncrption'], { type: 'AzureKeyVault' }]),
      ['servers[0].properties.dataEncrption: unknown property (did you mean dataEncryption?)'],
    ],
    [
      'a misspelt key URI inside a server',
      broken([['servers', 0, 'properties', 'dataEncryption', 'primaryKeyUri'], 'x']),
      ['servers[0].properties.dataEncryption.primaryKeyUri: unknown property (did you mean primaryKeyURI?)'],
    ],
    [
      'an unknown top-level property of a server',
      broken([['servers', 0, 'propertes'], {}]),
      ['servers[0].propertes: unknown property (did you mean properties?)'],
    ],
    [
      'a version id that is not 32 hex digits',
      broken([['vaults', 0, 'keys', 0, 'versions', 0, 'version'], 'abc']),
      ['vaults[0].keys[0].versions[0].version: must match ^[0-9a-fA-F]{32}$'],
    ],
    [
      'a time that is neither ISO nor relative',
      broken([['vaults', 0, 'keys', 0, 'versions', 0, 'exp'], 'next year']),
      [
        'vaults[0].keys[0].versions[0].exp: must be ISO-8601 or now, now-300d, now+1y (units s, m, h, d, w, y)',
      ],
    ],
    [
      'an unknown key type',
      broken([['vaults', 0, 'keys', 0, 'kty'], 'DSA']),
      ['vaults[0].keys[0].kty: must be one of "RSA", "RSA-HSM", "EC", "EC-HSM", "oct-HSM"'],
    ],
    [
      'a server without id and location',
      broken([['servers', 0], { properties: {} }]),
      ['servers[0].id: required', 'servers[0].location: required'],
    ],
    [
      'a server id of another resource type',
      broken([['servers', 0, 'id'], IDENTITY]),
      [
        'servers[0].id: must be a flexible server id (/subscriptions/<uuid>/resourceGroups/<rg>/providers/Microsoft.DBforPostgreSQL/flexibleServers/<name>)',
      ],
    ],
    [
      'a behaviour value of the wrong type',
      broken([['behaviour', 'updateDurationMs'], '2s']),
      ['behaviour.updateDurationMs: must be number'],
    ],
    [
      'an access entry naming nobody',
      broken([['vaults', 0, 'access', 0, 'identity'], DELETE]),
      ['vaults[0].access[0]: needs identity or principalId'],
    ],
    [
      'an access entry for an identity not listed',
      broken([['identities'], []]),
      ['vaults[0].access[0].identity: not listed in identities'],
    ],
    [
      'an unknown permission',
      broken([
        ['vaults', 0, 'access', 0, 'permissions'],
        ['get', 'wrapkeys'],
      ]),
      ['vaults[0].access[0].permissions[1]: unknown key permission "wrapkeys"'],
    ],
    [
      'a duplicate key',
      broken([['vaults', 0, 'keys', 1, 'name'], 'K1']),
      ['vaults[0].keys[1].name: duplicate key K1'],
    ],
    [
      'several problems at once',
      broken([['vaults', 0, 'keys', 1, 'versions'], DELETE], [['servers', 0, 'location'], 3]),
      ['vaults[0].keys[1].versions: required', 'servers[0].location: must be string'],
    ],
  ])('reports %s with its JSON path', (_, value, problems) => {
    expect(checkFleet(value).problems).toEqual(problems);
  });

  it.each<[string, [Path, unknown], string]>([
    [
      'a vault the file does not define',
      [
        ['servers', 0, 'properties', 'dataEncryption', 'primaryKeyURI'],
        `https://kv-other.vault.azure.net/keys/k1/${V1}`,
      ],
      'servers[0].properties.dataEncryption.primaryKeyURI: pg-a is pinned to vault kv-other, which the file does not define',
    ],
    [
      'a key the vault does not define',
      [
        ['servers', 0, 'properties', 'dataEncryption', 'geoBackupKeyURI'],
        'https://kv-a.vault.azure.net/keys/k9',
      ],
      'servers[0].properties.dataEncryption.geoBackupKeyURI: pg-a uses key k9, which vault kv-a does not define',
    ],
    [
      'a version the key does not define',
      [
        ['servers', 0, 'properties', 'dataEncryption', 'primaryKeyURI'],
        `https://kv-a.vault.azure.net/keys/k1/${'0'.repeat(32)}`,
      ],
      `servers[0].properties.dataEncryption.primaryKeyURI: pg-a is pinned to version ${'0'.repeat(32)} of kv-a/k1, which the file does not define`,
    ],
  ])('warns about a server pinned to %s', (_, edit, warning) => {
    expect(checkFleet(broken(edit))).toEqual({ problems: [], warnings: [warning] });
  });

  it('a file that is not JSON, or missing, is one FleetFileError naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-'));
    writeFileSync(join(dir, 'bad.json'), '{ "vaults": [ }');
    const error = (path: string): FleetFileError => {
      try {
        loadFleetFile(path);
      } catch (e) {
        if (e instanceof FleetFileError) return e;
        throw e;
      }
      throw new Error('loaded');
    };
    expect(error(join(dir, 'bad.json')).problems[0]).toMatch(/^not JSON: /);
    expect(error(join(dir, 'none.json')).problems).toEqual(['no such file']);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(fleet()));
    const loaded: FleetFile = loadFleetFile(join(dir, 'ok.json')).fleet;
    expect(loaded.vaults?.[0]?.name).toBe('kv-a');
  });
});
