import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, PLATFORM_SETTINGS } from '../../shared/config';

/**
 * local.settings.example.json is what a user copies to local.settings.json for `func start`: it must list
 * exactly the settings loadConfig reads (found by recording what it reads), but those the platform
 * injects (PLATFORM_SETTINGS, never set by a user), plus the two the Functions host needs; its values
 * must load.
 */
const example = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'local.settings.example.json'), 'utf8'),
) as { IsEncrypted: boolean; Values: Record<string, string> };
const HOST_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage'];
const PLATFORM = new Set<string>(Object.values(PLATFORM_SETTINGS));

/** Every environment variable name loadConfig looks at when given `env`. */
function settingsRead(env: Record<string, string>): string[] {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get: (target, name) => {
      if (typeof name === 'string' && !PLATFORM.has(name)) read.add(name);
      return typeof name === 'string' ? target[name] : undefined;
    },
  });
  try {
    loadConfig(recording);
  } catch {
    // an invalid env still reads every setting: all problems are reported at once
  }
  return [...read].sort();
}

describe('local.settings.example.json', () => {
  it('lists exactly the settings loadConfig reads, plus the Functions host settings', () => {
    const listed = Object.keys(example.Values).sort();
    expect(listed).toEqual([...settingsRead({}), ...HOST_SETTINGS].sort());
    expect(listed).toEqual([...settingsRead(example.Values), ...HOST_SETTINGS].sort());
  });

  it('loads as it is (placeholders are valid values)', () => {
    expect(example.IsEncrypted).toBe(false);
    expect(example.Values['FUNCTIONS_WORKER_RUNTIME']).toBe('node');
    expect(() => loadConfig(example.Values)).not.toThrow();
  });

  it('the recorder sees what loadConfig reads (it would catch a missing setting)', () => {
    const { CMK_SWEEP_SCHEDULE: _dropped, ...fewer } = example.Values;
    expect([...Object.keys(fewer), ...HOST_SETTINGS].sort()).not.toEqual(
      [...settingsRead(fewer), ...HOST_SETTINGS].sort(),
    );
  });
});
