import { operationDurationMs } from '../../../local/azure/arm-patch';

const SERVER = (i: number) =>
  `/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-${i}`;

describe("the ARM stand-in's operation duration", () => {
  it.each<[string, number, number]>([
    ['lasts exactly the set duration without a spread', 2000, 0],
    ['lasts exactly zero when both are zero', 0, 0],
    ['lasts the set duration when the spread is not a number (never a completion at NaN)', 2000, Number.NaN],
  ])('%s', (_, updateDurationMs, updateDurationSpreadMs) => {
    for (let i = 0; i < 50; i++)
      expect(operationDurationMs({ updateDurationMs, updateDurationSpreadMs }, SERVER(i))).toBe(
        updateDurationMs,
      );
  });

  it('stays within the duration ± the spread, spread over both sides evenly', () => {
    const b = { updateDurationMs: 2000, updateDurationSpreadMs: 1000 };
    const drawn = Array.from({ length: 2000 }, (_, i) => operationDurationMs(b, SERVER(i)));
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...drawn)).toBeLessThanOrEqual(3000);
    // Evenly: each quarter of the range holds about a quarter of the draws.
    for (let q = 0; q < 4; q++) {
      const inQuarter = drawn.filter((d) => d >= 1000 + q * 500 && d < 1500 + q * 500).length;
      expect(inQuarter).toBeGreaterThan(400);
      expect(inQuarter).toBeLessThan(600);
    }
  });

  it("is the same for a server in every run, whatever the case of its id (the draw is the id's, not the body's)", () => {
    const b = { updateDurationMs: 2000, updateDurationSpreadMs: 1000 };
    expect(operationDurationMs(b, SERVER(7))).toBe(operationDurationMs(b, SERVER(7).toUpperCase()));
    expect(operationDurationMs(b, SERVER(7))).toBe(operationDurationMs({ ...b }, SERVER(7)));
    expect(
      new Set(Array.from({ length: 20 }, (_, i) => operationDurationMs(b, SERVER(i)))).size,
    ).toBeGreaterThan(15);
  });

  it('never lasts less than zero when the spread is wider than the duration', () => {
    const b = { updateDurationMs: 100, updateDurationSpreadMs: 1000 };
    const drawn = Array.from({ length: 500 }, (_, i) => operationDurationMs(b, SERVER(i)));
    expect(Math.min(...drawn)).toBe(0);
    expect(drawn.every((d) => d >= 0 && d <= 1100)).toBe(true);
  });
});
