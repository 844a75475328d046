import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isFleetFile } from './fleet';
import { startLocalAzure } from './server';

/**
 * `node dist/local/azure/main.js --fleet <file> [--port N]`: the local Azure stand-ins alone, in their
 * own process (the fleet benchmark runs them apart from the Functions host, as Azure is apart from the
 * app). Prints one `READY <json>` line (what `describe()` says); SIGINT/SIGTERM stop it.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { fleet: { type: 'string' }, port: { type: 'string' } } });
  if (values.fleet === undefined) {
    console.error('usage: node dist/local/azure/main.js --fleet <fleet.json> [--port <port>]');
    process.exit(2);
  }
  const fleet: unknown = JSON.parse(readFileSync(values.fleet, 'utf8'));
  if (!isFleetFile(fleet)) throw new Error(`${values.fleet} is not a fleet file (a JSON object)`);
  const azure = await startLocalAzure({ fleet, port: values.port === undefined ? 0 : Number(values.port) });
  console.log(`READY ${JSON.stringify(azure.describe())}`);
  const stop = (signal: string) => {
    console.error(`[local-azure] ${signal}: shutting down`);
    void azure.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(`[local-azure] failed to start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
