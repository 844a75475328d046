/** Posture rules for a server's own state: its rollout ring and its keys' last rotations. */
import type { ServerSnapshot } from './model';
import { hasTag, isOptedOut } from './plan';
import type { LastRotation, Ring } from './posture';

/** Canary ring or opted out, by the configured tags (the same tags and values the rollout reads). */
export function ringOf(server: ServerSnapshot, canaryTag: string, optOutTag: string): Ring {
  if (isOptedOut(server, optOutTag)) return 'optedOut';
  // Ring "0" of the canary tag goes first: the rule the rollout applies (shared/activities, isCanary).
  return hasTag(server.tags, canaryTag)?.trim() === '0' ? 'canary' : 'default';
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
