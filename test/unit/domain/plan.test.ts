import type { KeyInfo, ServerSnapshot } from '../../../shared/domain/model';
import {
  PlanInputError,
  buildPatchBody,
  latestVersion,
  planRollout,
  type SlotDecision,
} from '../../../shared/domain/plan';
import { keyInfo, keyVersion } from '../../support/keys';
import { serverSnapshot } from '../../support/servers';

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const VAULT = 'https://contoso-kv.vault.azure.net';
const GEO_VAULT = 'https://contoso-geo-kv.vault.azure.net';
const V1 = '11111111111111111111111111111111';
const V2 = '22222222222222222222222222222222';
const V3 = '33333333333333333333333333333333';
const ORPHAN = '99999999999999999999999999999999';
const uai = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const ID_P = uai('id-pg-primary');
const ID_G = uai('id-pg-geo');
const ID_X = uai('id-other');

const key: KeyInfo = keyInfo(
  [
    keyVersion(V2, '2026-06-01T00:00:00Z', { vaultUrl: VAULT }),
    keyVersion(V1, '2026-01-01T00:00:00Z', { vaultUrl: VAULT }),
    keyVersion(V3, '2026-11-01T00:00:00Z', { vaultUrl: VAULT }),
  ],
  { vaultUrl: VAULT, vaultName: 'contoso-kv' },
);

function server(
  name: string,
  over: Partial<ServerSnapshot> & { primary?: string; geo?: string },
): ServerSnapshot {
  const { primary, geo, ...rest } = over;
  return serverSnapshot(name, {
    subscriptionId: SUB,
    resourceGroup: 'rg-db',
    identity: {
      type: 'UserAssigned',
      userAssignedIdentities: { [ID_P]: { principalId: 'p', clientId: 'c' }, [ID_G]: {}, [ID_X]: {} },
    },
    dataEncryption: {
      primaryKeyURI: primary,
      primaryUserAssignedIdentityId: ID_P,
      ...(geo !== undefined ? { geoBackupKeyURI: geo, geoBackupUserAssignedIdentityId: ID_G } : {}),
    },
    ...rest,
  });
}

const k = (v?: string, vault = VAULT, name = 'pg-cmk') =>
  v === undefined ? `${vault}/keys/${name}` : `${vault}/keys/${name}/${v}`;

describe('planRollout, per slot', () => {
  it.each<[string, ServerSnapshot, SlotDecision[], string]>([
    ['a server on an older version', server('pg-a', { primary: k(V1) }), ['update'], 'update'],
    ['a server already on the target', server('pg-b', { primary: k(V3) }), ['current'], 'verify'],
    ['a server on a versionless URI', server('pg-c', { primary: k() }), ['versionless'], 'verify'],
    [
      'a server opted out by tag',
      server('pg-d', { primary: k(V1), tags: { 'CMK-Rotation-OptOut': 'true' } }),
      ['excluded'],
      'skip',
    ],
    [
      'a server whose opt-out tag says false',
      server('pg-e', { primary: k(V1), tags: { 'cmk-rotation-optout': 'false' } }),
      ['update'],
      'update',
    ],
    [
      'a server that is not Ready',
      server('pg-f', { primary: k(V1), state: 'Updating' }),
      ['deferred'],
      'skip',
    ],
    [
      'a stopped server already current',
      server('pg-g', { primary: k(V3), state: 'Stopped' }),
      ['current'],
      'verify',
    ],
    [
      'a server on a version unknown to the vault',
      server('pg-h', { primary: k(ORPHAN) }),
      ['unknownVersion'],
      'skip',
    ],
    [
      'primary and geo-backup both on this key',
      server('pg-i', { primary: k(V1), geo: k(V2) }),
      ['update', 'update'],
      'update',
    ],
    [
      'geo-backup on this key, primary on another',
      server('pg-j', { primary: k(V1, GEO_VAULT, 'other'), geo: k(V2) }),
      ['update'],
      'update',
    ],
    [
      'a URI in other casing',
      server('pg-k', { primary: `https://CONTOSO-KV.vault.azure.net/keys/PG-CMK/${V1.toUpperCase()}` }),
      ['update'],
      'update',
    ],
    [
      'a server on operator hold (hold tag with a ticket as value)',
      server('pg-l', { primary: `${VAULT}/keys/pg-cmk/${V1}`, tags: { 'CMK-Rotation-Hold': 'CHG-1234' } }),
      ['held'],
      'skip',
    ],
    [
      'a server on hold that is not Ready (held wins over deferred)',
      server('pg-m', {
        primary: `${VAULT}/keys/pg-cmk/${V1}`,
        state: 'Stopped',
        tags: { 'cmk-rotation-hold': 'yes' },
      }),
      ['held'],
      'skip',
    ],
    [
      'a server whose hold tag says off',
      server('pg-n', { primary: `${VAULT}/keys/pg-cmk/${V1}`, tags: { 'cmk-rotation-hold': 'off' } }),
      ['update'],
      'update',
    ],
    [
      'a server opted out and on hold (the opt-out is the lasting decision)',
      server('pg-o', {
        primary: `${VAULT}/keys/pg-cmk/${V1}`,
        tags: { 'cmk-rotation-hold': 'INC-9', 'cmk-rotation-optout': 'true' },
      }),
      ['excluded'],
      'skip',
    ],
  ])('%s', (_name, srv, decisions, action) => {
    const plan = planRollout({
      key,
      targetVersion: V3,
      servers: [srv],
      optOutTag: 'cmk-rotation-optout',
      holdTag: 'cmk-rotation-hold',
    });
    const [p] = plan.servers;
    expect(p?.slots.map((s) => s.decision)).toEqual(decisions);
    expect(p?.action).toBe(action);
    expect(p?.patch !== undefined).toBe(action === 'update');
  });

  it('never moves a server to an older version', () => {
    const plan = planRollout({
      key,
      targetVersion: V2,
      servers: [server('pg-new', { primary: k(V3) })],
      optOutTag: 'optout',
    });
    expect(plan.servers[0]?.slots[0]).toMatchObject({ decision: 'ahead', targetUri: undefined });
    expect(plan.servers[0]?.patch).toBeUndefined();
  });

  it('never touches servers that do not reference the key', () => {
    const other = server('pg-z', { primary: k(V1, VAULT, 'pg-cmk2') });
    const systemManaged: ServerSnapshot = {
      ...server('pg-y', {}),
      dataEncryption: { type: 'SystemManaged' },
    };
    const plan = planRollout({
      key,
      targetVersion: V3,
      servers: [other, systemManaged],
      optOutTag: 'optout',
    });
    expect(plan.servers).toEqual([]);
    expect(plan.notReferencing).toEqual([other.id, systemManaged.id]);
  });

  it('rejects a target version the key does not have', () => {
    expect(() => planRollout({ key, targetVersion: ORPHAN, servers: [], optOutTag: 'optout' })).toThrow(
      PlanInputError,
    );
  });
});

describe('the PATCH body', () => {
  it('sends all of dataEncryption and no identity map, changing only slots on this key', () => {
    const srv = server('pg-i', { primary: k(V1, GEO_VAULT, 'other'), geo: k(V2) });
    const plan = planRollout({ key, targetVersion: V3, servers: [srv], optOutTag: 'optout' });
    expect(plan.servers[0]?.patch).toEqual({
      properties: {
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: k(V1, GEO_VAULT, 'other'),
          primaryUserAssignedIdentityId: ID_P,
          geoBackupKeyURI: k(V3),
          geoBackupUserAssignedIdentityId: ID_G,
        },
      },
    });
  });

  it('omits geo-backup fields for a server without a geo-backup key and never sends read-only statuses', () => {
    const body = buildPatchBody(server('pg-a', { primary: k(V1) }), { primary: k(V3) });
    expect(body.properties.dataEncryption).toEqual({
      type: 'AzureKeyVault',
      primaryKeyURI: k(V3),
      primaryUserAssignedIdentityId: ID_P,
    });
  });

  it('names no identity whatever identities the server has (each one named costs assign/action)', () => {
    for (const identity of [
      { type: 'SystemAssigned,UserAssigned', userAssignedIdentities: {} },
      { type: 'UserAssigned', userAssignedIdentities: { [ID_P]: {}, [ID_X]: {} } },
    ]) {
      const body = buildPatchBody({ ...server('pg-a', { primary: k(V1) }), identity }, { primary: k(V3) });
      expect(Object.keys(body)).toEqual(['properties']);
      expect(Object.keys(body.properties)).toEqual(['dataEncryption']);
    }
  });

  it('refuses to build a body for a server without a primary identity', () => {
    const srv: ServerSnapshot = {
      ...server('pg-a', { primary: k(V1) }),
      dataEncryption: { type: 'AzureKeyVault', primaryKeyURI: k(V1) },
    };
    expect(() => buildPatchBody(srv, { primary: k(V3) })).toThrow('no primary key URI and identity');
  });
});

describe('latestVersion', () => {
  it('picks the newest by creation time whatever the order', () => {
    expect(latestVersion(key)?.version).toBe(V3);
    expect(latestVersion({ ...key, versions: [] })).toBeUndefined();
  });
});

describe('versions created in the same second (Key Vault keeps whole seconds)', () => {
  const second = '2026-11-24T10:00:00Z';
  const tied = (current: string): KeyInfo => ({
    ...key,
    versions: [
      { kid: `${VAULT}/keys/pg-cmk/${V2}`, version: V2, enabled: true, createdOn: second },
      { kid: `${VAULT}/keys/pg-cmk/${V3}`, version: V3, enabled: true, createdOn: second },
    ],
    currentVersion: current,
  });

  it.each([V2, V3])('takes the vault’s current version (%s) as the newest', (current) => {
    expect(latestVersion(tied(current))?.version).toBe(current);
  });

  it('moves a server from the other tied version to the current one', () => {
    const plan = planRollout({
      key: tied(V3),
      targetVersion: V3,
      servers: [server('pg-a', { primary: k(V2) })],
      optOutTag: 'cmk-rotation-optout',
    });
    expect(plan.servers[0]?.slots[0]?.decision).toBe('update');
  });

  it('never moves a server off the current version to a tied older one', () => {
    const plan = planRollout({
      key: tied(V3),
      targetVersion: V2,
      servers: [server('pg-a', { primary: k(V3) })],
      optOutTag: 'cmk-rotation-optout',
    });
    expect(plan.servers[0]?.slots[0]?.decision).toBe('ahead');
  });
});
