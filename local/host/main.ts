import { routeList } from '../routes';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertLocalCaTrusted, connectAppToLocalAzure } from '../app';
import { fail, parseCli, portOption, UsageError } from '../cli';
import { lockDataFolder } from '../lock';
import { flushConsoleLines } from './consoleLines';
import { startLocalHost } from './host';

const USAGE = `usage: node dist/local/host/main.js [--app <dir>] [--data <dir>] [--port <port>]
                                  [--azure-port <port> --azure-ca <ca.crt> [--azure-tenant <uuid>]]

The local Functions host alone: loads the app (main in <dir>/package.json, default .), keeps durable state
in --data (default .local/host; one process per folder) and prints one READY <json> line. With
--azure-port, the app talks to a local Azure started elsewhere (npm run local) and trusts its CA
(start node with NODE_EXTRA_CA_CERTS=<ca.crt>). SIGINT/SIGTERM stop it.`;

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
    // The local Azure to point the app at (started by another process): port, CA file, tenant.
    'azure-port': { type: 'string' },
    'azure-ca': { type: 'string' },
    'azure-tenant': { type: 'string' },
  });
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  const port = portOption(cli.string('port'));
  const azurePortText = cli.string('azure-port');
  if (azurePortText !== undefined) {
    const azurePort = portOption(azurePortText, '--azure-port');
    const caFile = cli.string('azure-ca');
    if (caFile === undefined) throw new UsageError('--azure-port needs --azure-ca <ca.crt>');
    let caCertPem: string;
    try {
      caCertPem = readFileSync(caFile, 'utf8');
    } catch {
      throw new UsageError(`--azure-ca ${caFile}: cannot read it`);
    }
    assertLocalCaTrusted(caFile);
    connectAppToLocalAzure({
      port: azurePort,
      caCertPem,
      tenantId: cli.string('azure-tenant') ?? '72f988bf-86f1-41af-91ab-2d7cd011db47',
      url: `https://127.0.0.1:${azurePort}`,
    });
  }
  const dataDir = resolve(cli.string('data') ?? '.local/host');
  lockDataFolder(dataDir);
  const host = await startLocalHost({ appRoot: resolve(cli.string('app') ?? '.'), dataDir, port });
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
