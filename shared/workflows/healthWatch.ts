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
import type { PageOperatorOutput, StepResult } from '../rotation/activityIo';
import { callStep, log, recordAudit, settledSteps } from './activityCalls';

/**
 * One pass of the health watch (started by the `healthWatch` timer under one instance id, so a
 * redelivered tick never runs a second pass beside it):
 *   1 one fleet query (unhealthy servers, and the ones with an open incident whatever their state),
 *     with the causes of the newly unhealthy ones
 *   2 one page per newly unhealthy server, all at once, each answered on its own (one crashed page
 *     activity never changes another's record); a page counts only once a channel accepted it (else
 *     the server is not recorded as paged and the next tick pages it again)
 *   3 resolve the incidents whose server reads Ready with every key status Valid, or that ARM says no
 *     longer exists, and only those; an incident leaves `open` only once the pager accepted the
 *     resolve (else it stays open, `resolving`, and the next pass resolves it again)
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
  const deleted = new Set((found.deleted ?? []).map((d) => d.toLowerCase()));
  const stillOpen: HealthIncident[] = [];
  const ending: { readonly incident: HealthIncident; readonly why: 'recovered' | 'deleted' }[] = [];
  for (const o of open) {
    const s = byId.get(o.serverId.toLowerCase());
    if (deleted.has(o.serverId.toLowerCase())) ending.push({ incident: o, why: 'deleted' });
    else if (s !== undefined && isRecovered(s)) ending.push({ incident: o, why: 'recovered' });
    // Unhealthy again while a resolve was refused: the pager's incident is still open, and it is this one.
    else if (s !== undefined && o.resolving === true && isUnhealthy(s)) stillOpen.push(withoutResolving(o));
    else stillOpen.push(o);
  }
  const isOpen = new Set(open.map((o) => o.serverId.toLowerCase()));
  const unhealthy = found.servers.filter(isUnhealthy);
  const fresh = unhealthy
    .filter((s) => !isOpen.has(s.serverId.toLowerCase()))
    .map((s) => healthIncident(s, found.causes[s.serverId.toLowerCase()] ?? [], now, correlationId));

  // 2. Pages, all at once: one slow, refused or crashed page never holds another back or takes its answer.
  const answers = yield* settledSteps(
    context,
    'pageOperator',
    fresh.map((f) => ({ incident: f.incident })),
  );
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

  // 3. Resolve what recovered or no longer exists (each with its own words). An incident counts as
  // resolved only once the pager accepted the resolve; otherwise it stays open and is resolved again
  // next pass (the dedup key is fixed per server: a stale incident would swallow the next outage).
  let resolved = 0;
  for (const { incident: r, why } of ending) {
    const answer = yield* callStep(context, 'resolvePages', {
      dedupKeys: [r.dedupKey],
      summary:
        why === 'deleted'
          ? `${r.serverName} no longer exists (server deleted)`
          : `${r.serverName} is Ready with a Valid key again`,
      audit: {
        ...base,
        step: 'PageResolved',
        outcome: 'success',
        serverId: r.serverId,
        subscriptionId: r.subscriptionId,
        ...(why === 'deleted' ? { reasonCode: 'ServerDeleted' } : {}),
      },
    });
    const accepted = answer.ok && answer.value.resolved.some((x) => x.dedupKey === r.dedupKey && x.accepted);
    if (accepted) {
      resolved++;
      continue;
    }
    stillOpen.push({ ...r, resolving: true });
    // The activity records each key's outcome itself; one that failed without an answer recorded nothing.
    if (!answer.ok)
      records.push({
        ...base,
        step: 'PageResolved',
        outcome: 'failure',
        serverId: r.serverId,
        subscriptionId: r.subscriptionId,
        reasonCode: answer.error.code,
        reason: `resolve not confirmed (${answer.error.message.slice(0, 300)}); the next pass resolves it again`,
        details: { dedupKey: r.dedupKey },
      });
  }
  const resolving = stillOpen.filter((o) => o.resolving === true).length;

  records.push({
    ...base,
    step: 'HealthChecked',
    outcome: unhealthy.length > 0 ? 'failure' : 'success',
    reason: `${unhealthy.length} unhealthy server(s); ${opened.length} incident(s) opened, ${resolved} resolved, ${stillOpen.length + opened.length} open`,
    details: {
      unhealthy: String(unhealthy.length),
      opened: String(opened.length),
      resolved: String(resolved),
      open: String(stillOpen.length + opened.length),
      ...(resolving > 0 ? { resolving: String(resolving) } : {}),
      ...(deleted.size > 0 ? { deleted: String(ending.filter((e) => e.why === 'deleted').length) } : {}),
      ...(found.invalid.length > 0 ? { invalidRows: found.invalid.join('; ').slice(0, 1000) } : {}),
    },
  });
  yield* recordAudit(context, records);
  return ended({
    open: [...stillOpen, ...opened],
    unhealthy: unhealthy.length,
    opened: opened.length,
    resolved,
  });
}

function withoutResolving(o: HealthIncident): HealthIncident {
  const { resolving: _resolving, ...rest } = o;
  return rest;
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
