import { KeyClient } from '@azure/keyvault-keys';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEALTH_WATCH_INSTANCE_ID } from '../../shared/domain/healthWatch';
import { tryParseKeyUri } from '../../shared/domain/keyId';
import { FUNCTION_NAMES } from '../../shared/domain/names';
import type { RotationOutput } from '../../shared/rotation/contract';
import { customEventsOf, type CustomEvent, type TelemetryItem } from '../../local/azure/capture';
import { disabledSetting } from '../../local/host/timers';
import { LocalTokenCredential } from '../../local/azure/credential';
import type { FleetFile } from '../../local/azure/fleet';
import { loopbackClientOptions } from '../../local/azure/seam';
import type { LocalAzure } from '../../local/azure/server';
import { localAppSettings } from '../../local/app';
import { serverResults, type ServerResult } from '../../local/results';
import { readyLine, startHost, type HostProcess, type LocalReady } from './hostProcess';
import { httpsJson } from './https';
import { waitFor } from './localAzure';

const ROOT = join(__dirname, '..', '..');
export const DEMO_FLEET = join(ROOT, 'local', 'fleets', 'demo.json');
export const VAULT = 'contoso-pg-kv';
export const KEY = 'pg-cmk';
export const INSTANCE_ID = `cmk-rotation:${VAULT}:${KEY}`;
const OPERATOR = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';

/** The demo fleet's servers on the rotated key that must end on the new version. */
export const ELIGIBLE = ['pg-orders-prod', 'pg-billing-prod', 'pg-inventory-prod'];

/**
 * Whether a kill may have cut off the write step of an operation ARM started at `startTime` before the
 * step's answer was in the history (within 3 s on the demo fleet; all times by the stand-ins' clock):
 * the re-run step finds the server Updating or on the target, cannot tell the PATCH was ours, and the
 * server ends verified without a `ServerUpdateStarted` record (README, "The one window a second PATCH
 * can still get through"). With the app in a worker process, the worker outlives a SIGKILLed host until
 * its event loop sees the channel close: a PATCH it had on the wire reaches ARM just after the kill (up
 * to 1 s counted), its answer lost the same way.
 */
export function killedInWriteWindow(startTime: number, kills: readonly number[]): boolean {
  return kills.some((k) => k - startTime < 3000 && startTime - k < 1000);
}

export function demoFleet(): FleetFile {
  return JSON.parse(readFileSync(DEMO_FLEET, 'utf8')) as FleetFile;
}

export type AuditEvent = CustomEvent;

export interface ArmRequest {
  readonly method: string;
  readonly path: string;
  readonly service: string;
  readonly status: number;
}

/**
 * The product as `npm run local` runs it: one process with the local Azure and the local Functions
 * host loading this repository's `functions/` (the build in dist/), sharing one clock, the app's Event
 * Grid trigger subscribed to Key Vault's events. Tests drive it like an operator would: the real Key
 * Vault client, the admin API of the stand-ins, the Durable Functions HTTP API.
 */
export interface Product {
  readonly hostUrl: string;
  readonly functionKey: string;
  readonly masterKey: string;
  readonly systemKey: string;
  /** The folder of the runtime's data (its ready file is `<dir>/host/ready.json`). */
  readonly dir: string;
  readonly keys: KeyClient;
  /** Where Azure SDK clients of the test reach the stand-ins (for clients of other vaults, e.g. an HSM). */
  readonly loopback: { readonly port: number; readonly caCertPem: string };
  readonly child: ChildProcess;
  /** The functions the host indexed from `functions/`. */
  readonly functions: readonly { name: string; trigger: string }[];
  admin<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T>;
  /**
   * The audit records, without the health watch's (correlation `cmk-health-watch`): its passes run on the
   * host's real-time timer and page unhealthy demo servers whenever a minute turns, so a test that counts
   * the rotation's records would otherwise depend on the clock. `{ healthWatch: true }` keeps them.
   */
  audit(options?: { readonly healthWatch?: boolean }): Promise<AuditEvent[]>;
  /** The rotation's incidents by dedup key (the health watch's are left out). */
  incidents(): Promise<Record<string, { status: string; severity: string; summary: string }>>;
  patches(serverName?: string): Promise<ArmRequest[]>;
  /** The PATCHed primary key version of each server, as ARM returns it now. */
  primaryVersions(): Promise<Record<string, string | undefined>>;
  instance(): Promise<{ runtimeStatus: string; output: RotationOutput | undefined } | undefined>;
  /**
   * The ids of every instance the task hub knows (Durable Functions HTTP API) but the health watch's:
   * its timer starts a pass whenever a minute turns, whatever a test does.
   */
  instanceIds(): Promise<string[]>;
  /**
   * Every server's result in the key's rotation: the output lists those that need attention, the
   * audit trail proves the others (`serverResults`, local/results.ts).
   */
  results(output: RotationOutput): Promise<ServerResult[]>;
  /** Waits for the key's rotation to complete; optionally until its output targets `version`. */
  completed(version?: string, timeoutMs?: number): Promise<RotationOutput>;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * The sweep's timer is off unless `env` sets `CMK_SWEEP_SCHEDULE`: on its default schedule (every 6 h at
 * :17 UTC) it fires into whichever test runs then, reads every key and may start rotations (a CI run at
 * 12:17 once counted its 9 Key Vault reads as the intake's). Off as in Azure: `AzureWebJobs.<name>.Disabled`.
 */
function withSweepOffUnlessScheduled(env: Record<string, string> = {}): Record<string, string> {
  return env['CMK_SWEEP_SCHEDULE'] === undefined
    ? { [disabledSetting(FUNCTION_NAMES.reconcileSweep)]: 'true', ...env }
    : env;
}

/** The product on the local runtime (`npm start`'s job) in a child process; the sweep as above. */
export async function startProduct(
  options: { fleet?: FleetFile; env?: Record<string, string> } = {},
): Promise<Product> {
  const dir = mkdtempSync(join(tmpdir(), 'product-'));
  const fleetFile = join(dir, 'fleet.json');
  writeFileSync(fleetFile, JSON.stringify(options.fleet ?? demoFleet()));
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist', 'local', 'main.js'), '--fleet', fleetFile, '--data', join(dir, 'host')],
    {
      env: { ...process.env, ...withSweepOffUnlessScheduled(options.env) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const ready = await waitFor(
    `READY from the local runtime:\n${output}`,
    () => {
      if (child.exitCode !== null) throw new Error(`local runtime exited:\n${output}`);
      return readyLine(output) as LocalReady | undefined;
    },
    30_000,
  );
  const ca = readFileSync(ready.caCertPath, 'utf8');
  const agent = new Agent({ ca });
  const admin = async <T>(path: string, init?: { method?: string; body?: unknown }): Promise<T> => {
    const res = await httpsJson(`${ready.loopback}/admin/${path}`, { agent, ...init });
    if (res.status >= 300) throw new Error(`admin ${path}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as T;
  };
  const keys = new KeyClient(
    `https://${VAULT}.vault.azure.net`,
    new LocalTokenCredential(OPERATOR, ready.tenantId),
    loopbackClientOptions({ port: ready.port, caCertPem: ca }),
  );
  const instance = async () => {
    const res = await fetch(
      `${ready.hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${ready.durableTaskSystemKey}`,
    );
    if (res.status === 404) return undefined;
    const body = (await res.json()) as { runtimeStatus: string; output?: RotationOutput };
    return { runtimeStatus: body.runtimeStatus, output: body.output };
  };
  const instanceIds = async (): Promise<string[]> => {
    const res = await fetch(
      `${ready.hostUrl}/runtime/webhooks/durabletask/instances?code=${ready.durableTaskSystemKey}`,
    );
    if (res.status !== 200) throw new Error(`listing instances: HTTP ${res.status}`);
    return ((await res.json()) as { instanceId: string }[])
      .map((i) => i.instanceId)
      .filter((id) => id !== HEALTH_WATCH_INSTANCE_ID);
  };
  const product: Product = {
    hostUrl: ready.hostUrl,
    functionKey: ready.functionKey,
    masterKey: ready.masterKey,
    systemKey: ready.durableTaskSystemKey,
    dir,
    keys,
    loopback: { port: ready.port, caCertPem: ca },
    child,
    functions: ready.functions,
    admin,
    instanceIds,
    audit: async (options) =>
      customEventsOf(await admin<TelemetryItem[]>('telemetry')).filter(
        (e) => options?.healthWatch === true || e.properties['correlationId'] !== HEALTH_WATCH_INSTANCE_ID,
      ),
    results: async (output) =>
      serverResults(output, customEventsOf(await admin<TelemetryItem[]>('telemetry')), INSTANCE_ID),
    incidents: async () => {
      const pages = await admin<{
        incidents: Record<string, { status: string; severity: string; summary: string }>;
      }>('pages');
      // The health watch's pages (`cmk-health:*`) come on the host's real-time timer whenever a server
      // is unhealthy: left out here, test/e2e/healthWatch.test.ts checks them.
      return Object.fromEntries(
        Object.entries(pages.incidents).filter(([k]) => !k.startsWith('cmk-health:')),
      );
    },
    patches: async (serverName) =>
      (await admin<ArmRequest[]>('requests')).filter(
        (r) =>
          r.method === 'PATCH' &&
          r.path.includes('/flexibleServers/') &&
          (serverName === undefined || r.path.split('?')[0]?.endsWith(`/flexibleServers/${serverName}`)),
      ),
    primaryVersions: async () => {
      const servers =
        await admin<{ name: string; properties: { dataEncryption?: { primaryKeyURI?: string } } }[]>(
          'servers',
        );
      return Object.fromEntries(
        servers.map((s) => [s.name, tryParseKeyUri(s.properties.dataEncryption?.primaryKeyURI)?.version]),
      );
    },
    instance,
    completed: (version, timeoutMs = 60_000) =>
      waitFor(
        `the rotation to complete${version !== undefined ? ` on ${version}` : ''}`,
        async () => {
          const i = await instance();
          if (i?.runtimeStatus === 'Failed') throw new Error(`rotation failed: ${JSON.stringify(i.output)}`);
          return i?.runtimeStatus === 'Completed' &&
            i.output !== undefined &&
            (version === undefined || i.output.targetVersion === version)
            ? i.output
            : undefined;
        },
        timeoutMs,
      ),
    logs: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  return product;
}

/**
 * The app in a host process of its own (`dist/local/host/main.js`) on this test's stand-ins, with the
 * app settings the local wiring derives from the fleet (the sweep off, as in `startProduct`), and Event
 * Grid's key events subscribed to its intake: what a host restart after SIGKILL starts again on the same
 * `dataDir`.
 */
export async function startAppHost(
  azure: LocalAzure,
  fleet: FleetFile,
  dataDir: string,
  /** More host options: `['--workers', '1']` runs the app's code in a worker process. */
  extraArgs: readonly string[] = [],
): Promise<HostProcess> {
  return startHost({
    app: ROOT,
    dataDir,
    args: [
      '--azure-port',
      String(azure.port),
      '--azure-ca',
      azure.caCertPath,
      '--azure-tenant',
      azure.tenantId,
      ...extraArgs,
    ],
    env: withSweepOffUnlessScheduled(localAppSettings(azure, fleet)),
  });
}

/** Subscribes the app's intake (its Event Grid trigger, by system key) to the local Key Vault's events. */
export async function subscribeIntake(azure: LocalAzure, host: HostProcess): Promise<void> {
  await azure.eventGrid.subscribe({
    name: 'keyvaultevents-sub',
    endpoint: `${host.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${host.eventGridSystemKey}`,
  });
}
