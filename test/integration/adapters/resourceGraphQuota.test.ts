import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { parseResetsAfter } from '../../../shared/adapters/resourceGraphQuota';
import { ResourceGraphServerFleet } from '../../../shared/adapters/resourceGraphServerFleet';
import { findAllServersReferencingKey } from '../../../shared/ports/serverFleet';
import { KEY, SUB_A, SUB_B, VAULT_URL, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';
import { rawClient } from '../../support/raw';

const QUERY_URL =
  'https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01';
const query = { subscriptions: [SUB_A, SUB_B], query: 'resources | project id' };
const OTHER = '5e5e5e5e-0000-4000-8000-00000000000a';

describe('Resource Graph quota: 15 queries per 5 s per principal (Learn, throttled requests guidance)', () => {
  it('the stand-in counts down x-ms-user-quota-remaining, says when it resets (hh:mm:ss) and refuses the 16th with 429', async () => {
    const h = await startHarness(testFleet().fleet);
    try {
      const call = rawClient(h.azure);
      const remaining: string[] = [];
      for (let i = 0; i < 15; i++) {
        const res = await call('POST', QUERY_URL, query);
        expect(res.status).toBe(200);
        remaining.push(String(res.headers['x-ms-user-quota-remaining']));
        expect(String(res.headers['x-ms-user-quota-resets-after'])).toMatch(/^00:00:0[1-5]$/);
      }
      expect(remaining).toEqual(Array.from({ length: 15 }, (_, i) => String(14 - i)));
      const refused = await call('POST', QUERY_URL, query);
      expect(refused.status).toBe(429);
      expect(refused.headers['x-ms-user-quota-remaining']).toBe('0');
      expect(refused.body).toMatchObject({ error: { code: 'RateLimiting' } });
      // The quota is per principal: another caller is not throttled.
      expect((await rawClient(h.azure, OTHER)('POST', QUERY_URL, query)).status).toBe(200);
    } finally {
      await h.azure.close();
    }
  });

  describe('the product adapter honours the quota headers (the SDK retries only on Retry-After)', () => {
    let h: Harness;
    let graph: ResourceGraphServerFleet;
    const queries = () => h.azure.requests.filter((r) => r.operation === 'resources.query');

    beforeEach(async () => {
      h = await startHarness(testFleet().fleet, { resourceGraphQuota: { requests: 3, windowMs: 1200 } });
      const arm = new ArmServerFleet({
        credential: h.credential,
        subscriptions: [SUB_A, SUB_B],
        clientOptions: h.clientOptions,
      });
      graph = new ResourceGraphServerFleet({
        credential: h.credential,
        subscriptions: [SUB_A, SUB_B],
        arm,
        clientOptions: h.clientOptions,
      });
    });
    afterEach(async () => {
      await h.azure.close();
    });

    it('waits for the window to reset once the quota is spent instead of being refused', async () => {
      for (let i = 0; i < 8; i++) {
        const servers = await findAllServersReferencingKey(graph, { vaultUrl: VAULT_URL, keyName: KEY });
        expect(servers.length).toBeGreaterThan(0);
      }
      expect(queries().map((r) => r.status)).toEqual(Array.from({ length: 8 }, () => 200));
    });

    it('retries a query refused with 429 after the window resets', async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          findAllServersReferencingKey(graph, { vaultUrl: VAULT_URL, keyName: KEY }),
        ),
      );
      expect(results.every((r) => r.length > 0)).toBe(true);
      const statuses = queries().map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(6);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    });
  });
});

describe('parseResetsAfter', () => {
  it.each([
    ['00:00:03', 3000],
    ['00:01:00', 60_000],
    ['01:00:05', 3_605_000],
    ['1.00:00:00', 86_400_000],
    ['00:00:00.5', 500],
  ])('reads %s', (value, ms) => {
    expect(parseResetsAfter(value)).toBe(ms);
  });

  it.each([[undefined], [''], ['3'], ['PT3S'], ['00:3']])('gives up on %s', (value) => {
    expect(parseResetsAfter(value)).toBeUndefined();
  });
});
