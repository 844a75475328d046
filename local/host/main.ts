import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalHost } from './host';

/**
 * `node dist/local/host/main.js --app <dir> --data <dir> [--port N]`: the Functions host alone.
 * Prints one `READY <json>` line; SIGINT/SIGTERM stop it cleanly. (`npm run local` starts it together
 * with the local Azure.)
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { app: { type: 'string' }, data: { type: 'string' }, port: { type: 'string' } },
  });
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
