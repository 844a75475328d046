import { setAzureTransport } from '../../../shared/adapters/transport';
import { createServices, type ReadRetries } from '../../../shared/composition';
import { loadConfig } from '../../../shared/config';
import { TransientError } from '../../../shared/ports/errors';
import { KEY, SUB_A, SUB_B, V1, VAULT, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

/**
 * One retry layer for reads: the rotation's activities run under callStep, which retries a failed
 * read on durable timers, so their clients send a failed read once (shared/composition.ts,
 * `ReadRetries`); the triggers' clients (no durable retry above them) keep the SDK's 3 retries.
 * Counted as the stand-ins saw them: requests per failed read against a Key Vault and an ARM
 * answering 503 to every read.
 */
describe('how many requests a failed read sends, per retry layer', () => {
  let h: Harness;
  const config = loadConfig({
    CMK_SUBSCRIPTIONS: `${SUB_A},${SUB_B}`,
    CMK_ALLOWED_VAULTS: VAULT,
    CMK_DISCOVERY: 'armList',
    APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
  });

  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
    setAzureTransport({ credential: h.credential, clientOptions: h.clientOptions });
  });
  afterAll(async () => {
    setAzureTransport(undefined);
    await h.azure.close();
  });
  beforeEach(async () => {
    await h.admin('faults', { method: 'DELETE' });
  });

  const refusedSince = (before: number, operation: string): number =>
    h.azure.requests.slice(before).filter((r) => r.operation === operation && r.status === 503).length;

  it.each<[ReadRetries, number]>([
    ['orchestrator', 1],
    ['sdk', 4],
  ])(
    'a Key Vault read under %s retries: %i request(s) answered 503, then TransientError',
    async (retries, sent) => {
      const services = createServices(config, { readRetries: retries });
      await services.keys.readKeyVersion(VAULT_URL, KEY, V1); // the 401 challenge, out of the count
      await h.admin('faults', {
        method: 'POST',
        body: { service: 'keyvault', operation: 'keys.get', status: 503 },
      });
      const before = h.azure.requests.length;
      await expect(services.keys.readKeyVersion(VAULT_URL, KEY, V1)).rejects.toBeInstanceOf(TransientError);
      expect(refusedSince(before, 'keys.get')).toBe(sent);
    },
  );

  it.each<[ReadRetries, number]>([
    ['orchestrator', 1],
    ['sdk', 4],
  ])(
    'an ARM server read under %s retries: %i request(s) answered 503, then TransientError',
    async (retries, sent) => {
      const services = createServices(config, { readRetries: retries });
      await h.admin('faults', {
        method: 'POST',
        body: { service: 'arm', operation: 'servers.get', status: 503 },
      });
      const before = h.azure.requests.length;
      await expect(services.fleet.getServer(serverId(SUB_A, 'rg-a', 'pg-a'))).rejects.toBeInstanceOf(
        TransientError,
      );
      expect(refusedSince(before, 'servers.get')).toBe(sent);
    },
  );
});
