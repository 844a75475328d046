import { KeyClient } from '@azure/keyvault-keys';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAppSettings } from '../local/app';
import { LocalTokenCredential } from '../local/azure/credential';
import { loopbackClientOptions } from '../local/azure/seam';
import { InstanceStore } from '../local/host/durable/store';
import { disabledSetting } from '../local/host/timers';
import { loadConfig, SETTINGS } from '../shared/config';
import { FUNCTION_NAMES } from '../shared/domain/names';
import { firstPatchAt, lastVerificationAt, type ArmLogEntry } from './armTimeline';
import { parseFleetBenchArgs } from './fleetArgs';
import {
  formatFleetBench,
  intakeBurst,
  intakeFigures,
  type FleetBenchOptions,
  type FleetBenchResult,
  type IntakeBurst,
} from './fleetMeasure';
import { httpsJson, procStats, sleep, startProcess, stop } from './fleetProcesses';
import { armBoundMs, CANARY_TAG, generateFleet, instanceIdOf, keyNames, OPERATOR, VAULT } from './fleetWorld';

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
 * (burst + refill per second) and a read bucket, at one PATCH and two reads per server (prepare GET,
 * and one GET after the operation that is both the look at it and the verification), plus one LRO for
 * the canary ring and one for the rest.
 */

/** The repository: this file runs from dist/bench (npm run bench:fleet) or from bench/ (jest). */
const ROOT = join(__dirname, '..', ...(__dirname.includes(join('dist', 'bench')) ? ['..'] : []));
const AZURE_MAIN = join(ROOT, 'dist', 'local', 'azure', 'main.js');
const HOST_MAIN = join(ROOT, 'dist', 'local', 'host', 'main.js');

export async function runFleetBench(options: FleetBenchOptions): Promise<FleetBenchResult> {
  const log = options.log ?? (() => undefined);
  const n = options.servers;
  const subs = options.subscriptions;
  const lroMs = options.lroMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const keyCount = Math.max(1, options.keys ?? 1);
  const names = keyNames(keyCount);
  const fleet = generateFleet(n, subs, lroMs, keyCount, options.lroSpreadMs ?? 0);
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

    const settings: Record<string, string> = {
      ...localAppSettings({ port, caCertPem, tenantId, url: loopback }, fleet),
      [SETTINGS.pollIntervalSeconds]: String(options.pollSeconds ?? 1),
    };
    // The reconcile sweep off, as in the product tests: its schedule (every 6 h at :17 UTC) would put a
    // sweep of every key into the odd run that crosses it, and runs would no longer compare.
    settings[disabledSetting(FUNCTION_NAMES.reconcileSweep)] = 'true';
    // The product's default parallelism unless the run names one: not even the shell's setting.
    const hostEnv: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries({ ...process.env, NODE_EXTRA_CA_CERTS: caCertPath, ...settings }).filter(
        ([k]) => k !== SETTINGS.maxParallelUpdates,
      ),
    );
    if (options.maxParallel !== undefined) hostEnv[SETTINGS.maxParallelUpdates] = String(options.maxParallel);
    // What the app reads from its environment (the product's own parsing, so the default is its own).
    const maxParallelUpdates = loadConfig(hostEnv).maxParallelUpdates;
    // BENCH_HOST_CPU_PROF=<dir>: the host writes a V8 CPU profile there when it stops (node --cpu-prof).
    const profileDir = process.env['BENCH_HOST_CPU_PROF'];
    const host = await startProcess(
      [
        ...(profileDir !== undefined && profileDir !== ''
          ? ['--cpu-prof', '--cpu-prof-dir', profileDir]
          : []),
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
        ...(options.workers !== undefined ? ['--workers', String(options.workers)] : []),
      ],
      hostEnv,
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
    log(`fleet of ${n} servers over ${subs} subscriptions up; rotating ${names.join(', ').slice(0, 80)}`);

    const workerPids = Array.isArray(host.ready['workers'])
      ? host.ready['workers'].filter((p): p is number => typeof p === 'number')
      : [];
    const appCpu = () => {
      const stats = [host.child.pid, ...workerPids].map(procStats);
      return stats.every((x) => x !== undefined) ? stats.map((x) => x.cpuMs) : undefined;
    };
    const appCpuBefore = appCpu();
    const standInsBefore = procStats(azure.child.pid);
    const eventAt = Date.now();
    // The keys rotated within `spreadMs` (a rotation policy rotating many keys the same minute): key
    // i at i × spread / keys, each through Key Vault, whose event reaches the intake through Event Grid.
    const spreadMs = keyCount > 1 ? (options.spreadMs ?? 10_000) : 0;
    const targets = new Map<string, string>();
    await Promise.all(
      names.map(async (name, i) => {
        await sleep(eventAt + (i * spreadMs) / keyCount - Date.now());
        targets.set(name, (await keys.rotateKey(name)).properties.version ?? '');
      }),
    );
    const deadline = eventAt + (options.timeoutMs ?? 3_600_000);
    type Status = { runtimeStatus?: string; lastUpdatedTime?: string; output?: { targetVersion?: string } };
    const statuses = new Map<string, Status>();
    let lastLog = Date.now();
    let intake: IntakeBurst | undefined;
    // One key's rotation at a time is watched (they end about together): the host is not polled
    // harder with more keys.
    for (const name of names) {
      const instanceUrl = `${hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceIdOf(name))}?code=${taskKey}&showInput=false`;
      for (;;) {
        const res = await fetch(instanceUrl);
        const status: Status = res.status === 404 ? {} : ((await res.json()) as Status);
        statuses.set(name, status);
        const done =
          status.runtimeStatus === 'Failed' ||
          status.runtimeStatus === 'Terminated' ||
          (status.runtimeStatus === 'Completed' && status.output?.targetVersion === targets.get(name));
        if (done) break;
        if (intake === undefined && options.duplicates !== undefined && status.runtimeStatus === 'Running') {
          const delivered = (
            (await admin('deliveries')) as { event: { data?: { Version?: unknown } } }[]
          ).find((d) => d.event.data?.Version === targets.get(name));
          if (delivered !== undefined) {
            log(`re-delivering the key event ${options.duplicates} times while the rotation runs`);
            intake = await intakeBurst(intakeUrl, delivered.event, options.duplicates, 50);
          }
        }
        if (Date.now() > deadline)
          throw new Error(
            `the rotation of ${name} did not complete in time: ${JSON.stringify(status).slice(0, 500)}`,
          );
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          const done = [...statuses.values()].filter((x) => x.runtimeStatus === 'Completed').length;
          log(
            `  … ${Math.round((Date.now() - eventAt) / 1000)} s, ${name} ${status.runtimeStatus ?? 'not started'} (${done}/${keyCount} keys done)`,
          );
        }
        await sleep(250);
      }
    }
    const ended = [...statuses.values()];
    // A rotation that did not complete, else the one that completed last.
    const updatedAt = (x: Status) => Date.parse(x.lastUpdatedTime ?? '') || 0;
    const status: Status =
      ended.find((x) => x.runtimeStatus !== 'Completed') ??
      ended.reduce<Status>((a, b) => (updatedAt(b) >= updatedAt(a) ? b : a), {});
    const completedAt =
      status.lastUpdatedTime !== undefined ? Date.parse(status.lastUpdatedTime) : Date.now();
    const cpuAfter = procStats(host.child.pid);
    const appCpuAfter = appCpu();
    const workersPeakRssMb = workerPids.map((p) => procStats(p)?.peakRssMb ?? 0);
    const standIns = procStats(azure.child.pid);

    // The stand-in stamps a request when it arrives, on its clock (real time here); 5 ms of slack for
    // the two processes' clocks read at different moments.
    const since = eventAt - 5;
    const requests = ((await admin('requests')) as ArmLogEntry[]).filter((r) => Date.parse(r.at) >= since);
    const arm = requests.filter((r) => r.service === 'arm');
    // BENCH_ARM_LOG=<file>: what the stand-ins saw from the event on (each request's time, method, path,
    // status), to see how each subscription's quota was spent over the run.
    const armLog = process.env['BENCH_ARM_LOG'];
    if (armLog !== undefined && armLog !== '') writeFileSync(armLog, JSON.stringify({ eventAt, requests }));
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
        [...targets.values()].some(
          (v) => s.properties.dataEncryption?.primaryKeyURI?.endsWith(`/${v}`) === true,
        ),
    ).length;

    // The Event Grid deliveries of the key events (not the duplicates the bench sent itself): how
    // long the intake took to answer each.
    const versions = new Set(targets.values());
    const deliveries = (
      (await admin('deliveries')) as {
        event: { data?: { Version?: unknown } };
        attempts: { durationMs?: number }[];
      }[]
    ).filter((d) => versions.has(String(d.event.data?.Version)));
    const keyEvents = intakeFigures(deliveries.flatMap((d) => d.attempts.map((a) => a.durationMs ?? NaN)));

    // What the subscriptions' quota governors handed out (their entity state, as an operator reads it).
    const governor = { reserved: 0, throttled: 0, subscriptions: 0 };
    for (const sub of new Set(serverIds.map((id) => id.split('/')[2] ?? ''))) {
      const res = await fetch(
        `${hostUrl}/runtime/webhooks/durabletask/entities/armQuotaGovernor/${encodeURIComponent(sub.toLowerCase())}?code=${taskKey}`,
      );
      if (res.status !== 200) continue;
      const state = (await res.json()) as { reserved?: number; throttled?: number };
      governor.subscriptions++;
      governor.reserved += state.reserved ?? 0;
      governor.throttled += state.throttled ?? 0;
    }

    await stop(host.child);
    const store = new InstanceStore(dataDir, { readOnly: true });
    // The largest rotation's history (one key: the rotation), each instance loaded once.
    const rotations = names.map((name) => ({
      id: instanceIdOf(name),
      record: store.load(instanceIdOf(name)),
    }));
    const largest = rotations.reduce((a, b) =>
      (b.record?.history.length ?? 0) > (a.record?.history.length ?? 0) ? b : a,
    );
    const parent = largest.record;
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
    const prefix = `${encodeURIComponent(largest.id)}.`;
    const instancesDir = join(dataDir, 'instances');
    const parentHistoryBytes = readdirSync(instancesDir)
      .filter((f) => f.startsWith(prefix))
      .reduce((sum, f) => sum + statSync(join(instancesDir, f)).size, 0);

    const allVerifiedMs = lastVerification.at === undefined ? undefined : lastVerification.at - eventAt;
    const canaries =
      fleet.servers?.filter((s) => (s as { tags: Record<string, string> }).tags[CANARY_TAG] === '0').length ??
      0;
    // A key's rotation waits for its own canaries: the bound counts the slowest of one key's share.
    const bound = armBoundMs(n, subs, lroMs, options.lroSpreadMs ?? 0, Math.ceil(canaries / keyCount));
    // The app's CPU: the host and its workers (a worker that was started again is not counted).
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const hostCpuMs =
      appCpuBefore !== undefined && appCpuAfter !== undefined
        ? sum(appCpuAfter) - sum(appCpuBefore)
        : undefined;
    const workersCpuMs =
      appCpuBefore !== undefined && appCpuAfter !== undefined
        ? sum(appCpuAfter.slice(1)) - sum(appCpuBefore.slice(1))
        : undefined;
    return {
      servers: n,
      subscriptions: subs,
      keys: keyCount,
      keyEvents,
      governor,
      canaries,
      geoBackup: fleet.servers?.filter((_, i) => i % 5 === 0).length ?? 0,
      maxParallelUpdates,
      lroMs,
      lroSpreadMs: options.lroSpreadMs ?? 0,
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
      workersCpuMs,
      hostPeakRssMb: cpuAfter?.peakRssMb,
      workersPeakRssMb,
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
    // BENCH_KEEP=1: the run's folder (the host's instance store, the stand-ins' state) stays, for reading.
    if (process.env['BENCH_KEEP'] === '1') log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { options, json } = parseFleetBenchArgs();
  const result = await runFleetBench({ ...options, log: (line) => console.error(line) });
  console.log(formatFleetBench(result));
  if (json) console.log(JSON.stringify(result));
  if (result.runtimeStatus !== 'Completed' || result.verifiedServers !== result.servers) process.exitCode = 1;
}

if (require.main === module)
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
