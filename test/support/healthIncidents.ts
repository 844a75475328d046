import type { HealthIncident } from '../../shared/domain/healthWatch';

/** A complete health-watch incident as a pass carries it to the next (every field the contract requires). */
export const healthIncident = (overrides: Partial<HealthIncident> = {}): HealthIncident => ({
  dedupKey: 'cmk-health:pg-a:0123456789ab',
  serverId: '/subscriptions/s/x/pg-a',
  serverName: 'pg-a',
  subscriptionId: 's',
  since: '2026-12-04T10:00:00.000Z',
  severity: 'critical',
  causes: [{ code: 'Undetermined', slot: undefined, what: 'x' }],
  summary: 's',
  nextStep: 'n',
  paged: true,
  ...overrides,
});
