import { parseArgs } from 'node:util';
import type { FleetBenchOptions } from './fleetMeasure';

/**
 * `npm run bench:fleet -- --servers 1000 --subscriptions 3 [--lro-ms 2000 [--lro-spread-ms 0]] [--poll 1] [--max-parallel n]
 * [--duplicates n] [--keys n [--spread-ms 10000]] [--workers n] [--json]`: the options of a run, and whether to print the result as JSON too.
 */
export function parseFleetBenchArgs(): { options: FleetBenchOptions; json: boolean } {
  const { values } = parseArgs({
    options: {
      servers: { type: 'string', default: '1000' },
      subscriptions: { type: 'string', default: '3' },
      'lro-ms': { type: 'string', default: '2000' },
      'lro-spread-ms': { type: 'string' },
      poll: { type: 'string', default: '1' },
      'max-parallel': { type: 'string' },
      duplicates: { type: 'string' },
      keys: { type: 'string' },
      workers: { type: 'string' },
      'spread-ms': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const lroSpreadMs = values['lro-spread-ms'] === undefined ? undefined : Number(values['lro-spread-ms']);
  if (lroSpreadMs !== undefined && !(Number.isFinite(lroSpreadMs) && lroSpreadMs >= 0))
    throw new Error(
      `--lro-spread-ms must be a number of milliseconds, 0 or more; got "${values['lro-spread-ms']}"`,
    );
  return {
    options: {
      servers: Number(values.servers),
      subscriptions: Number(values.subscriptions),
      lroMs: Number(values['lro-ms']),
      ...(lroSpreadMs !== undefined ? { lroSpreadMs } : {}),
      pollSeconds: Number(values.poll),
      ...(values['max-parallel'] !== undefined ? { maxParallel: Number(values['max-parallel']) } : {}),
      ...(values.duplicates !== undefined ? { duplicates: Number(values.duplicates) } : {}),
      ...(values.keys !== undefined ? { keys: Number(values.keys) } : {}),
      ...(values.workers !== undefined ? { workers: Number(values.workers) } : {}),
      ...(values['spread-ms'] !== undefined ? { spreadMs: Number(values['spread-ms']) } : {}),
    },
    json: values.json,
  };
}
