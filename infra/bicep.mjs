#!/usr/bin/env node
// Finds the Bicep CLI and runs it: `node infra/bicep.mjs build infra/main.bicep` (npm run bicep -- <args>).
// Where it looks, in order:
//   1. BICEP_CLI (a path to a bicep binary), when set;
//   2. `bicep` on PATH (0.41.2 or later, where `bicep snapshot` is GA; an older one is passed over);
//   3. the binary `az bicep install` keeps ($AZURE_CONFIG_DIR/bin/bicep, else ~/.azure/bin/bicep): `az bicep`
//      itself takes other arguments (`az bicep build --file`), so the binary it manages is run directly;
//   4. the NuGet package restored by infra/tools/bicep.csproj into .local/bicep/ (pinned version), restoring
//      it first with `dotnet restore` when dotnet is installed and the package is not there yet.
// `node infra/bicep.mjs snapshots <overwrite|validate> [file.bicepparam...]` runs `bicep snapshot` for every
// infra/params/*.bicepparam (or the files given) in the fixed subscription, tenant and location the committed
// infra/params/*.snapshot.json were made with: overwrite rewrites them, validate fails on any difference.
// `node infra/bicep.mjs --which` prints { command, version, source } as JSON, or exits 3 saying what enables it.
// Nothing is downloaded but through `dotnet restore` (the NuGet feed the machine is configured with).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PROJECT = join(ROOT, 'infra', 'tools', 'bicep.csproj');
const PACKAGES = join(ROOT, '.local', 'bicep');
const PACKAGE = 'azure.bicep.commandline.linux-x64';
/** The version pinned in infra/tools/bicep.csproj (Version="[x.y.z]"). */
const PINNED = /Version="\[([\d.]+)\]"/.exec(readFileSync(PROJECT, 'utf8'))?.[1] ?? '';
/** Where the snapshots deploy: made-up ids, also used by test/infra/snapshot.test.ts. */
export const SNAPSHOT_TARGET = {
  subscriptionId: '11111111-1111-1111-1111-111111111111',
  tenantId: '99999999-9999-9999-9999-999999999999',
  location: 'westeurope',
};
export const RESTORE_COMMAND = `dotnet restore infra/tools/bicep.csproj --packages .local/bicep`;

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function version(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return /(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
}

function restored() {
  const binary = join(PACKAGES, PACKAGE, PINNED, 'tools', 'bicep');
  if (!existsSync(binary)) return undefined;
  chmodSync(binary, 0o755); // NuGet extracts it without the execute bit
  return binary;
}

function restore() {
  if (onPath('dotnet') === undefined) return undefined;
  execFileSync('dotnet', ['restore', PROJECT, '--packages', PACKAGES], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return restored();
}

/** `bicep snapshot` is GA from 0.41.2: an older CLI on PATH is passed over (the pinned package is used instead). */
export const MIN_VERSION = '0.41.2';
const atLeast = (v, min) => {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

/** The Bicep CLI: { command, version, source }, or undefined when none is found and none can be restored. */
export function findBicep() {
  const candidates = [
    ['BICEP_CLI', () => process.env.BICEP_CLI || undefined],
    ['PATH', () => onPath('bicep')],
    [
      'az bicep',
      () => {
        if (onPath('az') === undefined) return undefined;
        const binary = join(process.env.AZURE_CONFIG_DIR ?? join(homedir(), '.azure'), 'bin', 'bicep');
        return existsSync(binary) ? binary : undefined;
      },
    ],
    [`NuGet ${PACKAGE} ${PINNED} (.local/bicep)`, () => restored() ?? restore()],
  ];
  for (const [source, locate] of candidates) {
    const binary = locate();
    if (binary === undefined) continue;
    const v = version(binary);
    if (v !== undefined && atLeast(v, MIN_VERSION)) return { command: binary, version: v, source };
    if (v !== undefined) console.error(`bicep ${v} (${source}) is older than ${MIN_VERSION}: not used`);
  }
  return undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const found = findBicep();
  if (found === undefined) {
    console.error(
      `No Bicep CLI (bicep on PATH, az bicep, or dotnet to restore it). Install the .NET SDK, then: ${RESTORE_COMMAND}`,
    );
    process.exit(3);
  }
  const args = process.argv.slice(2);
  if (args[0] === '--which') {
    console.log(JSON.stringify(found));
  } else if (args[0] === 'snapshots') {
    const mode = args[1] ?? '';
    if (!['overwrite', 'validate'].includes(mode)) {
      console.error(`snapshots: mode must be overwrite or validate (got "${mode}")`);
      process.exit(2);
    }
    const dir = join(ROOT, 'infra', 'params');
    const files =
      args.length > 2
        ? args.slice(2)
        : readdirSync(dir)
            .filter((f) => f.endsWith('.bicepparam'))
            .map((f) => join(dir, f));
    let failed = 0;
    for (const file of files) {
      const r = spawnSync(
        found.command,
        [
          'snapshot',
          file,
          '--mode',
          mode,
          '--subscription-id',
          SNAPSHOT_TARGET.subscriptionId,
          '--tenant-id',
          SNAPSHOT_TARGET.tenantId,
          '--location',
          SNAPSHOT_TARGET.location,
        ],
        { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } },
      );
      console.log(`${r.status === 0 ? 'ok' : 'FAILED'} ${mode} ${file}`);
      if (r.status !== 0) failed++;
    }
    process.exit(failed === 0 ? 0 : 1);
  } else {
    const r = spawnSync(found.command, args, { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
}
