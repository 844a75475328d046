import { TelemetryClient } from 'applicationinsights';
import { toCustomEvent, type AuditRecord } from '../domain/audit';
import type { AuditTrail } from '../ports/auditTrail';

/**
 * The audit trail as Application Insights custom events, sent with the `applicationinsights` SDK.
 * `record` flushes before it resolves: an activity reports success only for records on their way to
 * the ingestion endpoint. Event telemetry is excluded from sampling in host.json.
 */
export class ApplicationInsightsAuditTrail implements AuditTrail {
  private readonly client: TelemetryClient;

  constructor(connectionString: string) {
    this.client = new TelemetryClient(connectionString);
  }

  async record(records: readonly AuditRecord[]): Promise<void> {
    for (const r of records) this.client.trackEvent(toCustomEvent(r));
    await this.client.flush();
  }

  /** Flushes and stops the SDK's exporters (process shutdown, tests). */
  shutdown(): Promise<void> {
    return this.client.shutdown();
  }
}
