import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { assertLocalCaTrusted, connectAppToLocalAzure } from '../app';
import { startLocalHost } from './host';

/**
 * `node dist/local/host/main.js --app <dir> --data <dir> [--port N]`: the Functions host alone.
 * Prints one `READY <json>` line; SIGINT/SIGTERM stop it cleanly. (`npm run local` starts it together
 * with the local Azure.)
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      // The local Azure to point the app at (started by another process): port, CA file, tenant.
      'azure-port': { type: 'string' },
      'azure-ca': { type: 'string' },
      'azure-tenant': { type: 'string' },
    },
  });
  const azurePort = values['azure-port'];
  if (azurePort !== undefined) {
    const caFile = values['azure-ca'];
    if (caFile === undefined) throw new Error('--azure-port needs --azure-ca');
    assertLocalCaTrusted(caFile);
    connectAppToLocalAzure({
      port: Number(azurePort),
      caCertPem: readFileSync(caFile, 'utf8'),
      tenantId: values['azure-tenant'] ?? '72f988bf-86f1-41af-91ab-2d7cd011db47',
      url: `https://127.0.0.1:${azurePort}`,
    });
  }
  const host = await startLocalHost({
    appRoot: resolve(values.app ?? '.'),
    dataDir: resolve(values.data ?? '.local/host'),
    port: values.port === undefined ? 0 : Number(values.port),
  });
  console.log(`READY ${JSON.stringify(host.describe())}`);
  const stop = (signal: string) => {
    console.error(`[host] ${signal}: shutting down`);
    void host.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(`[host] failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
