import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isFleetFile } from './fleet';
import { startLocalAzure } from './server';

/** `npm run local -- --fleet <file> [--port N]`: starts the stand-ins and prints one `READY <json>` line. */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { fleet: { type: 'string' }, port: { type: 'string' } } });
  if (values.fleet === undefined) {
    console.error('usage: npm run local -- --fleet <fleet.json> [--port <port>]');
    process.exit(2);
  }
  const fleet: unknown = JSON.parse(readFileSync(values.fleet, 'utf8'));
  if (!isFleetFile(fleet)) throw new Error(`${values.fleet} is not a fleet file (a JSON object)`);
  const azure = await startLocalAzure({ fleet, port: values.port === undefined ? 0 : Number(values.port) });
  console.log(`READY ${JSON.stringify(azure.describe())}`);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`[local-azure] ${signal}: shutting down`);
    void azure.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(`[local-azure] failed to start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
