import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isFleetFile } from './azure/fleet';
import { startLocalAzure } from './azure/server';
import { startLocalHost } from './host/host';
import {
  assertLocalCaTrusted,
  connectAppToLocalAzure,
  localAppSettings,
  subscribeEventGridTriggers,
  writeReadyFile,
} from './app';

const REPO_ROOT = join(__dirname, '..', '..');

/**
 * `npm run local -- --fleet <file> [--app <dir>] [--data <dir>] [--port N]`: the local Azure stand-ins
 * and the local Functions host running the app, with every Event Grid trigger of the app subscribed to
 * the local Key Vault's events (validation handshake included). Prints one `READY <json>` line.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      fleet: { type: 'string' },
      app: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      'ready-file': { type: 'string' },
    },
  });
  if (values.fleet === undefined) {
    console.error(
      'usage: npm run local -- --fleet <fleet.json> [--app <dir>] [--data <dir>] [--port <azure port>]',
    );
    process.exit(2);
  }
  const fleet: unknown = JSON.parse(readFileSync(values.fleet, 'utf8'));
  if (!isFleetFile(fleet)) throw new Error(`${values.fleet} is not a fleet file (a JSON object)`);
  const azure = await startLocalAzure({ fleet, port: values.port === undefined ? 0 : Number(values.port) });
  assertLocalCaTrusted(azure.caCertPath);
  // The app reads its settings and transport when the host loads it: both must be in place first.
  Object.assign(process.env, localAppSettings(azure, fleet, process.env));
  connectAppToLocalAzure(azure, undefined, () => new Date(azure.world.clock.now()));
  const dataDir = resolve(values.data ?? join(REPO_ROOT, '.local', 'host'));
  const host = await startLocalHost({
    appRoot: resolve(values.app ?? REPO_ROOT),
    dataDir,
    now: () => new Date(azure.world.clock.now()),
  });
  const subscriptions = await subscribeEventGridTriggers(azure, host);
  // What the CLI (`npx pg-cmk-rotator`) reads to find this runtime: next to the host's data (by default
  // .local/ready.json), owner-only (it holds the function key), removed on shutdown.
  const readyFile = resolve(
    values['ready-file'] ??
      (values.data === undefined ? join(REPO_ROOT, '.local', 'ready.json') : join(dataDir, 'ready.json')),
  );
  writeReadyFile(readyFile, host);
  console.log(
    `READY ${JSON.stringify({ ...azure.describe(), ...host.describe(), eventGridSubscriptions: subscriptions })}`,
  );
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.error(`[local] ${signal}: shutting down`);
    rmSync(readyFile, { force: true });
    void Promise.all([host.close(), azure.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((e: unknown) => {
  console.error(`[local] failed to start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
