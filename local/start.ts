import { KeyClient } from '@azure/keyvault-keys';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tryParseKeyUri } from '../shared/domain/keyId';
import { rotationInstanceId } from '../shared/rotation/ids';
import { type RotationOutput } from '../shared/rotation/contract';
import {
  assertLocalCaTrusted,
  connectAppToLocalAzure,
  localAppSettings,
  subscribeEventGridTriggers,
} from './app';
import { LocalTokenCredential } from './azure/credential';
import { customEventsOf, type CustomEvent } from './azure/capture';
import { loadFleetFile, type FleetFile } from './azure/fleet';
import { loopbackClientOptions } from './azure/seam';
import { serverResults } from './results';
import { startLocalAzure, type LocalAzure } from './azure/server';
import { afterTheRun, fail, parseCli, UsageError } from './cli';
import { startLocalHost, type LocalHost } from './host/host';

/**
 * `npm start`: the product's main job, offline. Local Azure with a fleet (the demo fleet unless
 * `--fleet`), the local Functions host running `functions/` unchanged, a key rotated through the real
 * Key Vault client, Event Grid delivering the event, the durable rollout, and at the end a summary, the
 * pages and the audit trail. Exits 0 only when the outcome is the correct one for the fleet.
 */
const ROOT = resolve(__dirname, '..', '..');
const DEMO_FLEET = join(ROOT, 'local', 'fleets', 'demo.json');
const DEMO_VAULT = 'contoso-pg-kv';
const DEMO_KEY = 'pg-cmk';
/** The platform engineer who rotates the key (any principal may call Key Vault in the demo vault). */
const OPERATOR_PRINCIPAL = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';

const USAGE = `usage: npm start [-- --fleet <fleet.json>] [--vault <name> --key <name>] [--keep]

Runs the product once, offline: starts the local Azure stand-ins with the fleet (default
local/fleets/demo.json) and the local Functions host running functions/, rotates a key with the real
Key Vault client (default: the demo's ${DEMO_VAULT}/${DEMO_KEY}, else the key most servers of the fleet
use), lets Event Grid deliver KeyNewVersionCreated, and prints the rollout, a summary, the pages and the
audit trail. Exit code 0 only when the outcome is correct: for the demo fleet, exactly the outcomes it
was built for; for another fleet, ARM agrees with every reported outcome, no server was PATCHed twice and
every failed server was paged. --keep leaves the stand-ins, the host and its status page running after
the run until Ctrl+C.`;

/** What the demo fleet must end like: the checks that make the exit code honest. */
const EXPECTED: Record<string, { outcome: string; on: 'new' | 'versionless' | 'old' | 'other' }> = {
  'pg-orders-prod': { outcome: 'updated', on: 'new' },
  'pg-billing-prod': { outcome: 'updated', on: 'new' },
  'pg-inventory-prod': { outcome: 'updated', on: 'new' },
  'pg-analytics': { outcome: 'verified', on: 'versionless' },
  'pg-legacy-erp': { outcome: 'skipped', on: 'old' },
  'pg-reporting': { outcome: 'failed', on: 'old' },
};
/** Why the demo's broken server fails: built that way to show diagnosis and paging. */
const EXPECTED_FAILURE = 'expected: the demo built it without key permissions';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
}

const short = (v: string | undefined): string =>
  v === undefined || v === 'versionless' ? 'versionless' : v.slice(0, 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function auditEvents(azure: LocalAzure): CustomEvent[] {
  return customEventsOf(azure.captures.telemetry);
}

function serverJson(azure: LocalAzure, name: string): Record<string, unknown> | undefined {
  for (const r of azure.world.servers.values()) if (r.json['name'] === name) return r.json;
  return undefined;
}

function keyUri(
  json: Record<string, unknown> | undefined,
  slot: 'primary' | 'geoBackup',
): string | undefined {
  const de = (json?.['properties'] as { dataEncryption?: Record<string, unknown> } | undefined)
    ?.dataEncryption;
  const uri = de?.[slot === 'primary' ? 'primaryKeyURI' : 'geoBackupKeyURI'];
  return typeof uri === 'string' ? uri : undefined;
}

function primaryVersion(json: Record<string, unknown> | undefined): string | undefined {
  return tryParseKeyUri(keyUri(json, 'primary'))?.version;
}

/** The key to rotate: as asked, else the demo's, else the one most servers of the fleet use. */
function keyToRotate(fleet: FleetFile, vault?: string, key?: string): { vault: string; key: string } {
  if ((vault === undefined) !== (key === undefined)) throw new UsageError('give --vault and --key together');
  const defined = (fleet.vaults ?? []).flatMap((v) =>
    (v.keys ?? []).map((k) => ({ vault: v.name, key: k.name })),
  );
  const find = (v: string, k: string) =>
    defined.find((d) => d.vault.toLowerCase() === v.toLowerCase() && d.key.toLowerCase() === k.toLowerCase());
  if (vault !== undefined && key !== undefined) {
    const found = find(vault, key);
    if (found === undefined) throw new UsageError(`the fleet defines no key ${key} in a vault ${vault}`);
    return found;
  }
  const demo = find(DEMO_VAULT, DEMO_KEY);
  if (demo !== undefined) return demo;
  const uses = new Map<string, number>();
  for (const s of fleet.servers ?? []) {
    const ref = tryParseKeyUri(keyUri(s as Record<string, unknown>, 'primary'));
    const d = ref === undefined ? undefined : find(ref.vaultName, ref.name);
    if (d !== undefined) uses.set(`${d.vault}/${d.key}`, (uses.get(`${d.vault}/${d.key}`) ?? 0) + 1);
  }
  const most = [...uses.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const chosen = most === undefined ? defined[0] : defined.find((d) => `${d.vault}/${d.key}` === most);
  if (chosen === undefined) throw new Error('the fleet defines no key to rotate');
  return chosen;
}

async function main(): Promise<number> {
  const started = Date.now();
  const cli = parseCli({
    fleet: { type: 'string' },
    vault: { type: 'string' },
    key: { type: 'string' },
    keep: { type: 'boolean' },
  });
  if (cli.help) {
    console.log(USAGE);
    return 0;
  }
  const fleetPath = resolve(cli.string('fleet') ?? DEMO_FLEET);
  const demo = fleetPath === DEMO_FLEET;
  const { fleet, warnings } = loadFleetFile(fleetPath);
  for (const w of warnings) console.error(`warning: ${w}`);
  const { vault: VAULT, key: KEY } = keyToRotate(fleet, cli.string('vault'), cli.string('key'));
  const VAULT_URL = `https://${VAULT}.vault.azure.net`;

  // Everything this run starts is stopped and removed on every way out (errors and signals included).
  let dataDir: string | undefined;
  let azure: LocalAzure | undefined;
  let host: LocalHost | undefined;
  const cleanup = async () => {
    await host?.close().catch(() => undefined);
    await azure?.close().catch(() => undefined);
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping`);
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const problems: string[] = [];
  try {
    dataDir = mkdtempSync(join(tmpdir(), 'pg-cmk-rotator-'));
    const keyCount = (fleet.vaults ?? []).reduce(
      (n, v) => n + (v.keys ?? []).reduce((m, k) => m + k.versions.length, 0),
      0,
    );
    console.log(`Starting the local Azure with ${fleetPath} (generating ${keyCount} RSA key versions)...`);
    azure = await startLocalAzure({ fleet });
    assertLocalCaTrusted(azure.caCertPath);
    Object.assign(process.env, localAppSettings(azure, fleet, process.env));
    const clockOf = azure;
    connectAppToLocalAzure(azure, undefined, () => new Date(clockOf.world.clock.now()));
    console.log('Starting the local Functions host (loading functions/ from dist/)...');
    const localAzure = azure;
    host = await startLocalHost({
      appRoot: ROOT,
      dataDir,
      log: () => undefined,
      now: () => new Date(localAzure.world.clock.now()),
    });
    await subscribeEventGridTriggers(azure, host);
    console.log(`Local Azure on ${azure.url}; local Functions host on ${host.url} running functions/:`);
    for (const f of host.registry.functions.values())
      if (!['activityTrigger', 'orchestrationTrigger'].includes(f.trigger.type))
        console.log(`  ${f.metadata.name} (${f.trigger.type})`);

    const before = [['server', 'subscription', 'primary key', 'geo-backup key', 'tags']];
    const keyCell = (uri: string | undefined, type?: string): string => {
      const ref = tryParseKeyUri(uri);
      return ref === undefined ? (type ?? '-') : `${ref.vaultName}/${ref.name}/${short(ref.version)}`;
    };
    for (const r of azure.world.servers.values()) {
      const de = (r.json['properties'] as { dataEncryption?: { type?: string } }).dataEncryption;
      before.push([
        String(r.json['name']),
        String(r.json['id']).split('/')[2]?.slice(0, 8) ?? '',
        keyCell(keyUri(r.json, 'primary'), de?.type),
        keyCell(keyUri(r.json, 'geoBackup')),
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

    const expectedFailure = (server: string | undefined): string =>
      demo && server !== undefined && EXPECTED[server]?.outcome === 'failed' ? ` [${EXPECTED_FAILURE}]` : '';
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
          `  ${e.name.replace('CmkRotation.', '').padEnd(20)} ${(server ?? '').padEnd(18)} ${p['outcome'] ?? ''}${p['reason'] !== undefined ? `: ${p['reason']}` : ''}${e.name === 'CmkRotation.ServerFailed' ? expectedFailure(server) : ''}`,
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

    const results = serverResults(output, auditEvents(azure), instanceId);
    const rows = [['server', 'slot', 'from', 'to', 'outcome', 'reason']];
    for (const s of results) {
      for (const slot of s.slots.length > 0 ? s.slots : [{ slot: '-', from: undefined, to: undefined }])
        rows.push([
          s.name,
          slot.slot,
          short(slot.from),
          short(slot.to),
          s.outcome,
          s.outcome === 'updated' || s.outcome === 'verified'
            ? ''
            : `${s.reasonCode ?? ''}${expectedFailure(s.name) === '' ? '' : ` (${EXPECTED_FAILURE})`}`,
        ]);
      // A geo-backup key of another key (or vault) is not this rotation's: shown as ARM has it now.
      const geo = tryParseKeyUri(keyUri(serverJson(azure, s.name), 'geoBackup'));
      if (geo !== undefined && !s.slots.some((x) => x.slot === 'geoBackup'))
        rows.push([
          s.name,
          'geoBackup',
          short(geo.version),
          short(geo.version),
          'untouched',
          `another key: ${geo.vaultName}/${geo.name}`,
        ]);
    }
    const c = output.counts;
    console.log(
      `\nRotation ${instanceId} ${output.status}, target ${output.targetVersion ?? '-'}${c !== undefined ? ` (${c.updated} updated, ${c.verified} verified, ${c.failed} failed, ${c.skipped} skipped)` : ''}; per server from the output and the audit trail:\n`,
    );
    console.log(table(rows).replace(/^/gm, '  '));
    const failedServers = output.servers.filter((s) => s.outcome === 'failed').map((s) => s.serverName);
    if (demo && output.status === 'completedWithFailures')
      console.log(
        `\n  "completedWithFailures" (and RotationCompleted: failure in the audit trail) is the expected outcome of the demo: ${failedServers.join(', ')} ${failedServers.length === 1 ? 'was' : 'were'} built without key permissions, to show a diagnosed, paged, audited failure that does not stop the other servers.`,
      );

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

    // The checks: every outcome as expected, Azure's own state agrees, one page per broken server.
    if (output.targetVersion !== newVersion)
      problems.push(`target ${output.targetVersion ?? '-'} is not ${newVersion}`);
    if (demo) {
      for (const [name, want] of Object.entries(EXPECTED)) {
        const got = results.find((s) => s.name === name);
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
      if (results.some((s) => s.name === 'exampleserver2')) problems.push('exampleserver2 was touched');
      const moved = results.filter((s) => s.outcome === 'updated' || s.outcome === 'verified').length;
      if (c === undefined || c.updated + c.verified !== moved)
        problems.push(
          `the output counts ${c === undefined ? 'nothing' : c.updated + c.verified} updated or verified, the audit trail ${moved}`,
        );
      // The rotation's incidents (the health watch may also page pg-reporting, on its own timer).
      const rotationPages = pages.filter(([k]) => !k.startsWith('cmk-health:'));
      if (rotationPages.length !== 1)
        problems.push(`${rotationPages.length} rotation incidents opened, expected exactly one`);
    } else {
      // Any fleet: ARM agrees with every server the audit trail reports as moved (each slot on this key).
      for (const s of results)
        if (s.outcome === 'updated')
          for (const slot of ['primary', 'geoBackup'] as const) {
            const uri = tryParseKeyUri(keyUri(serverJson(azure, s.name), slot));
            if (uri?.vaultName !== VAULT.toLowerCase() || uri.name.toLowerCase() !== KEY.toLowerCase())
              continue;
            const to = s.slots[0]?.to;
            if (uri.version !== undefined && uri.version !== to)
              problems.push(`${s.name} ${slot}: reported on ${short(to)}, ARM shows ${short(uri.version)}`);
          }
    }
    for (const name of failedServers) {
      const paged = pages.filter(([k, i]) => k.includes(`:server:${name}:`) && i.status === 'triggered');
      if (paged.length !== 1) problems.push(`${name} paged ${paged.length} times, expected once`);
    }
    const patches = azure.requests.filter((r) => r.method === 'PATCH' && r.service === 'arm');
    const patchedTwice = [...new Set(patches.map((p) => p.path))].filter(
      (p) => patches.filter((x) => x.path === p).length > 1,
    );
    if (patchedTwice.length > 0) problems.push(`PATCHed more than once: ${patchedTwice.join(', ')}`);
    if ((counts.get('CmkRotation.RotationCompleted') ?? 0) < 1)
      problems.push('no RotationCompleted audit event');

    const took = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      problems.length > 0
        ? `\nNOT OK:\n${problems.map((p) => `  - ${p}`).join('\n')}`
        : demo
          ? `\nOK in ${took} s: the outcome is the expected one. Every eligible server verified on ${short(newVersion)}, the versionless one verified, the opted-out one untouched, and the broken one (${failedServers.join(', ')}) failed as designed, paged once and audited.`
          : `\nOK in ${took} s: ARM agrees with every reported outcome, no server was PATCHed twice${failedServers.length > 0 ? `, every failed server (${failedServers.join(', ')}) was paged once` : ''}.`,
    );
    // `npm start -- --keep`: keep the stand-ins and the host (and the status page) up after the run.
    // Their URLs are printed only then: without --keep the host stops right after this line.
    console.log(`\n${afterTheRun(cli.flag('keep'), host.url, host.keys.functionKey)}`);
    if (cli.flag('keep')) {
      await new Promise<void>((r) => {
        process.once('SIGINT', r);
        process.once('SIGTERM', r);
      });
    }
    return problems.length === 0 ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => fail('npm start failed:', e, USAGE),
);
