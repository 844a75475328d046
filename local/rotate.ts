import { KeyClient } from '@azure/keyvault-keys';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalTokenCredential } from './azure/credential';
import { loopbackClientOptions } from './azure/seam';
import { fail, parseCli, portOption, UsageError } from './cli';

const REPO_ROOT = join(__dirname, '..', '..');
const RUNNING_FILE = join(REPO_ROOT, '.local', 'ready.json');
/** The platform engineer who rotates keys by hand (the same principal `npm start` uses). */
const OPERATOR_PRINCIPAL = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';

const USAGE = `usage: npm run local:rotate -- <vault> <key> [--port <port> [--tenant <uuid>]]

Rotates <key> in the local Key Vault <vault> of the running \`npm run local\` (found through
.local/ready.json, which it writes when ready, or at --port: the "port" of its READY line) with
the real @azure/keyvault-keys client, as
\`az keyvault key rotate --vault-name <vault> -n <key>\` would in Azure. Key Vault then announces
KeyNewVersionCreated through Event Grid to the app.`;

interface Running {
  readonly pid: number;
  readonly port: number;
  readonly caCertPath: string;
  readonly tenantId: string;
}

function readRunning(file: string): Running {
  let running: Partial<Running>;
  try {
    running = JSON.parse(readFileSync(file, 'utf8')) as Partial<Running>;
  } catch {
    throw new Error(`no running \`npm run local\` found (${file} is missing): start it first`);
  }
  const { pid, port, caCertPath, tenantId } = running;
  if (
    typeof pid !== 'number' ||
    typeof port !== 'number' ||
    typeof caCertPath !== 'string' ||
    typeof tenantId !== 'string'
  )
    throw new Error(`${file} is not what npm run local writes`);
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM')
      throw new Error(
        `the \`npm run local\` that wrote ${file} (pid ${pid}) is no longer running: start it again`,
      );
  }
  return { pid, port, caCertPath, tenantId };
}

async function main(): Promise<void> {
  const cli = parseCli({ port: { type: 'string' }, tenant: { type: 'string' } }, process.argv.slice(2), true);
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  const [vault, key, ...rest] = cli.positionals;
  if (vault === undefined || key === undefined || rest.length > 0)
    throw new UsageError('give exactly <vault> and <key>');
  const port = cli.string('port');
  const running: Running =
    port === undefined
      ? readRunning(RUNNING_FILE)
      : {
          pid: 0,
          port: portOption(port),
          caCertPath: join(REPO_ROOT, '.local', 'tls', 'ca.crt'),
          tenantId: cli.string('tenant') ?? '72f988bf-86f1-41af-91ab-2d7cd011db47',
        };
  const client = new KeyClient(
    `https://${vault}.vault.azure.net`,
    new LocalTokenCredential(OPERATOR_PRINCIPAL, running.tenantId),
    loopbackClientOptions({ port: running.port, caCertPem: readFileSync(running.caCertPath, 'utf8') }),
  );
  let rotated;
  try {
    rotated = await client.rotateKey(key);
  } catch (e) {
    const err = e as { statusCode?: number; code?: string; message?: string };
    throw new Error(
      `Key Vault refused to rotate ${vault}/${key}: ${err.statusCode ?? ''} ${err.code ?? ''} ${(err.message ?? String(e)).split('\n')[0] ?? ''}`.replace(
        /\s+/g,
        ' ',
      ),
    );
  }
  console.log(
    `Rotated ${vault}/${key}: new version ${rotated.properties.version ?? '?'} (${rotated.id ?? ''}). Event Grid delivers KeyNewVersionCreated to the app; follow it with GET https://127.0.0.1:${running.port}/admin/deliveries.`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => fail('[local:rotate]', e, USAGE),
);
