import { performance } from 'node:perf_hooks';
import type { ArmLogEntry } from './armTimeline';

/** What the fleet benchmark measures and how it prints it: its options, its result, the intake burst. */

export interface FleetBenchOptions {
  readonly servers: number;
  readonly subscriptions: number;
  /** Simulated LRO duration of a PATCH (ms). */
  readonly lroMs?: number;
  /** Each operation lasts `lroMs` ± up to this (the stand-in's `updateDurationSpreadMs`). */
  readonly lroSpreadMs?: number;
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
  /** Keys rotated (a key storm): servers spread over them; 1 when absent. */
  readonly keys?: number;
  /** Worker processes of the host (its `--workers`): 0 (the app's code in the host's process) when absent. */
  readonly workers?: number;
  /** The keys are rotated within this many ms (10 s when absent). */
  readonly spreadMs?: number;
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
  readonly keys: number;
  /** Event Grid's deliveries of the key events to the intake: how long each took to be answered. */
  readonly keyEvents: IntakeFigures;
  /** The quota governors' state at the end: start times handed out, 429s reported, governors that ran. */
  readonly governor: {
    readonly reserved: number;
    readonly throttled: number;
    readonly subscriptions: number;
  };
  readonly canaries: number;
  readonly geoBackup: number;
  /** CMK_MAX_PARALLEL_UPDATES the app ran with (the product's default unless `--max-parallel`). */
  readonly maxParallelUpdates: number;
  /** How long the stand-in's operations last: `lroMs` ± up to `lroSpreadMs`. */
  readonly lroMs: number;
  readonly lroSpreadMs: number;
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
  /** CPU of the app: the host process and its worker processes, from the event to completion. */
  readonly hostCpuMs: number | undefined;
  readonly hostCpuPerServerMs: number | undefined;
  /** Of `hostCpuMs`, the worker processes' share (0 without workers). */
  readonly workersCpuMs: number | undefined;
  readonly hostPeakRssMb: number | undefined;
  /** Each worker process's peak RSS. */
  readonly workersPeakRssMb: readonly number[];
  readonly standInsPeakRssMb: number | undefined;
  /** CPU of the stand-ins' process from the event to completion. */
  readonly standInsCpuMs: number | undefined;
  readonly parentHistoryEvents: number | undefined;
  readonly parentHistoryBytes: number;
  /** The intake under a burst of duplicate deliveries (`duplicates`). */
  readonly intake?: IntakeBurst | undefined;
}

export interface IntakeFigures {
  readonly deliveries: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** p50, p99 and max of answer times (ms). */
export function intakeFigures(latencies: readonly number[]): IntakeFigures {
  const sorted = latencies.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    deliveries: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
  };
}

export interface IntakeBurst extends IntakeFigures {
  /** HTTP status → count: every duplicate must be answered 2xx (accepted, dropped as a duplicate). */
  readonly statuses: Readonly<Record<string, number>>;
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

/** `n` deliveries of `event` to the intake, `concurrency` at a time; each answer timed. */
export async function intakeBurst(
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
  return { ...intakeFigures(latencies), deliveries: n, statuses };
}

export function formatFleetBench(r: FleetBenchResult): string {
  const ms = (v: number | undefined) => (v === undefined ? 'n/a' : `${Math.round(v)} ms`);
  const s = (v: number) => `${(v / 1000).toFixed(1)} s`;
  const mb = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(0)} MB`);
  return [
    `fleet ${r.servers} servers / ${r.subscriptions} subscriptions / ${r.keys} key(s) (${r.canaries} canary, ${r.geoBackup} with geo-backup), CMK_MAX_PARALLEL_UPDATES ${r.maxParallelUpdates}, operations ${r.lroMs}${r.lroSpreadMs > 0 ? ` ± ${r.lroSpreadMs}` : ''} ms: ${r.runtimeStatus}, ${r.verifiedServers}/${r.servers} verified on ARM`,
    `  key events → intake     ${r.keyEvents.deliveries} deliveries: p50 ${ms(r.keyEvents.p50Ms)}, p99 ${ms(r.keyEvents.p99Ms)}, max ${ms(r.keyEvents.maxMs)}   (Event Grid's delivery, answered)`,
    `  event → first PATCH     ${ms(r.eventToFirstPatchMs)}   (ARM received the first PATCH)`,
    `  event → all verified    ${r.eventToAllVerifiedMs === undefined ? 'n/a' : s(r.eventToAllVerifiedMs)}   ARM bound ${s(r.armBoundMs)}   ratio ${r.ratio === undefined ? 'n/a' : `${r.ratio.toFixed(2)}×`}   (ARM received the last verifying GET)`,
    `  event → completed       ${s(r.eventToCompletedMs)}   (the rotation orchestration's last update)`,
    `  ARM requests            ${r.armRequests} (${r.armRequestsPerServer.toFixed(2)} per server), Resource Graph ${r.resourceGraphRequests}, 429s ${r.throttled429}`,
    `  quota governors         ${r.governor.subscriptions} (one per subscription): ${r.governor.reserved} start times handed out, ${r.governor.throttled} 429s reported to them`,
    `  host CPU                ${ms(r.hostCpuMs)} (${r.hostCpuPerServerMs === undefined ? 'n/a' : `${r.hostCpuPerServerMs.toFixed(1)} ms`} per server)${r.workersPeakRssMb.length > 0 ? `, of which ${r.workersPeakRssMb.length} worker process(es) ${ms(r.workersCpuMs)}` : ''}`,
    `  stand-ins CPU           ${ms(r.standInsCpuMs)}`,
    `  peak RSS                host ${mb(r.hostPeakRssMb)}${r.workersPeakRssMb.length > 0 ? `, workers ${r.workersPeakRssMb.map(mb).join(', ')}` : ''}, stand-ins ${mb(r.standInsPeakRssMb)}`,
    `  parent history          ${r.parentHistoryEvents ?? 'n/a'} events, ${(r.parentHistoryBytes / 1024).toFixed(0)} KB on disk`,
    ...(r.intake !== undefined
      ? [
          `  intake, ${r.intake.deliveries} duplicates  p50 ${ms(r.intake.p50Ms)}, p99 ${ms(r.intake.p99Ms)}, max ${ms(r.intake.maxMs)}, HTTP ${JSON.stringify(r.intake.statuses)}`,
        ]
      : []),
  ].join('\n');
}
