import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setAzureTransport } from '../shared/adapters/transport';
import { SETTINGS } from '../shared/config';
import { LocalTokenCredential } from './azure/credential';
import type { FleetFile } from './azure/fleet';
import { loopbackClientOptions } from './azure/seam';
import type { LocalAzure } from './azure/server';
import type { LocalHost } from './host/host';
import { alive } from './lock';

/** The app's principal in the local world (what a managed identity's object id is in Azure). */
export const LOCAL_APP_PRINCIPAL = '0f0e0d0c-0b0a-4909-8807-060504030201';

/** A 32-character Events API v2 integration key for the PagerDuty stand-in (not a secret of anyone's). */
export const LOCAL_PAGERDUTY_ROUTING_KEY = 'R0CALPGCMKROTATOR000000000000001';

export interface LocalAzureTarget {
  readonly port: number;
  readonly caCertPem: string;
  readonly tenantId: string;
  /** https://127.0.0.1:<port>: ingestion, PagerDuty and webhooks live there. */
  readonly url: string;
}

/**
 * Points the app's adapters at the stand-ins: the one seam (shared/adapters/transport.ts) the local
 * runtime sets before it loads `functions/`. Identifiers stay Azure's; only connections are redirected.
 */
export function connectAppToLocalAzure(
  target: LocalAzureTarget,
  principalId = LOCAL_APP_PRINCIPAL,
  now?: () => Date,
): void {
  setAzureTransport({
    ...(now !== undefined ? { now } : {}),
    credential: new LocalTokenCredential(principalId, target.tenantId),
    clientOptions: {
      ...loopbackClientOptions({ port: target.port, caCertPem: target.caCertPem }),
      retryOptions: { retryDelayInMs: 200, maxRetryDelayInMs: 2_000 },
    },
  });
}

/**
 * The app settings a local run uses, derived from the fleet and the stand-ins (ingestion, PagerDuty, a
 * Teams webhook). Scope as in a real estate: CMK_SUBSCRIPTIONS lists the subscriptions of the fleet's
 * servers only; vaults are named by URL in CMK_ALLOWED_VAULTS (Managed HSMs on their own host) and
 * their subscriptions go to CMK_VAULT_SUBSCRIPTIONS, never into CMK_SUBSCRIPTIONS. Settings already in
 * `env` win.
 */
export function localAppSettings(
  target: LocalAzureTarget,
  fleet: FleetFile,
  env: Readonly<Record<string, string | undefined>> = {},
): Record<string, string> {
  const serverSubscriptions = new Set<string>();
  for (const s of fleet.servers ?? []) {
    const m = /^\/subscriptions\/([^/]+)\//i.exec(
      typeof s === 'object' && s !== null ? String((s as { id?: unknown }).id) : '',
    );
    if (m?.[1] !== undefined) serverSubscriptions.add(m[1].toLowerCase());
  }
  const vaults = fleet.vaults ?? [];
  const vaultSubscriptions = new Set(vaults.map((v) => v.subscriptionId.toLowerCase()));
  const vaultUrl = (v: { name: string; kind?: string }) =>
    `https://${v.name.toLowerCase()}.${v.kind === 'managedHsm' ? 'managedhsm' : 'vault'}.azure.net`;
  const defaults: Record<string, string> = {
    [SETTINGS.subscriptions]: [...serverSubscriptions].join(','),
    [SETTINGS.allowedVaults]: vaults.map(vaultUrl).join(','),
    [SETTINGS.vaultSubscriptions]: [...vaultSubscriptions].join(','),
    [SETTINGS.applicationInsights]: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=${target.url}/`,
    [SETTINGS.pagerDutyRoutingKey]: LOCAL_PAGERDUTY_ROUTING_KEY,
    [SETTINGS.pagerDutyEventsUrl]: `${target.url}/v2/enqueue`,
    [SETTINGS.teamsWebhookUrl]: `${target.url}/hooks/teams`,
    [SETTINGS.pollIntervalSeconds]: '1',
    APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(defaults)) out[k] = env[k] ?? v;
  return out;
}

/** Subscribes every Event Grid trigger of the loaded app to the local Key Vault events (handshake included). */
export async function subscribeEventGridTriggers(azure: LocalAzure, host: LocalHost): Promise<string[]> {
  const names: string[] = [];
  for (const fn of host.registry.functions.values()) {
    if (fn.trigger.type !== 'eventGridTrigger') continue;
    const name = `${fn.metadata.name.toLowerCase()}-sub`.replace(/[^a-z0-9-]/g, '-');
    await azure.eventGrid.subscribe({
      name,
      endpoint: host.eventGridUrl(fn.metadata.name),
      deadLetter: true,
    });
    names.push(name);
  }
  return names;
}

/**
 * The Application Insights SDK takes no CA option and Node reads NODE_EXTRA_CA_CERTS only at process
 * start, so a process that loads the app must be started trusting the local CA (the npm scripts do);
 * otherwise every audit record would fail. Fails fast with what to do.
 */
export function assertLocalCaTrusted(caCertPath: string): void {
  const configured = process.env['NODE_EXTRA_CA_CERTS'];
  if (configured === undefined || resolve(configured) !== resolve(caCertPath))
    throw new Error(
      `start this process with NODE_EXTRA_CA_CERTS=${caCertPath} (npm start and npm run local do): the audit trail reaches the local ingestion endpoint only through it`,
    );
}

/**
 * What `npx pg-cmk-rotator` (cli/client.ts) and `npm run local:rotate` read to reach a local runtime:
 * the READY line's values plus the app's URL, function key and status page.
 */
export interface ReadyFile {
  readonly url: string;
  readonly key: string;
  readonly statusUrl: string;
  readonly pid: number;
  readonly [described: string]: unknown;
}

/** The ready file belongs to another local runtime that still runs. */
export class ReadyFileInUseError extends Error {
  constructor(
    readonly path: string,
    readonly pid: number,
  ) {
    super(
      `${path} is the ready file of another local runtime (process ${pid}), which still runs: stop it, or give this one --ready-file <file> (the CLI then takes --ready <file>)`,
    );
  }
}

/**
 * Refuses a ready file another live runtime wrote (its pid in the file): a second `npm run local` must
 * neither overwrite it nor, when it stops, remove it. A file left by a process that is gone is free.
 */
export function assertReadyFileFree(path: string): void {
  let pid: unknown;
  try {
    pid = (JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }).pid;
  } catch {
    return; // none, or not a ready file: free to write
  }
  if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
    throw new ReadyFileInUseError(path, pid);
}

/** Writes the ready file (owner-only: it carries the function key); refuses another live runtime's. */
export function writeReadyFile(
  path: string,
  host: LocalHost,
  described: Readonly<Record<string, unknown>> = {},
): ReadyFile {
  assertReadyFileFree(path);
  const ready: ReadyFile = {
    ...described,
    url: host.url,
    key: host.keys.functionKey,
    statusUrl: `${host.url}/api/status?code=${host.keys.functionKey}`,
    pid: process.pid,
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(ready, null, 2)}\n`, { mode: 0o600 });
  return ready;
}

/** Removes the ready file if it is still this process's (another runtime may have written it since). */
export function removeReadyFile(path: string): void {
  try {
    const ready = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
    if (ready.pid === process.pid) rmSync(path, { force: true });
  } catch {
    // already gone
  }
}
