import {
  addCounts,
  addOutcome,
  asOutcomeCounts,
  countOutcomes,
  noOutcomes,
  rotationOutcomesOf,
  totalOf,
} from '../../../shared/rotation/outcomes';

const ID = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a';

describe('outcome counts', () => {
  it('counts servers by outcome and the skipped ones by reason code', () => {
    const c = countOutcomes([
      { outcome: 'updated' },
      { outcome: 'verified' },
      { outcome: 'skipped', reasonCode: 'excluded' },
      { outcome: 'skipped', reasonCode: 'excluded' },
      { outcome: 'skipped' },
      { outcome: 'failed', reasonCode: 'AzureKeyVaultMissingPermissions' },
    ]);
    expect(c).toEqual({
      updated: 1,
      verified: 1,
      failed: 1,
      skipped: 3,
      skippedBy: { excluded: 2, skip: 1 },
    });
    expect(totalOf(c)).toBe(6);
    expect(addCounts(c, addOutcome(noOutcomes(), 'skipped', 'CanaryFailed', 4))).toEqual({
      ...c,
      skipped: 7,
      skippedBy: { excluded: 2, skip: 1, CanaryFailed: 4 },
    });
  });

  it.each([
    ['not an object', 'x'],
    ['a count missing', { updated: 1, verified: 0, failed: 0 }],
    ['a negative count', { updated: -1, verified: 0, failed: 0, skipped: 0 }],
    ['a fraction', { updated: 1.5, verified: 0, failed: 0, skipped: 0 }],
  ])('refuses counts that crossed the boundary malformed: %s', (_, v) => {
    expect(asOutcomeCounts(v)).toBeUndefined();
  });
});

describe('rotationOutcomesOf reads outputs of either format', () => {
  const entry = { serverId: ID, serverName: 'pg-a', subscriptionId: 's', outcome: 'failed', slots: [] };
  it.each([
    [
      'format 1: every server listed, counted from the list',
      { servers: [entry, { ...entry, outcome: 'updated' }] },
      { updated: 1, failed: 1 },
      2,
      true,
    ],
    [
      'format 2: the counts as written, the listed servers',
      {
        outputVersion: 2,
        counts: { updated: 40, verified: 2, failed: 1, skipped: 0, skippedBy: {} },
        servers: [entry],
      },
      { updated: 40, verified: 2, failed: 1 },
      1,
      false,
    ],
    ['no output', undefined, { updated: 0, failed: 0 }, 0, true],
    [
      'malformed entries dropped, a missing name read from the id',
      { servers: [{ serverId: ID, outcome: 'failed' }, { outcome: 'failed' }, 'x', null] },
      { failed: 1 },
      1,
      true,
    ],
  ])('%s', (_, output, counts, listed, everyServerListed) => {
    const r = rotationOutcomesOf(output);
    expect(r.counts).toMatchObject(counts);
    expect(r.servers).toHaveLength(listed);
    expect(r.servers.every((s) => s.serverName === 'pg-a')).toBe(true);
    expect(r.everyServerListed).toBe(everyServerListed);
  });
});
