import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadFleetFile } from './azure/fleet';
import { startLocalAzure } from './azure/server';
import { fail, parseCli, portOption } from './cli';
import { startLocalHost } from './host/host';
import { lockDataFolder } from './lock';
import { routeList } from './routes';
import {
  assertLocalCaTrusted,
  assertReadyFileFree,
  connectAppToLocalAzure,
  localAppSettings,
  subscribeEventGridTriggers,
  removeReadyFile,
  writeReadyFile,
} from './app';

const REPO_ROOT = join(__dirname, '..', '..');

const DEMO_FLEET = join(REPO_ROOT, 'local', 'fleets', 'demo.json');

const USAGE = `usage: npm run local [-- --fleet <fleet.json>] [--app <dir>] [--data <dir>] [--port <azure port>]
                       [--ready-file <file>]

Starts the local Azure stand-ins with the fleet file (default local/fleets/demo.json, as npm start) and
the local Functions host running the app (default: this repository), subscribes the app's Event Grid
triggers to the local Key Vault, prints the routes with their URLs and then one READY <json> line. The
ready file (default .local/ready.json; with --data, <data>/ready.json) tells the CLI where the app is; a
second runtime never takes over a running one's ready file: give it --ready-file. Without --data the host's state goes to a fresh temporary folder, removed on exit;
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
    'ready-file': { type: 'string' },
  });
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  const fleetFile = cli.string('fleet') ?? DEMO_FLEET;
  if (cli.string('fleet') === undefined) console.error(`[local] no --fleet: the demo fleet ${fleetFile}`);
  const port = portOption(cli.string('port'));
  const { fleet, warnings } = loadFleetFile(fleetFile);
  for (const w of warnings) console.error(`[local] warning: ${w}`);

  // A new world gets a fresh state folder: durable state from another fleet would only mislead.
  const data = cli.string('data');
  const given = data === undefined ? undefined : resolve(data);
  // One ready file, read by the CLI (`npx pg-cmk-rotator`) and `npm run local:rotate`: by default
  // .local/ready.json, with --data next to the host's state. Owner-only: it holds the function key.
  // Another running runtime's ready file is refused before anything starts.
  const readyFile = resolve(
    cli.string('ready-file') ??
      (given === undefined ? join(REPO_ROOT, '.local', 'ready.json') : join(given, 'ready.json')),
  );
  assertReadyFileFree(readyFile);
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
  connectAppToLocalAzure(azure, undefined, () => new Date(azure.world.clock.now()));
  const host = await startLocalHost({
    appRoot: resolve(cli.string('app') ?? REPO_ROOT),
    dataDir,
    now: () => new Date(azure.world.clock.now()),
  });
  const subscriptions = await subscribeEventGridTriggers(azure, host);
  const described = {
    ...azure.describe(),
    ...host.describe(),
    dataDir,
    eventGridSubscriptions: subscriptions,
  };
  writeReadyFile(readyFile, host, described);
  process.once('exit', () => removeReadyFile(readyFile));
  console.log(
    routeList({
      hostUrl: host.url,
      routePrefix: host.routePrefix,
      functions: host.registry.functions.values(),
      functionKey: host.keys.functionKey,
      azureUrl: azure.url,
    }),
  );
  console.log(`Ready file (for npx pg-cmk-rotator): ${readyFile}`);
  console.log(`READY ${JSON.stringify(described)}`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`[local] ${signal}: shutting down`);
    removeReadyFile(readyFile);
    void Promise.all([host.close(), azure.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((e: unknown) => fail('[local] failed to start:', e, USAGE));
