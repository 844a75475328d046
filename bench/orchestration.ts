import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLocalHost } from '../local/host/host';

/**
 * Orchestration overhead of the local host: one orchestration fanning out to N no-op activities.
 * Prints wall time, history size, total replay CPU (orchestrator episodes), episodes and peak RSS.
 */
const APP = join(__dirname, '..', '..', 'test', 'fixtures', 'app');

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-host-'));
  process.env['FIXTURE_OUT'] = '';
  const host = await startLocalHost({ appRoot: APP, dataDir, log: () => undefined });
  try {
    for (const n of [100, 1000]) {
      const before = { ...host.engine.counters };
      const id = `bench-${n}`;
      const t = performance.now();
      await host.engine.start('noopFanOut', id, JSON.stringify(n));
      for (;;) {
        const s = host.engine.get(id);
        if (s?.status === 'Completed' || s?.status === 'Failed') break;
        await new Promise((r) => setTimeout(r, 5));
      }
      const ms = performance.now() - t;
      const state = host.engine.get(id);
      const file = join(dataDir, 'instances', `${id}.json`);
      const episodes = host.engine.counters.episodes - before.episodes;
      const cpu = host.engine.counters.replayCpuMs - before.replayCpuMs;
      console.log(
        `fan-out ${String(n).padStart(4)} no-op activities: ${ms.toFixed(0)} ms wall, ${episodes} episodes, replay CPU ${cpu.toFixed(0)} ms ` +
          `(${(cpu / episodes).toFixed(1)} ms/episode), history ${state?.history.length ?? 0} events / ${(statSync(file).size / 1024).toFixed(0)} KB, ` +
          `output ${JSON.stringify(state?.output)}, status ${state?.status ?? '?'}`,
      );
      JSON.parse(readFileSync(file, 'utf8'));
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
