import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadFleetFile } from './azure/fleet';
import { startLocalAzure } from './azure/server';
import { fail, parseCli, portOption, UsageError } from './cli';
import { startLocalHost } from './host/host';
import { lockDataFolder } from './lock';
import {
  assertLocalCaTrusted,
  connectAppToLocalAzure,
  localAppSettings,
  subscribeEventGridTriggers,
} from './app';

const REPO_ROOT = join(__dirname, '..', '..');
/** Where a running `npm run local` says how to reach it (read by `npm run local:rotate`). */
export const RUNNING_FILE = join(REPO_ROOT, '.local', 'running.json');

const USAGE = `usage: npm run local -- --fleet <fleet.json> [--app <dir>] [--data <dir>] [--port <azure port>]

Starts the local Azure stand-ins with the fleet file and the local Functions host running the app
(default: this repository), subscribes the app's Event Grid triggers to the local Key Vault, and prints
one READY <json> line. Without --data the host's state goes to a fresh temporary folder, removed on exit;
with --data it persists there (one process per folder). SIGINT/SIGTERM stop both.`;

/**
 * `npm run local`: the local Azure stand-ins and the local Functions host running the app, with every
 * Event Grid trigger of the app subscribed to the local Key Vault's events (validation handshake
 * included). Prints one `READY <json>` line.
 */
async function main(): Promise<void> {
  const cli = parseCli({
    fleet: { type: 'string' },
    app: { type: 'string' },
    data: { type: 'string' },
    port: { type: 'string' },
  });
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  const fleetFile = cli.string('fleet');
  if (fleetFile === undefined) throw new UsageError('--fleet <fleet.json> is required');
  const port = portOption(cli.string('port'));
  const { fleet, warnings } = loadFleetFile(fleetFile);
  for (const w of warnings) console.error(`[local] warning: ${w}`);

  // A new world gets a fresh state folder: durable state from another fleet would only mislead.
  const data = cli.string('data');
  const given = data === undefined ? undefined : resolve(data);
  const dataDir = given ?? mkdtempSync(join(tmpdir(), 'pg-cmk-rotator-local-'));
  const cleanup = () => {
    if (given === undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', cleanup);
  lockDataFolder(dataDir);

  const azure = await startLocalAzure({ fleet, port });
  assertLocalCaTrusted(azure.caCertPath);
  // The app reads its settings and transport when the host loads it: both must be in place first.
  Object.assign(process.env, localAppSettings(azure, fleet, process.env));
  connectAppToLocalAzure(azure);
  const host = await startLocalHost({
    appRoot: resolve(cli.string('app') ?? REPO_ROOT),
    dataDir,
    now: () => new Date(azure.world.clock.now()),
  });
  const subscriptions = await subscribeEventGridTriggers(azure, host);
  const ready = { ...azure.describe(), ...host.describe(), dataDir, eventGridSubscriptions: subscriptions };
  mkdirSync(join(REPO_ROOT, '.local'), { recursive: true });
  writeFileSync(RUNNING_FILE, JSON.stringify({ pid: process.pid, ...ready }, null, 2));
  process.once('exit', () => {
    try {
      // Another `npm run local` started since may have written it: remove only our own.
      const running = JSON.parse(readFileSync(RUNNING_FILE, 'utf8')) as { pid?: unknown };
      if (running.pid === process.pid) rmSync(RUNNING_FILE, { force: true });
    } catch {
      // already gone
    }
  });
  console.log(`READY ${JSON.stringify(ready)}`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`[local] ${signal}: shutting down`);
    void Promise.all([host.close(), azure.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((e: unknown) => fail('[local] failed to start:', e, USAGE));
