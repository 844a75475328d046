import {
  acquire,
  close,
  laneStateOf,
  LaneInputError,
  MAX_LANE_COUNT,
  NEW_LANE,
  report,
  type LaneState,
} from '../../../shared/rotation/lane';

/** The in-flight budget a subscription's batches share (shared/rotation/lane.ts). */
const lane = (held: Record<string, number>, closed: string[] = []): LaneState => ({ held, closed });
const ask = (holder: string, inFlight: number, want: number, limit = 10) => ({
  holder,
  inFlight,
  want,
  limit,
});

describe('the in-flight lane of a subscription', () => {
  it.each<[string, LaneState, ReturnType<typeof ask>, number, Record<string, number>]>([
    ['grants all it wants from an empty lane', NEW_LANE, ask('a', 0, 4), 4, { a: 4 }],
    ['never more than the limit, however much is wanted', NEW_LANE, ask('a', 0, 50), 10, { a: 10 }],
    ['what the other batches hold is not free', lane({ b: 7 }), ask('a', 0, 5), 3, { a: 3, b: 7 }],
    ['nothing when the others hold it all', lane({ b: 6, c: 4 }), ask('a', 0, 2), 0, { a: 0, b: 6, c: 4 }],
    [
      "the batch's own count replaces what the lane had for it (servers that finished come back)",
      lane({ a: 9 }),
      ask('a', 2, 20),
      8,
      { a: 10 },
    ],
    ['counts what it has in flight against the limit', lane({ b: 3 }), ask('a', 5, 5), 2, { a: 7, b: 3 }],
    [
      'a limit lowered below what is held grants nothing',
      lane({ b: 8 }),
      ask('a', 4, 3, 6),
      0,
      { a: 4, b: 8 },
    ],
    ['asking for nothing only sets the count', lane({ a: 5 }), ask('a', 1, 0), 0, { a: 1 }],
  ])('%s', (_, state, request, granted, held) => {
    const out = acquire(state, request);
    expect(out.granted).toBe(granted);
    expect(out.state.held).toEqual(held);
  });

  it('a report sets the count (a batch with nothing to start gives back what finished)', () => {
    expect(report(lane({ a: 6, b: 4 }), { holder: 'a', inFlight: 2 }).held).toEqual({ a: 2, b: 4 });
  });

  it('a close gives back all the batch held, and leaves the others', () => {
    expect(close(lane({ a: 6, b: 4 }), 'a')).toEqual(lane({ b: 4 }, ['a']));
    expect(close(lane({ b: 4 }, ['a']), 'a')).toEqual(lane({ b: 4 }, ['a']));
  });

  it("a closed batch's late messages change nothing (its rotation closed it, and they came after)", () => {
    const closed = close(lane({ a: 6, b: 4 }), 'a');
    expect(acquire(closed, ask('a', 6, 4))).toEqual({ state: closed, granted: 0 });
    expect(report(closed, { holder: 'a', inFlight: 6 })).toEqual(closed);
    // The budget it gave back is the others'.
    expect(acquire(closed, ask('b', 4, 10)).granted).toBe(6);
  });

  it('whatever order batches ask, report and close in, they never hold more than the limit together', () => {
    let state = NEW_LANE;
    const holders = ['a', 'b', 'c'];
    const inFlight: Record<string, number> = { a: 0, b: 0, c: 0 };
    let batches = 0;
    // A fixed pseudo-random walk: each step a batch finishes some servers and asks for more.
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let step = 0; step < 2000; step++) {
      const slot = rnd(3);
      const h = holders[slot] ?? 'a';
      inFlight[h] = Math.max(0, (inFlight[h] ?? 0) - rnd(4));
      const op = rnd(10);
      if (op < 7) {
        const out = acquire(state, ask(h, inFlight[h] ?? 0, rnd(12), 10));
        state = out.state;
        inFlight[h] = (inFlight[h] ?? 0) + out.granted;
      } else if (op < 9) state = report(state, { holder: h, inFlight: inFlight[h] ?? 0 });
      else {
        // The batch ended; the rotation starts another in its place.
        state = close(state, h);
        inFlight[h] = 0;
        const started = `batch-${++batches}`;
        holders[slot] = started;
        inFlight[started] = 0;
      }
      expect(Object.values(inFlight).reduce((n, v) => n + v, 0)).toBeLessThanOrEqual(10);
    }
  });

  it.each<[string, () => unknown]>([
    [
      'a holder that is not a string',
      () => acquire(NEW_LANE, { ...ask('a', 0, 1), holder: 3 as unknown as string }),
    ],
    ['an empty holder', () => report(NEW_LANE, { holder: '', inFlight: 0 })],
    ['a count that is not a whole number', () => acquire(NEW_LANE, ask('a', 1.5, 1))],
    ['a negative want', () => acquire(NEW_LANE, ask('a', 0, -1))],
    ['a limit over the largest', () => acquire(NEW_LANE, ask('a', 0, 1, MAX_LANE_COUNT + 1))],
  ])('refuses %s', (_, call) => {
    expect(call).toThrow(LaneInputError);
  });

  it.each<[string, unknown, LaneState]>([
    ['nothing', undefined, NEW_LANE],
    ['a foreign state', { slots: [1] }, NEW_LANE],
    ['held as a list', { held: [1, 2] }, NEW_LANE],
    ['counts that are not whole numbers, dropped', { held: { a: 2, b: 'x', c: -1, d: 1.5 } }, lane({ a: 2 })],
  ])('reads %s defensively', (_, raw, state) => {
    expect(laneStateOf(raw)).toEqual(state);
  });
});
