import { setAzureTransport } from '../../../shared/adapters/transport';
import { createServices } from '../../../shared/composition';
import { loadConfig } from '../../../shared/config';
import { TransientError } from '../../../shared/ports/errors';
import { KEY, SUB_A, SUB_B, V1, VAULT, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

/**
 * Reads have two retry layers on purpose (shared/composition.ts): the SDK's (3 quick resends) under
 * the orchestrator's (8 attempts on durable timers). This counts the first: against a Key Vault and an
 * ARM answering 503 to every read, one failed read through the services the app builds is 4
 * requests (the first and 3 resends), then a retryable `TransientError` for the orchestrator. A write
 * is 1 request (writeOnce.ts; test/integration/adapters/serverFleet.test.ts and keyVaultKeysAdapter.test.ts).
 */
describe('how many requests a failed read sends below the orchestrator', () => {
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

  it('a Key Vault read: 4 requests answered 503, then TransientError', async () => {
    const services = createServices(config);
    await services.keys.readKeyVersion(VAULT_URL, KEY, V1); // the 401 challenge, out of the count
    await h.admin('faults', {
      method: 'POST',
      body: { service: 'keyvault', operation: 'keys.get', status: 503 },
    });
    const before = h.azure.requests.length;
    await expect(services.keys.readKeyVersion(VAULT_URL, KEY, V1)).rejects.toBeInstanceOf(TransientError);
    expect(refusedSince(before, 'keys.get')).toBe(4);
  });

  it('an ARM server read: 4 requests answered 503, then TransientError', async () => {
    const services = createServices(config);
    await h.admin('faults', {
      method: 'POST',
      body: { service: 'arm', operation: 'servers.get', status: 503 },
    });
    const before = h.azure.requests.length;
    await expect(services.fleet.getServer(serverId(SUB_A, 'rg-a', 'pg-a'))).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(refusedSince(before, 'servers.get')).toBe(4);
  });
});
