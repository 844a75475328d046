import type { Config, PagerChannelState } from '../config';
import type { AuditRecord } from '../domain/audit';
import type { AuditTrail } from '../ports/auditTrail';

/** What `GET /api/health` answers: whether the app runs degraded, and why (no secrets, no values). */
export interface HealthReport {
  /** `degraded` when a configured pager channel is disabled or no pager is usable. */
  readonly status: 'ok' | 'degraded';
  readonly pagerChannels: readonly PagerChannelState[];
  readonly callerAttribution: Config['callerAttribution'];
  readonly allowedVaults: readonly string[];
  readonly warnings: readonly string[];
}

export function healthReport(config: Config): HealthReport {
  const disabled = config.pagerChannels.some((c) => c.state === 'disabled');
  const none = !config.pagerChannels.some((c) => c.state === 'enabled');
  return {
    status: disabled || none ? 'degraded' : 'ok',
    pagerChannels: config.pagerChannels,
    callerAttribution: config.callerAttribution,
    allowedVaults: config.allowedVaults.map((v) => v.vaultUrl),
    warnings: config.warnings,
  };
}

/**
 * The audit records of a start: one `PagerChannelDisabled` per channel whose setting cannot be used, so
 * the trail (and an alert on it) shows that pages will not reach that channel.
 */
export function startupAuditRecords(config: Config, startedAt: string): AuditRecord[] {
  return config.pagerChannels
    .filter((c) => c.state === 'disabled')
    .map((c) => ({
      step: 'PagerChannelDisabled' as const,
      correlationId: `startup:${startedAt}`,
      trigger: `startup:${startedAt}`,
      outcome: 'failure' as const,
      reasonCode: 'PagerSettingUnusable',
      reason: c.reason ?? 'unusable setting',
      details: { channel: c.channel },
    }));
}

/** Records the startup findings; resolves whether or not the trail accepted them (they are also logged). */
export async function auditStartup(
  config: Config,
  audit: AuditTrail,
  startedAt: string,
  log: (message: string) => void,
): Promise<void> {
  const records = startupAuditRecords(config, startedAt);
  if (records.length === 0) return;
  try {
    await audit.record(records);
  } catch (e) {
    log(`startup audit records were not accepted: ${e instanceof Error ? e.message : String(e)}`);
  }
}
