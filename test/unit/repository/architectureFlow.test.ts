import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEALTH_WATCH_NAMES } from '../../../shared/domain/healthWatch';
import { FUNCTION_NAMES } from '../../../shared/domain/names';
import { STEP_NAMES } from '../../../shared/rotation/contract';
import { ROOT } from '../../support/importGraph';

/**
 * docs/architecture.md's Flow describes the steps as they are: every activity or orchestration it
 * names in `backticks` is registered under that name, every function it starts a line with exists,
 * and every file it names is in the repository.
 */
const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
const flow = /## Flow\n+```\n([\s\S]*?)\n```/.exec(doc)?.[1] ?? '';

const registered = new Set<string>([
  ...STEP_NAMES,
  ...Object.values(FUNCTION_NAMES),
  ...Object.values(HEALTH_WATCH_NAMES),
]);

describe('docs/architecture.md, Flow', () => {
  it('is found', () => {
    expect(flow.length).toBeGreaterThan(1000);
  });

  it('names in backticks only activities and orchestrations that exist', () => {
    const named = [...flow.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1] ?? '');
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((n) => !registered.has(n) && n !== 'keyEvent' && n !== 'backticks')).toEqual([]);
  });

  it('starts its entry points with the names the functions are registered under', () => {
    const entries = [...flow.matchAll(/^([a-zA-Z]+) \(/gm)].map((m) => m[1] ?? '');
    expect(entries).toEqual([
      'armQuotaGovernor',
      'rolloutLane',
      'reconcileSweep',
      'healthWatch',
      'keyRotationApi',
    ]);
    for (const e of entries) expect(registered.has(e)).toBe(true);
  });

  it('names only files that exist', () => {
    const dirs = ['', 'shared/rotation/orchestrators/'];
    const files = [...flow.matchAll(/([\w/]+\.ts)\b/g)].map((m) => m[1] ?? '');
    expect(files.length).toBeGreaterThan(10);
    expect(files.filter((f) => !dirs.some((d) => existsSync(join(ROOT, d + f))))).toEqual([]);
  });
});
