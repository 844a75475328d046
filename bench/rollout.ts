import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLocalHost } from '../local/host/host';
import { rotationOutcomesOf } from '../shared/domain/outcomes';

/**
 * `node dist/bench/rollout.js [--servers 100,1000]`: the cost of the rollout's orchestrations alone
 * on the local host — the real `keyRotation`, `rolloutBatch` and `serverRollover` orchestrators,
 * activities answering at once (every server updated on the first poll) — so what is measured is
 * replay: orchestrator CPU per server, and the size of the rotation's own history. Figures only.
 */
const DIST = join(__dirname, '..');
/** The app lives under the repository (git-ignored `.local/`) so it resolves the repository's packages. */
const LOCAL = join(DIST, '..', '.local');
const SUBS = [
  '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
  'b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c',
  'd4a6b8c0-2e4f-4a6b-8c0d-1e2f3a4b5c6d',
];

/** A Functions app registering the product's orchestrators with instant stand-in activities. */
function writeApp(dir: string, servers: number): void {
  writeFileSync(join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-rollout', main: 'index.js' }));
  writeFileSync(
    join(dir, 'index.js'),
    `
const df = require('durable-functions');
const { keyRotationOrchestrator } = require(${JSON.stringify(join(DIST, 'shared/workflows/keyRotation.js'))});
const { rolloutBatchOrchestrator } = require(${JSON.stringify(join(DIST, 'shared/workflows/rolloutBatch.js'))});
const { serverRolloverOrchestrator } = require(${JSON.stringify(join(DIST, 'shared/workflows/serverRollover.js'))});
df.app.orchestration('keyRotation', keyRotationOrchestrator);
df.app.orchestration('rolloutBatch', rolloutBatchOrchestrator);
df.app.orchestration('serverRollover', serverRolloverOrchestrator);
const VAULT = 'https://contoso-pg-kv.vault.azure.net';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0', V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const SUBS = ${JSON.stringify(SUBS)};
const version = (v, created) => ({ kid: VAULT + '/keys/pg-cmk/' + v, version: v, enabled: true, createdOn: created,
  expiresOn: '2027-11-01T00:00:00Z', keyType: 'RSA-HSM', keySize: 3072, keyOps: ['wrapKey', 'unwrapKey'] });
const key = { vaultUrl: VAULT, vaultName: 'contoso-pg-kv', name: 'pg-cmk',
  versions: [version(V1, '2026-01-01T00:00:00Z'), version(V2, '2026-11-01T00:00:00Z')] };
const target = VAULT + '/keys/pg-cmk/' + V2, from = VAULT + '/keys/pg-cmk/' + V1;
const ok = (value) => ({ ok: true, value });
const quota = { reads: 200, writes: 150 };
const steps = {
  readKey: () => ok({ key, latest: key.versions[1] }),
  planRollout: () => {
    const servers = Array.from({ length: ${servers} }, (_, i) => {
      const sub = SUBS[i % SUBS.length];
      const name = 'pg-' + String(i).padStart(5, '0');
      return { serverId: '/subscriptions/' + sub + '/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/' + name,
        serverName: name, subscriptionId: sub, action: 'update', ring: 'main', state: 'Ready',
        slots: [{ slot: 'primary', decision: 'update', version: V1, reason: 'bench' }] };
    });
    return ok({ servers, discovered: servers.length, unplannable: [] });
  },
  updateServer: (input) => ok({ kind: 'accepted', from: { primary: from }, expected: { primary: target },
    snapshot: { dataEncryption: { primaryKeyURI: from }, identity: undefined },
    handle: { serverId: input.serverId, operationUrl: 'https://management.azure.com/op' }, audited: true, quota }),
  pollServerUpdate: () => ok({ status: 'Succeeded', verification: { ok: true, dataEncryption: { primaryKeyURI: target } }, quota }),
  verifyServer: () => ok({ ok: true, dataEncryption: { primaryKeyURI: target } }),
  recordAudit: () => ok(null),
  pageOperator: () => ok({ delivered: true, channels: [] }),
  resolvePages: () => ok(null),
  rotateKey: () => ({ ok: false, error: { code: 'Forbidden', message: 'bench', retryable: false } }),
};
for (const [name, fn] of Object.entries(steps)) df.app.activity(name, { handler: async (input) => fn(input) });
`,
  );
}

async function measure(servers: number): Promise<void> {
  mkdirSync(LOCAL, { recursive: true });
  const appDir = mkdtempSync(join(LOCAL, 'bench-rollout-app-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-rollout-data-'));
  writeApp(appDir, servers);
  const host = await startLocalHost({ appRoot: appDir, dataDir, log: () => undefined });
  try {
    const id = 'cmk-rotation:contoso-pg-kv:pg-cmk';
    const input = {
      schemaVersion: 3,
      vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
      vaultName: 'contoso-pg-kv',
      keyName: 'pg-cmk',
      trigger: 'bench',
      reason: 'Operator',
      settings: {
        maxParallelUpdates: 100,
        canaryTag: 'cmk-rotation-ring',
        optOutTag: 'cmk-rotation-optout',
        minKeyLifetimeDays: 30,
        nearExpiry: { warningDays: 30, criticalDays: 7 },
        autoRotateOnNearExpiry: false,
        pollIntervalSeconds: 1,
        operationTimeoutMinutes: 60,
        maxWriteAttempts: 4,
      },
      openIncidents: [],
      generation: 0,
    };
    const t = performance.now();
    await host.engine.start('keyRotation', id, JSON.stringify(input));
    for (;;) {
      const s = host.engine.get(id);
      if (s?.status === 'Completed' || s?.status === 'Failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const wall = performance.now() - t;
    const state = host.engine.get(id);
    const { replayCpuMs, episodes } = host.engine.counters;
    const file = join(dataDir, 'instances', `${encodeURIComponent(id)}.json`);
    let bytes = 0;
    try {
      bytes = statSync(file).size;
    } catch {
      bytes = JSON.stringify(state?.history ?? []).length;
    }
    const { counts } = rotationOutcomesOf(state?.output);
    console.log(
      `rollout of ${String(servers).padStart(5)} servers (${SUBS.length} subscriptions): ${state?.status ?? '?'}, ` +
        `${counts.updated} updated in ${(wall / 1000).toFixed(1)} s; ` +
        `replay CPU ${(replayCpuMs / servers).toFixed(2)} ms/server over ${episodes} episodes; ` +
        `keyRotation history ${state?.history.length ?? 0} events / ${(bytes / 1024).toFixed(0)} KB ` +
        `(${(bytes / servers).toFixed(0)} B/server)`,
    );
  } finally {
    await host.close();
    rmSync(appDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const arg = process.argv.indexOf('--servers');
  const sizes = (arg >= 0 ? (process.argv[arg + 1] ?? '') : '100,1000')
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  // One host per process (the Functions worker contract is installed once): a child per size.
  if (sizes.length === 1) return measure(sizes[0] ?? 100);
  for (const n of sizes)
    spawnSync(process.execPath, [__filename, '--servers', String(n)], { stdio: 'inherit' });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
