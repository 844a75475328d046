import { distance } from 'fastest-levenshtein';

/**
 * "Did you mean" for commands, flags, query parameters and vault or key names, one rule for the app (the
 * operator API's unknown key, shared/triggers/operator.ts) and the CLI (cli/args.ts, cli/names.ts,
 * cli/query.ts: the one module of shared/ the CLI may import, eslint.config.mjs): the closest candidates by edit distance
 * (case-insensitive), near enough to be a typo: at most 2 edits, or a third of the word's length for long
 * words. Several when they tie. Empty when nothing is close.
 */
export function closestMatches(word: string, candidates: readonly string[]): string[] {
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(w.length / 3));
  let best = Infinity;
  let found: string[] = [];
  for (const c of new Set(candidates)) {
    const lc = c.toLowerCase();
    // A prefix (`rot` for `rotate`) or a different case is as good as one edit.
    const d = lc === w ? 0 : lc.startsWith(w) && w.length >= 3 ? 1 : distance(w, lc);
    if (d > limit) continue;
    if (d < best) [best, found] = [d, [c]];
    else if (d === best) found.push(c);
  }
  return found;
}

/** ` (did you mean x?)`, ` (did you mean x or y?)`, or nothing. */
export function didYouMean(word: string, candidates: readonly string[], prefix = ''): string {
  const near = closestMatches(word, candidates).map((c) => `${prefix}${c}`);
  if (near.length === 0) return '';
  return ` (did you mean ${near.length === 1 ? near[0] : `${near.slice(0, -1).join(', ')} or ${near[near.length - 1]}`}?)`;
}
