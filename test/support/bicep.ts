import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The real Bicep CLI for the infra tests, found (or restored from NuGet) by infra/bicep.mjs, and the
 * predicted resources of the committed `bicep snapshot` files (infra/params/*.snapshot.json).
 */
export const ROOT = join(__dirname, '..', '..');
export const PARAMS = join(ROOT, 'infra', 'params');
const FINDER = join(ROOT, 'infra', 'bicep.mjs');
export const ENABLE_COMMAND = 'dotnet restore infra/tools/bicep.csproj --packages .local/bicep';

export interface BicepCli {
  readonly command: string;
  readonly version: string;
  readonly source: string;
}

let found: BicepCli | null | undefined;

/** The CLI, or null where there is none and none can be restored (no dotnet). */
export function bicepCli(): BicepCli | null {
  if (found !== undefined) return found;
  const r = spawnSync(process.execPath, [FINDER, '--which'], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  found = r.status === 0 ? (JSON.parse(last) as BicepCli) : null;
  return found;
}

/**
 * `describe` where the CLI is found; else, outside CI, `describe.skip` with a SKIPPED line naming the command
 * that enables the tests; under CI=true the tests run and fail (as the browser test does without Chromium).
 */
export function describeWithBicep(what: string): jest.Describe {
  const available = bicepCli() !== null;
  const inCi = process.env['CI'] === 'true';
  if (!available && !inCi)
    console.warn(
      `${what} SKIPPED: no Bicep CLI (bicep on PATH, az bicep, or the .NET SDK to restore it). Enable with: ${ENABLE_COMMAND}; under CI=true they run and fail instead`,
    );
  return available || inCi ? describe : describe.skip;
}

export interface BicepRun {
  readonly status: number;
  readonly stdout: string;
  /** stdout and stderr. */
  readonly output: string;
  /** Diagnostics (`file(line,col) : Level code: message`), with paths relative to the repository. */
  readonly diagnostics: string[];
}

export function runBicep(args: readonly string[]): BicepRun {
  const cli = bicepCli();
  if (cli === null) throw new Error(`No Bicep CLI: ${ENABLE_COMMAND}`);
  const r = spawnSync(cli.command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const diagnostics = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .filter((l) => /\) : (Error|Warning|Info) /.test(l))
    .map((l) => l.replace(`${ROOT}/`, '').trim());
  return {
    status: r.status ?? 1,
    stdout: r.stdout,
    output: `${r.stdout}\n${r.stderr}`,
    diagnostics: [...new Set(diagnostics)],
  };
}

/** `node infra/bicep.mjs snapshots validate`: the committed snapshots are what the infra predicts today. */
export function validateSnapshots(): { status: number; output: string } {
  try {
    const output = execFileSync(process.execPath, [FINDER, 'snapshots', 'validate'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { status: 0, output };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

export const PARAM_FILES = readdirSync(PARAMS)
  .filter((f) => f.endsWith('.bicepparam'))
  .sort();

export interface PredictedResource {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly apiVersion: string;
  readonly location?: string;
  readonly kind?: string;
  readonly sku?: { readonly name?: string; readonly tier?: string };
  readonly identity?: { readonly type?: string; readonly userAssignedIdentities?: unknown };
  readonly tags?: unknown;
  readonly properties?: Record<string, unknown>;
}

export interface Snapshot {
  readonly predictedResources: readonly PredictedResource[];
  readonly diagnostics: readonly unknown[];
  readonly outputs: Record<string, unknown>;
}

/** The committed snapshot of infra/params/<name>.bicepparam. */
export function snapshot(name: string): Snapshot {
  return JSON.parse(readFileSync(join(PARAMS, `${name}.snapshot.json`), 'utf8')) as Snapshot;
}

export function ofType(s: Snapshot, type: string): PredictedResource[] {
  return s.predictedResources.filter((r) => r.type === type);
}

/** A value deep inside a resource, by dotted path; throws when a step is missing. */
export function at(value: unknown, path: string): unknown {
  let v: unknown = value;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(key in v)) throw new Error(`no ${path} (at ${key})`);
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
