import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import {
  HEALTH_WATCH_NAMES,
  HEALTH_WATCH_SCHEMA_VERSION,
  healthIncident,
  isRecovered,
  isUnhealthy,
  type CheckFleetHealthOutput,
  type HealthIncident,
  type HealthWatchInput,
  type HealthWatchOutput,
} from '../domain/healthWatch';
import type { Incident } from '../domain/incident';
import { ACTIVITY_NAMES, type PageOperatorOutput, type StepResult } from '../domain/steps';
import { callStep, log, recordAudit } from './steps';

/**
 * One pass of the health watch (started by the `healthWatch` timer under one instance id, so a
 * redelivered tick never runs a second pass beside it):
 *   1 one fleet query (unhealthy servers, and the ones with an open incident whatever their state),
 *     with the causes of the newly unhealthy ones
 *   2 one page per newly unhealthy server, all at once; a page counts only once a channel accepted it
 *     (else the server is not recorded as paged and the next tick pages it again)
 *   3 resolve the incidents whose server reads Ready with every key status Valid, and only those
 *   4 one `HealthChecked` audit record; the output carries the open incidents to the next pass
 * A fleet read that fails carries the open incidents over unchanged: nothing is resolved unread.
 */
export function* healthWatchOrchestrator(
  context: OrchestrationContext,
): Generator<Task, HealthWatchOutput, unknown> {
  const input = context.df.getInput<HealthWatchInput>();
  const now = context.df.currentUtcDateTime.toISOString();
  const correlationId = context.df.instanceId;
  const open: readonly HealthIncident[] = Array.isArray(input.open) ? input.open : [];
  const base = { correlationId, trigger: input.trigger };
  const ended = (o: Omit<HealthWatchOutput, 'schemaVersion' | 'checkedAt'>): HealthWatchOutput => ({
    schemaVersion: HEALTH_WATCH_SCHEMA_VERSION,
    checkedAt: now,
    ...o,
  });

  let found: CheckFleetHealthOutput;
  try {
    found = (yield context.df.callActivity(HEALTH_WATCH_NAMES.activity, {
      watch: open.map((o) => o.serverId),
    })) as CheckFleetHealthOutput;
  } catch (e) {
    found = { ok: false, code: 'ActivityFailed', message: e instanceof Error ? e.message : String(e) };
  }
  if (!found.ok) {
    log(context, `health watch: fleet not read (${found.code})`);
    yield* recordAudit(context, [
      { ...base, step: 'HealthChecked', outcome: 'failure', reasonCode: found.code, reason: found.message },
    ]);
    return ended({ open, unhealthy: 0, opened: 0, resolved: 0, error: `${found.code}: ${found.message}` });
  }

  const byId = new Map(found.servers.map((s) => [s.serverId.toLowerCase(), s]));
  const stillOpen: HealthIncident[] = [];
  const recovered: HealthIncident[] = [];
  for (const o of open) {
    const s = byId.get(o.serverId.toLowerCase());
    (s !== undefined && isRecovered(s) ? recovered : stillOpen).push(o);
  }
  const isOpen = new Set(open.map((o) => o.serverId.toLowerCase()));
  const unhealthy = found.servers.filter(isUnhealthy);
  const fresh = unhealthy
    .filter((s) => !isOpen.has(s.serverId.toLowerCase()))
    .map((s) => healthIncident(s, found.causes[s.serverId.toLowerCase()] ?? [], now, correlationId));

  // 2. Pages, all at once: one slow or refused page never holds another back.
  let answers: StepResult<PageOperatorOutput>[] = [];
  try {
    answers = (yield context.df.Task.all(
      fresh.map((f) => context.df.callActivity(ACTIVITY_NAMES.pageOperator, { incident: f.incident })),
    )) as StepResult<PageOperatorOutput>[];
  } catch (e) {
    log(context, `health watch: paging failed (${e instanceof Error ? e.message : String(e)})`);
  }
  const records: AuditRecord[] = [];
  const opened: HealthIncident[] = [];
  fresh.forEach((f, i) => {
    const a = answers[i];
    const noPager = a?.ok === true && a.value.channels.length === 0;
    const accepted = a?.ok === true && a.value.delivered;
    records.push(pageRecord(base, f.incident, f.record, a));
    // No pager configured: the audit trail holds the incident, kept open so it is not recorded again.
    if (accepted || noPager) opened.push({ ...f.record, paged: accepted });
  });

  // 3. Resolve what recovered (each with its own words).
  for (const r of recovered) {
    yield* callStep(context, 'resolvePages', {
      dedupKeys: [r.dedupKey],
      summary: `${r.serverName} is Ready with a Valid key again`,
      audit: {
        ...base,
        step: 'PageResolved',
        outcome: 'success',
        serverId: r.serverId,
        subscriptionId: r.subscriptionId,
      },
    });
  }

  records.push({
    ...base,
    step: 'HealthChecked',
    outcome: unhealthy.length > 0 ? 'failure' : 'success',
    reason: `${unhealthy.length} unhealthy server(s); ${opened.length} incident(s) opened, ${recovered.length} resolved, ${stillOpen.length + opened.length} open`,
    details: {
      unhealthy: String(unhealthy.length),
      opened: String(opened.length),
      resolved: String(recovered.length),
      open: String(stillOpen.length + opened.length),
      ...(found.invalid.length > 0 ? { invalidRows: found.invalid.join('; ').slice(0, 1000) } : {}),
    },
  });
  yield* recordAudit(context, records);
  return ended({
    open: [...stillOpen, ...opened],
    unhealthy: unhealthy.length,
    opened: opened.length,
    resolved: recovered.length,
  });
}

function pageRecord(
  base: { correlationId: string; trigger: string },
  incident: Incident,
  record: HealthIncident,
  answer: StepResult<PageOperatorOutput> | undefined,
): AuditRecord {
  const common = {
    ...base,
    serverId: record.serverId,
    subscriptionId: record.subscriptionId,
    details: {
      dedupKey: incident.dedupKey,
      severity: incident.severity,
      summary: incident.summary.slice(0, 1000),
      causes: record.causes.map((c) => c.code).join(','),
    },
  };
  if (answer?.ok === true && answer.value.delivered)
    return {
      ...common,
      step: 'OperatorPaged',
      outcome: 'info',
      reasonCode: record.causes.map((c) => c.code).join(','),
      reason: `paged via ${answer.value.channels
        .filter((c) => c.ok)
        .map((c) => c.channel)
        .join(', ')}`,
    };
  return {
    ...common,
    step: 'PageFailed',
    outcome: 'failure',
    reasonCode:
      answer === undefined
        ? 'ActivityFailed'
        : !answer.ok
          ? answer.error.code
          : answer.value.channels.length === 0
            ? 'NoPagerConfigured'
            : 'PagerUnavailable',
    reason:
      answer?.ok === true && answer.value.channels.length === 0
        ? 'no pager is configured; the incident is recorded here only'
        : 'no channel accepted the page; the next health watch pass pages again',
  };
}
