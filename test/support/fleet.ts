import type { FleetFile } from '../../local/azure/fleet';

/** A small, realistic fleet for integration tests: ids and URIs look exactly like Azure's. */
export const SUB_A = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
export const SUB_B = 'b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c';
/** The security subscription the vaults live in: not a server subscription (not in CMK_SUBSCRIPTIONS). */
export const SUB_SECURITY = '3f9a1c7e-5b2d-4e8f-a1c3-7d9e0b2f4a6c';
export const VAULT = 'contoso-pg-kv';
export const VAULT_URL = `https://${VAULT}.vault.azure.net`;
export const GEO_VAULT_URL = 'https://contoso-pg-geo-kv.vault.azure.net';
export const KEY = 'pg-cmk';
export const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
export const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
export const SMALL = '00000000000000000000000000000bad';
export const GEO_V1 = '0c1d2e3f405162738495a6b7c8d9eafb';

export const uai = (sub: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
export const serverId = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`;

let n = 0;
function identity(sub: string, name: string) {
  n++;
  const hex = n.toString(16).padStart(12, '0');
  return {
    id: uai(sub, name),
    principalId: `1a2b3c4d-0000-4000-8000-${hex}`,
    clientId: `9e8d7c6b-0000-4000-8000-${hex}`,
  };
}

export interface TestServer {
  readonly sub: string;
  readonly rg: string;
  readonly name: string;
  readonly primary: string;
  readonly identity: string;
  readonly geo?: { uri: string; identity: string };
  readonly tags?: Record<string, string>;
  readonly state?: string;
}

export function armServer(s: TestServer): Record<string, unknown> {
  const identities: Record<string, object> = { [uai(s.sub, s.identity)]: {} };
  if (s.geo !== undefined) identities[uai(s.sub, s.geo.identity)] = {};
  return {
    sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
    identity: { type: 'UserAssigned', userAssignedIdentities: identities },
    properties: {
      dataEncryption: {
        type: 'AzureKeyVault',
        primaryKeyURI: s.primary,
        primaryUserAssignedIdentityId: uai(s.sub, s.identity),
        primaryEncryptionKeyStatus: 'Valid',
        ...(s.geo !== undefined
          ? {
              geoBackupKeyURI: s.geo.uri,
              geoBackupUserAssignedIdentityId: uai(s.sub, s.geo.identity),
              geoBackupEncryptionKeyStatus: 'Valid',
            }
          : {}),
      },
      version: '16',
      state: s.state ?? 'Ready',
      backup: { backupRetentionDays: 7, geoRedundantBackup: s.geo !== undefined ? 'Enabled' : 'Disabled' },
      storage: { storageSizeGB: 128 },
    },
    location: 'westeurope',
    tags: s.tags ?? {},
    id: serverId(s.sub, s.rg, s.name),
    name: s.name,
    type: 'Microsoft.DBforPostgreSQL/flexibleServers',
  };
}

export interface TestFleet {
  readonly fleet: FleetFile;
  readonly servers: Record<string, TestServer>;
}

/**
 * Servers: a (v1, sub A), b (v1 + geo-backup, sub B), c (v2), d (versionless), e (another key),
 * f (identity without grants), g (on the too-small version), plus `extra` filler servers on v1.
 */
export function testFleet(extra = 0): TestFleet {
  const key = (v?: string) =>
    v === undefined ? `${VAULT_URL}/keys/${KEY}` : `${VAULT_URL}/keys/${KEY}/${v}`;
  const servers: Record<string, TestServer> = {
    a: { sub: SUB_A, rg: 'rg-a', name: 'pg-a', primary: key(V1), identity: 'id-a' },
    b: {
      sub: SUB_B,
      rg: 'rg-b',
      name: 'pg-b',
      primary: key(V1),
      identity: 'id-b',
      geo: { uri: `${GEO_VAULT_URL}/keys/pg-cmk-geo/${GEO_V1}`, identity: 'id-b-geo' },
    },
    c: { sub: SUB_A, rg: 'rg-a', name: 'pg-c', primary: key(V2), identity: 'id-c' },
    d: { sub: SUB_B, rg: 'rg-b', name: 'pg-d', primary: key(), identity: 'id-d' },
    e: {
      sub: SUB_A,
      rg: 'rg-a',
      name: 'pg-e',
      primary: `${VAULT_URL}/keys/other-key/${V1}`,
      identity: 'id-e',
    },
    f: { sub: SUB_B, rg: 'rg-b', name: 'pg-f', primary: key(V1), identity: 'id-f' },
  };
  for (let i = 0; i < extra; i++)
    servers[`x${i}`] = {
      sub: i % 2 === 0 ? SUB_A : SUB_B,
      rg: 'rg-x',
      name: `pg-x${i}`,
      primary: key(V1),
      identity: 'id-a',
    };
  const idNames: [string, string][] = [
    [SUB_A, 'id-a'],
    [SUB_B, 'id-b'],
    [SUB_B, 'id-b-geo'],
    [SUB_A, 'id-c'],
    [SUB_B, 'id-d'],
    [SUB_A, 'id-e'],
    [SUB_B, 'id-f'],
  ];
  const identities = idNames.map(([s, name]) => identity(s, name));
  // Filler servers in sub B reuse id-a by name, which lives in sub A: give them their own identity.
  const fillerB = identity(SUB_B, 'id-a');
  const granted = (ids: string[]) =>
    ids.map((id) => ({ identity: id, permissions: ['get', 'wrapKey', 'unwrapKey'] }));
  const exp = (d: number) => `now+${d}d`;
  return {
    servers,
    fleet: {
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      identities: [...identities, fillerB],
      vaults: [
        {
          name: VAULT,
          subscriptionId: SUB_SECURITY,
          resourceGroup: 'rg-security',
          access: granted([
            uai(SUB_A, 'id-a'),
            uai(SUB_B, 'id-b'),
            uai(SUB_A, 'id-c'),
            uai(SUB_B, 'id-d'),
            uai(SUB_A, 'id-e'),
            fillerB.id,
          ]),
          keys: [
            {
              name: KEY,
              kty: 'RSA',
              size: 2048,
              rotationPolicy: {
                lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
                attributes: { expiryTime: 'P1Y' },
              },
              versions: [
                { version: SMALL, created: 'now-400d', exp: exp(300), size: 1024 },
                { version: V1, created: 'now-300d', exp: exp(65) },
                { version: V2, created: 'now-30d', exp: exp(335) },
              ],
            },
            { name: 'other-key', versions: [{ version: V1, created: 'now-10d' }] },
          ],
        },
        {
          name: 'contoso-pg-geo-kv',
          subscriptionId: SUB_SECURITY,
          resourceGroup: 'rg-security-ne',
          location: 'northeurope',
          access: granted([uai(SUB_B, 'id-b-geo')]),
          keys: [{ name: 'pg-cmk-geo', versions: [{ version: GEO_V1, created: 'now-100d', exp: exp(265) }] }],
        },
      ],
      servers: Object.values(servers).map(armServer),
      behaviour: { updateDurationMs: 300, inaccessibleAfterMs: 60_000, eventGridRetryScale: 0.001 },
    },
  };
}
