import { packIds, serverRefOf, unpackIds } from '../../../shared/rotation/packing';

describe('server ids front-coded where they enter the rotation history once per server (the plan, a batch)', () => {
  const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
  const id = (rg: string, name: string, sub = SUB) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;
  const entry = (serverId: string) => ({
    serverId,
    action: 'update' as const,
    ring: 'main' as const,
    slots: [{ slot: 'primary' as const, decision: 'update' as const, version: 'v1' }],
  });
  it.each([
    ['one resource group', [id('rg', 'pg-0001'), id('rg', 'pg-0002'), id('rg', 'pg-0010')]],
    [
      'across resource groups and subscriptions',
      [id('rg-a', 'pg-a'), id('rg-b', 'pg-b'), id('rg', 'x', 'other')],
    ],
    ['the casing as written', [id('RG', 'pg-a'), id('rg', 'pg-a')]],
    ['an id that is the start of the next', [id('rg', 'pg-a'), id('rg', 'pg-ab')]],
    ['one server', [id('rg', 'pg-a')]],
    ['none', []],
  ])('%s: every id, the order and the other fields restored exactly', (_, ids) => {
    const servers = ids.map(entry);
    const packed = packIds(servers);
    expect(unpackIds(packed)).toEqual(servers);
    expect(packed[0]).toEqual(servers[0]);
    // Servers after the first keep only what they do not share with the one before.
    for (const [i, p] of packed.entries())
      if (i > 0) expect(p.serverId.length).toBeLessThan(ids[i]?.length ?? 0);
  });

  it('never splits a surrogate pair: ids that differ only in the low half of a character keep the whole character', () => {
    // U+1D4D0 and U+1D4D1 share their high surrogate: a lone half is not valid UTF-16 text.
    const ids = [id('rg-\u{1D4D0}', 'pg-a'), id('rg-\u{1D4D1}', 'pg-a')];
    const packed = packIds(ids.map(entry));
    expect(unpackIds(packed).map((e) => e.serverId)).toEqual(ids);
    const loneHalf = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    for (const p of packed) expect(p.serverId).not.toMatch(loneHalf);
    expect(packed[1]?.serverId.startsWith('\u{1D4D1}')).toBe(true);
  });

  it('a server of the same resource group keeps little more than its name', () => {
    const [, second] = packIds([entry(id('rg', 'pg-0001')), entry(id('rg', 'pg-0002'))]);
    expect(second).toMatchObject({ serverId: '2', shared: id('rg', 'pg-000').length });
  });

  it("a batch server unpacked is the rollover's reference: name and subscription from its id", () => {
    const ids = [id('rg', 'pg-a'), id('rg', 'pg-b')];
    const packed = packIds(ids.map((serverId) => ({ serverId, behind: true as const })));
    expect(unpackIds(packed).map(serverRefOf)).toEqual(
      ids.map((serverId) => ({
        serverId,
        serverName: serverId.split('/').pop(),
        subscriptionId: SUB,
        behind: true,
      })),
    );
  });
});
