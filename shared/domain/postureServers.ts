/** Posture rules for a server's own state: its rollout ring and its keys' last rotations. */
import type { ServerSnapshot } from './model';
import { isOptedOut, ringOf } from './plan';
import type { LastRotation, RolloutPlace } from './posture';

/** Opted out, else its ring: the rollout's own rule and names (`ringOf`, shared/domain/plan.ts). */
export function rolloutPlaceOf(server: ServerSnapshot, canaryTag: string, optOutTag: string): RolloutPlace {
  return isOptedOut(server, optOutTag) ? 'optedOut' : ringOf(server, canaryTag);
}

/** The last rotation of a key as it concerns one server, from the durable instance's output. */
export function lastRotationFor(
  serverId: string,
  last: { readonly instanceId: string; readonly output: unknown; readonly runtimeStatus: string },
): LastRotation {
  const out =
    typeof last.output === 'object' && last.output !== null ? (last.output as Record<string, unknown>) : {};
  const status = typeof out['status'] === 'string' ? out['status'] : last.runtimeStatus;
  const servers = Array.isArray(out['servers']) ? (out['servers'] as Record<string, unknown>[]) : [];
  const mine = servers.find(
    (s) => typeof s['serverId'] === 'string' && s['serverId'].toLowerCase() === serverId.toLowerCase(),
  );
  // An output of version 2 or later lists only the servers that needed attention: one it does not list
  // was updated, verified or skipped by the plan, and only the audit trail says which.
  const listsOnlyAttention = typeof out['outputVersion'] === 'number' && out['outputVersion'] >= 2;
  const outcome =
    typeof mine?.['outcome'] === 'string' ? mine['outcome'] : listsOnlyAttention ? 'notListed' : status;
  return {
    outcome,
    at: typeof out['completedAt'] === 'string' ? out['completedAt'] : undefined,
    runStatus: last.runtimeStatus === 'Completed' ? status : last.runtimeStatus,
    targetVersion: typeof out['targetVersion'] === 'string' ? out['targetVersion'] : undefined,
    instanceId: last.instanceId,
    ...(typeof mine?.['reason'] === 'string'
      ? { reason: mine['reason'] }
      : outcome === 'notListed'
        ? {
            reason:
              'not among the servers that needed attention: updated, verified or skipped by the plan (its ServerVerified or ServerSkipped audit record says which)',
          }
        : {}),
    source: 'durableInstance',
  };
}
