import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { installCore, type FunctionRegistry } from './core';

/** `main` as Azure resolves it: a file, or a glob with `*` in its last segment. */
function entryPoints(appRoot: string): string[] {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main?: string };
  if (pkg.main === undefined) throw new Error(`${appRoot}/package.json has no "main"`);
  const main = resolve(appRoot, pkg.main);
  if (!main.includes('*')) return [main];
  const dir = dirname(main);
  const pattern = new RegExp(
    `^${main
      .slice(dir.length + 1)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Loads the app into this process as the Node.js worker does: `@azure/functions-core` answers with
 * `registry`, then every entry point of `main` is required (and registers its functions).
 */
export function loadApp(registry: FunctionRegistry, appRoot: string): void {
  installCore(registry);
  for (const entry of entryPoints(appRoot)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entry);
  }
}
