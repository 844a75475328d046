import type { TokenCredential } from '@azure/core-auth';
import { Agent, request } from 'node:https';
import { LocalTokenCredential } from '../../local/azure/credential';
import type { FleetFile } from '../../local/azure/fleet';
import { loopbackClientOptions } from '../../local/azure/seam';
import { startLocalAzure, type LocalAzure, type LocalAzureOptions } from '../../local/azure/server';

export const APP_PRINCIPAL = '0f0e0d0c-0b0a-4909-8807-060504030201';

export interface Harness {
  readonly azure: LocalAzure;
  readonly credential: TokenCredential;
  /** Client options that route an Azure SDK client to the stand-ins (retry delays shortened for tests). */
  readonly clientOptions: ReturnType<typeof loopbackClientOptions> & {
    retryOptions: { retryDelayInMs: number; maxRetryDelayInMs: number };
  };
  admin<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T>;
}

export async function startHarness(
  fleet: FleetFile,
  behaviour?: LocalAzureOptions['behaviour'],
): Promise<Harness> {
  const azure = await startLocalAzure({ fleet, ...(behaviour !== undefined ? { behaviour } : {}) });
  const credential = new LocalTokenCredential(APP_PRINCIPAL, azure.tenantId);
  const clientOptions = {
    ...loopbackClientOptions({ port: azure.port, caCertPem: azure.caCertPem }),
    retryOptions: { retryDelayInMs: 50, maxRetryDelayInMs: 200 },
  };
  const agent = new Agent({ ca: azure.caCertPem });
  const admin = <T>(path: string, init?: { method?: string; body?: unknown }): Promise<T> => {
    return new Promise<T>((resolve, reject) => {
      const payload = init?.body === undefined ? undefined : JSON.stringify(init.body);
      const req = request(
        `${azure.url}/admin/${path}`,
        {
          method: init?.method ?? 'GET',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(payload ?? '')),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 300)
              reject(new Error(`admin ${path}: HTTP ${res.statusCode ?? '?'} ${text}`));
            else resolve(JSON.parse(text) as T);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  };
  return { azure, credential, clientOptions, admin };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
