import {
  causesOf,
  isUnhealthy,
  serverHealthOf,
  undetermined,
  type CheckFleetHealthInput,
  type CheckFleetHealthOutput,
  type HealthCause,
} from '../domain/healthWatch';
import { holdOf, isOptedOut } from '../domain/plan';
import type { PostureReport } from '../domain/posture';
import { describeFailure } from '../domain/diagnosis';
import { NotFoundError } from '../ports/errors';
import type { FleetHealth } from '../ports/fleetHealth';
import { readPosture, type PostureDeps } from '../triggers/posture';

/** ARM GETs per pass for watched servers the query no longer returns (the others wait for the next pass). */
export const MISSING_CHECKS_PER_PASS = 20;

export interface HealthActivityDeps extends PostureDeps {
  readonly fleetHealth: FleetHealth;
  readonly now: () => Date;
}

/**
 * The health watch's one activity: one fleet query, then the causes of the servers newly found
 * unhealthy (one posture read for all of them, only when there are any). Never throws: a failed query is
 * a tagged answer (the next tick tries again), and one server's diagnosis failing leaves its cause
 * "not determined" while the others keep theirs.
 */
export function createHealthActivities(deps: HealthActivityDeps): {
  checkFleetHealth(input: CheckFleetHealthInput): Promise<CheckFleetHealthOutput>;
} {
  const { config } = deps;
  return {
    async checkFleetHealth(input) {
      let found;
      try {
        found = await deps.fleetHealth.findUnhealthyServers(input.watch);
      } catch (e) {
        return {
          ok: false,
          code: describeFailure(e),
          message: e instanceof Error ? e.message.slice(0, 500) : String(e),
        };
      }
      const watched = new Set(input.watch.map((w) => w.toLowerCase()));
      const servers = found.servers.map((s) =>
        serverHealthOf(
          s,
          isOptedOut(s, config.optOutTag)
            ? 'optedOut'
            : holdOf(s, config.holdTag) !== undefined
              ? 'held'
              : undefined,
        ),
      );
      const fresh = servers.filter((s) => isUnhealthy(s) && !watched.has(s.serverId.toLowerCase()));
      const causes: Record<string, readonly HealthCause[]> = {};
      if (fresh.length > 0) {
        // The posture is read without the rotations' status: causes never depend on past runs.
        let report: PostureReport | undefined;
        let why = '';
        try {
          report = await readPosture({ status: () => Promise.resolve(undefined) }, deps, deps.now());
        } catch (e) {
          why = `the posture could not be read: ${describeFailure(e)}`;
        }
        for (const s of fresh) {
          const id = s.serverId.toLowerCase();
          try {
            const posture = report?.servers.find((p) => p.serverId.toLowerCase() === id);
            causes[id] =
              posture === undefined
                ? [undetermined(why !== '' ? why : 'the server is not in the posture report')]
                : causesOf(posture, report?.vaults ?? [], s);
          } catch (e) {
            causes[id] = [undetermined(`diagnosis failed: ${describeFailure(e)}`)];
          }
        }
      }
      return {
        ok: true,
        servers,
        causes,
        deleted: await deletedOf(deps, input.watch, servers, found.invalid),
        invalid: found.invalid.map((r) => `${r.id ?? r.name ?? '?'} (${r.reason})`.slice(0, 300)),
      };
    },
  };
}

/**
 * The watched servers that no longer exist: not returned by the query (nor among its unreadable rows)
 * and ARM's GET of the server answers 404 (the server, its resource group: `ResourceNotFound`,
 * `ResourceGroupNotFound`). A query can miss a server that exists (Resource Graph lags ARM, a
 * subscription dropped from scope), so absence alone resolves nothing; `SubscriptionNotFound` (a
 * subscription this identity no longer sees) neither. Any other answer keeps the incident open.
 */
async function deletedOf(
  deps: HealthActivityDeps,
  watch: readonly string[],
  servers: readonly { readonly serverId: string }[],
  invalid: readonly { readonly id?: string | undefined }[],
): Promise<string[]> {
  const seen = new Set([
    ...servers.map((s) => s.serverId.toLowerCase()),
    ...invalid.flatMap((r) => (r.id !== undefined ? [r.id.toLowerCase()] : [])),
  ]);
  const missing = [...new Set(watch.map((w) => w.toLowerCase()))]
    .filter((w) => !seen.has(w))
    .slice(0, MISSING_CHECKS_PER_PASS);
  const deleted: string[] = [];
  for (const id of missing) {
    try {
      await deps.fleet.getServer(watch.find((w) => w.toLowerCase() === id) ?? id);
    } catch (e) {
      if (e instanceof NotFoundError && e.azureCode !== 'SubscriptionNotFound') deleted.push(id);
    }
  }
  return deleted;
}
