import { operationSeconds } from '../../../shared/adapters/armServerFleet';

describe("an operation's duration by ARM's clock (its status's startTime and endTime)", () => {
  it.each<[string, unknown, unknown, number | undefined]>([
    // name, startTime, endTime, seconds
    ['both present', '2026-11-28T10:00:00.000Z', '2026-11-28T10:01:35.500Z', 95.5],
    ['ARM writes 7 fraction digits', '2026-11-28T10:00:00.1234567Z', '2026-11-28T10:00:02.1234567Z', 2],
    ['still running: no endTime', '2026-11-28T10:00:00Z', undefined, undefined],
    ['no startTime', undefined, '2026-11-28T10:00:00Z', undefined],
    ['not a date', 'yesterday-ish', '2026-11-28T10:00:00Z', undefined],
    ['ends before it starts', '2026-11-28T10:00:05Z', '2026-11-28T10:00:00Z', undefined],
    ['not strings', 1, 2, undefined],
  ])('%s', (_, start, end, expected) => {
    expect(operationSeconds(start, end)).toBe(expected);
  });
});
