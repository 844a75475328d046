import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import {
  ResourceGraphFleetHealth,
  unhealthyServersQuery,
} from '../../../shared/adapters/resourceGraphFleetHealth';
import { ListedFleetHealth } from '../../../shared/ports/fleetHealth';
import { SUB_A, SUB_B, serverId, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';

interface Logged {
  readonly service: string;
  readonly method: string;
  readonly path: string;
}

/**
 * The health watch's one query, through the real Resource Graph client against the stand-in (which
 * runs the KQL for real), and the same filter over the ARM list (`CMK_DISCOVERY=armList`).
 */
describe('FleetHealth: one query for the servers that lost their key', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(testFleet(3).fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('finds the servers whose key status is Invalid with one Resource Graph request, plus the watched ones whatever their state; the ARM list agrees', async () => {
    const graph = new ResourceGraphFleetHealth({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    const listed = new ListedFleetHealth(
      new ArmServerFleet({
        credential: h.credential,
        subscriptions: [SUB_A, SUB_B],
        clientOptions: h.clientOptions,
      }),
    );
    // pg-f's identity holds no grant in the test fleet: its key status goes Invalid.
    await waitFor('pg-f Invalid', async () => {
      const servers =
        await h.admin<
          { name: string; properties: { dataEncryption?: { primaryEncryptionKeyStatus?: string } } }[]
        >('servers');
      return servers.find((s) => s.name === 'pg-f')?.properties.dataEncryption?.primaryEncryptionKeyStatus ===
        'Invalid'
        ? true
        : undefined;
    });
    const before = (await h.admin<Logged[]>('requests')).length;
    const found = await graph.findUnhealthyServers([serverId(SUB_A, 'rg-a', 'pg-a').toUpperCase()]);
    const requests = (await h.admin<Logged[]>('requests')).slice(before);
    expect(requests.filter((r) => r.path.toLowerCase().includes('microsoft.resourcegraph'))).toHaveLength(1);
    expect(requests.filter((r) => !r.path.toLowerCase().includes('microsoft.resourcegraph'))).toEqual([]);
    const view = (s: {
      name: string;
      state: string | undefined;
      dataEncryption?: { primaryEncryptionKeyStatus?: string | undefined } | undefined;
    }) => [s.name, s.state, s.dataEncryption?.primaryEncryptionKeyStatus];
    expect(found.servers.map(view).sort()).toEqual([
      ['pg-a', 'Ready', 'Valid'],
      ['pg-f', 'Ready', 'Invalid'],
    ]);
    expect(
      (await listed.findUnhealthyServers([serverId(SUB_A, 'rg-a', 'pg-a')])).servers.map(view).sort(),
    ).toEqual(found.servers.map(view).sort());
  });

  it('the query escapes the watched ids (a quote in an id cannot end the literal)', () => {
    expect(unhealthyServersQuery(["/x/it's"])).toContain("id =~ '/x/it\\'s'");
  });
});
