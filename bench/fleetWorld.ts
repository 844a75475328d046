import type { FleetFile } from '../local/azure/fleet';
import { rotationInstanceId } from '../shared/rotation/ids';

/** The fleet benchmark's world: the generated fleet, its key and vaults, and ARM's bound for it. */

export const VAULT = 'contoso-pg-kv';
export const GEO_VAULT = 'contoso-pg-geo-kv';
export const KEY = 'pg-cmk';
export const OPERATOR = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const GEO_V = '0c1d2e3f405162738495a6b7c8d9eafb';
export const CANARY_TAG = 'cmk-rotation-ring';
/** ARM's token buckets per subscription and principal (the stand-ins' defaults). */
const WRITES = { burst: 200, perSecond: 10 };
const READS = { burst: 250, perSecond: 25 };
/** Reads of an updated server: the read before its PATCH and the look after it that verifies it (shared/rotation/pacing.ts). */
const READS_PER_SERVER = 2;

function uuid(prefix: string, n: number): string {
  return `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** The key names of a run with `keys` keys: `pg-cmk` alone, else `pg-cmk-01` … */
export function keyNames(keys: number): string[] {
  if (keys <= 1) return [KEY];
  const width = String(keys).length;
  return Array.from({ length: keys }, (_, i) => `${KEY}-${String(i + 1).padStart(width, '0')}`);
}

/** The rotation's instance id of a key, as the product builds it. */
export const instanceIdOf = (key: string): string =>
  rotationInstanceId(`https://${VAULT}.vault.azure.net`, key);

/**
 * A fleet of `n` servers over `subs` subscriptions, on versioned URIs of `keys` keys of one vault
 * (server i on key i mod keys, in subscription i mod subs).
 */
export function generateFleet(n: number, subs: number, lroMs: number, keys = 1, lroSpreadMs = 0): FleetFile {
  const names = keyNames(keys);
  const subscriptions = Array.from({ length: subs }, (_, i) => uuid('6f1c2b9e', i + 1));
  const sub0 = subscriptions[0] ?? '';
  const identityId = (sub: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
  const identities = subscriptions.flatMap((sub, i) => [
    {
      id: identityId(sub, 'id-pg-cmk'),
      principalId: uuid('1a2b3c4d', 2 * i + 1),
      clientId: uuid('9e8d7c6b', 2 * i + 1),
    },
    {
      id: identityId(sub, 'id-pg-cmk-geo'),
      principalId: uuid('1a2b3c4d', 2 * i + 2),
      clientId: uuid('9e8d7c6b', 2 * i + 2),
    },
  ]);
  const servers = Array.from({ length: n }, (_, i) => {
    const sub = subscriptions[i % subs] ?? sub0;
    const name = `pg-fleet-${String(i).padStart(5, '0')}`;
    const rg = `rg-pg-${(i % 7) + 1}`;
    const primary = identityId(sub, 'id-pg-cmk');
    const geo = i % 5 === 0 ? identityId(sub, 'id-pg-cmk-geo') : undefined;
    const canary = i % 100 === 0;
    return {
      sku: { name: 'Standard_D4ds_v5', tier: 'GeneralPurpose' },
      systemData: { createdAt: '2025-06-01T18:30:22.123456Z' },
      identity: {
        type: 'UserAssigned',
        userAssignedIdentities: { [primary]: {}, ...(geo !== undefined ? { [geo]: {} } : {}) },
      },
      properties: {
        replica: { role: 'Primary', capacity: 5 },
        storage: { type: '', iops: 2300, tier: 'P20', storageSizeGB: 512, autoGrow: 'Disabled' },
        network: { publicNetworkAccess: 'Disabled' },
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: `https://${VAULT}.vault.azure.net/keys/${names[i % names.length] ?? KEY}/${i % 3 === 0 ? V1 : V2}`,
          primaryUserAssignedIdentityId: primary,
          primaryEncryptionKeyStatus: 'Valid',
          ...(geo !== undefined
            ? {
                geoBackupKeyURI: `https://${GEO_VAULT}.vault.azure.net/keys/${KEY}-geo/${GEO_V}`,
                geoBackupUserAssignedIdentityId: geo,
                geoBackupEncryptionKeyStatus: 'Valid',
              }
            : {}),
        },
        authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Enabled' },
        fullyQualifiedDomainName: `${name}.postgres.database.azure.com`,
        version: '17',
        minorVersion: '5',
        administratorLogin: 'pgadmin',
        state: 'Ready',
        availabilityZone: '1',
        backup: {
          backupRetentionDays: 7,
          geoRedundantBackup: geo !== undefined ? 'Enabled' : 'Disabled',
          earliestRestoreDate: '2025-06-01T18:35:22.123456Z',
        },
        highAvailability: { mode: 'Disabled', state: 'NotEnabled' },
        replicationRole: 'Primary',
      },
      location: 'West Europe',
      tags: { env: i % 4 === 0 ? 'staging' : 'prod', ...(canary ? { [CANARY_TAG]: '0' } : {}) },
      id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`,
      name,
      type: 'Microsoft.DBforPostgreSQL/flexibleServers',
    };
  });
  const grants = (suffix: string) =>
    identities
      .filter((x) => x.id.endsWith(suffix))
      .map((x) => ({ identity: x.id, permissions: ['get', 'wrapKey', 'unwrapKey'] }));
  return {
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    identities,
    vaults: [
      {
        name: VAULT,
        subscriptionId: sub0,
        resourceGroup: 'rg-security',
        access: grants('/id-pg-cmk'),
        keys: names.map((name) => ({
          name,
          kty: 'RSA',
          size: 2048,
          rotationPolicy: {
            lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } }],
            attributes: { expiryTime: 'P1Y' },
          },
          versions: [
            { version: V1, created: 'now-300d', exp: 'now+65d' },
            { version: V2, created: 'now-30d', exp: 'now+335d' },
          ],
        })),
      },
      {
        name: GEO_VAULT,
        subscriptionId: sub0,
        resourceGroup: 'rg-security',
        location: 'northeurope',
        access: grants('/id-pg-cmk-geo'),
        keys: [{ name: `${KEY}-geo`, versions: [{ version: GEO_V, created: 'now-30d' }] }],
      },
    ],
    servers,
    behaviour: { updateDurationMs: lroMs, updateDurationSpreadMs: lroSpreadMs, eventGridRetryScale: 0.01 },
  };
}

/**
 * ARM's bound for the fleet: canary LRO + the slowest subscription's throttled calls + one LRO. With
 * operations that last `lroMs` ± `lroSpreadMs` (spread evenly), the canary ring waits for the slowest
 * of its `canaries` operations, on average `lroMs + lroSpreadMs × (k − 1) / (k + 1)` (the expected
 * largest of k even draws), and the last server for a typical one.
 */
export function armBoundMs(n: number, subs: number, lroMs: number, lroSpreadMs = 0, canaries = 1): number {
  const perSub = Math.ceil(n / subs);
  const writes = Math.max(0, (perSub - WRITES.burst) / WRITES.perSecond);
  const reads = Math.max(0, (perSub * READS_PER_SERVER - READS.burst) / READS.perSecond);
  const k = Math.max(1, canaries);
  const slowestCanary = lroMs + (lroSpreadMs * (k - 1)) / (k + 1);
  return slowestCanary + Math.max(writes, reads) * 1000 + lroMs;
}
