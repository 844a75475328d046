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
import { describeFailure } from '../ports/errors';
import type { FleetHealth } from '../ports/fleetHealth';
import { readPosture, type PostureDeps } from '../triggers/posture';

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
        invalid: found.invalid.map((r) => `${r.id ?? r.name ?? '?'} (${r.reason})`.slice(0, 300)),
      };
    },
  };
}
