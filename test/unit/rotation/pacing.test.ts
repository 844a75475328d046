import {
  INITIAL_WINDOW,
  MAX_FIRST_POLL_SECONDS,
  OPERATION_SAMPLES,
  addOperationSample,
  firstPollSeconds,
  initialWindow,
  mergeQuota,
  nextWindow,
  typicalOperationSeconds,
  type ArmQuota,
  type Window,
} from '../../../shared/rotation/pacing';

const NOW = Date.parse('2026-11-24T10:00:00Z');
const open = (size: number): Window => ({ size, holdUntil: 0 });

describe('the rollout window follows what ARM says is left of its quota', () => {
  it.each<[string, Window, number, ArmQuota | undefined, number, number]>([
    // name, current, in flight, quota, cap, expected size
    ['no reading yet: unchanged', open(20), 10, undefined, 100, 20],
    ['a reading without the headers: unchanged', open(20), 10, {}, 100, 20],
    [
      'a full bucket: as many as reads allow (250 - 1×10 reads) / 2 more',
      open(20),
      10,
      { reads: 250, writes: 200 },
      500,
      10 + 120,
    ],
    ['writes the tighter bound', open(20), 10, { reads: 250, writes: 5 }, 500, 15],
    [
      'reads nearly spent by the servers in flight: no room for more',
      open(40),
      40,
      { reads: 30, writes: 150 },
      500,
      40,
    ],
    [
      'reads below what the servers in flight still need: shrink to them',
      open(40),
      30,
      { reads: 10 },
      500,
      30,
    ],
    ['never above the operator cap', open(20), 10, { reads: 250, writes: 200 }, 25, 25],
    ['never below one', open(3), 0, { reads: 0, writes: 0 }, 100, 1],
  ])('%s', (_name, current, inFlight, quota, cap, size) => {
    expect(nextWindow(current, inFlight, quota, cap, NOW)).toEqual({ size, holdUntil: 0 });
  });

  it('a 429 halves the window and holds new starts for its Retry-After', () => {
    expect(nextWindow(open(40), 30, { reads: 200, retryAfterSeconds: 7 }, 100, NOW)).toEqual({
      size: 20,
      holdUntil: NOW + 7000,
    });
  });

  it('a hold already longer than a new Retry-After stays; a Retry-After of hours is capped at five minutes', () => {
    expect(nextWindow({ size: 8, holdUntil: NOW + 60_000 }, 4, { retryAfterSeconds: 2 }, 100, NOW)).toEqual({
      size: 4,
      holdUntil: NOW + 60_000,
    });
    expect(nextWindow(open(8), 4, { retryAfterSeconds: 7200 }, 100, NOW).holdUntil).toBe(NOW + 300_000);
  });

  it('while a hold lasts, a good reading does not grow the window back; after it, it does', () => {
    const held: Window = { size: 10, holdUntil: NOW + 30_000 };
    expect(nextWindow(held, 5, { reads: 250, writes: 200 }, 100, NOW).size).toBe(10);
    expect(nextWindow(held, 5, { reads: 5 }, 100, NOW).size).toBe(5);
    // After it: 5 + (250 - 5) / 2 reads' worth, held to the cap (100).
    expect(nextWindow(held, 5, { reads: 250, writes: 200 }, 100, NOW + 30_000).size).toBe(100);
  });

  it('starts at what a full bucket takes without a 429, or the cap when it is lower', () => {
    expect(initialWindow(500)).toEqual({ size: INITIAL_WINDOW, holdUntil: 0 });
    expect(initialWindow(5)).toEqual({ size: 5, holdUntil: 0 });
    expect(initialWindow(0).size).toBe(1);
  });

  it('keeps the latest value of each reading', () => {
    expect(mergeQuota({ reads: 100, writes: 50 }, { reads: 80 })).toEqual({
      reads: 80,
      writes: 50,
      retryAfterSeconds: undefined,
    });
    expect(mergeQuota(undefined, { writes: 3 })).toEqual({ writes: 3 });
    expect(mergeQuota({ reads: 1, retryAfterSeconds: 4 }, undefined)).toEqual({
      reads: 1,
      retryAfterSeconds: 4,
    });
  });
});

describe('the first look at an operation waits for when the operations before it typically ended', () => {
  it.each<[string, number | undefined, number, number]>([
    // name, typical seconds, poll interval, expected wait
    ['nothing finished yet: the poll interval', undefined, 10, 10],
    ['operations longer than the interval: their typical duration', 95, 10, 95],
    ['operations shorter than the interval: never sooner than the interval', 2, 10, 10],
    ['a fraction: rounded up to a tenth of a second', 2.04, 1, 2.1],
    ['a poll interval below one second: one second at least', undefined, 0, 1],
    ['an operation of hours: capped', 7200, 10, MAX_FIRST_POLL_SECONDS],
    ['a duration that is not a number: the poll interval', Number.NaN, 10, 10],
  ])('%s', (_, typical, interval, expected) => {
    expect(firstPollSeconds(typical, interval)).toBe(expected);
  });

  it.each<[string, number[], number | undefined]>([
    ['no samples: unknown', [], undefined],
    ['one sample', [42], 42],
    ['odd count: the middle one, so one slow operation does not move it', [2, 2.1, 300], 2.1],
    ['even count: the mean of the middle two', [4, 1, 3, 2], 2.5],
  ])('typical duration, %s', (_, samples, expected) => {
    expect(typicalOperationSeconds(samples)).toBe(expected);
  });

  it('keeps the most recent samples only and ignores durations it cannot use', () => {
    let samples: number[] = [];
    for (let i = 0; i < OPERATION_SAMPLES + 5; i++) samples = addOperationSample(samples, i);
    expect(samples).toHaveLength(OPERATION_SAMPLES);
    expect(samples[0]).toBe(5);
    expect(addOperationSample([1], undefined)).toEqual([1]);
    expect(addOperationSample([1], -3)).toEqual([1]);
    expect(addOperationSample([1], Number.POSITIVE_INFINITY)).toEqual([1]);
  });
});
