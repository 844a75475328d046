import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KeyVaultKeysAdapter } from '../shared/adapters/keyVaultKeysAdapter';
import { ArmServerFleet } from '../shared/adapters/armServerFleet';
import { ResourceGraphServerFleet } from '../shared/adapters/resourceGraphServerFleet';
import { parseKeyVaultEvents, type KeyVaultKeyEvent } from '../shared/domain/events';
import { tryParseKeyUri } from '../shared/domain/keyId';
import type { ServerSnapshot } from '../shared/domain/model';
import { planRollout } from '../shared/domain/plan';
import { preflightKeyVersion } from '../shared/domain/preflight';
import type { ServerFleet } from '../shared/ports/serverFleet';
import { LocalTokenCredential } from './azure/credential';
import type { FleetFile } from './azure/fleet';
import { loopbackClientOptions } from './azure/seam';
import { startLocalAzure } from './azure/server';

/**
 * `npm start`, at this stage of the project: a dry run of the rotation path on the offline Azure.
 * It rotates the demo key through the real Key Vault client, receives Key Vault's Event Grid event,
 * re-reads and preflights the new version, discovers the servers that use the key through Resource
 * Graph (cross-checked with ARM), and prints the rollout plan. It changes no server: the durable
 * rollout runs on the local Functions host, which arrives with the workflow.
 */
const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
const KEY = 'pg-cmk';
const APP_PRINCIPAL = '0f0e0d0c-0b0a-4909-8807-060504030201';

async function collect(fleet: ServerFleet): Promise<ServerSnapshot[]> {
  const all: ServerSnapshot[] = [];
  let token: string | undefined;
  do {
    const page = await fleet.findServersReferencingKey({ vaultUrl: VAULT_URL, keyName: KEY }, token);
    all.push(...page.servers);
    token = page.continuationToken;
  } while (token !== undefined);
  return all;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

const short = (uri: string | undefined): string =>
  uri === undefined ? '-' : (tryParseKeyUri(uri)?.version?.slice(0, 8) ?? 'versionless');

async function main(): Promise<number> {
  const fleetPath = join(__dirname, '..', '..', 'local', 'fleets', 'demo.json');
  const fleet = JSON.parse(readFileSync(fleetPath, 'utf8')) as FleetFile;
  const azure = await startLocalAzure({ fleet });
  const received: KeyVaultKeyEvent[] = [];
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        const [first] = JSON.parse(body) as { data: { validationCode: string } }[];
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ validationResponse: first?.data.validationCode }));
        return;
      }
      for (const r of parseKeyVaultEvents(body)) if (r.ok) received.push(r.event);
      res.writeHead(200).end();
    });
  });
  try {
    console.log(
      `Local Azure is up on ${azure.url} (fleet ${fleetPath}: ${fleet.servers?.length ?? 0} servers, ${fleet.vaults?.length ?? 0} vaults).`,
    );
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    await azure.eventGrid.subscribe({
      name: 'demo-receiver',
      endpoint: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`,
    });

    const credential = new LocalTokenCredential(APP_PRINCIPAL, azure.tenantId);
    const clientOptions = loopbackClientOptions({ port: azure.port, caCertPem: azure.caCertPem });
    const keys = new KeyVaultKeysAdapter({ credential, clientOptions });
    const subscriptions = [
      ...new Set((fleet.servers ?? []).map((s) => (s as { id: string }).id.split('/')[2] ?? '')),
    ];
    const arm = new ArmServerFleet({ credential, subscriptions, clientOptions });
    const graph = new ResourceGraphServerFleet({ credential, subscriptions, arm, clientOptions });

    console.log(`\n1. Rotating ${KEY} in contoso-pg-kv with the real Key Vault client...`);
    const rotated = await keys.rotateKey(VAULT_URL, KEY);
    console.log(`   new version ${rotated.version}, expires ${rotated.expiresOn ?? 'never'}`);
    const deadline = Date.now() + 10_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const event = received[0];
    if (event === undefined) throw new Error('Event Grid did not deliver KeyNewVersionCreated');
    console.log(
      `2. Event Grid delivered ${event.eventType} for ${event.keyUri} (a hint; Key Vault is the truth).`,
    );

    const key = await keys.readKey(VAULT_URL, KEY);
    const target = await keys.readKeyVersion(VAULT_URL, KEY, event.version ?? rotated.version);
    const preflight = preflightKeyVersion(target, { now: new Date().toISOString(), minLifetimeDays: 30 });
    console.log(
      `3. Key has ${key.versions.length} versions; preflight of ${target.version}: ${preflight.passed ? 'passed' : `FAILED (${preflight.summary})`}`,
    );
    for (const c of preflight.checks) console.log(`   ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.reason}`);

    const viaGraph = await collect(graph);
    const viaArm = await collect(arm);
    const same =
      JSON.stringify(viaGraph.map((s) => s.id).sort()) === JSON.stringify(viaArm.map((s) => s.id).sort());
    console.log(
      `4. Discovery: Resource Graph found ${viaGraph.length} servers using ${KEY}; ARM list found ${viaArm.length} (${same ? 'same set' : 'DIFFERENT SETS'}).`,
    );
    if (!same) throw new Error('Resource Graph and ARM discovery disagree');

    const plan = planRollout({
      key,
      targetVersion: target.version,
      servers: viaGraph,
      optOutTag: 'cmk-rotation-optout',
    });
    const rows = [['server', 'subscription', 'slot', 'from', 'to', 'decision', 'reason']];
    for (const s of plan.servers) {
      for (const slot of s.slots)
        rows.push([
          s.serverName,
          s.subscriptionId.slice(0, 8),
          slot.slot,
          short(slot.currentUri),
          slot.targetUri === undefined ? '-' : short(slot.targetUri),
          slot.decision,
          slot.reason,
        ]);
    }
    console.log(`5. Rollout plan to ${plan.targetVersion}:\n`);
    console.log(table(rows).replace(/^/gm, '   '));
    const updates = plan.servers.filter((s) => s.action === 'update').length;
    console.log(
      `\nDry run: ${updates} servers would be PATCHed; nothing was changed. The durable rollout (with verification, paging and the audit trail) runs on the local Functions host once the workflow lands.`,
    );
    return preflight.passed ? 0 : 1;
  } finally {
    hook.closeAllConnections();
    await new Promise<void>((r) => hook.close(() => r()));
    await azure.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`npm start failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
