import type { AuditRecord } from '../domain/audit';
import type { AuditTrail } from '../ports/auditTrail';

/** One rejected event, as the intake would audit it alone. */
export interface Rejected {
  readonly eventId: string | undefined;
  readonly record: AuditRecord;
}

/** Event ids a summary record names as samples. */
export const SUMMARY_SAMPLE_IDS = 5;
/** Rejections one summary holds at most: Event Grid delivers at most 5,000 events at once. */
export const MAX_SUMMARIZED = 5_000;
/**
 * The longest a rejection waits for reads still going on (they are CPU only and end within a turn of
 * the event loop, so this only bounds the unexpected): far below Event Grid's 30 s delivery timeout.
 */
export const MAX_WAIT_MS = 1_000;

/**
 * The audit record of rejections read together: one alone is recorded as it is; several become one
 * `EventRejected` record with the count per reason code and a few sample event ids (a junk delivery of
 * 5,000 events is one record, not 5,000). Pure.
 */
export function summaryRecord(rejected: readonly Rejected[]): AuditRecord | undefined {
  const [first] = rejected;
  if (first === undefined) return undefined;
  if (rejected.length === 1) return first.record;
  const byReason = new Map<string, number>();
  for (const r of rejected) {
    const code = r.record.reasonCode ?? 'Unknown';
    byReason.set(code, (byReason.get(code) ?? 0) + 1);
  }
  const counts = [...byReason.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const samples = rejected
    .map((r) => r.eventId)
    .filter((id): id is string => id !== undefined)
    .slice(0, SUMMARY_SAMPLE_IDS)
    .map((id) => id.slice(0, 100));
  const allSkipped = rejected.every((r) => r.record.outcome === 'skipped');
  const replay = first.record.details?.['replay'];
  return {
    step: 'EventRejected',
    correlationId: first.record.correlationId,
    trigger: 'event:batch',
    outcome: allSkipped ? 'skipped' : 'failure',
    reasonCode: counts.length === 1 ? (counts[0]?.[0] ?? 'Unknown') : 'Several',
    reason: `${rejected.length} events rejected: ${counts.map(([code, n]) => `${code} ${n}`).join(', ')}`,
    details: {
      rejected: String(rejected.length),
      byReason: JSON.stringify(Object.fromEntries(counts)),
      sampleEventIds: samples.join(','),
      ...(replay !== undefined ? { replay } : {}),
    },
  };
}

interface Waiting {
  readonly rejected: Rejected;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Group commit of the intake's rejections. The Event Grid extension invokes the function once per
 * event of a delivery, all of them at once (`Task.WhenAll` in the extension's HTTP handler), so the
 * rejections of one delivery arrive together: each waits while any event is still being read, then
 * they go out as one record (`summaryRecord`). Each invocation returns only once the record holding
 * its rejection was accepted by the audit trail (and throws with it otherwise, so Event Grid
 * redelivers): nothing is acknowledged as audited that was not. Holds at most `MAX_SUMMARIZED`
 * rejections; nothing is kept after a flush.
 */
export class RejectionSummarizer {
  private reading = 0;
  private waiting: Waiting[] = [];
  private scheduled = false;
  private oldest: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly audit: AuditTrail,
    private readonly later: (f: () => void) => void = (f) => void setImmediate(f),
  ) {}

  /** Reads one event: while any read is going on, rejections wait to be summarised together. */
  async read<T>(work: () => Promise<T>): Promise<T> {
    this.reading++;
    try {
      return await work();
    } finally {
      this.reading--;
      this.schedule();
    }
  }

  /** Resolves once the record that holds this rejection was accepted by the audit trail. */
  add(rejected: Rejected): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ rejected, resolve, reject });
      if (this.waiting.length === 1) this.oldest = setTimeout(() => this.flush(), MAX_WAIT_MS);
      if (this.waiting.length >= MAX_SUMMARIZED) this.flush();
      else this.schedule();
    });
  }

  /** Rejections waiting for their record (for tests and memory accounting). */
  get pending(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0 || this.reading > 0) return;
    this.scheduled = true;
    this.later(() => {
      this.scheduled = false;
      // A read started meanwhile: the last one to finish schedules again.
      if (this.reading === 0) this.flush();
    });
  }

  private flush(): void {
    clearTimeout(this.oldest);
    this.oldest = undefined;
    const batch = this.waiting;
    this.waiting = [];
    const record = summaryRecord(batch.map((w) => w.rejected));
    if (record === undefined) return;
    this.audit.record([record]).then(
      () => {
        for (const w of batch) w.resolve();
      },
      (e: unknown) => {
        for (const w of batch) w.reject(e);
      },
    );
  }
}
