import { createHash } from 'node:crypto';
import type { Slot } from './model';

/** Every audit event name starts with this, so one KQL filter finds the whole trail. */
export const AUDIT_PREFIX = 'CmkRotation.';

export const AUDIT_STEPS = [
  'EventReceived',
  'EventRejected',
  /** The rotation's target version failed preflight: nothing was rolled out. */
  'PreflightFailed',
  /** The run could not read the key (refused, vault unreachable, no versions): nothing was checked or rolled out. */
  'KeyUnreadable',
  'PlanComputed',
  'PlanPreviewed',
  'ServerUpdateStarted',
  'ServerUpdateRetried',
  'ServerVerified',
  'ServerFailed',
  'ServerSkipped',
  'KeyRotated',
  'NearExpiryNotified',
  'KeyExpired',
  'OperatorPaged',
  'PageFailed',
  'PageResolved',
  'RotationCompleted',
  'SweepCompleted',
  'PagerChannelDisabled',
  'AuditUndelivered',
  /** One per server per sweep: its posture (risk, versions, expiry countdown); see shared/triggers/posture.ts. */
  'PostureSnapshot',
  /** One per health watch pass (trigger `health:<time>`): servers unhealthy, incidents opened and resolved. */
  'HealthChecked',
  /** An operator API request refused (query parameter, vault, key name, key not found, retry refused). */
  'OperatorRequestRefused',
] as const;
export type AuditStep = (typeof AUDIT_STEPS)[number];

export type AuditOutcome = 'success' | 'failure' | 'skipped' | 'info';

/** One step of a rotation, as the audit trail keeps it. Identifiers only: never key material or secrets. */
export interface AuditRecord {
  readonly step: AuditStep;
  /** The orchestration instance id (or the intake invocation for events that started nothing). */
  readonly correlationId: string;
  /** What started it: `event:<id>`, `sweep:<time>` or `operator:<who>`. */
  readonly trigger: string;
  readonly outcome: AuditOutcome;
  readonly vault?: string;
  readonly key?: string;
  readonly fromVersion?: string;
  readonly toVersion?: string;
  readonly serverId?: string;
  readonly subscriptionId?: string;
  readonly slot?: Slot;
  /** Stable machine code (Azure error code, preflight check name, rejection code). */
  readonly reasonCode?: string;
  /** Words for people. */
  readonly reason?: string;
  readonly durationMs?: number;
  /** Further facts (e.g. the last-known-good dataEncryption snapshot as JSON). */
  readonly details?: Readonly<Record<string, string>>;
}

/**
 * A deterministic id: the same step of the same rotation for the same server and slot always gets the
 * same id, so records written twice by a retried activity collapse with `summarize arg_max(...) by auditId`.
 */
export function auditId(r: AuditRecord): string {
  const parts = [
    r.correlationId,
    r.step,
    r.trigger,
    r.serverId ?? '',
    r.slot ?? '',
    r.fromVersion ?? '',
    r.toVersion ?? '',
    r.outcome,
    r.reasonCode ?? '',
  ];
  // Retries of one step are distinct records (each attempt is its own fact), the same attempt twice is
  // not; a refused write and a failed step are counted apart (both are attempts of `updateServer`), and
  // so are the attempts of a step called again on a later pass (`call`: its attempts restart at 1).
  const attempt = r.details?.['attempt'];
  if (r.step === 'ServerUpdateRetried' && attempt !== undefined) {
    const call = r.details?.['call'];
    parts.push(
      `${r.details?.['step'] ?? ''}#${attempt}${r.details?.['what'] === 'writeRefused' ? '#writeRefused' : ''}${call !== undefined ? `#call${call}` : ''}`,
    );
  }
  return createHash('sha256').update(parts.join('|').toLowerCase()).digest('hex').slice(0, 32);
}

/** The Application Insights custom event for a record: name under the prefix, string properties, measurements. */
export function toCustomEvent(r: AuditRecord): {
  name: string;
  properties: Record<string, string>;
  measurements: Record<string, number>;
} {
  const properties: Record<string, string> = {
    auditId: auditId(r),
    correlationId: r.correlationId,
    trigger: r.trigger,
    outcome: r.outcome,
  };
  const optional: [string, string | undefined][] = [
    ['vault', r.vault],
    ['key', r.key],
    ['fromVersion', r.fromVersion],
    ['toVersion', r.toVersion],
    ['serverId', r.serverId],
    ['subscriptionId', r.subscriptionId],
    ['slot', r.slot],
    ['reasonCode', r.reasonCode],
    ['reason', r.reason],
  ];
  for (const [k, v] of optional) if (v !== undefined) properties[k] = v;
  for (const [k, v] of Object.entries(r.details ?? {})) properties[`detail.${k}`] = v;
  return {
    name: `${AUDIT_PREFIX}${r.step}`,
    properties,
    measurements: r.durationMs !== undefined ? { durationMs: r.durationMs } : {},
  };
}
