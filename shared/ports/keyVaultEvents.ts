import type { EventParseResult } from '../domain/events';

/**
 * Reads Key Vault events as Event Grid delivers them (Event Grid or CloudEvents 1.0 schema). Neither
 * method throws: whatever cannot be read becomes a typed rejection.
 */
export interface KeyVaultEventReader {
  /** One event, as the Functions host hands it to an Event Grid trigger (the host splits batches). */
  readEvent(raw: unknown): Promise<EventParseResult>;
  /**
   * A whole delivery body (JSON text or parsed): one event or a batch. One result per event, in
   * order; a body that is not a readable delivery becomes one rejection. For readers of stored
   * deliveries (a dead-letter replay) and tests.
   */
  readDelivery(body: unknown): Promise<EventParseResult[]>;
}
