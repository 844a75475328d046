import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLocalHost } from '../local/host/host';

/**
 * Orchestration overhead of the local host: one orchestration fanning out to N no-op activities, and
 * one fanning out to N sub-orchestrations in waves of 50 (as the product does: every child completion
 * is an episode of a parent whose history grows). Prints wall time, history size, replay CPU
 * (orchestrator episodes), the host's CPU for the whole run, the time (share of wall time) spent in the
 * instance store (parse, serialize, writes, fsync: it blocks the event loop), episodes and peak RSS.
 */
const APP = join(__dirname, '..', '..', 'test', 'fixtures', 'app');

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-host-'));
  process.env['FIXTURE_OUT'] = '';
  const host = await startLocalHost({ appRoot: APP, dataDir, log: () => undefined });
  try {
    for (const [name, n, input] of [
      ['noopFanOut', 100, 100],
      ['noopFanOut', 1000, 1000],
      ['childWaves', 300, { n: 300, wave: 50 }],
      ['childWaves', 1000, { n: 1000, wave: 50 }],
    ] as const) {
      const before = { ...host.engine.counters };
      const storeBefore = host.engine.counters.storeMs;
      const cpuBefore = process.cpuUsage();
      const id = `bench-${name}-${n}`;
      const t = performance.now();
      await host.engine.start(name, id, JSON.stringify(input));
      for (;;) {
        const s = host.engine.get(id);
        if (s?.status === 'Completed' || s?.status === 'Failed') break;
        await new Promise((r) => setTimeout(r, 5));
      }
      const ms = performance.now() - t;
      const used = process.cpuUsage(cpuBefore);
      const hostCpu = (used.user + used.system) / 1000;
      const storeCpu = host.engine.counters.storeMs - storeBefore;
      const state = host.engine.get(id);
      const prefix = `${encodeURIComponent(id)}.`;
      const bytes = readdirSync(join(dataDir, 'instances'))
        .filter((f) => f.startsWith(prefix))
        .reduce((sum, f) => sum + statSync(join(dataDir, 'instances', f)).size, 0);
      const episodes = host.engine.counters.episodes - before.episodes;
      const cpu = host.engine.counters.replayMs - before.replayMs;
      console.log(
        `${name.padEnd(10)} ${String(n).padStart(4)}: ${ms.toFixed(0)} ms wall, host CPU ${hostCpu.toFixed(0)} ms (${(hostCpu / n).toFixed(2)} ms per child), ` +
          `in the store ${storeCpu.toFixed(0)} ms (${((100 * storeCpu) / ms).toFixed(0)}% of wall), ${episodes} episodes, replay ${cpu.toFixed(0)} ms ` +
          `(${(cpu / Math.max(1, episodes)).toFixed(1)} ms/episode), history ${state?.history.length ?? 0} events / ${(bytes / 1024).toFixed(0)} KB, ` +
          `output ${JSON.stringify(state?.output)}, status ${state?.status ?? '?'}`,
      );
    }
    console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
