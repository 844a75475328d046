import ignore from 'ignore';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';

/**
 * The deployed package: what `func azure functionapp publish` and `azd deploy` ship after
 * `npm ci && npm run build && npm prune --omit=dev` (README, Deploy). The file list is built the way they
 * build it: every file of the project folder (tracked files, the build output in dist/, the production
 * node_modules) minus what `.funcignore` excludes (gitignore syntax, matched with the `ignore` library).
 * Nothing of the local runtime, the tests, the benchmarks or the local state may be in it; the entry
 * point (`main`) and everything it requires at run time must be.
 */
const ROOT = join(__dirname, '..', '..');

interface LockPackage {
  readonly dev?: boolean;
}

function walk(dir: string, skip: readonly string[] = []): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = posix.join(dir, e.name);
    if (skip.includes(path)) return [];
    return e.isDirectory() ? walk(path, skip) : [path];
  });
}

/** node_modules as `npm prune --omit=dev` leaves it: the lock file's packages not marked dev. */
function productionModules(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && p.dev !== true)
    .map(([path]) => path)
    .filter(
      (path) =>
        !Object.keys(lock.packages).some(
          (other) => path.startsWith(`${other}/`) && other !== path && lock.packages[other]?.dev === true,
        ),
    )
    .flatMap((path) => walk(path).filter((f) => !/\/node_modules\//.test(f.slice(path.length))));
}

/** The project folder as the publishing tools see it: every file (not only tracked ones) but .git. */
function projectFiles(): string[] {
  return [...walk('', ['.git', 'node_modules']), ...productionModules()];
}

export function packageFiles(funcignore: string, files: readonly string[]): string[] {
  const rules = ignore().add(funcignore);
  return files.filter((f) => !rules.ignores(f));
}

const NEVER = ['local/', 'test/', 'bench/', '.local/', 'dist/local/', 'dist/test/', 'dist/bench/'];

/** What is wrong with a package: forbidden files, and runtime requires it does not hold. */
export function packageProblems(files: readonly string[], main: string): string[] {
  const inPackage = new Set(files);
  const problems = files
    .filter((f) => NEVER.some((p) => f.startsWith(p)) || /^(functions|shared)\/.*\.ts$/.test(f))
    .map((f) => `ships ${f}`);
  for (const needed of ['package.json', 'host.json', main])
    if (!inPackage.has(needed)) problems.push(`lacks ${needed}`);
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!inPackage.has(file)) problems.push(`lacks ${file}, required at run time`);
    if (!existsSync(join(ROOT, file))) return;
    const source = readFileSync(join(ROOT, file), 'utf8');
    for (const m of source.matchAll(/\brequire\("([^"]+)"\)/g)) {
      const spec = m[1] ?? '';
      if (spec.startsWith('.')) {
        const resolved = relative(ROOT, require.resolve(join(ROOT, dirname(file), spec)))
          .split('\\')
          .join('/');
        if (NEVER.some((p) => resolved.startsWith(p))) problems.push(`${file} requires ${resolved}`);
        visit(resolved);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : (spec.split('/')[0] ?? spec);
        if (!inPackage.has(`node_modules/${name}/package.json`))
          problems.push(`${file} requires ${name}, which is not a production dependency in the package`);
      }
    }
  };
  visit(main);
  return problems;
}

describe('the deployed package (.funcignore)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
  const funcignore = readFileSync(join(ROOT, '.funcignore'), 'utf8');
  const files = projectFiles();

  it('is built from a compiled tree (npm run build ran)', () => {
    expect(files).toContain(pkg.main);
    expect(files.some((f) => f.startsWith('dist/local/'))).toBe(true);
  });

  it('holds the app and its production dependencies, and nothing of local/, test/, bench/ or .local/', () => {
    const shipped = packageFiles(funcignore, files);
    expect(packageProblems(shipped, pkg.main)).toEqual([]);
    expect(
      shipped
        .filter((f) => !f.startsWith('node_modules/'))
        .filter((f) => !f.startsWith('dist/'))
        .sort(),
    ).toEqual(['LICENSE', 'host.json', 'package.json']);
    expect(shipped.some((f) => f.startsWith('dist/shared/adapters/'))).toBe(true);
    expect(shipped).not.toContain('node_modules/jest/package.json');
  });

  it.each([
    [
      'without the local/ and dist/local/ rules',
      (rules: string) => rules.replace(/^\/(dist\/)?local\/$/gm, ''),
      /ships (dist\/)?local\//,
    ],
    ['without the .local/ rule', (rules: string) => rules.replace(/^\/\.local\/$/gm, ''), /ships \.local\//],
    [
      'excluding the compiled shared/',
      (rules: string) => `${rules}\n/dist/shared/\n`,
      /lacks dist\/shared\/.*, required at run time/,
    ],
    [
      'excluding node_modules',
      (rules: string) => `${rules}\nnode_modules/\n`,
      /requires durable-functions, which is not a production dependency/,
    ],
  ])('a .funcignore %s is caught', (_, edit, problem) => {
    const problems = packageProblems(
      packageFiles(edit(funcignore), [...files, '.local/tls/ca.key']),
      pkg.main,
    );
    expect(problems.some((p) => problem.test(p))).toBe(true);
  });
});
