import { parseArgs } from 'node:util';
import { loadFleetFile } from './fleet';
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
  const { fleet, warnings } = loadFleetFile(values.fleet);
  for (const w of warnings) console.error(`[local-azure] fleet: ${w}`);
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
