import { performance } from 'node:perf_hooks';
import type { InstanceStore } from './store';

/**
 * What the engine counts for the benchmarks. `replayMs`: event-loop time replaying orchestrators;
 * `storeMs`: event-loop time inside the instance store.
 */
export interface EngineCounters {
  episodes: number;
  activityExecutions: number;
  replayMs: number;
  storeMs: number;
}

/**
 * The store with the time each call holds the event loop (parsing, serializing, synchronous file
 * access; not the asynchronous writes and fsyncs it waits for) added to `counters.storeMs`.
 */
export function timed(store: InstanceStore, counters: { storeMs: number }): InstanceStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const t = performance.now();
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          counters.storeMs += performance.now() - t;
        }
      };
    },
  });
}
