import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_ROUTES } from '../../../local/azure/server';
import { readyLine } from '../../support/hostProcess';
import { httpsJson } from '../../support/https';
import { waitFor } from '../../support/localAzure';
import { DEMO_FLEET, demoFleet } from '../../support/product';

/**
 * The local CLIs as a user runs them: `npm start` (dist/local/start.js), `npm run local`
 * (dist/local/main.js), the host alone (dist/local/host/main.js) and `npm run local:rotate`
 * (dist/local/rotate.js). Mistakes end in one line (or one line per fleet problem) and an exit code,
 * never a stack trace, and nothing is left behind.
 */
const DIST = join(__dirname, '..', '..', '..', 'dist', 'local');
const CLI = {
  start: join(DIST, 'start.js'),
  local: join(DIST, 'main.js'),
  host: join(DIST, 'host', 'main.js'),
  rotate: join(DIST, 'rotate.js'),
};

function run(cli: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

const NO_STACK = /^\s+at |TypeError|ReferenceError/m;

function badFleetFile(dir: string): string {
  const fleet = demoFleet() as unknown as { vaults: { keys: Record<string, unknown>[] }[] };
  const key = fleet.vaults[0]?.keys[0];
  if (key !== undefined) delete key['versions'];
  const file = join(dir, 'bad-fleet.json');
  writeFileSync(file, JSON.stringify(fleet));
  return file;
}

interface Running {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

function startLocal(args: string[]): Running {
  const child = spawn(process.execPath, [CLI.local, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  return {
    child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
        else {
          child.once('exit', (code) => resolve(code));
          child.kill('SIGTERM');
        }
      }),
  };
}

describe('the local CLIs', () => {
  it.each(Object.entries(CLI))('%s --help prints its usage and exits 0', (_, cli) => {
    const r = run(cli, ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: /);
  });

  it.each(Object.entries(CLI))('%s refuses an unknown option in one line, exit 2', (_, cli) => {
    const r = run(cli, ['--no-such-option']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--no-such-option'/);
    expect(r.stderr.trim().split('\n')).toHaveLength(2); // the error, then the usage line
    expect(r.all).not.toMatch(NO_STACK);
  });

  it('npm start with a bad fleet names every problem by its JSON path and leaves no temp folder', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'start-bad-'));
    const r = run(CLI.start, ['--fleet', badFleetFile(tmp)], { TMPDIR: tmp });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('vaults[0].keys[0].versions: required');
    expect(r.all).not.toMatch(NO_STACK);
    expect(readdirSync(tmp).filter((f) => f.startsWith('pg-cmk-rotator-'))).toEqual([]);
  });

  it('npm start that fails after it started removes its temp folder too', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'start-late-'));
    // Valid for the schema, refused when the local Key Vault loads it (after the temp folder exists).
    const fleet = demoFleet() as unknown as { vaults: { keys: Record<string, unknown>[] }[] };
    const key = fleet.vaults[0]?.keys[0];
    if (key !== undefined)
      key['rotationPolicy'] = {
        lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Explode' } }],
      };
    const file = join(tmp, 'fleet.json');
    writeFileSync(file, JSON.stringify(fleet));
    const r = run(CLI.start, ['--fleet', file], { TMPDIR: tmp });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('Starting the local Azure');
    expect(r.stderr).toMatch(/^npm start failed: .*Rotate or Notify/m);
    expect(r.all).not.toMatch(NO_STACK);
    expect(readdirSync(tmp).filter((f) => f.startsWith('pg-cmk-rotator-'))).toEqual([]);
  });

  it('npm run local with a bad fleet refuses before it starts anything', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'local-bad-'));
    const r = run(CLI.local, ['--fleet', badFleetFile(tmp), '--data', join(tmp, 'host')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('vaults[0].keys[0].versions: required');
    expect(r.all).not.toMatch(NO_STACK);
    expect(existsSync(join(tmp, 'host'))).toBe(false);
  });

  it('npm run local -- --fleet demo.json: fresh state folder, admin index, local:rotate, one process per folder', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'local-lock-'));
    const first = startLocal(['--fleet', DEMO_FLEET]);
    const shared = join(tmp, 'shared-data');
    let second: Running | undefined;
    try {
      const ready = await waitFor(
        `READY:\n${first.output()}`,
        () =>
          readyLine(first.output()) as
            { dataDir: string; admin: string; port: number; caCertPath: string } | undefined,
        60_000,
      );
      // Without --data: a fresh folder of its own, not an earlier run's .local/host.
      expect(ready.dataDir).toContain('pg-cmk-rotator-local-');
      expect(existsSync(join(ready.dataDir, '.lock'))).toBe(true);

      const agent = new Agent({ ca: readFileSync(ready.caCertPath, 'utf8') });
      const index = await httpsJson(ready.admin, { agent });
      expect(index.status).toBe(200);
      const routes = (index.body as { routes: { method: string; path: string }[] }).routes;
      expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(ADMIN_ROUTES.map(([m, p]) => `${m} ${p}`));
      for (const r of routes.filter((x) => x.method === 'GET'))
        expect([
          r.path,
          (await httpsJson(`${ready.admin.replace(/\/admin$/, '')}${r.path}`, { agent })).status,
        ]).toEqual([r.path, 200]);

      // Rotate the demo key through the running stand-ins, as the README shows.
      const rotated = run(CLI.rotate, ['contoso-pg-kv', 'pg-cmk', '--port', String(ready.port)]);
      expect(rotated.all).not.toMatch(NO_STACK);
      expect(rotated.stdout).toMatch(/^Rotated contoso-pg-kv\/pg-cmk: new version [0-9a-f]{32} /);
      expect(rotated.status).toBe(0);
      const missing = run(CLI.rotate, ['contoso-pg-kv', 'no-such-key', '--port', String(ready.port)]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(
        /^\[local:rotate\] Key Vault refused to rotate contoso-pg-kv\/no-such-key: 404 KeyNotFound/,
      );

      // A second runtime on a folder in use is refused with the holder's pid.
      mkdirSync(shared);
      writeFileSync(join(shared, '.lock'), JSON.stringify({ pid: first.child.pid }));
      const refused = run(CLI.local, ['--fleet', DEMO_FLEET, '--data', shared]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`${shared} is in use by process ${String(first.child.pid)}`);
      expect(refused.all).not.toMatch(NO_STACK);

      // A lock left by a process that is gone is taken over.
      const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
      writeFileSync(join(shared, '.lock'), JSON.stringify({ pid: Number(gone.stdout.trim()) }));
      second = startLocal(['--fleet', DEMO_FLEET, '--data', shared]);
      const secondReady = await waitFor(
        `second READY:\n${second.output()}`,
        () => readyLine(second?.output() ?? '') as { dataDir: string } | undefined,
        60_000,
      );
      expect(secondReady.dataDir).toBe(shared);
      expect(JSON.parse(readFileSync(join(shared, '.lock'), 'utf8'))).toMatchObject({
        pid: second.child.pid,
      });
    } finally {
      expect(await first.stop()).toBe(0);
      if (second !== undefined) await second.stop();
    }
    // The fresh folder goes with the process; a folder given with --data stays (without the lock).
    const firstReady = readyLine(first.output()) as { dataDir: string };
    expect(existsSync(firstReady.dataDir)).toBe(false);
    expect(existsSync(shared)).toBe(true);
    expect(existsSync(join(shared, '.lock'))).toBe(false);
  });

  it('npm run local without --fleet runs the demo fleet and prints the routes with URLs before READY', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'local-demo-'));
    const first = startLocal(['--data', join(tmp, 'a')]);
    try {
      const ready = await waitFor(
        `READY:\n${first.output()}`,
        () => readyLine(first.output()) as { admin: string; caCertPath: string } | undefined,
        60_000,
      );
      expect(first.output()).toContain('no --fleet: the demo fleet');
      const agent = new Agent({ ca: readFileSync(ready.caCertPath, 'utf8') });
      const state = await httpsJson(`${ready.admin}/state`, { agent });
      expect((state.body as { vaults: { name: string }[] }).vaults.map((v) => v.name)).toEqual([
        'contoso-pg-kv',
        'contoso-pg-geo-kv',
      ]);
      const out = first.output();
      expect(out.indexOf('Routes (')).toBeGreaterThanOrEqual(0);
      expect(out.indexOf('Routes (')).toBeLessThan(out.indexOf('READY '));
      expect(out).toMatch(
        /^ {2}GET,POST +http:\/\/127\.0\.0\.1:\d+\/api\/rotations\/\{vault\}\/\{key\} +keyRotationApi$/m,
      );
      expect(out).toMatch(/^ {2}GET +https:\/\/127\.0\.0\.1:\d+\/admin +local Azure admin API/m);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  it('a second npm run local leaves the first one’s ready file alone, refused before it starts anything', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'local-ready-'));
    const first = startLocal(['--fleet', DEMO_FLEET, '--data', join(tmp, 'a')]);
    try {
      await waitFor(`READY:\n${first.output()}`, () => readyLine(first.output()), 60_000);
      const readyFile = join(tmp, 'a', 'ready.json');
      const before = readFileSync(readyFile, 'utf8');
      const second = run(CLI.local, [
        '--fleet',
        DEMO_FLEET,
        '--data',
        join(tmp, 'b'),
        '--ready-file',
        readyFile,
      ]);
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(
        `${readyFile} is the ready file of another local runtime (process ${String(first.child.pid)})`,
      );
      expect(second.all).not.toMatch(NO_STACK);
      expect(existsSync(join(tmp, 'b'))).toBe(false);
      expect(readFileSync(readyFile, 'utf8')).toBe(before);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  it('npm start prints the status page and CLI lines only with --keep, and says --keep exists', async () => {
    const once = run(CLI.start, []);
    expect(once.status).toBe(0);
    expect(once.stdout).not.toContain('/api/status?code=');
    expect(once.stdout).not.toContain('npx pg-cmk-rotator status --url');
    expect(once.stdout.trimEnd().split('\n').pop()).toBe(
      'The stand-ins and the host stop now. To look around afterwards (status page, CLI), run: npm start -- --keep',
    );

    const child = spawn(process.execPath, [CLI.start, '--keep'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    try {
      const page = await waitFor(
        `the status page line:\n${output}`,
        () => /status page {2}(http:\/\/\S+)/.exec(output)?.[1],
        60_000,
      );
      expect(output).toContain('Serving (--keep) until Ctrl+C:');
      // Printed while the host serves: the URL answers.
      expect((await fetch(page)).status).toBe(200);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
  });
});
