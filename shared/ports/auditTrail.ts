import type { AuditRecord } from '../domain/audit';

/** Where the audit trail goes (Application Insights). `record` resolves once the records are sent. */
export interface AuditTrail {
  record(records: readonly AuditRecord[]): Promise<void>;
}
