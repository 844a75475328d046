import { diagnose } from '../domain/diagnosis';
import { causesOf } from '../domain/healthWatch';
import type { Severity } from '../domain/incident';
import { runbookSection, RUNBOOK_SECTIONS } from '../domain/incidentLinks';
import { rotationOutcomesOf } from '../rotation/outcomes';
import type { PostureReport } from '../domain/posture';
import { resourceNameOf } from '../domain/resourceId';
import type { ListedInstance } from '../ports/rotations';
import type { HealthWatchState } from './healthWatch';
import { openIncidentsOf } from './rotationRequests';

/**
 * What the status page puts on a server's row besides its risk: the open incident (from the health
 * watch, else from the key's last rotation) with its severity, age and next step, the cause the posture
 * checks see, and the runbook section for it.
 */
export interface RowIncident {
  readonly source: 'health watch' | 'rotation';
  readonly dedupKey: string;
  readonly severity: Severity;
  /** When it was opened (health watch) or last paged (the rotation's end); undefined when unknown. */
  readonly since: string | undefined;
  readonly nextStep: string;
  /** The runbook section (docs/runbook.md anchor) for its class. */
  readonly runbook: string;
  /** The cause as the page names it (health watch), when known. */
  readonly cause?: string | undefined;
  readonly serverId?: string | undefined;
  readonly serverName?: string | undefined;
  readonly kind: string;
  readonly rotation?: string | undefined;
  readonly version?: string | undefined;
}

/** Open incidents by lower-case server id (health watch first), and those of no server. */
export function openIncidents(
  health: HealthWatchState | undefined,
  ended: readonly ListedInstance[],
): RowIncident[] {
  const out: RowIncident[] = [];
  if (health?.ran === true)
    for (const h of health.open)
      out.push({
        source: 'health watch',
        dedupKey: h.dedupKey,
        severity: h.severity,
        since: h.since,
        nextStep: h.nextStep,
        runbook: RUNBOOK_SECTIONS.health,
        cause: h.causes.map((c) => c.what).join('; '),
        serverId: h.serverId,
        serverName: h.serverName,
        kind: 'health',
      });
  for (const info of ended) {
    const { servers } = rotationOutcomesOf(info.output);
    const [, vault = '?', key = '?'] = /^cmk-rotation:([^:]+):([^:]+)$/.exec(info.instanceId) ?? [];
    const completedAt = (info.output as { completedAt?: unknown } | undefined)?.completedAt;
    for (const i of openIncidentsOf(info)) {
      const s = servers.find((x) => x.serverId.toLowerCase() === i.serverId?.toLowerCase());
      const code = s?.reasonCode ?? (i.kind === 'expiry' ? 'KeyExpired' : 'unknown');
      const serverName = i.serverId !== undefined ? resourceNameOf(i.serverId) : undefined;
      out.push({
        source: 'rotation',
        dedupKey: i.dedupKey,
        severity: code === 'ServerInaccessible' || i.dedupKey.endsWith(':critical') ? 'critical' : 'error',
        since: typeof completedAt === 'string' ? completedAt : info.lastUpdatedTime,
        nextStep:
          i.kind === 'server'
            ? diagnose(code, { vaultName: vault, keyName: key, serverName, fromVersion: undefined }).nextStep
            : `See the page for ${i.kind} (dedup key ${i.dedupKey}) and the runbook.`,
        runbook: runbookSection({ dedupKey: i.dedupKey, facts: { reasonCode: code } }),
        serverId: i.serverId,
        serverName,
        kind: i.kind,
        rotation: info.instanceId,
        version: i.version,
      });
    }
  }
  return out;
}

/** The cause the posture rules see for one server slot (the same rules the health watch pages with). */
export function postureCause(
  report: PostureReport | undefined,
  serverId: string,
  slot: string,
): string | undefined {
  const server = report?.servers.find((s) => s.serverId.toLowerCase() === serverId.toLowerCase());
  if (server === undefined) return undefined;
  const causes = causesOf(server, report?.vaults ?? [], undefined).filter((c) => c.slot === slot);
  if (causes.length > 0) return causes.map((c) => c.what).join('; ');
  const reasons = server.slots.find((s) => s.slot === slot)?.reasons ?? [];
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}
