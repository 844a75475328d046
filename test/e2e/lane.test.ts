import { runFleetBench } from '../../bench/fleet';
import type { ArmSeen } from '../../bench/fleetMeasure';

/**
 * The batches of a subscription share `CMK_MAX_PARALLEL_UPDATES` through their lane (the
 * `rolloutLane` entity), through the local host and the ARM stand-in: 103 servers in one
 * subscription are 2 canaries and a main ring of two batches, 100 servers and 1. Split evenly, the
 * setting of 12 would give each batch 6; shared, the big batch may use what the small one does not.
 * What ARM saw decides: a server is in flight from its first request to its last.
 */
const LIMIT = 12;

function mostInFlight(seen: ArmSeen): number {
  const spans = seen.serverIds.map((id) => {
    const times = seen.requests
      .filter((r) => r.service === 'arm' && r.path.split('?')[0]?.toLowerCase() === id.toLowerCase())
      .map((r) => Date.parse(r.at));
    return [Math.min(...times), Math.max(...times)] as const;
  });
  const edges = spans.flatMap(([from, to]) => [
    [from, 1],
    [to, -1],
  ]);
  // At the same instant a server that ends is counted out before one that starts.
  edges.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0));
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d ?? 0));
  return most;
}

describe('the batches of a subscription share its in-flight budget (the lane)', () => {
  it('never has more servers in flight than the setting, and one batch uses more than an even share', async () => {
    let seen: ArmSeen | undefined;
    const result = await runFleetBench({
      servers: 103,
      subscriptions: 1,
      maxParallel: LIMIT,
      timeoutMs: 300_000,
      inspect: (s) => (seen = s),
    });
    expect(result.runtimeStatus).toBe('Completed');
    expect(result.verifiedServers).toBe(103);
    if (seen === undefined) throw new Error('the bench did not hand over what ARM saw');
    const most = mostInFlight(seen);
    expect(most).toBeLessThanOrEqual(LIMIT);
    // The second batch holds one server at most: more than 6 + 1 in flight is the first batch
    // using more than its half.
    expect(most).toBeGreaterThan(LIMIT / 2 + 1);
  }, 330_000);
});
