import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

/**
 * The import graph of the product's TypeScript, read the way the compiler reads it: every `import`,
 * `import type`, `export … from`, `require()` and dynamic `import()` of a file (TypeScript's own
 * `preProcessFile`), resolved with the project's module resolution (`resolveModuleName`, node16). Only
 * edges between files of the repository are kept; packages are leaves and cannot close a cycle.
 */
export const ROOT = join(__dirname, '..', '..');

const OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  resolveJsonModule: true,
};

/** Repository-relative posix path. */
const rel = (root: string, abs: string): string => relative(root, abs).split(sep).join('/');

/** Every `.ts` file under the given top-level folders of `root` (declaration files excluded). */
export function sourceFiles(folders: readonly string[], root = ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel(root, abs));
    }
  };
  for (const folder of folders) walk(join(root, folder));
  return out.sort();
}

/** file → the repository files it imports (type-only imports count: they tie the modules together too). */
export function importGraph(files: readonly string[], root = ROOT): Map<string, string[]> {
  const inScope = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const abs = join(root, file);
    const info = ts.preProcessFile(readFileSync(abs, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName } of info.importedFiles) {
      const resolved = ts.resolveModuleName(fileName, abs, OPTIONS, ts.sys).resolvedModule;
      if (resolved === undefined || resolved.isExternalLibraryImport === true) continue;
      const target = rel(root, resolved.resolvedFileName);
      if (inScope.has(target)) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** A set of files that import each other round (a strongly connected component), with one cycle in it. */
export interface Tangle {
  /** Every file of the component, sorted. */
  readonly files: readonly string[];
  /** The shortest import chain from the first file back to itself: `a → b → … → a`. */
  readonly cycle: readonly string[];
}

/**
 * Every import cycle, as tangles: the strongly connected components of more than one file (or a file
 * importing itself), found with Tarjan's algorithm, each with a real chain of imports round it.
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): Tangle[] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const tangles: Tangle[] = [];
  const visit = (v: string): void => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, indexOf.get(w) ?? 0));
    }
    if (low.get(v) !== indexOf.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
      onStack.delete(w);
      component.push(w);
    }
    const selfLoop = component.length === 1 && (graph.get(v) ?? []).includes(v);
    if (component.length > 1 || selfLoop) {
      const files = component.sort();
      tangles.push({ files, cycle: shortestCycle(graph, files) });
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indexOf.has(v)) visit(v);
  return tangles.sort((a, b) => (a.files[0] ?? '').localeCompare(b.files[0] ?? ''));
}

/** Breadth-first inside the component from its first file back to it: the shortest cycle through it. */
function shortestCycle(graph: ReadonlyMap<string, readonly string[]>, files: readonly string[]): string[] {
  const members = new Set(files);
  const start = files[0] as string;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let v = queue.shift(); v !== undefined; v = queue.shift()) {
    for (const w of graph.get(v) ?? []) {
      if (w === start) {
        const chain = [start];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = previous.get(at))
          chain.splice(1, 0, at);
        return [...chain, start];
      }
      if (!members.has(w) || previous.has(w)) continue;
      previous.set(w, v);
      queue.push(w);
    }
  }
  return [start, start];
}

/** `a → b → a  (tangle of 2 files: a, b)` */
export function describeTangle(tangle: Tangle): string {
  return `${tangle.cycle.join(' → ')}  (tangle of ${tangle.files.length} file${tangle.files.length === 1 ? '' : 's'}: ${tangle.files.join(', ')})`;
}
