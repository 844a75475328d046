/**
 * What the CLI draws from the API's answers. Pure: tests check the text, the terminal only sees it.
 */

/** The progress the API reports for a running rotation (`progress` of `GET /api/rotations/{vault}/{key}`). */
export interface ApiProgress {
  readonly phase: string;
  readonly targetVersion?: string | null | undefined;
  readonly batch?: { readonly index: number; readonly of: number } | null | undefined;
  readonly counts: {
    readonly total: number;
    readonly done: number;
    readonly failed: number;
    readonly skipped: number;
    readonly remaining: number;
  };
  readonly current: readonly string[];
}

/** `[########------------]  3/6 rollout batch 1 of 2 · 1 failed · now: pg-a, pg-b` */
export function progressLine(p: ApiProgress, width = 24): string {
  const { total, done, failed, skipped } = p.counts;
  const finished = done + failed + skipped;
  const filled = total === 0 ? 0 : Math.round((finished / total) * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const batch = p.batch !== undefined && p.batch !== null ? ` batch ${p.batch.index} of ${p.batch.of}` : '';
  const extra = [
    failed > 0 ? `${failed} failed` : '',
    skipped > 0 ? `${skipped} skipped` : '',
    p.current.length > 0 ? `now: ${p.current.join(', ')}` : '',
  ].filter((x) => x !== '');
  return `${bar} ${String(finished).padStart(String(total).length)}/${total} ${p.phase}${batch}${extra.length > 0 ? ` · ${extra.join(' · ')}` : ''}`;
}

/** A table of rows (first row the header), columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
