import type { TokenCredential } from '@azure/core-auth';
import { Agent } from 'node:https';
import { LocalTokenCredential } from '../../local/azure/credential';
import type { FleetFile } from '../../local/azure/fleet';
import { loopbackClientOptions } from '../../local/azure/seam';
import { startLocalAzure, type LocalAzure, type LocalAzureOptions } from '../../local/azure/server';
import { httpsJson } from './https';

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
  const admin = async <T>(path: string, init?: { method?: string; body?: unknown }): Promise<T> => {
    const res = await httpsJson(`${azure.url}/admin/${path}`, { agent, ...init });
    if (res.status >= 300) throw new Error(`admin ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
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
