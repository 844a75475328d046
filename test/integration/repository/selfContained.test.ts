import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * The repository must be self-contained: a clone with nothing beside it builds, tests and reads whole.
 * No tracked file may point outside the clone: a relative path (`../shared/DESIGN.md`) that climbs more
 * folders than the file is deep, or an absolute path into the development machines' work folder.
 * (The examples below are assembled from pieces so that this file does not trip its own check.)
 */
const ROOT = join(__dirname, '..', '..', '..');
const up = (n: number): string => '../'.repeat(n);
const WORK = ['', 'work', ''].join('/');

export interface Reach {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly why: string;
}

/** Relative paths: `../` one or more times, then whatever follows up to a delimiter. */
const RELATIVE = /(?<![\w.\-/])((?:\.\.\/)+)([^\s"'`()[\]<>,;|]*)/g;
const MACHINE = /(?<![\w.\-])\/work\/[^\s"'`()[\]<>,;|]*/g;

/**
 * Files copied verbatim from upstream (test/fixtures/azure-specs/README.md): their relative `$ref`s and
 * links name the upstream repository's layout, are never followed here, and must not be edited.
 */
const VERBATIM = ['test/fixtures/azure-specs/'];

/** Strings that look like paths but are not paths of the file they are in, each with its reason. */
const NOT_PATHS: readonly { file: string; text: RegExp; reason: string }[] = [
  {
    file: 'eslint.config.mjs',
    text: /^\.\.\/(\*|domain|domain\/\*)$/,
    reason: 'no-restricted-imports patterns, matched against import specifiers of shared/domain files',
  },
  {
    file: 'test/support/specs.ts',
    text: /^(\.\.\/){5}common-types\/resource-management\/v6\/[a-z]+\.json#\/definitions\/\w+$/,
    reason: 'the $ref strings of the verbatim Servers.json, mapped to local definitions',
  },
  {
    file: 'test/support/specs.ts',
    text: /^(\.\.\/){6}common-types\/resource-management\/v5\/[a-z]+\.json#\/definitions\/\w+$/,
    reason: 'the $ref strings of the verbatim Key Vault management openapi.json, mapped to local definitions',
  },
];

/** Every place in `content` (the text of repository file `file`) that reaches outside the repository. */
export function reachesOutside(file: string, content: string): Reach[] {
  const found: Reach[] = [];
  const depth = file.split('/').length - 1;
  const lines = content.split('\n');
  lines.forEach((lineText, i) => {
    for (const m of lineText.matchAll(MACHINE))
      found.push({ file, line: i + 1, text: m[0], why: 'absolute path of a development machine' });
    if (VERBATIM.some((prefix) => file.startsWith(prefix))) return;
    for (const m of lineText.matchAll(RELATIVE)) {
      const climbs = (m[1] ?? '').length / 3;
      const text = m[0];
      if (NOT_PATHS.some((n) => n.file === file && n.text.test(text))) continue;
      const resolved = posix.normalize(posix.join(posix.dirname(file), text));
      if (climbs > depth || resolved === '..' || resolved.startsWith('../'))
        found.push({
          file,
          line: i + 1,
          text,
          why: `climbs ${climbs} folder(s) from a file ${depth} deep`,
        });
    }
  });
  return found;
}

function trackedTextFiles(): { file: string; content: string }[] {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '');
  return files.flatMap((file) => {
    const bytes = readFileSync(join(ROOT, file));
    return bytes.includes(0) ? [] : [{ file, content: bytes.toString('utf8') }];
  });
}

describe('the repository is self-contained', () => {
  it('no tracked file points outside the clone', () => {
    const files = trackedTextFiles();
    expect(files.length).toBeGreaterThan(50);
    const reaches = files.flatMap((f) => reachesOutside(f.file, f.content));
    expect(reaches.map((r) => `${r.file}:${r.line}: ${r.text} (${r.why})`)).toEqual([]);
  });

  it.each([
    ['README.md', `See [design](${up(1)}shared/DESIGN.md).`, [`${up(1)}shared/DESIGN.md`]],
    ['local/README.md', `specs in \`${up(2)}shared/azure-specs\``, [`${up(2)}shared/azure-specs`]],
    [
      'test/unit/domain/x.test.ts',
      `readFileSync(join(__dirname, '${up(4)}shared/a.json'))`,
      [`${up(4)}shared/a.json`],
    ],
    ['eslint.config.mjs', `message: 'see ${up(1)}shared/DESIGN.md'`, [`${up(1)}shared/DESIGN.md`]],
    [
      'docs/architecture.md',
      `copied from ${WORK}shared/azure-specs/x.json`,
      [`${WORK}shared/azure-specs/x.json`],
    ],
    ['test/fixtures/azure-specs/a/b.json', `"see": "${WORK}shared/FACTS.md"`, [`${WORK}shared/FACTS.md`]],
  ])('finds the reach out of %s', (file, content, expected) => {
    expect(reachesOutside(file, content).map((r) => r.text)).toEqual(expected);
  });

  it.each([
    ['functions/index.ts', "import { loadConfig } from '../shared/config';"],
    ['test/unit/domain/events.test.ts', "from '../../../shared/domain/events'"],
    ['local/README.md', 'in [`test/fixtures`](../test/fixtures/azure-specs)'],
    ['README.md', 'see [local/README.md](local/README.md) and ./docs'],
    ['eslint.config.mjs', "group: ['../*', '!../domain', '!../domain/*'],"],
    ['test/fixtures/azure-specs/pg/2025-08-01/Servers.json', `"$ref": "${up(5)}common-types/v6/types.json"`],
  ])('accepts what stays inside: %s', (file, content) => {
    expect(reachesOutside(file, content)).toEqual([]);
  });
});
