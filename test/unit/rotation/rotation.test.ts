import { failedRunsOf, nextFailedRuns, sweepRetryBackoffHours } from '../../../shared/rotation/policy';
import { packIds, serverRefOf, unpackIds } from '../../../shared/rotation/packing';
import {
  MAX_DEDUP_KEY,
  MAX_INSTANCE_ID,
  incidentKeys,
  instanceIdProblem,
  rotationInstanceId,
  serverRolloverInstanceId,
  vaultToken,
} from '../../../shared/rotation/ids';

const VAULT24 = 'v'.repeat(24);
const KEY127 = 'k'.repeat(127);
const SERVER63 = 's'.repeat(63);
const GUID = '2f0b0e8a-4a53-5c1e-9d7e-2b1c3d4e5f60';

describe('durable instance ids', () => {
  it.each([
    [
      'a short key on the public host: readable and unchanged',
      'https://contoso-pg-kv.vault.azure.net',
      'pg-cmk',
      'cmk-rotation:contoso-pg-kv:pg-cmk',
    ],
    [
      'a bare vault name means the public host',
      'Contoso-PG-KV',
      'PG-CMK',
      'cmk-rotation:contoso-pg-kv:pg-cmk',
    ],
    ['the longest vault and key names', `https://${VAULT24}.vault.azure.net`, KEY127, undefined],
    ['a Managed HSM with a long key', `https://${VAULT24}.managedhsm.azure.net`, KEY127, undefined],
  ])('rotation id for %s', (_what, vault, key, expected) => {
    const id = rotationInstanceId(vault, key);
    if (expected !== undefined) expect(id).toBe(expected);
    expect(id.length).toBeLessThanOrEqual(MAX_INSTANCE_ID);
    expect(instanceIdProblem(id)).toBeUndefined();
    expect(id.startsWith(`cmk-rotation:${vaultToken(vault)}:`)).toBe(true);
  });

  it('keeps ids of long keys unique when they share a long prefix', () => {
    const a = rotationInstanceId(`https://${VAULT24}.vault.azure.net`, `${'k'.repeat(120)}-aaaaa`);
    const b = rotationInstanceId(`https://${VAULT24}.vault.azure.net`, `${'k'.repeat(120)}-bbbbb`);
    expect(a).not.toBe(b);
    expect(a.length).toBe(MAX_INSTANCE_ID);
  });

  it.each([
    ['a Managed HSM', 'https://contoso-pg-kv.managedhsm.azure.net'],
    ['a vault in Azure China', 'https://contoso-pg-kv.vault.azure.cn'],
    ['a vault in Azure Government', 'https://contoso-pg-kv.vault.usgovcloudapi.net'],
  ])('gives %s with the same name as a public vault an id of its own', (_what, url) => {
    const publicId = rotationInstanceId('https://contoso-pg-kv.vault.azure.net', 'pg-cmk');
    const other = rotationInstanceId(url, 'pg-cmk');
    expect(other).not.toBe(publicId);
    expect(other).toMatch(/^cmk-rotation:contoso-pg-kv~[0-9a-f]{6}:pg-cmk$/);
  });

  it.each([
    [
      'the longest server name under the longest rotation id',
      rotationInstanceId(`https://${VAULT24}.managedhsm.azure.net`, KEY127),
      SERVER63,
    ],
    ['a short server name', 'cmk-rotation:contoso-pg-kv:pg-cmk', 'pg-orders'],
  ])('server rollover id for %s: bounded, valid, the server name readable', (_what, parent, server) => {
    const id = serverRolloverInstanceId(parent, server, GUID);
    expect(id.length).toBeLessThanOrEqual(MAX_INSTANCE_ID);
    expect(instanceIdProblem(id)).toBeUndefined();
    expect(id).toContain(`:${server}:`);
  });

  it('gives each rotation and each server its own rollover id, the same one on replay', () => {
    const parent = 'cmk-rotation:contoso-pg-kv:pg-cmk';
    const id = serverRolloverInstanceId(parent, 'pg-orders', GUID);
    expect(serverRolloverInstanceId(parent, 'pg-orders', GUID)).toBe(id);
    expect(serverRolloverInstanceId(`${parent}x`, 'pg-orders', GUID)).not.toBe(id);
    expect(serverRolloverInstanceId(parent, 'pg-orders', GUID.replace('2f', '3f'))).not.toBe(id);
  });

  it.each([
    ['', 'must be 1 to 100'],
    ['x'.repeat(101), 'must be 1 to 100'],
    ['a/b', 'must not contain'],
    ['a\\b', 'must not contain'],
    ['a#b', 'must not contain'],
    ['a?b', 'must not contain'],
    ['a\u0001b', 'control characters'],
    ['a\u007fb', 'control characters'],
    ['@entity', 'must not start with @'],
  ])('refuses the instance id %j as Azure does', (id, problem) => {
    expect(instanceIdProblem(id)).toContain(problem);
  });

  it.each([['cmk-rotation:contoso-pg-kv:pg-cmk'], ['x'.repeat(100)], ['a:b-c.d~e']])('accepts %s', (id) => {
    expect(instanceIdProblem(id)).toBeUndefined();
  });
});

describe('PagerDuty dedup keys', () => {
  const V = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
  const SERVER_ID = `/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/${'r'.repeat(90)}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${SERVER63}`;
  it.each([
    ['server', incidentKeys.server(VAULT24, KEY127, V, SERVER63, SERVER_ID)],
    ['preflight', incidentKeys.preflight(VAULT24, KEY127, V)],
    ['expiry', incidentKeys.expiry(VAULT24, KEY127, V, 'critical')],
    ['rotation', incidentKeys.rotation(VAULT24, KEY127, 'KeyUnreadable')],
  ])('%s keys stay within 255 characters for the longest names', (_kind, key) => {
    expect(key.length).toBeLessThanOrEqual(MAX_DEDUP_KEY);
    expect(key).toBe(key.toLowerCase());
  });

  it('keeps short keys as they were (open incidents still match)', () => {
    expect(incidentKeys.preflight('contoso-pg-kv', 'pg-cmk', V)).toBe(
      `cmk:contoso-pg-kv:pg-cmk:${V}:preflight`,
    );
  });

  it('keeps two servers with long, similar names apart', () => {
    const a = incidentKeys.server(VAULT24, KEY127, V, `${'s'.repeat(60)}-a1`, SERVER_ID);
    const b = incidentKeys.server(VAULT24, KEY127, V, `${'s'.repeat(60)}-b1`, SERVER_ID);
    expect(a).not.toBe(b);
  });
});

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
