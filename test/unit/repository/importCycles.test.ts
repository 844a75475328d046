import { describeTangle, importCycles, importGraph, sourceFiles } from '../../support/importGraph';

/**
 * No import cycle in the product or its tooling (docs/architecture.md: "no import cycles"). A cycle
 * makes the order in which modules load matter (a `const` read before it is set is `undefined` under
 * CommonJS), and it ties the files of a feature so that none can be read, tested or moved alone. Type-only
 * imports count too: they tie the modules together just the same. Break one by giving the shared types
 * and state to one module the others import (never back), or by passing the function in.
 */
const FOLDERS = ['shared', 'functions', 'local', 'cli', 'bench'];

describe('import cycles', () => {
  const graph = importGraph(sourceFiles(FOLDERS));

  it('reads the import graph (a folder renamed away would make this test pass on nothing)', () => {
    for (const folder of FOLDERS)
      expect([...graph.keys()].filter((f) => f.startsWith(`${folder}/`)).length).toBeGreaterThan(0);
    // The composition root imports the adapters: the edges are resolved, not just the files listed.
    expect(graph.get('functions/index.ts')?.length ?? 0).toBeGreaterThan(0);
  });

  it(`none in ${FOLDERS.join(', ')}`, () => {
    const cycles = importCycles(graph).map(describeTangle);
    expect(cycles).toEqual([]);
  });

  it('finds a cycle however long, and names its files in import order', () => {
    const tangles = importCycles(
      new Map([
        ['a.ts', ['b.ts']],
        ['b.ts', ['c.ts', 'x.ts']],
        ['c.ts', ['a.ts']],
        ['x.ts', []],
        ['self.ts', ['self.ts']],
      ]),
    );
    expect(tangles.map(describeTangle)).toEqual([
      'a.ts → b.ts → c.ts → a.ts  (tangle of 3 files: a.ts, b.ts, c.ts)',
      'self.ts → self.ts  (tangle of 1 file: self.ts)',
    ]);
  });
});
