import type { Config } from '../config';
import { latestVersion, planRollout, ringOf, type Ring, type ServerPlan } from '../domain/plan';
import { resourceNameOf } from '../domain/resourceId';
import { rotationInstanceId } from '../rotation/ids';
import { preflightKeyVersion, type PreflightResult } from '../domain/preflight';
import type { AuditTrail } from '../ports/auditTrail';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import { discoverServersReferencingKey, type ServerFleet } from '../ports/serverFleet';
import { operatorTarget, readOperatorKey } from './operator';

export interface PlanPreviewDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly audit: AuditTrail;
}

/** A server of the preview: the plan's decisions per slot, its ring, and the exact PATCH body. */
export interface PreviewServer extends ServerPlan {
  readonly ring: Ring;
  readonly state: string | undefined;
}

/** What a rotation of the key would do now. Nothing is written: reads only, and one audit record. */
export interface PlanPreview {
  readonly dryRun: true;
  readonly instanceId: string;
  readonly vault: string;
  readonly key: string;
  /** The newest version (the rollout's target), or undefined for a key without versions. */
  readonly targetVersion: string | undefined;
  readonly targetKid: string | undefined;
  /** The target's preflight: a rotation PATCHes nothing when it fails. */
  readonly preflight: PreflightResult | undefined;
  readonly servers: readonly PreviewServer[];
  /** Servers discovery found that cannot be planned (the rotation skips and pages them). */
  readonly unplannable: readonly {
    readonly serverId: string;
    readonly serverName: string;
    readonly reason: string;
  }[];
  readonly summary: {
    readonly update: number;
    readonly verify: number;
    readonly skip: number;
    readonly unplannable: number;
    readonly canary: number;
  };
}

/**
 * The plan a rotation of this key would follow now, per server and slot, with the decisions, their
 * reasons and the exact PATCH bodies: the same discovery and the same pure `planRollout` the
 * rotation's `planRollout` step uses (one server at a time, so one bad server does not hide the
 * others). Audited as `PlanPreviewed`; changes nothing.
 */
export async function previewPlan(
  deps: PlanPreviewDeps,
  vault: string,
  keyName: string,
  caller: string,
  now: Date,
): Promise<PlanPreview> {
  const { config } = deps;
  const target = operatorTarget(config, vault, keyName);
  const instanceId = rotationInstanceId(target.vaultUrl, target.keyName);
  const key = await readOperatorKey(deps.keys, target);
  const latest = latestVersion(key);
  const found = await discoverServersReferencingKey(deps.fleet, {
    vaultUrl: target.vaultUrl,
    keyName: target.keyName,
  });
  const servers: PreviewServer[] = [];
  const unplannable: { serverId: string; serverName: string; reason: string }[] = found.invalid.map((r) => ({
    serverId: r.id ?? 'unknown',
    serverName: r.name ?? (r.id !== undefined ? resourceNameOf(r.id) : undefined) ?? 'unknown',
    reason: `discovery returned a row that is not a usable server: ${r.reason}`,
  }));
  let preflight: PreflightResult | undefined;
  if (latest !== undefined) {
    const version = await deps.keys.readKeyVersion(key.vaultUrl, key.name, latest.version);
    preflight = preflightKeyVersion(version, {
      now: now.toISOString(),
      minLifetimeDays: config.minKeyLifetimeDays,
    });
    for (const server of found.servers) {
      try {
        const plan = planRollout({
          key,
          targetVersion: latest.version,
          servers: [server],
          optOutTag: config.optOutTag,
          holdTag: config.holdTag,
        });
        for (const p of plan.servers)
          servers.push({
            ...p,
            ring: ringOf(server, config.canaryTag),
            state: server.state,
          });
      } catch (e) {
        unplannable.push({
          serverId: server.id,
          serverName: server.name,
          reason: e instanceof Error ? e.message : String(e),
        });
      }
    }
  }
  const count = (a: ServerPlan['action']) => servers.filter((s) => s.action === a).length;
  const summary = {
    update: count('update'),
    verify: count('verify'),
    skip: count('skip'),
    unplannable: unplannable.length,
    canary: servers.filter((s) => s.ring === 'canary').length,
  };
  await deps.audit.record([
    {
      step: 'PlanPreviewed',
      correlationId: instanceId,
      trigger: `operator:${caller}`,
      outcome: 'info',
      vault: target.vaultName,
      key: target.keyName,
      toVersion: latest?.version,
      reason: `dry run: ${summary.update} to update, ${summary.verify} to verify, ${summary.skip} skipped, ${summary.unplannable} unplannable${preflight !== undefined && !preflight.passed ? `; preflight fails: ${preflight.summary}` : ''}`,
    },
  ]);
  return {
    dryRun: true,
    instanceId,
    vault: target.vaultName,
    key: target.keyName,
    targetVersion: latest?.version,
    targetKid: latest?.kid,
    preflight,
    servers,
    unplannable,
    summary,
  };
}
