import { search } from 'jmespath';
import { CliError, EXIT } from './client';
import type { OutputFormat } from './args';
import { table } from './progress';

/**
 * Output as `az` writes it: `--query` (JMESPath) first, over the command's JSON result, then the
 * format: `json` (indented), `tsv` (one line per item, tab-separated scalar values, no header: for
 * `read` and `cut`), `table` (the command's own table, or, after a --query, a table of what is left).
 */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/** Applies the JMESPath query; a query that does not parse is a usage error (exit 2). */
export function applyQuery(doc: unknown, query: string | undefined): unknown {
  if (query === undefined) return doc;
  try {
    // Through JSON: only what the API said, as JMESPath sees JSON (undefined fields dropped).
    return search(JSON.parse(JSON.stringify(doc ?? null)) as Json, query) as unknown;
  } catch (e) {
    throw new CliError(
      `--query ${query}: ${e instanceof Error ? e.message : String(e)} (JMESPath, https://jmespath.org)`,
      EXIT.usage,
    );
  }
}

const scalar = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : v === null || v === undefined
        ? ''
        : JSON.stringify(v);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `az -o tsv`: one line per item, an object's values in key order, nested objects and arrays left out. */
export function toTsv(doc: unknown): string {
  const line = (v: unknown): string =>
    isRecord(v)
      ? Object.values(v)
          .filter((x) => typeof x !== 'object' || x === null)
          .map(scalar)
          .join('\t')
      : Array.isArray(v)
        ? v.map(scalar).join('\t')
        : scalar(v);
  return (Array.isArray(doc) ? doc.map(line) : [line(doc)]).join('\n');
}

/** A table of any JSON (after a --query): a list of objects by their keys, a list of values, an object as key/value. */
export function toTable(doc: unknown): string {
  if (Array.isArray(doc)) {
    if (doc.length === 0) return '';
    if (doc.every(isRecord)) {
      const columns = [...new Set(doc.flatMap((r) => Object.keys(r)))];
      return table([
        columns.map((c) => c.toUpperCase()),
        ...doc.map((r) => columns.map((c) => scalar(r[c]))),
      ]);
    }
    return doc.map((v) => (Array.isArray(v) ? v.map(scalar).join('  ') : scalar(v))).join('\n');
  }
  if (isRecord(doc)) return table([['KEY', 'VALUE'], ...Object.entries(doc).map(([k, v]) => [k, scalar(v)])]);
  return scalar(doc);
}

/**
 * Prints a command's result: JSON for `-o json`, TSV, or a table (the command's own `human` rendering
 * unless a --query reshaped the result).
 */
export function render(
  doc: unknown,
  o: { readonly output: OutputFormat; readonly query: string | undefined },
  human: () => string,
): string {
  const result = applyQuery(doc, o.query);
  if (o.output === 'json') return JSON.stringify(result ?? null, null, 2);
  if (o.output === 'tsv') return toTsv(result);
  return o.query !== undefined ? toTable(result) : human();
}

/** "3m ago", "2h ago", "5d ago" (from `now`); the ISO time when it cannot be read. */
export function ago(iso: string | null | undefined, now: number): string {
  if (iso === undefined || iso === null || iso === '') return '';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** "45s", "3m12s", "2h05m" between two ISO times; empty when either is missing. */
export function duration(from: string | null | undefined, to: string | null | undefined): string {
  const a = Date.parse(from ?? '');
  const b = Date.parse(to ?? '');
  if (!Number.isFinite(a) || !Number.isFinite(b)) return '';
  const s = Math.max(0, Math.round((b - a) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
