import { performance } from 'node:perf_hooks';
import { ArmServerFleet } from '../shared/adapters/armServerFleet';
import { ResourceGraphServerFleet } from '../shared/adapters/resourceGraphServerFleet';
import { EventGridKeyVaultEvents } from '../shared/adapters/eventGridKeyVaultEvents';
import type { KeyInfo } from '../shared/domain/model';
import { serverFromArmJson } from '../shared/adapters/serverProjection';
import { planRollout } from '../shared/domain/plan';
import {
  findAllServersReferencingKey,
  findAllServersWithCustomerManagedKeys,
  type ServerFleet,
} from '../shared/ports/serverFleet';
import { LocalTokenCredential } from '../local/azure/credential';
import type { FleetFile } from '../local/azure/fleet';
import { loopbackClientOptions } from '../local/azure/seam';
import { startLocalAzure } from '../local/azure/server';

/**
 * `npm run bench`: figures, not assertions. Domain planning and event parsing at fleet scale, and
 * discovery through the real SDK clients against the local Azure (Resource Graph vs ARM list).
 */
const SUBS = [
  '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
  'b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c',
  'd4a6b8c0-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
];
const VAULT = 'https://contoso-pg-kv.vault.azure.net';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function armServer(i: number, onKey: boolean): Record<string, unknown> {
  const sub = SUBS[i % SUBS.length] ?? '';
  const identity = `/subscriptions/${sub}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg-${i % 50}`;
  return {
    id: `/subscriptions/${sub}/resourceGroups/rg-${i % 20}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-${i}`,
    name: `pg-${i}`,
    type: 'Microsoft.DBforPostgreSQL/flexibleServers',
    location: 'westeurope',
    tags: i % 97 === 0 ? { 'cmk-rotation-optout': 'true' } : {},
    identity: { type: 'UserAssigned', userAssignedIdentities: { [identity]: {} } },
    properties: {
      state: 'Ready',
      dataEncryption: onKey
        ? {
            type: 'AzureKeyVault',
            primaryKeyURI: `${VAULT}/keys/pg-cmk/${i % 3 === 0 ? V2 : V1}`,
            primaryUserAssignedIdentityId: identity,
          }
        : { type: 'SystemManaged' },
    },
  };
}

function benchPlan(n: number): void {
  const key: KeyInfo = {
    vaultUrl: VAULT,
    vaultName: 'contoso-pg-kv',
    name: 'pg-cmk',
    versions: [
      { kid: `${VAULT}/keys/pg-cmk/${V1}`, version: V1, enabled: true, createdOn: '2026-01-01T00:00:00Z' },
      { kid: `${VAULT}/keys/pg-cmk/${V2}`, version: V2, enabled: true, createdOn: '2026-11-01T00:00:00Z' },
    ],
  };
  const servers = Array.from({ length: n }, (_, i) => serverFromArmJson(armServer(i, true)));
  const heap = process.memoryUsage().heapUsed;
  const t = performance.now();
  const plan = planRollout({ key, targetVersion: V2, servers, optOutTag: 'cmk-rotation-optout' });
  const ms = performance.now() - t;
  const updates = plan.servers.filter((s) => s.action === 'update').length;
  console.log(
    `plan        ${n} servers: ${ms.toFixed(1)} ms (${((ms * 1000) / n).toFixed(1)} µs/server), ${updates} updates, plan JSON ${mb(JSON.stringify(plan).length)}, heap +${mb(process.memoryUsage().heapUsed - heap)}`,
  );
}

/**
 * One delivery of `n` key events through the intake's reader. Event Grid batches at most 5,000 events
 * and 1,024 KB: about 2,000 Key Vault events.
 */
async function benchEvents(n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => ({
    id: `evt-${i}`,
    topic: `/subscriptions/${SUBS[0] ?? ''}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/contoso-pg-kv`,
    subject: 'pg-cmk',
    eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
    eventTime: '2026-11-24T00:00:00Z',
    data: {
      Id: `${VAULT}/keys/pg-cmk/${V2}`,
      VaultName: 'contoso-pg-kv',
      ObjectType: 'Key',
      ObjectName: 'pg-cmk',
      Version: V2,
      NBF: '1763600000',
      EXP: 1795136000,
    },
    dataVersion: '1',
    metadataVersion: '1',
  }));
  const body = JSON.stringify(events);
  const t = performance.now();
  const ok = (await new EventGridKeyVaultEvents().readDelivery(body)).filter((r) => r.ok).length;
  const ms = performance.now() - t;
  console.log(
    `events      ${n} in one ${mb(body.length)} batch: ${ms.toFixed(1)} ms (${((ms * 1000) / n).toFixed(1)} µs/event), ${ok} accepted`,
  );
}

async function benchDiscovery(n: number): Promise<void> {
  const fleet: FleetFile = {
    vaults: [
      {
        name: 'contoso-pg-kv',
        subscriptionId: SUBS[0] ?? '',
        resourceGroup: 'rg-security',
        keys: [
          {
            name: 'pg-cmk',
            versions: [
              { version: V1, created: 'now-300d' },
              { version: V2, created: 'now-20d' },
            ],
          },
        ],
      },
    ],
    servers: Array.from({ length: n }, (_, i) => armServer(i, i % 4 !== 0)),
  };
  const azure = await startLocalAzure({ fleet });
  try {
    const credential = new LocalTokenCredential('0f0e0d0c-0b0a-4909-8807-060504030201', azure.tenantId);
    const clientOptions = loopbackClientOptions({ port: azure.port, caCertPem: azure.caCertPem });
    const arm = new ArmServerFleet({ credential, subscriptions: SUBS, clientOptions });
    const graph = new ResourceGraphServerFleet({ credential, subscriptions: SUBS, arm, clientOptions });
    for (const [name, f] of [
      ['ARM list', arm],
      ['Resource Graph', graph],
    ] as [string, ServerFleet][]) {
      const before = azure.requests.length;
      const t = performance.now();
      const found = (await findAllServersReferencingKey(f, { vaultUrl: VAULT, keyName: 'pg-cmk' })).length;
      const ms = performance.now() - t;
      console.log(
        `discovery   ${name.padEnd(14)} ${n} servers: ${found} on the key in ${ms.toFixed(0)} ms, ${azure.requests.length - before} HTTPS requests`,
      );
    }
  } finally {
    await azure.close();
  }
}

/**
 * What the sweep's discovery costs with Resource Graph's quota (15 queries per 5 s per principal):
 * one query per key (what the sweep did) against one query for all keys, grouped afterwards.
 */
async function benchSweepDiscovery(servers: number, keys: number): Promise<void> {
  const keyNames = Array.from({ length: keys }, (_, i) => `pg-cmk-${i}`);
  const fleet: FleetFile = {
    servers: Array.from({ length: servers }, (_, i) => {
      const s = armServer(i, true);
      const de = (s['properties'] as { dataEncryption: Record<string, unknown> }).dataEncryption;
      de['primaryKeyURI'] = `${VAULT}/keys/${keyNames[i % keys] ?? ''}/${V1}`;
      return s;
    }),
  };
  const azure = await startLocalAzure({ fleet });
  try {
    const credential = new LocalTokenCredential('0f0e0d0c-0b0a-4909-8807-060504030201', azure.tenantId);
    const clientOptions = loopbackClientOptions({ port: azure.port, caCertPem: azure.caCertPem });
    const arm = new ArmServerFleet({ credential, subscriptions: SUBS, clientOptions });
    const graph = new ResourceGraphServerFleet({ credential, subscriptions: SUBS, arm, clientOptions });
    const queries = () => azure.requests.filter((r) => r.operation === 'resources.query');
    let t = performance.now();
    let found = 0;
    for (const keyName of keyNames)
      found += (await findAllServersReferencingKey(graph, { vaultUrl: VAULT, keyName })).length;
    const perKey = { ms: performance.now() - t, queries: queries().length, found };
    const before = perKey.queries;
    // A fresh quota window for the second run, so neither pays for the other.
    await new Promise((r) => setTimeout(r, 5_000));
    t = performance.now();
    const once = (await findAllServersWithCustomerManagedKeys(graph)).length;
    const onceMs = performance.now() - t;
    const throttled = queries().filter((q) => q.status === 429).length;
    console.log(
      `sweep discovery ${servers} servers, ${keys} keys: per key ${perKey.queries} queries in ${perKey.ms.toFixed(0)} ms (${throttled} refused with 429, quota waits included, ${perKey.found} servers); once ${queries().length - before} query in ${onceMs.toFixed(0)} ms (${once} servers)`,
    );
  } finally {
    await azure.close();
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${process.arch}`);
  benchPlan(1_000);
  benchPlan(10_000);
  await benchEvents(2_000);
  await benchDiscovery(3_000);
  await benchSweepDiscovery(3_000, 40);
  console.log(`peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
