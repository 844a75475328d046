import {
  backoffSeconds,
  failedRunsOf,
  nextFailedRuns,
  RETRY_POLICIES,
  retryDelaySeconds,
  sweepRetryBackoffHours,
} from '../../../shared/rotation/policy';

describe("the sweep's retry backoff for a key whose runs keep failing for a version", () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 4],
    [4, 8],
    [5, 16],
    [6, 24],
    [7, 24],
    [1000, 24],
    [0, 1],
    [Number.NaN, 1],
  ])('after %s failed run(s) in a row: %s h', (count, hours) => {
    expect(sweepRetryBackoffHours(count)).toBe(hours);
  });

  const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  it.each([
    ['first failure', undefined, 'completedWithFailures', A, { version: A, count: 1 }],
    [
      'again for the same version',
      { version: A, count: 3 },
      'completedWithFailures',
      A,
      { version: A, count: 4 },
    ],
    [
      'same version, other case',
      { version: A.toUpperCase(), count: 2 },
      'completedWithFailures',
      A,
      { version: A, count: 3 },
    ],
    [
      'failure for another version starts over',
      { version: B, count: 5 },
      'completedWithFailures',
      A,
      { version: A, count: 1 },
    ],
    ['a clean run clears it', { version: A, count: 5 }, 'completed', A, undefined],
    ['a stopped run carries none', { version: A, count: 5 }, 'stopped', A, undefined],
    ['no target version', undefined, 'completedWithFailures', undefined, undefined],
  ] as const)('%s', (_, previous, status, target, expected) => {
    expect(nextFailedRuns(previous, status, target)).toEqual(expected);
  });

  it.each([
    [{ failedRuns: { version: A, count: 2 } }, { version: A, count: 2 }],
    [{ failedRuns: { version: A, count: 0 } }, undefined],
    [{ failedRuns: { version: A, count: 1.5 } }, undefined],
    [{ failedRuns: { version: 7, count: 1 } }, undefined],
    [{}, undefined],
    [null, undefined],
    ['text', undefined],
  ])('reads the count from a previous output %j', (output, expected) => {
    expect(failedRunsOf(output)).toEqual(expected);
  });
});

describe('one backoff formula for steps, writes and the sweep', () => {
  it('a read step waits 5 s, doubling, capped at 120 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffSeconds(RETRY_POLICIES.read, a))).toEqual([
      5, 10, 20, 40, 80, 120, 120,
    ]);
  });

  it('a write waits 5 s, doubling, capped at 5 minutes', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => retryDelaySeconds(a, undefined))).toEqual([
      5, 10, 20, 40, 80, 160, 300, 300,
    ]);
  });

  it.each([
    ['a read', (ra: number) => backoffSeconds(RETRY_POLICIES.read, 3, ra)],
    ['a write', (ra: number) => retryDelaySeconds(3, ra)],
  ])("%s waits Azure's Retry-After instead, at most an hour", (_name, wait) => {
    expect(wait(17)).toBe(17);
    expect(wait(7200)).toBe(3600);
  });
});
