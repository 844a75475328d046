import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { KEY, VAULT, startProduct, type Product } from '../support/product';

/** `pg-cmk-rotator` (the built bin, dist/cli/main.js) against the local runtime, as a script would use it. */
jest.setTimeout(150_000);

const BIN = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      // No PG_CMK_ROTATOR_* from the caller's environment, and a cwd without a .local/ready.json.
      { env: { PATH: process.env['PATH'] ?? '', ...env }, cwd: '/', timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('pg-cmk-rotator CLI against the local runtime', () => {
  let p: Product | undefined;
  afterAll(async () => {
    await p?.stop();
  });

  it('plans, rotates with --wait (live progress, exit 1 when the rotation ends with failures), lists, refuses with the documented codes', async () => {
    p = await startProduct();
    const ready = ['--ready', join(p.dir, 'host', 'ready.json')];

    // Usage errors: 2, nothing called.
    expect((await cli([])).code).toBe(2);
    expect((await cli(['frobnicate', ...ready])).code).toBe(2);
    expect((await cli(['plan', VAULT, ...ready])).code).toBe(2);
    const nowhere = await cli(['status']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('npm run local');

    // A typo never writes: unknown flags and names are refused before anything is sent (issue 19).
    for (const typo of [
      ['rotate', VAULT, KEY, '--dryRun'],
      ['rotate', VAULT, KEY, '--dry-run'],
      ['rotate', VAULT, KEY, '--reasn', 'x'],
    ]) {
      const refused = await cli([...typo, ...ready]);
      expect([typo, refused.code]).toEqual([typo, 2]);
      expect(refused.stderr).toContain(
        'Accepted: --url, --key, --ready, --output, --json, --query, --help, --reason',
      );
    }
    // One error for an unknown key in every command, from the vault's key list, never SDK text.
    for (const command of [['plan'], ['rotate'], ['status'], ['runs']]) {
      const unknown = await cli([...command, VAULT, 'pg-cmc', ...ready]);
      expect([command, unknown.code]).toEqual([command, 3]);
      expect(unknown.stderr.trim()).toBe(
        `No key "pg-cmc" in vault ${VAULT} (did you mean ${KEY}?). Its keys: ${KEY}. Nothing was sent.`,
      );
      expect(unknown.stderr).not.toMatch(/Pagination|statusCode/);
    }
    expect(await p.patches()).toEqual([]);
    expect((await p.instance()) ?? 'none').toBe('none');

    const plan = await cli(['plan', VAULT, KEY, '--json', ...ready]);
    expect(plan.code).toBe(0);
    const parsed = JSON.parse(plan.stdout) as {
      dryRun: boolean;
      servers: { serverName: string; action: string }[];
    };
    expect(parsed.dryRun).toBe(true);
    expect(
      parsed.servers
        .filter((s) => s.action === 'update')
        .map((s) => s.serverName)
        .sort(),
    ).toEqual(['pg-billing-prod', 'pg-orders-prod', 'pg-reporting']);
    const planText = await cli(['plan', VAULT, KEY, ...ready]);
    expect(planText.stdout).toMatch(/pg-legacy-erp\s+main\s+skip\s+primary\s+excluded/);
    expect(await p.patches()).toEqual([]);

    await p.admin('faults', {
      method: 'POST',
      body: { service: 'arm', operation: 'servers.get', pathContains: 'pg-billing-prod', latencyMs: 400 },
    });
    const rotate = await cli([
      'rotate',
      VAULT,
      KEY,
      '--reason',
      'quarterly rotation',
      '--ticket',
      'CHG-1',
      '--wait',
      '--interval',
      '0.2',
      ...ready,
    ]);
    // pg-reporting's identity lacks the key grant: the rotation ends completedWithFailures, exit 1.
    expect(rotate.code).toBe(1);
    expect(rotate.stdout).toMatch(/completedWithFailures.*failed: pg-reporting/);
    const bars = rotate.stderr.split('\n').filter((l) => l.startsWith('['));
    expect(bars.some((l) => / \d\/6 (canary|rollout) batch \d of \d/.test(l))).toBe(true);
    expect(bars.length).toBeGreaterThan(1);

    const status = await cli(['status', '--json', ...ready]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      rotations: [{ vault: VAULT, key: KEY, running: false, result: { status: 'completedWithFailures' } }],
    });
    // Flags or the environment instead of the ready file.
    const viaEnv = await cli(['status'], {
      PG_CMK_ROTATOR_URL: p.hostUrl,
      PG_CMK_ROTATOR_KEY: p.functionKey,
    });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout).toContain(`${VAULT}/${KEY}`);

    // Refusals: 3 (nothing to retry), 4 (wrong key), 5 (nothing listening).
    expect((await cli(['retry', VAULT, KEY, 'pg-orders-prod', ...ready])).code).toBe(3);
    expect((await cli(['status', '--key', 'wrong', ...ready])).code).toBe(4);
    expect((await cli(['status', '--url', 'http://127.0.0.1:9', '--key', 'x'])).code).toBe(5);

    // A retry of the failed server, waited for: still failing (the grant is missing), exit 1.
    await p.admin('faults', { method: 'DELETE' });
    const retry = await cli([
      'retry',
      VAULT,
      KEY,
      'pg-reporting',
      '--wait',
      '--interval',
      '0.2',
      '--json',
      ...ready,
    ]);
    expect(retry.code).toBe(1);
    expect(JSON.parse(retry.stdout)).toMatchObject({
      runtimeStatus: 'Completed',
      result: { status: 'completedWithFailures', failedServers: ['pg-reporting'] },
    });

    const sweep = await cli(['sweep', '--reason', 'after the outage', '--ticket', 'INC-7', ...ready]);
    expect(sweep.code).toBe(0);
    expect(sweep.stdout).toMatch(/^Sweep: \d+ key\(s\) checked/);

    // Every write's reason and ticket are in the audit record of its request.
    const audit = await p.audit();
    const noted = (ticket: string) =>
      audit
        .filter((e) => e.properties['detail.ticket'] === ticket)
        .map((e) => e.name.replace('CmkRotation.', ''));
    expect(noted('CHG-1')).toEqual(['EventReceived']);
    expect(noted('INC-7')).toEqual(['SweepCompleted']);
    expect(
      audit.find((e) => e.properties['detail.ticket'] === 'CHG-1')?.properties['detail.operatorReason'],
    ).toBe('quarterly rotation');

    // The runs of the key, newest first, like gh run list: the retry, then the operator's rotation.
    const runs = await cli(['runs', VAULT, KEY, ...ready]);
    expect(runs.code).toBe(0);
    const lines = runs.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STATUS +KIND +KEY +TARGET +RESULT +STARTED +DURATION$/);
    expect(lines[1]).toMatch(/^X completedWithFailures +retry +contoso-pg-kv\/pg-cmk .* \d+s ago +\d+s$/);
    expect(lines[2]).toMatch(
      /^X completedWithFailures +operator +contoso-pg-kv\/pg-cmk +[0-9a-f]{8} +4 done, 1 failed, 1 skipped +/,
    );
    const runsJson = JSON.parse(
      (await cli(['runs', '-o', 'json', '--query', '[].kind', ...ready])).stdout,
    ) as string[];
    expect(runsJson).toEqual(['retry', 'operator']);
    // status shows the last runs, not only the last one; posture is a table by default.
    const statusText = await cli(['status', ...ready]);
    expect(statusText.stdout).toMatch(
      /Last runs:\n +STATUS +KIND[^\n]*\n +X completedWithFailures +retry[^\n]*\n +X completedWithFailures +operator/,
    );
    const posture = await cli(['posture', ...ready]);
    expect(posture.code).toBe(0);
    expect(posture.stdout).toMatch(/^pg-reporting +critical +/m);
  });
});
