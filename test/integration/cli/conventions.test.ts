import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/main';
import { COMMANDS } from '../../../cli/commands';
import { closestMatches } from '../../../shared/domain/suggest';

/**
 * The CLI's conventions (az, gh) against a recording stand-in of the operator API: the CLI talks HTTP
 * only, so what reaches the API is what the CLI sent. test/e2e/cli.test.ts runs the same against the app.
 */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
}

const NOW = Date.now();
const iso = (minutesAgo: number) => new Date(NOW - minutesAgo * 60_000).toISOString();

const ANSWERS: Record<string, unknown> = {
  'GET /api/vaults': {
    vaults: [
      {
        vault: 'contoso-pg-kv',
        vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
        keys: ['other-key', 'pg-cmk'],
      },
      {
        vault: 'contoso-pg-geo-kv',
        vaultUrl: 'https://contoso-pg-geo-kv.vault.azure.net',
        keys: ['pg-cmk-geo'],
      },
    ],
  },
  'GET /api/rotations': {
    rotations: [
      {
        vault: 'contoso-pg-kv',
        key: 'pg-cmk',
        runtimeStatus: 'Completed',
        running: false,
        lastUpdatedTime: iso(3),
        result: {
          status: 'completedWithFailures',
          counts: { total: 6, done: 4, failed: 1, skipped: 1, remaining: 0 },
          failedServers: ['pg-reporting'],
          openIncidents: 1,
        },
      },
    ],
  },
  'GET /api/runs': {
    keys: [
      {
        vault: 'contoso-pg-kv',
        key: 'pg-cmk',
        instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
        runs: [
          {
            kind: 'retry',
            trigger: 'operator:alice',
            startedAt: iso(5),
            endedAt: iso(3),
            status: 'completedWithFailures',
            targetVersion: 'a0b1c2d3e4f5',
            counts: { done: 0, failed: 1, skipped: 0 },
          },
          {
            kind: 'event',
            trigger: 'event:e1',
            startedAt: iso(125),
            endedAt: iso(124),
            status: 'completedWithFailures',
            targetVersion: 'a0b1c2d3e4f5',
            counts: { done: 4, failed: 1, skipped: 1 },
          },
          {
            kind: 'sweep',
            trigger: 'sweep:x',
            startedAt: iso(3 * 1440),
            endedAt: iso(3 * 1440 - 1),
            status: 'completed',
            targetVersion: '5f1e2d3c4b5a',
            counts: { done: 5, failed: 0, skipped: 1 },
          },
        ],
      },
    ],
  },
  'GET /api/posture': {
    generatedAt: iso(0),
    summary: {
      servers: 1,
      byRisk: { ok: 0, warning: 0, critical: 1 },
      vaultChecksFailing: 0,
      nextExpiry: null,
    },
    servers: [
      {
        serverName: 'pg-reporting',
        risk: 'critical',
        state: 'Ready',
        ring: 'main',
        slots: [
          {
            slot: 'primary',
            vaultName: 'contoso-pg-kv',
            keyName: 'pg-cmk',
            pinnedVersion: '5f1e2d3c4b5a',
            versionless: false,
            daysLeft: 64,
            keyStatus: 'Invalid',
          },
        ],
        reasons: ['primary key status is Invalid'],
      },
    ],
    keys: [],
    errors: [],
  },
  'POST /api/rotations/contoso-pg-kv/pg-cmk': {
    kind: 'started',
    instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
  },
  'POST /api/rotations/contoso-pg-kv/pg-cmk/servers/pg-reporting/retry': { kind: 'started', instanceId: 'i' },
  'POST /api/sweep': { keysChecked: 2, requested: [], errors: [] },
  'POST /api/events/replay': { source: 'blob.json', events: [] },
  'GET /api/rotations/contoso-pg-kv/pg-cmk/plan': {
    targetVersion: 'v2',
    servers: [],
    unplannable: [],
    summary: {},
  },
};

describe('CLI conventions (az, gh)', () => {
  let server: Server;
  let url = '';
  const seen: Seen[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'cli-conv-'));
  const blob = join(dir, 'blob.json');
  writeFileSync(blob, '[]');

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0] ?? '';
        seen.push({
          method: req.method ?? '',
          path,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: req.headers,
        });
        const answer = ANSWERS[`${req.method ?? ''} ${path}`];
        res.writeHead(answer === undefined ? 404 : req.method === 'POST' ? 202 : 200, {
          'content-type': 'application/json',
        });
        res.end(JSON.stringify(answer ?? { error: 'no such route' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    seen.length = 0;
  });

  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(
      [...args, '--url', url, '--key', 'k'],
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  describe('a typo never sends anything (exit 2, the accepted flags, a did-you-mean)', () => {
    it.each([
      [
        'rotate',
        ['rotate', 'contoso-pg-kv', 'pg-cmk', '--dryRun'],
        /unknown flag --dryRun for rotate\. Accepted: .*--reason, --ticket, --wait/,
      ],
      ['rotate', ['rotate', 'contoso-pg-kv', 'pg-cmk', '--dry-run'], /unknown flag --dry-run for rotate/],
      [
        'rotate',
        ['rotate', 'contoso-pg-kv', 'pg-cmk', '--reasn', 'x'],
        /unknown flag --reasn for rotate \(did you mean --reason\?\)/,
      ],
      [
        'retry',
        ['retry', 'contoso-pg-kv', 'pg-cmk', 'pg-reporting', '--tciket', 'x'],
        /did you mean --ticket\?/,
      ],
      ['sweep', ['sweep', '--wait'], /unknown flag --wait for sweep; --wait is for rotate, retry\./],
      ['replay', ['replay', blob, '--force'], /unknown flag --force for replay/],
      [
        'plan',
        ['plan', 'contoso-pg-kv', 'pg-cmk', '--reason', 'x'],
        /unknown flag --reason for plan; --reason is for rotate, retry, sweep, replay/,
      ],
      ['status', ['status', '--outptu', 'json'], /did you mean --output\?/],
      ['posture', ['posture', '-o', 'yaml'], /--output yaml: not a format; accepted: json, table, tsv/],
      ['runs', ['runs', '-o', 'jsn'], /not a format \(did you mean json\?\)/],
      [
        'an unknown command',
        ['rotat', 'contoso-pg-kv', 'pg-cmk'],
        /unknown command "rotat" \(did you mean rotate\?\)/,
      ],
      ['a missing argument', ['retry', 'contoso-pg-kv', 'pg-cmk'], /retry takes <vault> <key> <server>/],
    ])('%s: %j', async (_, args, said) => {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(said);
      expect(seen).toEqual([]);
    });
  });

  describe('a bad --query, --limit or replay file is refused before anything is sent (exit 2)', () => {
    const notJson = join(dir, 'not-json.json');
    writeFileSync(notJson, '[{"id": "e1",');
    const missing = join(dir, 'no-such-blob.json');
    it.each([
      [
        'rotate, a query that does not parse',
        ['rotate', 'contoso-pg-kv', 'pg-cmk', '--query', 'bad['],
        /^--query bad\[: .*Nothing was sent\./,
      ],
      [
        'rotate, an unknown JMESPath function',
        ['rotate', 'contoso-pg-kv', 'pg-cmk', '--query', 'lenght(@)'],
        /^--query lenght\(@\): unknown function lenght\(\) \(did you mean length\?\)/,
      ],
      [
        'retry',
        ['retry', 'contoso-pg-kv', 'pg-cmk', 'pg-reporting', '-o', 'json', '--query', '{kind: kind'],
        /^--query \{kind: kind: /,
      ],
      ['sweep', ['sweep', '--query', 'requested[?'], /^--query requested\[\?: /],
      ['replay', ['replay', blob, '--query', 'events[].outcome.kind |'], /^--query events/],
      ['runs --limit 0', ['runs', '--limit', '0'], /^--limit 0: not a count/],
      ['runs -L abc', ['runs', '-L', 'abc'], /^--limit abc: not a count/],
      ['status --limit 2.5', ['status', '--limit', '2.5'], /^--limit 2\.5: not a count/],
      [
        'replay, a missing second file',
        ['replay', blob, missing],
        /^cannot read .*no-such-blob\.json: .*Nothing was sent\./,
      ],
      [
        'replay, a second file that is not JSON',
        ['replay', blob, notJson],
        /not-json\.json is not JSON .*Nothing was sent\./,
      ],
      ['replay, stdin twice', ['replay', '-', '-'], /reads stdin \(-\) once/],
    ])('%s', async (_, args, said) => {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(said);
      expect(seen).toEqual([]);
    });

    it('a query that calls JMESPath functions is accepted and applied', async () => {
      const r = await cli(
        'runs',
        '-o',
        'json',
        '--query',
        'sort_by(@, &kind)[].{k: kind, n: length(trigger)}',
      );
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toEqual([
        { k: 'event', n: 8 },
        { k: 'retry', n: 14 },
        { k: 'sweep', n: 7 },
      ]);
    });
  });

  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    '%s --help: its usage, its flags and examples, exit 0',
    async (name, c) => {
      const r = await cli(name, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: pg-cmk-rotator ${name}`));
      expect(r.out).toContain('examples:\n  pg-cmk-rotator ');
      for (const f of c.flags) expect(r.out).toContain(`--${f}`);
      expect(r.out).toContain('-o, --output FORMAT');
      expect(seen).toEqual([]);
    },
  );

  describe('one error for an unknown vault or key, with suggestions, before anything else is asked', () => {
    it.each([
      ['plan', ['plan', 'contoso-pg-kv', 'pg-cmc']],
      ['rotate', ['rotate', 'contoso-pg-kv', 'pg-cmc', '--reason', 'x']],
      ['status', ['status', 'contoso-pg-kv', 'pg-cmc']],
      ['runs', ['runs', 'contoso-pg-kv', 'pg-cmc']],
      ['retry', ['retry', 'contoso-pg-kv', 'pg-cmc', 'pg-reporting']],
    ])('%s', async (_, args) => {
      const r = await cli(...args);
      expect(r.code).toBe(3);
      expect(r.err).toBe(
        'No key "pg-cmc" in vault contoso-pg-kv (did you mean pg-cmk?). Its keys: other-key, pg-cmk. Nothing was sent.',
      );
      expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /api/vaults']);
    });

    it('an unknown vault names the allowed ones', async () => {
      const r = await cli('rotate', 'contoso-pg-kw', 'pg-cmk');
      expect(r.code).toBe(3);
      expect(r.err).toBe(
        'No vault "contoso-pg-kw" among the vaults the app may use (CMK_ALLOWED_VAULTS) (did you mean contoso-pg-kv?). Allowed: contoso-pg-kv, contoso-pg-geo-kv. Nothing was sent.',
      );
      expect(seen.filter((s) => s.method === 'POST')).toEqual([]);
    });
  });

  describe('--reason and --ticket on every write, sent to the API', () => {
    it.each([
      ['rotate', ['rotate', 'contoso-pg-kv', 'pg-cmk'], '/api/rotations/contoso-pg-kv/pg-cmk'],
      [
        'retry',
        ['retry', 'contoso-pg-kv', 'pg-cmk', 'pg-reporting'],
        '/api/rotations/contoso-pg-kv/pg-cmk/servers/pg-reporting/retry',
      ],
      ['sweep', ['sweep'], '/api/sweep'],
    ])('%s: in the JSON body', async (_, args, path) => {
      const r = await cli(...args, '--reason', 'grant restored', '--ticket', 'INC-42');
      expect(r.code).toBe(0);
      const post = seen.find((s) => s.method === 'POST');
      expect(post?.path).toBe(path);
      expect(JSON.parse(post?.body ?? '')).toEqual({ reason: 'grant restored', ticket: 'INC-42' });
    });

    it('replay: in headers (the body is the dead-letter blob)', async () => {
      const r = await cli('replay', blob, '--reason', 'subscription fixed', '--ticket', 'INC-42');
      expect(r.code).toBe(0);
      const post = seen.find((s) => s.method === 'POST');
      expect(post?.body).toBe('[]');
      expect(post?.headers['x-operator-reason']).toBe('subscription fixed');
      expect(post?.headers['x-operator-ticket']).toBe('INC-42');
    });
  });

  describe('output: table by default, -o json|tsv and --query on every command', () => {
    it('posture is a table by default, JSON with -o json or --json', async () => {
      const table = await cli('posture');
      expect(table.out).toMatch(/^Posture at .*: 1 server\(s\): 0 ok, 0 warning, 1 critical/);
      expect(table.out).toMatch(
        /^pg-reporting +critical +Ready +main +contoso-pg-kv\/pg-cmk \(primary\) +5f1e2d3c +64 +Invalid/m,
      );
      expect(() => JSON.parse(table.out) as unknown).toThrow();
      expect(JSON.parse((await cli('posture', '-o', 'json')).out)).toEqual(ANSWERS['GET /api/posture']);
      expect(JSON.parse((await cli('posture', '--json')).out)).toEqual(ANSWERS['GET /api/posture']);
    });

    it('runs lists every run like gh run list: status, kind, key, result, relative start, duration', async () => {
      const r = await cli('runs');
      expect(r.code).toBe(0);
      const lines = r.out.split('\n');
      expect(lines[0]).toMatch(/^STATUS +KIND +KEY +TARGET +RESULT +STARTED +DURATION$/);
      expect(lines[1]).toMatch(
        /^X completedWithFailures +retry +contoso-pg-kv\/pg-cmk +a0b1c2d3 +0 done, 1 failed +5m ago +2m00s$/,
      );
      expect(lines[2]).toMatch(
        /^X completedWithFailures +event +.* +4 done, 1 failed, 1 skipped +2h ago +1m00s$/,
      );
      expect(lines[3]).toMatch(/^✓ completed +sweep +.* +3d ago +1m00s$/);
      expect((await cli('runs', '-L', '1')).out.split('\n')).toHaveLength(2);
    });

    it('status shows the last runs, not only the last one', async () => {
      const r = await cli('status');
      expect(r.out).toMatch(
        /^contoso-pg-kv\/pg-cmk +completedWithFailures +4 done, 1 failed, 1 skipped \(failed: pg-reporting\) +3m ago$/m,
      );
      expect(r.out).toContain('Last runs:');
      expect(r.out.match(/contoso-pg-kv\/pg-cmk/g)).toHaveLength(4);
      const json = JSON.parse((await cli('status', '-o', 'json')).out) as { runs: unknown[] };
      expect(json.runs).toHaveLength(3);
    });

    it('--query is JMESPath over the JSON result, in any format', async () => {
      expect(JSON.parse((await cli('runs', '-o', 'json', '--query', '[].kind')).out)).toEqual([
        'retry',
        'event',
        'sweep',
      ]);
      expect((await cli('runs', '-o', 'tsv', '--query', '[?kind==`event`].[key,status]')).out).toBe(
        'pg-cmk\tcompletedWithFailures',
      );
      expect((await cli('posture', '--query', 'servers[].{name: serverName, risk: risk}')).out).toBe(
        'NAME          RISK\npg-reporting  critical',
      );
      const bad = await cli('runs', '--query', '[?kind==');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/^--query \[\?kind==: /);
    });

    it('tsv: one line per item, tab-separated', async () => {
      const r = await cli('runs', '-o', 'tsv');
      expect(r.out.split('\n')[0]?.split('\t').slice(0, 4)).toEqual([
        'contoso-pg-kv',
        'pg-cmk',
        'retry',
        'completedWithFailures',
      ]);
    });
  });
});

describe('did you mean', () => {
  it.each([
    ['rotat', ['rotate', 'retry', 'runs'], ['rotate']],
    ['pg-cmc', ['pg-cmk', 'other-key'], ['pg-cmk']],
    ['PG-CMK', ['pg-cmk'], ['pg-cmk']],
    ['stat', ['status', 'sweep'], ['status']],
    ['frobnicate', ['rotate', 'retry'], []],
  ])('%s among %j: %j', (word, candidates, want) => {
    expect(closestMatches(word, candidates)).toEqual(want);
  });
});
