import { LocalTokenCredential } from '../../local/azure/credential';
import { createLoopbackAgent } from '../../local/azure/seam';
import type { LocalAzure } from '../../local/azure/server';
import { httpsJson, type JsonResponse } from './https';
import { APP_PRINCIPAL } from './localAzure';

export type RawResponse = JsonResponse;

/**
 * Plain HTTPS to an Azure URL (`https://<vault>.vault.azure.net/...`, `https://management.azure.com/...`)
 * through the same loopback seam the SDK clients use, with a bearer token for the right audience.
 */
export function rawClient(
  azure: LocalAzure,
  principal = APP_PRINCIPAL,
): (method: string, url: string, body?: unknown) => Promise<RawResponse> {
  const agent = createLoopbackAgent({ port: azure.port, caCertPem: azure.caCertPem });
  const credential = new LocalTokenCredential(principal, azure.tenantId);
  return async (method, url, body) => {
    const audience = new URL(url).hostname.endsWith('.vault.azure.net')
      ? 'https://vault.azure.net/.default'
      : 'https://management.azure.com/.default';
    const token = await credential.getToken(audience);
    return httpsJson(url, { method, body, agent, headers: { authorization: `Bearer ${token.token}` } });
  };
}
