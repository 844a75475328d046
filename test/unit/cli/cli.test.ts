import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT, resolveTarget } from '../../../cli/client';
import { progressLine, table } from '../../../cli/progress';

describe('CLI: where it finds the API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  writeFileSync(join(dir, 'ready.json'), JSON.stringify({ url: 'http://127.0.0.1:7071/', key: 'from-file' }));
  writeFileSync(join(dir, 'bad.json'), '{"url": 1}');

  it.each([
    ['flags win', { url: 'https://app.example/', key: 'k' }, {}, { url: 'https://app.example', key: 'k' }],
    [
      'then the environment',
      {},
      { PG_CMK_ROTATOR_URL: 'https://env.example', PG_CMK_ROTATOR_KEY: 'e' },
      { url: 'https://env.example', key: 'e' },
    ],
    ['then the ready file', { ready: 'ready.json' }, {}, { url: 'http://127.0.0.1:7071', key: 'from-file' }],
    [
      'a key flag with the ready file',
      { ready: 'ready.json', key: 'mine' },
      {},
      { url: 'http://127.0.0.1:7071', key: 'mine' },
    ],
  ])('%s', (_name, flags, env, want) => {
    expect(resolveTarget(flags, env, dir)).toMatchObject(want);
  });

  it.each([
    ['no URL and no ready file', {}],
    ['a ready file that is not one', { ready: 'bad.json' }],
  ])('%s is a usage error (exit 2)', (_name, flags) => {
    const attempt = () => resolveTarget(flags, {}, dir);
    expect(attempt).toThrow(CliError);
    try {
      attempt();
    } catch (e) {
      expect((e as CliError).exitCode).toBe(EXIT.usage);
    }
  });
});

describe('CLI: progress bar', () => {
  it('fills by finished servers and names the phase, batch, failures and servers in flight', () => {
    expect(
      progressLine(
        {
          phase: 'rollout',
          batch: { index: 1, of: 2 },
          counts: { total: 8, done: 3, failed: 1, skipped: 0, remaining: 4 },
          current: ['pg-a'],
        },
        8,
      ),
    ).toBe('[####----] 4/8 rollout batch 1 of 2 · 1 failed · now: pg-a');
    expect(
      progressLine(
        {
          phase: 'planning',
          counts: { total: 0, done: 0, failed: 0, skipped: 0, remaining: 0 },
          current: [],
        },
        4,
      ),
    ).toBe('[----] 0/0 planning');
  });

  it('pads table columns', () => {
    expect(
      table([
        ['a', 'bb'],
        ['ccc', 'd'],
      ]),
    ).toBe('a    bb\nccc  d');
  });
});
