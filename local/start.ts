import { KeyClient } from '@azure/keyvault-keys';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tryParseKeyUri } from '../shared/domain/keyId';
import { rotationInstanceId, type RotationOutput } from '../shared/domain/rotation';
import {
  assertLocalCaTrusted,
  connectAppToLocalAzure,
  localAppSettings,
  subscribeEventGridTriggers,
} from './app';
import { LocalTokenCredential } from './azure/credential';
import { customEventsOf, type CustomEvent } from './azure/capture';
import type { FleetFile } from './azure/fleet';
import { loopbackClientOptions } from './azure/seam';
import { startLocalAzure, type LocalAzure } from './azure/server';
import { startLocalHost } from './host/host';

/**
 * `npm start`: the product's main job, offline. Local Azure with the demo fleet (three subscriptions),
 * the local Functions host running `functions/` unchanged, a key rotated through the real Key Vault
 * client, Event Grid delivering the event, the durable rollout, and at the end a summary, the pages
 * and the audit trail. Exits 0 only when the outcome is the correct one for this fleet.
 */
const ROOT = resolve(__dirname, '..', '..');
const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
const VAULT = 'contoso-pg-kv';
const KEY = 'pg-cmk';
/** The platform engineer who rotates the key (any principal may call Key Vault in the demo vault). */
const OPERATOR_PRINCIPAL = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';

/** What the demo fleet must end like: the checks that make the exit code honest. */
const EXPECTED: Record<string, { outcome: string; on: 'new' | 'versionless' | 'old' | 'other' }> = {
  'pg-orders-prod': { outcome: 'updated', on: 'new' },
  'pg-billing-prod': { outcome: 'updated', on: 'new' },
  'pg-inventory-prod': { outcome: 'updated', on: 'new' },
  'pg-analytics': { outcome: 'verified', on: 'versionless' },
  'pg-legacy-erp': { outcome: 'skipped', on: 'old' },
  'pg-reporting': { outcome: 'failed', on: 'old' },
};

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

const short = (v: string | undefined): string =>
  v === undefined || v === 'versionless' ? 'versionless' : v.slice(0, 8);
/** `npm start -- --keep`: keep the stand-ins and the host (and the status page) up after the run. */
const KEEP = process.argv.slice(2).includes('--keep');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function auditEvents(azure: LocalAzure): CustomEvent[] {
  return customEventsOf(azure.captures.telemetry);
}

function serverJson(azure: LocalAzure, name: string): Record<string, unknown> | undefined {
  for (const r of azure.world.servers.values()) if (r.json['name'] === name) return r.json;
  return undefined;
}

function primaryVersion(json: Record<string, unknown> | undefined): string | undefined {
  const de = (json?.['properties'] as { dataEncryption?: { primaryKeyURI?: string } } | undefined)
    ?.dataEncryption;
  return tryParseKeyUri(de?.primaryKeyURI)?.version;
}

async function main(): Promise<number> {
  const started = Date.now();
  const fleetPath = join(ROOT, 'local', 'fleets', 'demo.json');
  const fleet = JSON.parse(readFileSync(fleetPath, 'utf8')) as FleetFile;
  const dataDir = mkdtempSync(join(tmpdir(), 'pg-cmk-rotator-'));
  const azure = await startLocalAzure({ fleet });
  assertLocalCaTrusted(azure.caCertPath);
  Object.assign(process.env, localAppSettings(azure, fleet, process.env));
  connectAppToLocalAzure(azure, undefined, () => new Date(azure.world.clock.now()));
  const host = await startLocalHost({
    appRoot: ROOT,
    dataDir,
    log: () => undefined,
    now: () => new Date(azure.world.clock.now()),
  });
  const problems: string[] = [];
  try {
    await subscribeEventGridTriggers(azure, host);
    console.log(`Local Azure on ${azure.url}; local Functions host on ${host.url} running functions/:`);
    for (const f of host.registry.functions.values())
      if (!['activityTrigger', 'orchestrationTrigger'].includes(f.trigger.type))
        console.log(`  ${f.metadata.name} (${f.trigger.type})`);

    const before = [['server', 'subscription', 'primary key', 'tags']];
    for (const r of azure.world.servers.values()) {
      const de = (r.json['properties'] as { dataEncryption?: { type?: string; primaryKeyURI?: string } })
        .dataEncryption;
      const ref = tryParseKeyUri(de?.primaryKeyURI);
      before.push([
        String(r.json['name']),
        String(r.json['id']).split('/')[2]?.slice(0, 8) ?? '',
        ref === undefined ? (de?.type ?? '-') : `${ref.vaultName}/${ref.name}/${short(ref.version)}`,
        JSON.stringify(r.json['tags'] ?? {}),
      ]);
    }
    console.log(`\nFleet ${fleetPath}:\n${table(before).replace(/^/gm, '  ')}\n`);

    const keys = new KeyClient(
      VAULT_URL,
      new LocalTokenCredential(OPERATOR_PRINCIPAL, azure.tenantId),
      loopbackClientOptions({ port: azure.port, caCertPem: azure.caCertPem }),
    );
    const rotated = await keys.rotateKey(KEY);
    const newVersion = rotated.properties.version ?? '';
    console.log(`Rotated ${VAULT}/${KEY} with @azure/keyvault-keys: new version ${newVersion}.`);
    console.log(
      'Event Grid delivers KeyNewVersionCreated to keyVaultEvents; the rollout (audit trail as it arrives):',
    );

    const instanceId = rotationInstanceId(VAULT, KEY);
    let shown = 0;
    let output: RotationOutput | undefined;
    const deadline = Date.now() + 90_000;
    while (output === undefined && Date.now() < deadline) {
      await sleep(100);
      const events = auditEvents(azure);
      for (const e of events.slice(shown)) {
        const p = e.properties;
        const server = p['serverId']?.split('/').pop();
        console.log(
          `  ${e.name.replace('CmkRotation.', '').padEnd(20)} ${(server ?? '').padEnd(18)} ${p['outcome'] ?? ''}${p['reason'] !== undefined ? `: ${p['reason']}` : ''}`,
        );
      }
      shown = events.length;
      const state = host.engine.get(instanceId);
      if (state?.status === 'Completed') output = state.output as RotationOutput;
      else if (state?.status === 'Failed' || state?.status === 'Terminated')
        throw new Error(`rotation ${state.status}: ${JSON.stringify(state.output)}`);
    }
    if (output === undefined) throw new Error('the rotation did not complete within 90 s');
    await sleep(300); // the last audit flushes
    for (const e of auditEvents(azure).slice(shown))
      console.log(`  ${e.name.replace('CmkRotation.', '').padEnd(20)} ${e.properties['outcome'] ?? ''}`);

    const rows = [['server', 'slot', 'from', 'to', 'outcome', 'reason']];
    for (const s of output.servers)
      for (const slot of s.slots.length > 0 ? s.slots : [{ slot: '-', from: undefined, to: undefined }])
        rows.push([
          s.serverName,
          slot.slot,
          short(slot.from),
          short(slot.to),
          s.outcome,
          s.outcome === 'updated' || s.outcome === 'verified' ? '' : (s.reasonCode ?? ''),
        ]);
    console.log(`\nRotation ${instanceId} ${output.status}, target ${output.targetVersion ?? '-'}:\n`);
    console.log(table(rows).replace(/^/gm, '  '));

    const pages = [...azure.captures.incidents.entries()];
    console.log(`\nPagerDuty incidents (${pages.length}):`);
    for (const [dedupKey, i] of pages)
      console.log(`  [${i.status}] ${i.severity}: ${i.summary}\n    dedup_key ${dedupKey}`);
    console.log(`Teams cards: ${azure.captures.webhooks.filter((w) => w.name === 'teams').length}`);

    const counts = new Map<string, number>();
    for (const e of auditEvents(azure)) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
    console.log(
      `\nAudit trail received by the Application Insights stand-in (${auditEvents(azure).length} custom events):`,
    );
    for (const [name, n] of [...counts.entries()].sort()) console.log(`  ${name} x${n}`);

    // The checks: every outcome as expected, Azure's own state agrees, one page for the broken server.
    if (output.targetVersion !== newVersion)
      problems.push(`target ${output.targetVersion ?? '-'} is not ${newVersion}`);
    for (const [name, want] of Object.entries(EXPECTED)) {
      const got = output.servers.find((s) => s.serverName === name);
      if (got?.outcome !== want.outcome)
        problems.push(`${name}: ${got?.outcome ?? 'absent'}, expected ${want.outcome}`);
      const version = primaryVersion(serverJson(azure, name));
      const ok =
        want.on === 'new'
          ? version === newVersion
          : want.on === 'versionless'
            ? version === undefined
            : version !== undefined && version !== newVersion;
      if (!ok) problems.push(`${name}: ARM shows primary version ${version ?? 'versionless'}`);
    }
    if (output.servers.some((s) => s.serverName === 'exampleserver2'))
      problems.push('exampleserver2 was touched');
    const patches = azure.requests.filter((r) => r.method === 'PATCH' && r.service === 'arm');
    const patchedTwice = [...new Set(patches.map((p) => p.path))].filter(
      (p) => patches.filter((x) => x.path === p).length > 1,
    );
    if (patchedTwice.length > 0) problems.push(`PATCHed more than once: ${patchedTwice.join(', ')}`);
    const reportingPages = pages.filter(([k, i]) => k.includes('pg-reporting') && i.status === 'triggered');
    if (reportingPages.length !== 1)
      problems.push(`pg-reporting paged ${reportingPages.length} times, expected once`);
    if (pages.length !== 1) problems.push(`${pages.length} incidents opened, expected exactly one`);
    if ((counts.get('CmkRotation.RotationCompleted') ?? 0) < 1)
      problems.push('no RotationCompleted audit event');

    console.log(
      `\nStatus page: ${host.url}/api/status?code=${host.keys.functionKey}\nCLI: npx pg-cmk-rotator status --url ${host.url} --key ${host.keys.functionKey}`,
    );
    console.log(
      problems.length === 0
        ? `\nOK in ${((Date.now() - started) / 1000).toFixed(1)} s: every eligible server verified on ${short(newVersion)}, versionless and opted-out untouched, the broken server paged once and audited.`
        : `\nNOT OK:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    if (KEEP) {
      console.log('Serving (--keep) until Ctrl+C.');
      await new Promise<void>((r) => {
        process.once('SIGINT', r);
        process.once('SIGTERM', r);
      });
    }
    return problems.length === 0 ? 0 : 1;
  } finally {
    await host.close();
    await azure.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`npm start failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
