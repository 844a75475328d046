import {
  ARM_SUBSCRIPTION_BUCKETS,
  GovernorInputError,
  HEADROOM,
  MAX_PENDING_ARRIVALS,
  NEW_GOVERNOR,
  governorStateOf,
  observe,
  reserve,
  type GovernorState,
  type ReserveRequest,
  type TokenBucket,
} from '../../../shared/rotation/governor';

const T0 = Date.parse('2026-12-05T10:00:00Z');
const ask = (servers: number, readsPerServer = 3, writesPerServer = 1): ReserveRequest => ({
  servers,
  readsPerServer,
  writesPerServer,
  requester: 'cmk-batch:test',
});

/**
 * ARM's side: a token bucket per kind that starts full, refills continuously up to its burst, and
 * must hold a server's tokens at its start time. Returns the first start it would have throttled.
 */
function firstOverdraft(
  starts: readonly number[],
  perServer: number,
  bucket: TokenBucket,
): number | undefined {
  let tokens = bucket.burst;
  let at = starts[0] ?? T0;
  for (const [i, t] of starts.entries()) {
    tokens = Math.min(bucket.burst, tokens + ((t - at) / 1000) * bucket.perSecond);
    at = t;
    // A thousandth of a token of slack for the rounding of start times to whole milliseconds.
    if (tokens + 1e-3 < perServer) return i;
    tokens -= perServer;
  }
  return undefined;
}

describe('governor: start times from a token-bucket model of ARM quota (GCRA)', () => {
  it.each<[string, number, number, number, number]>([
    // name, reads and writes per server, servers that start at once, then ms between starts
    // At once: what 90% of each burst holds (the tenth left is the headroom).
    ['three reads and a write: the read bucket bounds it (225 / 3 at once, then 25/s / 3)', 3, 1, 75, 120],
    ['two reads and a write: the write bucket bounds the rate (10/s)', 2, 1, 112, 100],
    ['one read and a write: the write bucket bounds both (180 at once, 10/s)', 1, 1, 180, 100],
  ])('%s', (_, reads, writes, atOnce, spacing) => {
    const { reservation } = reserve(NEW_GOVERNOR, ask(1000, reads, writes), T0);
    const { slots } = reservation;
    expect(slots.filter((t) => t === T0)).toHaveLength(atOnce);
    // Once both buckets are drained (the other bucket's burst lasts a while), the steady rate.
    const gaps = slots.slice(950).map((t, i) => t - (slots[949 + i] ?? 0));
    for (const g of gaps) expect(Math.abs(g - spacing)).toBeLessThanOrEqual(1);
  });

  it('hands out start times ARM never throttles, over many requests from many rotations', () => {
    let state: GovernorState = NEW_GOVERNOR;
    const starts: number[] = [];
    let now = T0;
    // 50 rotations asking for 20 servers each within 10 s, then 20 more each later on.
    for (let round = 0; round < 2; round++)
      for (let k = 0; k < 50; k++) {
        now += round === 0 ? 200 : 700;
        const r = reserve(state, { ...ask(20), requester: `rotation-${k}` }, now);
        state = r.state;
        starts.push(...r.reservation.slots);
      }
    starts.sort((a, b) => a - b);
    expect(firstOverdraft(starts, 3, ARM_SUBSCRIPTION_BUCKETS.reads)).toBeUndefined();
    expect(firstOverdraft(starts, 1, ARM_SUBSCRIPTION_BUCKETS.writes)).toBeUndefined();
    // Not even into the headroom: ARM's buckets keep a tenth spare for servers that start late.
    const spare = (b: TokenBucket): TokenBucket => ({ ...b, burst: b.burst * (1 - HEADROOM) });
    expect(firstOverdraft(starts, 3, spare(ARM_SUBSCRIPTION_BUCKETS.reads))).toBeUndefined();
    // And it keeps the bucket busy: 2,000 servers at 3 reads take (6,000 - 225) / 25 = 231 s from
    // the first request (200 ms after T0).
    expect((starts[starts.length - 1] ?? 0) - T0).toBeLessThanOrEqual(231_200 + 1);
    expect(state.reserved).toBe(2000);
  });

  it('serves first come first served: a later request never starts before an earlier one', () => {
    const a = reserve(NEW_GOVERNOR, ask(100), T0);
    const b = reserve(a.state, ask(100), T0 + 10);
    expect(Math.min(...b.reservation.slots)).toBeGreaterThanOrEqual(Math.max(...a.reservation.slots));
  });

  it('refills while nobody asks: after a quiet minute a request starts at once again', () => {
    const busy = reserve(NEW_GOVERNOR, ask(300), T0).state;
    const later = reserve(busy, ask(50), T0 + 60_000 + 12_000 * 3);
    expect(later.reservation.slots.every((t) => t === T0 + 96_000)).toBe(true);
    expect(later.reservation.operationSeconds).toBeUndefined();
  });

  it("holds every start not yet handed out for a 429's Retry-After, from when it was seen", () => {
    const held = observe(NEW_GOVERNOR, { at: T0 + 1_000, retryAfterSeconds: 30 });
    expect(held.throttled).toBe(1);
    const { reservation } = reserve(held, ask(3), T0 + 2_000);
    expect(Math.min(...reservation.slots)).toBe(T0 + 31_000);
    // A Retry-After of a day is taken as five minutes.
    const long = observe(NEW_GOVERNOR, { at: T0, retryAfterSeconds: 86_400 });
    expect(long.holdUntil).toBe(T0 + 300_000);
  });

  it('lowers the model to a remaining-quota reading below it (someone else spends the quota), never raises it', () => {
    // ARM says 100 reads left while the model thinks the bucket is full: 100 - 25 of headroom = 25
    // servers now, the next after the refill.
    const lowered = observe(NEW_GOVERNOR, { at: T0, reads: 100 });
    const { slots } = reserve(lowered, ask(26), T0).reservation;
    expect(slots.slice(0, 25).every((t) => t === T0)).toBe(true);
    expect(slots[25]).toBe(T0 + 120);
    expect(reserve(NEW_GOVERNOR, ask(26), T0).reservation.slots[25]).toBe(T0);
    // A reading above the model (the model takes reads early on purpose) changes nothing.
    const busy = reserve(NEW_GOVERNOR, ask(75), T0).state;
    expect(observe(busy, { at: T0 + 100, reads: 240, writes: 190 })).toEqual(busy);
  });

  it("hands on the subscription's typical operation duration as rotations reported it (the median of the last 25)", () => {
    let state = NEW_GOVERNOR;
    for (const seconds of [2, 2.4, 30, 2.2]) state = observe(state, { at: T0, operationSeconds: seconds });
    expect(reserve(state, ask(1), T0).reservation.operationSeconds).toBe(2.3);
    for (let i = 0; i < 30; i++) state = observe(state, { at: T0, operationSeconds: 5 });
    expect(state.operationSeconds).toHaveLength(25);
    expect(reserve(state, ask(1), T0).reservation.operationSeconds).toBe(5);
  });

  it('charges the untimed reads until a rotation reported how long operations take, then the plain ones', () => {
    const request = { ...ask(150, 2), untimedReadsPerServer: 3 };
    const untimed = reserve(NEW_GOVERNOR, request, T0).reservation.slots;
    expect(untimed.filter((t) => t === T0)).toHaveLength(75);
    const timed = observe(NEW_GOVERNOR, { at: T0, operationSeconds: 2 });
    expect(reserve(timed, request, T0).reservation.slots.filter((t) => t === T0)).toHaveLength(112);
  });

  it('asks the last start that takes from each full bucket to report when it reached ARM, and no other', () => {
    // The write bucket paces this request (one read, one write a server): both are full at the first
    // start only.
    const first = reserve(NEW_GOVERNOR, ask(100, 1, 1), T0);
    expect(first.reservation.reportArrival).toEqual([0]);
    expect(first.state.arrivals).toEqual([{ slot: T0, buckets: ['reads', 'writes'] }]);
    // The buckets are drawing down: the next request's first start finds neither full.
    const next = reserve(first.state, ask(100, 1, 1), T0 + 1_000);
    expect(next.reservation.reportArrival).toBeUndefined();
    // After a quiet minute both are full again: that burst is awaited instead.
    const later = reserve(next.state, ask(1, 1, 1), T0 + 120_000);
    expect(later.reservation.reportArrival).toEqual([0]);
    expect(later.state.arrivals.map((a) => a.slot)).toEqual([T0 + 120_000]);
  });

  it('asks the server after which a bucket that refills faster than the request spends it stays busy', () => {
    // Three reads and a write a server: the reads pace it (75 at once, then 8.3 servers a second). The
    // write bucket (10 a second) catches up after 75 + 7.5 s / 20 ms = 450 servers and is full at every
    // start from then on: the last server is asked for the writes, the first for the reads.
    const { reservation, state } = reserve(NEW_GOVERNOR, ask(1000, 3, 1), T0);
    expect(reservation.reportArrival).toEqual([0, 999]);
    expect(state.arrivals).toEqual([
      { slot: T0, buckets: ['reads'] },
      { slot: reservation.slots[999], buckets: ['writes'] },
    ]);
    // Short of catching up, the write bucket is full at the first start only.
    expect(reserve(NEW_GOVERNOR, ask(400, 3, 1), T0).reservation.reportArrival).toEqual([0]);
  });

  it("keeps ARM's headroom when a burst reaches ARM late: the report moves the model by the wait", () => {
    // 100 servers start at T0 out of full buckets but reach ARM 2 s later (the host was busy); ARM's
    // write bucket sat full meanwhile and lost 20 tokens of refill that the model counted.
    const first = reserve(NEW_GOVERNOR, ask(100, 1, 1), T0);
    const late = first.reservation.slots.map((t) => t + 2_000);
    const spare = (b: TokenBucket): TokenBucket => ({ ...b, burst: b.burst * (1 - HEADROOM) });
    const writesSpare = spare(ARM_SUBSCRIPTION_BUCKETS.writes);
    const reported = observe(first.state, { at: T0 + 2_000, slot: T0 });
    expect(reported.arrivalLagMs).toBe(2_000);
    expect(reported.arrivals).toEqual([]);
    const after = reserve(reported, ask(400, 1, 1), T0 + 2_500).reservation.slots;
    expect(firstOverdraft([...late, ...after], 1, writesSpare)).toBeUndefined();
    // Unreported, the same requests dig into the headroom meant for servers that start late.
    const blind = reserve(first.state, ask(400, 1, 1), T0 + 2_500).reservation.slots;
    expect(firstOverdraft([...late, ...blind], 1, writesSpare)).toBeDefined();
  });

  it.each<[string, number, number, number]>([
    // name, the report's slot and arrival (ms after T0), how far the write bucket moves
    ['on time', 0, 0, 0],
    ['before its start time (clocks apart): not at all', 0, -500, 0],
    ['a minute and more late: by a minute at most', 0, 3_600_000, 60_000],
    ['for another start time: not at all', 5, 2_000, 0],
  ])('moves the model by an arrival report %s', (_, slot, arrival, moved) => {
    const { state } = reserve(NEW_GOVERNOR, ask(10, 1, 1), T0);
    const next = observe(state, { at: T0 + arrival, slot: T0 + slot });
    expect(next.writesTat - state.writesTat).toBe(moved);
    expect(next.readsTat - state.readsTat).toBe(moved);
  });

  it('awaits the newest report per bucket (a newer full start replaces an older one), the latest 8 at most', () => {
    const first = reserve(NEW_GOVERNOR, ask(10, 1, 1), T0).state;
    // A quiet minute later both buckets are full again: the newer start replaces the first for both.
    const second = reserve(first, ask(10, 1, 1), T0 + 60_000).state;
    expect(second.arrivals).toEqual([{ slot: T0 + 60_000, buckets: ['reads', 'writes'] }]);
    // The replaced report changes nothing; the awaited one still moves the model.
    expect(observe(second, { at: T0 + 2_000, slot: T0 })).toEqual(second);
    expect(observe(second, { at: T0 + 62_000, slot: T0 + 60_000 }).writesTat).toBe(second.writesTat + 2_000);
    // One bucket renewed leaves the other awaited where it was.
    const reads = reserve(NEW_GOVERNOR, ask(10, 1, 1), T0).state;
    // (The read bucket still busy: 5 s of refill short of full.)
    const onlyWrites = reserve({ ...reads, readsTat: T0 + 65_000 }, ask(1, 1, 1), T0 + 60_000).state;
    expect(onlyWrites.arrivals).toEqual([
      { slot: T0, buckets: ['reads'] },
      { slot: T0 + 60_000, buckets: ['writes'] },
    ]);
    // A stored state with more awaited than the cap keeps the latest.
    const many = Array.from({ length: 12 }, (_, i) => ({ slot: T0 + i, buckets: ['writes'] }));
    expect(governorStateOf({ ...NEW_GOVERNOR, arrivals: many }).arrivals.map((a) => a.slot)).toEqual(
      many.slice(-MAX_PENDING_ARRIVALS).map((a) => a.slot),
    );
  });

  it('takes a report once (signals may come twice), and moves only the buckets that were full', () => {
    // The read bucket is busy with another rotation's reads; only the write bucket is full.
    const reads = reserve(NEW_GOVERNOR, ask(70, 3, 0), T0).state;
    const { state, reservation } = reserve(reads, ask(1, 1, 1), T0 + 100);
    expect(reservation.reportArrival).toEqual([0]);
    expect(state.arrivals.at(-1)).toEqual({ slot: T0 + 100, buckets: ['writes'] });
    const once = observe(state, { at: T0 + 1_100, slot: T0 + 100 });
    expect(once.readsTat).toBe(state.readsTat);
    expect(once.writesTat).toBe(state.writesTat + 1_000);
    expect(observe(once, { at: T0 + 1_100, slot: T0 + 100 })).toEqual(once);
  });

  it.each<[string, ReserveRequest]>([
    ['no servers', ask(0)],
    ['a fraction of a server', ask(1.5)],
    ['a cost that is not finite', ask(1, Number.POSITIVE_INFINITY)],
    ['a negative untimed cost', { ...ask(1), untimedReadsPerServer: -1 }],
    ['more servers than one reservation may take', ask(1001)],
    ['a negative cost', ask(1, -1)],
    ['a cost that is not a number', { ...ask(1), readsPerServer: '3' as unknown as number }],
  ])('refuses a request with %s, changing nothing', (_, request) => {
    expect(() => reserve(NEW_GOVERNOR, request, T0)).toThrow(GovernorInputError);
  });

  it.each<[string, unknown]>([
    ['no time', { reads: 3 }],
    ['a negative reading', { at: T0, reads: -1 }],
    ['a Retry-After that is not a number', { at: T0, retryAfterSeconds: 'soon' }],
    ['a negative operation duration', { at: T0, operationSeconds: -2 }],
    ['a start time that is not a number', { at: T0, slot: 'first' }],
    [
      'an arrival report with a 429 beside it (it would be dropped)',
      { at: T0, slot: T0, retryAfterSeconds: 5 },
    ],
  ])('refuses a reading with %s', (_, reading) => {
    expect(() => observe(NEW_GOVERNOR, reading as never)).toThrow(GovernorInputError);
  });

  it.each<[string, unknown]>([
    ['nothing', undefined],
    ['a string', 'corrupt'],
    ['fields of the wrong type', { readsTat: 'x', writesTat: null }],
  ])('reads a missing or foreign entity state (%s) as a new governor', (_, raw) => {
    expect(governorStateOf(raw)).toEqual(NEW_GOVERNOR);
  });
});
