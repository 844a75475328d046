import { request } from 'node:https';
import { LocalTokenCredential } from '../../local/azure/credential';
import { createLoopbackAgent } from '../../local/azure/seam';
import type { LocalAzure } from '../../local/azure/server';
import { APP_PRINCIPAL } from './localAzure';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/**
 * Plain HTTPS to an Azure URL (`https://<vault>.vault.azure.net/...`, `https://management.azure.com/...`)
 * through the same loopback seam the SDK clients use, with a bearer token for the right audience.
 */
export function rawClient(
  azure: LocalAzure,
): (method: string, url: string, body?: unknown) => Promise<RawResponse> {
  const agent = createLoopbackAgent({ port: azure.port, caCertPem: azure.caCertPem });
  const credential = new LocalTokenCredential(APP_PRINCIPAL, azure.tenantId);
  return async (method, url, body) => {
    const audience = new URL(url).hostname.endsWith('.vault.azure.net')
      ? 'https://vault.azure.net/.default'
      : 'https://management.azure.com/.default';
    const token = await credential.getToken(audience);
    const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${token.token}`,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(payload)),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
            } catch {
              // leave text
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  };
}
