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
