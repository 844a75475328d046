import { KeyClient } from '@azure/keyvault-keys';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { localAppSettings } from '../local/app';
import { LocalTokenCredential } from '../local/azure/credential';
import type { FleetFile } from '../local/azure/fleet';
import { loopbackClientOptions } from '../local/azure/seam';
import { InstanceStore } from '../local/host/durable/store';
import { SETTINGS } from '../shared/config';
import { rotationInstanceId } from '../shared/domain/rotation';
import { firstPatchAt, lastVerificationAt, type ArmLogEntry } from './armTimeline';

/**
 * `npm run bench:fleet -- --servers 1000 --subscriptions 3`: a whole rotation at fleet scale on the
 * local runtime, the stand-ins and the Functions host each in its own process (as Azure and the app
 * are apart). Generates a fleet (ARM `Server` JSON on versioned key URIs, some with a geo-backup key,
 * a canary ring by tag), rotates the key through Key Vault, waits until the rotation completes and
 * prints figures — no timed assertion anywhere.
 *
 * Both timings are read from what ARM saw (the stand-ins' request log, `bench/armTimeline.ts`):
 * event → first PATCH is when ARM received the first PATCH, event → all verified is when ARM received
 * the last verifying GET (each server's last successful GET, the latest over the fleet). Event →
 * rotation completed (the orchestration's last update) is printed beside it.
 *
 * The ARM bound is what ARM's own throttling allows for this fleet: per subscription a write bucket
 * (burst + refill per second) and a read bucket, at one PATCH and three reads per server (prepare GET,
 * operation status, verifying GET), plus one LRO for the canary ring and one for the rest.
 */

/** The repository: this file runs from dist/bench (npm run bench:fleet) or from bench/ (jest). */
const ROOT = join(__dirname, '..', ...(__dirname.includes(join('dist', 'bench')) ? ['..'] : []));
const AZURE_MAIN = join(ROOT, 'dist', 'local', 'azure', 'main.js');
const HOST_MAIN = join(ROOT, 'dist', 'local', 'host', 'main.js');
const VAULT = 'contoso-pg-kv';
const GEO_VAULT = 'contoso-pg-geo-kv';
const KEY = 'pg-cmk';
/** The rotation's instance id, as the product builds it for this key. */
const INSTANCE_ID = rotationInstanceId(`https://${VAULT}.vault.azure.net`, KEY);
const OPERATOR = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const GEO_V = '0c1d2e3f405162738495a6b7c8d9eafb';
const CANARY_TAG = 'cmk-rotation-ring';
/** ARM's token buckets per subscription and principal (the stand-ins' defaults). */
const WRITES = { burst: 200, perSecond: 10 };
const READS = { burst: 250, perSecond: 25 };
const READS_PER_SERVER = 3;

export interface FleetBenchOptions {
  readonly servers: number;
  readonly subscriptions: number;
  /** Simulated LRO duration of a PATCH (ms). */
  readonly lroMs?: number;
  /** CMK_POLL_INTERVAL_SECONDS. */
  readonly pollSeconds?: number;
  /** CMK_MAX_PARALLEL_UPDATES; the product's default when absent. */
  readonly maxParallel?: number;
  /** Give up after this long (a safety net for CI, not a figure). */
  readonly timeoutMs?: number;
  /**
   * Once the rotation runs, re-deliver the key event this many times to the intake (as Event Grid
   * does when it redelivers: the same event, the same id, a higher `aeg-delivery-count`), 50 at once,
   * and time each answer. None when absent.
   */
  readonly duplicates?: number;
  readonly log?: (line: string) => void;
  /** Called once the rotation is over with what ARM saw, before the stand-ins stop (tests check the figures). */
  readonly inspect?: (seen: ArmSeen) => void;
}

/** What the benchmark read its ARM timings from. */
export interface ArmSeen {
  /** When the key was rotated (epoch ms, the bench's clock). */
  readonly eventAt: number;
  /** The fleet's server ids. */
  readonly serverIds: readonly string[];
  /** The stand-ins' request log from the event on. */
  readonly requests: readonly ArmLogEntry[];
}

export interface FleetBenchResult {
  readonly servers: number;
  readonly subscriptions: number;
  readonly canaries: number;
  readonly geoBackup: number;
  readonly runtimeStatus: string;
  /** Servers ARM reports on the new version with a Valid key status, Ready. */
  readonly verifiedServers: number;
  /** When ARM received the first PATCH, from the event. */
  readonly eventToFirstPatchMs: number | undefined;
  /**
   * When ARM received the last verifying GET (each server's last successful GET, the latest over the
   * fleet), from the event; undefined when a server was never read.
   */
  readonly eventToAllVerifiedMs: number | undefined;
  /** When the rotation orchestration completed (its last update), from the event. */
  readonly eventToCompletedMs: number;
  readonly armBoundMs: number;
  /** `eventToAllVerifiedMs` / `armBoundMs`. */
  readonly ratio: number | undefined;
  readonly armRequests: number;
  readonly armRequestsPerServer: number;
  readonly resourceGraphRequests: number;
  readonly throttled429: number;
  readonly hostCpuMs: number | undefined;
  readonly hostCpuPerServerMs: number | undefined;
  readonly hostPeakRssMb: number | undefined;
  readonly standInsPeakRssMb: number | undefined;
  /** CPU of the stand-ins' process from the event to completion. */
  readonly standInsCpuMs: number | undefined;
  readonly parentHistoryEvents: number | undefined;
  readonly parentHistoryBytes: number;
  /** The intake under a burst of duplicate deliveries (`duplicates`). */
  readonly intake?: IntakeBurst | undefined;
}

export interface IntakeBurst {
  readonly deliveries: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** HTTP status → count: every duplicate must be answered 2xx (accepted, dropped as a duplicate). */
  readonly statuses: Readonly<Record<string, number>>;
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

/** `n` deliveries of `event` to the intake, `concurrency` at a time; each answer timed. */
async function intakeBurst(
  url: string,
  event: unknown,
  n: number,
  concurrency: number,
): Promise<IntakeBurst> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let sent = 0;
  const body = JSON.stringify([event]);
  const worker = async (): Promise<void> => {
    while (sent < n) {
      sent++;
      const t = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'aeg-event-type': 'Notification',
          'aeg-subscription-name': 'KEYVAULTEVENTS-SUB',
          'aeg-delivery-count': String(sent),
          'aeg-data-version': '1',
          'aeg-metadata-version': '1',
        },
        body,
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
      statuses[String(res.status)] = (statuses[String(res.status)] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sorted = latencies.sort((a, b) => a - b);
  return {
    deliveries: n,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    statuses,
  };
}

function uuid(prefix: string, n: number): string {
  return `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** A fleet of `n` servers over `subs` subscriptions, all on versioned URIs of one key. */
export function generateFleet(n: number, subs: number, lroMs: number): FleetFile {
  const subscriptions = Array.from({ length: subs }, (_, i) => uuid('6f1c2b9e', i + 1));
  const sub0 = subscriptions[0] ?? '';
  const identityId = (sub: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  const identities = subscriptions.flatMap((sub, i) => [
    {
      id: identityId(sub, 'id-pg-cmk'),
      principalId: uuid('1a2b3c4d', 2 * i + 1),
      clientId: uuid('9e8d7c6b', 2 * i + 1),
    },
    {
      id: identityId(sub, 'id-pg-cmk-geo'),
      principalId: uuid('1a2b3c4d', 2 * i + 2),
      clientId: uuid('9e8d7c6b', 2 * i + 2),
    },
  ]);
  const servers = Array.from({ length: n }, (_, i) => {
    const sub = subscriptions[i % subs] ?? sub0;
    const name = `pg-fleet-${String(i).padStart(5, '0')}`;
    const rg = `rg-pg-${(i % 7) + 1}`;
    const primary = identityId(sub, 'id-pg-cmk');
    const geo = i % 5 === 0 ? identityId(sub, 'id-pg-cmk-geo') : undefined;
    const canary = i % 100 === 0;
    return {
      sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' },
      systemData: { createdAt: '2025-06-01T18:30:22.123456Z' },
      identity: {
        type: 'UserAssigned',
        userAssignedIdentities: { [primary]: {}, ...(geo !== undefined ? { [geo]: {} } : {}) },
      },
      properties: {
        replica: { role: 'Primary', capacity: 5 },
        storage: { type: '', iops: 2300, tier: 'P20', storageSizeGB: 512, autoGrow: 'Disabled' },
        network: { publicNetworkAccess: 'Disabled' },
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: `https://${VAULT}.vault.azure.net/keys/${KEY}/${i % 3 === 0 ? V1 : V2}`,
          primaryUserAssignedIdentityId: primary,
          primaryEncryptionKeyStatus: 'Valid',
          ...(geo !== undefined
            ? {
                geoBackupKeyURI: `https://${GEO_VAULT}.vault.azure.net/keys/${KEY}-geo/${GEO_V}`,
                geoBackupUserAssignedIdentityId: geo,
                geoBackupEncryptionKeyStatus: 'Valid',
              }
            : {}),
        },
        authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Enabled' },
        fullyQualifiedDomainName: `${name}.postgres.database.azure.com`,
        version: '17',
        minorVersion: '5',
        administratorLogin: 'pgadmin',
        state: 'Ready',
        availabilityZone: '1',
        backup: {
          backupRetentionDays: 7,
          geoRedundantBackup: geo !== undefined ? 'Enabled' : 'Disabled',
          earliestRestoreDate: '2025-06-01T18:35:22.123456Z',
        },
        highAvailability: { mode: 'Disabled', state: 'NotEnabled' },
        replicationRole: 'Primary',
      },
      location: 'West Europe',
      tags: { env: i % 4 === 0 ? 'staging' : 'prod', ...(canary ? { [CANARY_TAG]: '0' } : {}) },
      id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`,
      name,
      type: 'Microsoft.DBforPostgreSQL/flexibleServers',
    };
  });
  const grants = (suffix: string) =>
    identities
      .filter((x) => x.id.endsWith(suffix))
      .map((x) => ({ identity: x.id, permissions: ['get', 'wrapKey', 'unwrapKey'] }));
  return {
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    identities,
    vaults: [
      {
        name: VAULT,
        subscriptionId: sub0,
        resourceGroup: 'rg-security',
        access: grants('/id-pg-cmk'),
        keys: [
          {
            name: KEY,
            kty: 'RSA',
            size: 2048,
            rotationPolicy: {
              lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
              attributes: { expiryTime: 'P1Y' },
            },
            versions: [
              { version: V1, created: 'now-300d', exp: 'now+65d' },
              { version: V2, created: 'now-30d', exp: 'now+335d' },
            ],
          },
        ],
      },
      {
        name: GEO_VAULT,
        subscriptionId: sub0,
        resourceGroup: 'rg-security',
        location: 'northeurope',
        access: grants('/id-pg-cmk-geo'),
        keys: [{ name: `${KEY}-geo`, versions: [{ version: GEO_V, created: 'now-30d' }] }],
      },
    ],
    servers,
    behaviour: { updateDurationMs: lroMs, eventGridRetryScale: 0.01 },
  };
}

/** ARM's bound for the fleet: canary LRO + the slowest subscription's throttled calls + one LRO. */
export function armBoundMs(n: number, subs: number, lroMs: number): number {
  const perSub = Math.ceil(n / subs);
  const writes = Math.max(0, (perSub - WRITES.burst) / WRITES.perSecond);
  const reads = Math.max(0, (perSub * READS_PER_SERVER - READS.burst) / READS.perSecond);
  return lroMs + Math.max(writes, reads) * 1000 + lroMs;
}

/** CPU (user + system) and peak RSS of a live process, from /proc (Linux); undefined elsewhere. */
function procStats(pid: number | undefined): { cpuMs: number; peakRssMb: number } | undefined {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) in clock ticks (USER_HZ, 100 on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuMs: ticks * 10, peakRssMb: Number(hwm ?? 0) / 1024 };
}

function startProcess(
  args: string[],
  env: Record<string, string | undefined>,
  name: string,
): Promise<{ child: ChildProcess; ready: Record<string, unknown>; logs: () => string }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    // Only the head of the log is kept: a fleet run logs per server.
    if (output.length < 200_000) output += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    if (output.length < 200_000) output += c.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 120_000);
    const check = () => {
      const line = output.split('\n').find((l) => l.startsWith('READY '));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve({ child, ready: JSON.parse(line.slice(6)) as Record<string, unknown>, logs: () => output });
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? 'a signal'}:\n${output}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function httpsJson(url: string, agent: Agent, method = 'GET', body?: unknown): Promise<unknown> {
  const payload = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300)
            reject(new Error(`${method} ${url}: HTTP ${res.statusCode ?? '?'} ${text}`));
          else resolve(text === '' ? undefined : JSON.parse(text));
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFleetBench(options: FleetBenchOptions): Promise<FleetBenchResult> {
  const log = options.log ?? (() => undefined);
  const n = options.servers;
  const subs = options.subscriptions;
  const lroMs = options.lroMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const fleet = generateFleet(n, subs, lroMs);
  const fleetFile = join(dir, 'fleet.json');
  writeFileSync(fleetFile, JSON.stringify(fleet));
  const dataDir = join(dir, 'host');
  const children: ChildProcess[] = [];
  try {
    const azure = await startProcess([AZURE_MAIN, '--fleet', fleetFile], process.env, 'the stand-ins');
    children.push(azure.child);
    const port = Number(azure.ready['port']);
    const caCertPath = String(azure.ready['caCertPath']);
    const tenantId = String(azure.ready['tenantId']);
    const loopback = String(azure.ready['loopback']);
    const caCertPem = readFileSync(caCertPath, 'utf8');
    const agent = new Agent({ ca: caCertPem, keepAlive: true });
    const admin = (path: string, method = 'GET', body?: unknown) =>
      httpsJson(`${loopback}/admin/${path}`, agent, method, body);

    // The product's default parallelism unless the run names one (the local settings pin one).
    const settings = Object.fromEntries(
      Object.entries({
        ...localAppSettings({ port, caCertPem, tenantId, url: loopback }, fleet),
        [SETTINGS.pollIntervalSeconds]: String(options.pollSeconds ?? 1),
      }).filter(([k]) => k !== SETTINGS.maxParallelUpdates),
    );
    if (options.maxParallel !== undefined)
      settings[SETTINGS.maxParallelUpdates] = String(options.maxParallel);
    const host = await startProcess(
      [
        HOST_MAIN,
        '--app',
        ROOT,
        '--data',
        dataDir,
        '--azure-port',
        String(port),
        '--azure-ca',
        caCertPath,
        '--azure-tenant',
        tenantId,
      ],
      { ...process.env, NODE_EXTRA_CA_CERTS: caCertPath, ...settings },
      'the host',
    );
    children.push(host.child);
    const hostUrl = String(host.ready['hostUrl']);
    const taskKey = String(host.ready['durableTaskSystemKey']);
    const intakeUrl = `${hostUrl}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${String(host.ready['eventGridSystemKey'])}`;
    await admin('eventgrid/subscriptions', 'POST', { name: 'keyvaultevents-sub', endpoint: intakeUrl });
    const keys = new KeyClient(
      `https://${VAULT}.vault.azure.net`,
      new LocalTokenCredential(OPERATOR, tenantId),
      loopbackClientOptions({ port, caCertPem }),
    );
    log(`fleet of ${n} servers over ${subs} subscriptions up; rotating ${KEY}`);

    const cpuBefore = procStats(host.child.pid);
    const standInsBefore = procStats(azure.child.pid);
    const eventAt = Date.now();
    const v3 = (await keys.rotateKey(KEY)).properties.version ?? '';
    const deadline = eventAt + (options.timeoutMs ?? 3_600_000);
    const instanceUrl = `${hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${taskKey}&showInput=false`;
    let status: { runtimeStatus?: string; lastUpdatedTime?: string; output?: { targetVersion?: string } } =
      {};
    let lastLog = Date.now();
    let intake: IntakeBurst | undefined;
    for (;;) {
      const res = await fetch(instanceUrl);
      if (res.status !== 404) status = (await res.json()) as typeof status;
      const done =
        status.runtimeStatus === 'Failed' ||
        status.runtimeStatus === 'Terminated' ||
        (status.runtimeStatus === 'Completed' && status.output?.targetVersion === v3);
      if (done) break;
      if (intake === undefined && options.duplicates !== undefined && status.runtimeStatus === 'Running') {
        const delivered = ((await admin('deliveries')) as { event: { data?: { Version?: unknown } } }[]).find(
          (d) => d.event.data?.Version === v3,
        );
        if (delivered !== undefined) {
          log(`re-delivering the key event ${options.duplicates} times while the rotation runs`);
          intake = await intakeBurst(intakeUrl, delivered.event, options.duplicates, 50);
        }
      }
      if (Date.now() > deadline)
        throw new Error(`the rotation did not complete in time: ${JSON.stringify(status).slice(0, 500)}`);
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`  … ${Math.round((Date.now() - eventAt) / 1000)} s, ${status.runtimeStatus ?? 'not started'}`);
      }
      await sleep(250);
    }
    const completedAt =
      status.lastUpdatedTime !== undefined ? Date.parse(status.lastUpdatedTime) : Date.now();
    const cpuAfter = procStats(host.child.pid);
    const standIns = procStats(azure.child.pid);

    // The stand-in stamps a request when it arrives, on its clock (real time here); 5 ms of slack for
    // the two processes' clocks read at different moments.
    const since = eventAt - 5;
    const requests = ((await admin('requests')) as ArmLogEntry[]).filter((r) => Date.parse(r.at) >= since);
    const arm = requests.filter((r) => r.service === 'arm');
    const serverIds = (fleet.servers ?? []).map((s) => (s as { id: string }).id);
    const firstPatch = firstPatchAt(arm, since);
    const lastVerification = lastVerificationAt(arm, serverIds, since);
    options.inspect?.({ eventAt, serverIds, requests });
    const servers = (await admin('servers')) as {
      properties: {
        state?: string;
        dataEncryption?: { primaryKeyURI?: string; primaryEncryptionKeyStatus?: string };
      };
    }[];
    const verified = servers.filter(
      (s) =>
        s.properties.state === 'Ready' &&
        s.properties.dataEncryption?.primaryEncryptionKeyStatus === 'Valid' &&
        s.properties.dataEncryption.primaryKeyURI?.endsWith(`/${v3}`) === true,
    ).length;

    await stop(host.child);
    const store = new InstanceStore(dataDir, { readOnly: true });
    const parent = store.load(INSTANCE_ID);
    if (process.env['BENCH_HISTORY_BREAKDOWN'] === '1' && parent !== undefined) {
      const by = new Map<string, number>();
      for (const e of parent.history) {
        const name = e['Name'];
        const k = `${e.EventType}:${typeof name === 'string' ? name : ''}`;
        by.set(k, (by.get(k) ?? 0) + JSON.stringify(e).length);
      }
      log(`history breakdown ${JSON.stringify([...by.entries()].sort((a, b) => b[1] - a[1]))}`);
      log(`output ${JSON.stringify(parent.output).length} input ${parent.input?.length ?? 0}`);
    }
    const prefix = `${encodeURIComponent(INSTANCE_ID)}.`;
    const instancesDir = join(dataDir, 'instances');
    const parentHistoryBytes = readdirSync(instancesDir)
      .filter((f) => f.startsWith(prefix))
      .reduce((sum, f) => sum + statSync(join(instancesDir, f)).size, 0);

    const allVerifiedMs = lastVerification.at === undefined ? undefined : lastVerification.at - eventAt;
    const bound = armBoundMs(n, subs, lroMs);
    const hostCpuMs =
      cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter.cpuMs - cpuBefore.cpuMs : undefined;
    return {
      servers: n,
      subscriptions: subs,
      canaries:
        fleet.servers?.filter((s) => (s as { tags: Record<string, string> }).tags[CANARY_TAG] === '0')
          .length ?? 0,
      geoBackup: fleet.servers?.filter((_, i) => i % 5 === 0).length ?? 0,
      runtimeStatus: status.runtimeStatus ?? '?',
      verifiedServers: verified,
      eventToFirstPatchMs: firstPatch === undefined ? undefined : firstPatch - eventAt,
      eventToAllVerifiedMs: allVerifiedMs,
      eventToCompletedMs: completedAt - eventAt,
      armBoundMs: bound,
      ratio: allVerifiedMs === undefined ? undefined : allVerifiedMs / bound,
      armRequests: arm.length,
      armRequestsPerServer: arm.length / n,
      resourceGraphRequests: requests.filter((r) => r.service === 'resourcegraph').length,
      throttled429: requests.filter((r) => r.status === 429).length,
      hostCpuMs,
      hostCpuPerServerMs: hostCpuMs === undefined ? undefined : hostCpuMs / n,
      hostPeakRssMb: cpuAfter?.peakRssMb,
      standInsPeakRssMb: standIns?.peakRssMb,
      standInsCpuMs:
        standIns !== undefined && standInsBefore !== undefined
          ? standIns.cpuMs - standInsBefore.cpuMs
          : undefined,
      parentHistoryEvents: parent?.history.length,
      parentHistoryBytes,
      intake,
    };
  } finally {
    await Promise.all(children.map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatFleetBench(r: FleetBenchResult): string {
  const ms = (v: number | undefined) => (v === undefined ? 'n/a' : `${Math.round(v)} ms`);
  const s = (v: number) => `${(v / 1000).toFixed(1)} s`;
  const mb = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(0)} MB`);
  return [
    `fleet ${r.servers} servers / ${r.subscriptions} subscriptions (${r.canaries} canary, ${r.geoBackup} with geo-backup): ${r.runtimeStatus}, ${r.verifiedServers}/${r.servers} verified on ARM`,
    `  event → first PATCH     ${ms(r.eventToFirstPatchMs)}   (ARM received the first PATCH)`,
    `  event → all verified    ${r.eventToAllVerifiedMs === undefined ? 'n/a' : s(r.eventToAllVerifiedMs)}   ARM bound ${s(r.armBoundMs)}   ratio ${r.ratio === undefined ? 'n/a' : `${r.ratio.toFixed(2)}×`}   (ARM received the last verifying GET)`,
    `  event → completed       ${s(r.eventToCompletedMs)}   (the rotation orchestration's last update)`,
    `  ARM requests            ${r.armRequests} (${r.armRequestsPerServer.toFixed(2)} per server), Resource Graph ${r.resourceGraphRequests}, 429s ${r.throttled429}`,
    `  host CPU                ${ms(r.hostCpuMs)} (${r.hostCpuPerServerMs === undefined ? 'n/a' : `${r.hostCpuPerServerMs.toFixed(1)} ms`} per server)`,
    `  stand-ins CPU           ${ms(r.standInsCpuMs)}`,
    `  peak RSS                host ${mb(r.hostPeakRssMb)}, stand-ins ${mb(r.standInsPeakRssMb)}`,
    `  parent history          ${r.parentHistoryEvents ?? 'n/a'} events, ${(r.parentHistoryBytes / 1024).toFixed(0)} KB on disk`,
    ...(r.intake !== undefined
      ? [
          `  intake, ${r.intake.deliveries} duplicates  p50 ${ms(r.intake.p50Ms)}, p99 ${ms(r.intake.p99Ms)}, max ${ms(r.intake.maxMs)}, HTTP ${JSON.stringify(r.intake.statuses)}`,
        ]
      : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      servers: { type: 'string', default: '1000' },
      subscriptions: { type: 'string', default: '3' },
      'lro-ms': { type: 'string', default: '2000' },
      poll: { type: 'string', default: '1' },
      'max-parallel': { type: 'string' },
      duplicates: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const result = await runFleetBench({
    servers: Number(values.servers),
    subscriptions: Number(values.subscriptions),
    lroMs: Number(values['lro-ms']),
    pollSeconds: Number(values.poll),
    ...(values['max-parallel'] !== undefined ? { maxParallel: Number(values['max-parallel']) } : {}),
    ...(values.duplicates !== undefined ? { duplicates: Number(values.duplicates) } : {}),
    log: (line) => console.error(line),
  });
  console.log(formatFleetBench(result));
  if (values.json) console.log(JSON.stringify(result));
  if (result.runtimeStatus !== 'Completed' || result.verifiedServers !== result.servers) process.exitCode = 1;
}

if (require.main === module)
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
