import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import {
  ResourceGraphFleetHealth,
  unhealthyServersQueries,
  WATCH_IDS_PER_QUERY,
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

  it('a watch longer than one chunk is read in bounded queries (id in~), each server once: thousands of open incidents never make one query grow without bound', async () => {
    const graph = new ResourceGraphFleetHealth({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    // 1,200 servers of a whole-vault outage that no longer exist, then pg-f (unhealthy: also found by
    // the first query) and pg-a (Ready) in the last chunk.
    const gone = Array.from({ length: 1200 }, (_, i) => serverId(SUB_A, 'rg-a', `pg-gone-${i}`));
    const watch = [...gone, serverId(SUB_B, 'rg-b', 'pg-f'), serverId(SUB_A, 'rg-a', 'pg-a').toUpperCase()];
    const before = (await h.admin<Logged[]>('requests')).length;
    const found = await graph.findUnhealthyServers(watch);
    const requests = (await h.admin<Logged[]>('requests')).slice(before);
    expect(requests.filter((r) => r.path.toLowerCase().includes('microsoft.resourcegraph'))).toHaveLength(
      Math.ceil(watch.length / WATCH_IDS_PER_QUERY),
    );
    expect(found.servers.map((s) => s.name).sort()).toEqual(['pg-a', 'pg-f']);
  });

  it.each([
    ['no watched id', 0, 1],
    ['one chunk of watched ids', WATCH_IDS_PER_QUERY, 1],
    ['one id more than a chunk', WATCH_IDS_PER_QUERY + 1, 2],
  ])('%s: %s ids make %s query(ies), each id named once', (_name, n, queries) => {
    const ids = Array.from({ length: n }, (_, i) => `/subscriptions/s/providers/x/flexibleServers/pg-${i}`);
    const q = unhealthyServersQueries([...ids, ...ids.map((i) => i.toUpperCase())]);
    expect(q).toHaveLength(queries);
    expect(q[0]).toContain("properties.state =~ 'Inaccessible'");
    expect(q.join('\n').match(/pg-\d+'/gi) ?? []).toHaveLength(n);
  });

  it('the query escapes the watched ids (a quote in an id cannot end the literal)', () => {
    expect(unhealthyServersQueries(["/x/it's"])[0]).toContain("id in~ ('/x/it\\'s')");
  });
});
