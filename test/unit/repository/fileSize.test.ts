import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sourceFiles } from '../../support/importGraph';

/**
 * No product file over 500 lines (docs/architecture.md): a file that long holds more than one concern,
 * and is split by concern (as shared/domain/postureRules.ts was), not by line count.
 */
const MAX_LINES = 500;
const PRODUCT = ['shared', 'functions', 'local', 'cli'];

const linesOf = (file: string, root = ROOT): number =>
  readFileSync(join(root, file), 'utf8').trimEnd().split('\n').length;

describe('product file size', () => {
  const files = sourceFiles(PRODUCT);
  const sizes = new Map(files.map((f) => [f, linesOf(f)]));

  it(`reads every product folder (${PRODUCT.join(', ')})`, () => {
    for (const folder of PRODUCT) expect(files.some((f) => f.startsWith(`${folder}/`))).toBe(true);
  });

  it(`no file over ${MAX_LINES} lines`, () => {
    const over = [...sizes].filter(([, n]) => n > MAX_LINES).map(([f, n]) => `${f}: ${n} lines`);
    expect(over).toEqual([]);
  });
});
