import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const ROOT_MODULES = join(ROOT, 'node_modules');

/**
 * Installs a fixture app in a temporary folder the normal way an app is deployed: with ITS OWN
 * `node_modules/durable-functions` (a copy of the repository's, so a different module instance from
 * anything the host could load itself), the other packages linked from the repository (no network).
 * `durableFunctionsVersion` rewrites the copy's version, to see how the host treats other versions.
 */
export function installFixtureApp(
  fixture: string,
  options: { durableFunctionsVersion?: string } = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), 'df-app-'));
  cpSync(join(ROOT, 'test', 'fixtures', fixture), dir, { recursive: true });
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(ROOT_MODULES)) {
    if (entry === 'durable-functions' || entry.startsWith('.')) continue;
    symlinkSync(join(ROOT_MODULES, entry), join(modules, entry));
  }
  const own = join(modules, 'durable-functions');
  cpSync(join(ROOT_MODULES, 'durable-functions'), own, { recursive: true });
  if (options.durableFunctionsVersion !== undefined) {
    const pkgPath = join(own, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(pkgPath, JSON.stringify({ ...pkg, version: options.durableFunctionsVersion }));
  }
  return dir;
}
