import type { AuditRecord } from '../domain/audit';
import type { AuditTrail } from '../ports/auditTrail';

/**
 * One audit write for identical duplicate records in flight at the same time (one per app, like the
 * rejection summariser). Event Grid redelivers an event many times, often several deliveries at once;
 * each is judged a duplicate and gets the same `EventReceived` record (same event id, instance,
 * version, outcome, reason and details: the same `auditId`, which the README's queries fold into one
 * anyway). A record identical to one whose write is still under way joins that write instead of
 * sending a copy: the delivery is acknowledged only once ingestion accepted that record, and fails
 * with it when it was refused (Event Grid redelivers). Nothing is remembered once the write settled:
 * a later redelivery sends its record again. Only duplicates go through here; a start or a signal is
 * recorded on its own.
 */
export class DuplicateRecords {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly audit: AuditTrail) {}

  record(record: AuditRecord): Promise<void> {
    // Built by the same code for every delivery: the same facts serialise the same way.
    const key = JSON.stringify(record);
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const write = this.audit.record([record]).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, write);
    return write;
  }
}
