import { checkKeyAccess } from '../../../local/azure/world-grants';
import type { FleetFile } from '../../../local/azure/fleet';
import { World } from '../../../local/azure/world';
import { dataEncryptionOf, props } from '../../../local/azure/world-records';

const SUB = '6f1c2b9e-0000-4000-8000-000000000001';
const VAULT = 'contoso-pg-kv';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const IDENTITY = `/subscriptions/${SUB}/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg`;
const N = 300;

function fleet(): FleetFile {
  return {
    identities: [
      {
        id: IDENTITY,
        principalId: '1a2b3c4d-0001-4000-8000-000000000001',
        clientId: '9e8d7c6b-0001-4000-8000-000000000001',
      },
    ],
    vaults: [
      {
        name: VAULT,
        subscriptionId: SUB,
        resourceGroup: 'rg-security',
        access: [{ identity: IDENTITY, permissions: ['get', 'wrapKey', 'unwrapKey'] }],
        keys: [
          {
            name: 'pg-cmk',
            versions: [
              { version: V1, created: 'now-300d' },
              { version: V2, created: 'now-30d' },
            ],
          },
        ],
      },
    ],
    servers: Array.from({ length: N }, (_, i) => ({
      id: `/subscriptions/${SUB}/resourceGroups/rg-${i % 4}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-${i}`,
      location: 'westeurope',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [IDENTITY]: {} } },
      properties: {
        state: i === 7 ? 'Stopped' : 'Ready',
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: `https://${VAULT}.vault.azure.net/keys/pg-cmk/${i % 3 === 0 ? V1 : V2}`,
          primaryUserAssignedIdentityId: IDENTITY,
        },
      },
    })),
    behaviour: { inaccessibleAfterMs: 60_000 },
  };
}

/** What checking every server would say: the oracle the incremental pass must agree with. */
function expected(world: World): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const r of world.servers.values()) {
    const de = dataEncryptionOf(r.json);
    const uri = String(de?.['primaryKeyURI']);
    const ok = checkKeyAccess(world, uri, IDENTITY, false).ok;
    out[String(r.json['name'])] = [ok ? 'Valid' : 'Invalid', props(r.json)['state']];
  }
  return out;
}

function actual(world: World): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const r of world.servers.values())
    out[String(r.json['name'])] = [
      dataEncryptionOf(r.json)?.['primaryEncryptionKeyStatus'],
      props(r.json)['state'],
    ];
  return out;
}

describe("the stand-ins' key status check", () => {
  it('looks only at the servers whose key status can change, with the outcome of checking them all', async () => {
    const world = await World.load(fleet());
    const v1 = world
      .vaultByName(VAULT)
      ?.keys.get('pg-cmk')
      ?.versions.find((v) => v.version === V1);
    if (v1 === undefined) throw new Error('no V1');
    const onV1 = Math.ceil(N / 3);

    // Nothing changed since loading: nothing to look at.
    world.evaluateServers();
    expect(world.health.lastPassLooked).toBe(0);

    // The version a third of the fleet uses is disabled: those servers, and only those, go Invalid.
    v1.enabled = false;
    world.evaluateServers();
    expect(world.health.lastPassLooked).toBe(onV1);
    const invalid = Object.values(actual(world)).filter(([status]) => status === 'Invalid').length;
    // The Stopped server (pg-7, on V2) is not among them; none on V1 is Stopped.
    expect(invalid).toBe(onV1);

    // Time alone makes Invalid servers Inaccessible: they are watched, the others are not looked at.
    world.clock.advance(61_000);
    world.evaluateServers();
    expect(world.health.lastPassLooked).toBe(onV1);
    const states = Object.values(actual(world));
    expect(states.filter(([, state]) => state === 'Inaccessible')).toHaveLength(onV1);

    // Re-enabled: they recover, as checking every server would have them.
    v1.enabled = true;
    world.evaluateServers();
    const oracle = expected(world);
    for (const [name, [status, state]] of Object.entries(actual(world))) {
      // A Stopped server is not checked at all (as before): it keeps what its JSON said.
      if (name === 'pg-7') expect([status, state]).toEqual([undefined, 'Stopped']);
      else expect([name, status, state]).toEqual([name, oracle[name]?.[0], 'Ready']);
    }
    world.evaluateServers();
    expect(world.health.lastPassLooked).toBe(0);
  });

  it('looks again at a server whose JSON changed (a PATCH moved it to another key version)', async () => {
    const world = await World.load(fleet());
    const record = world.findServer(
      `/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
    );
    if (record === undefined) throw new Error('no pg-1');
    const de = dataEncryptionOf(record.json) ?? {};
    props(record.json)['dataEncryption'] = {
      ...de,
      primaryKeyURI: `https://${VAULT}.vault.azure.net/keys/pg-cmk/ffffffffffffffffffffffffffffffff`,
    };
    world.serverChanged(record);
    world.evaluateServers();
    expect(world.health.lastPassLooked).toBe(1);
    expect(dataEncryptionOf(record.json)?.['primaryEncryptionKeyStatus']).toBe('Invalid');
  });
});
