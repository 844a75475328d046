import { routeList } from '../routes';
import { resolve } from 'node:path';
import { fail, parseCli, portOption, UsageError } from '../cli';
import { lockDataFolder } from '../lock';
import { AZURE_OPTIONS, connectToLocalAzure } from './azureArgs';
import { flushConsoleLines } from './consoleLines';
import { startLocalHost } from './host';

const USAGE = `usage: node dist/local/host/main.js [--app <dir>] [--data <dir>] [--port <port>] [--workers <0-8>]
                                  [--azure-port <port> --azure-ca <ca.crt> [--azure-tenant <uuid>]]

The local Functions host alone: loads the app (main in <dir>/package.json, default .), keeps durable state
in --data (default .local/host; one process per folder) and prints one READY <json> line. With
--azure-port, the app talks to a local Azure started elsewhere (npm run local) and trusts its CA
(start node with NODE_EXTRA_CA_CERTS=<ca.crt>). --workers <n> runs activities and orchestrator replays in
n worker processes that each load the app, as the Functions host runs the Node.js worker beside it
(default 0: in the host's process).
SIGINT/SIGTERM stop it.`;

/** The most workers a host starts: each is a Node process with its own copy of the app. */
const MAX_WORKERS = 8;

function workersOption(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > MAX_WORKERS)
    throw new UsageError(`--workers must be a whole number from 0 to ${MAX_WORKERS} (got "${value}")`);
  return n;
}

/**
 * `node dist/local/host/main.js --app <dir> --data <dir> [--port N]`: the Functions host alone.
 * Prints one `READY <json>` line; SIGINT/SIGTERM stop it cleanly. (`npm run local` starts it together
 * with the local Azure.)
 */
async function main(): Promise<void> {
  const cli = parseCli({
    app: { type: 'string' },
    data: { type: 'string' },
    port: { type: 'string' },
    workers: { type: 'string' },
    // The local Azure to point the app at (started by another process): port, CA file, tenant.
    ...AZURE_OPTIONS,
  });
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  const port = portOption(cli.string('port'));
  const workers = workersOption(cli.string('workers'));
  const azureArgs = connectToLocalAzure(cli);
  const dataDir = resolve(cli.string('data') ?? '.local/host');
  lockDataFolder(dataDir);
  const host = await startLocalHost({
    appRoot: resolve(cli.string('app') ?? '.'),
    dataDir,
    port,
    ...(workers > 0 ? { workers: { count: workers, args: azureArgs } } : {}),
  });
  flushConsoleLines();
  console.log(
    routeList({
      hostUrl: host.url,
      routePrefix: host.routePrefix,
      functions: host.registry.functions.values(),
      functionKey: host.keys.functionKey,
    }),
  );
  console.log(`READY ${JSON.stringify(host.describe())}`);
  const stop = (signal: string) => {
    console.error(`[host] ${signal}: shutting down`);
    void host.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => fail('[host] failed to start:', e, USAGE));
