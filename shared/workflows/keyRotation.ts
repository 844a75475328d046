import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import type { Incident, Severity } from '../domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../domain/model';
import { FUNCTION_NAMES } from '../domain/names';
import { preflightKeyVersion } from '../domain/preflight';
import {
  daysLeft,
  expirySeverity,
  incidentKeys,
  type OpenIncident,
  type PlannedServer,
  type RotationInput,
  type RotationOutput,
  type RotationStatus,
  type ServerOutcome,
  type ServerRolloverInput,
  serverRolloverInstanceId,
} from '../domain/rotation';
import {
  ACTIVITY_NAMES,
  type PlanRolloutOutput,
  type ReadKeyOutput,
  type RotateKeyOutput,
} from '../domain/steps';
import { callStep, log, pageOperator, recordAudit } from './steps';

/**
 * The rotation of one key (instance id `rotationInstanceId(vault, key)`): read the key (events are
 * hints, Key Vault is the truth), handle expiry, preflight the newest version, plan, roll out canary
 * ring first with bounded parallelism (one sub-orchestration per server keeps this history to two
 * events a server), page what failed, resolve what a previous run paged and is now fixed, and before
 * finishing re-read the key: a newer version continues as new instead of racing a second instance.
 */
export function* keyRotationOrchestrator(
  context: OrchestrationContext,
): Generator<Task, RotationOutput, unknown> {
  const input = context.df.getInput<RotationInput>();
  const { settings } = input;
  const now = context.df.currentUtcDateTime.toISOString();
  const correlationId = context.df.instanceId;
  const record = (r: Omit<AuditRecord, 'correlationId' | 'trigger' | 'vault' | 'key'>): AuditRecord => ({
    correlationId,
    trigger: input.trigger,
    vault: input.vaultName,
    key: input.keyName,
    ...r,
  });
  const incidentBase = { since: now, correlationId };
  const opened: OpenIncident[] = [];
  const page = function* (
    incident: Incident,
    kind: OpenIncident['kind'],
    audit: AuditRecord,
    version?: string,
  ) {
    opened.push({ dedupKey: incident.dedupKey, kind, ...(version !== undefined ? { version } : {}) });
    yield* pageOperator(context, incident, audit);
  };
  const output = (
    o: Pick<RotationOutput, 'status' | 'targetVersion'> & Partial<RotationOutput>,
  ): RotationOutput => ({
    vaultName: input.vaultName,
    keyName: input.keyName,
    servers: [],
    openIncidents: mergeIncidents(input.openIncidents, opened),
    resolvedIncidents: [],
    ...o,
  });
  /** Ends a run that stopped before the rollout; incidents stay open (nothing proved them fixed). */
  const stop = function* (code: string, reason: string, target: string | undefined) {
    yield* recordAudit(context, [
      record({ step: 'RotationCompleted', outcome: 'failure', reasonCode: code, reason, toVersion: target }),
    ]);
    return output({ status: 'stopped', targetVersion: target, reasonCode: code });
  };
  const rotationIncident = (
    code: string,
    summary: string,
    nextStep: string,
    severity: Severity,
  ): Incident => ({
    ...incidentBase,
    dedupKey: incidentKeys.rotation(input.vaultName, input.keyName, code),
    summary,
    severity,
    source: `${input.vaultUrl}/keys/${input.keyName}`,
    deadline: undefined,
    nextStep,
    facts: { vault: input.vaultName, key: input.keyName, reasonCode: code },
  });

  log(context, `rotation of ${input.vaultName}/${input.keyName} (${input.reason}, ${input.trigger})`);

  // 1. The key, from Key Vault.
  const read = yield* callStep<ReadKeyOutput>(context, ACTIVITY_NAMES.readKey, {
    vaultUrl: input.vaultUrl,
    keyName: input.keyName,
  });
  if (!read.ok || read.latest === undefined) {
    const code = read.ok ? 'KeyHasNoVersions' : read.code;
    const message = read.ok ? 'the key lists no versions' : read.message;
    const audit = record({
      step: 'PreflightFailed',
      outcome: 'failure',
      reasonCode: code,
      reason: message,
    });
    yield* page(
      rotationIncident(
        'KeyUnreadable',
        `CMK rotation cannot read key ${input.keyName} in ${input.vaultName}: ${code}`,
        `Give the rotator's identity "Key Vault Reader" and "Key Vault Crypto User" (or get/list permissions) on ${input.vaultName}, and check the key exists.`,
        'error',
      ),
      'rotation',
      audit,
    );
    return yield* stop(code, message, undefined);
  }
  const key = read.key;
  const latest = read.latest;

  // 2. Who uses it, and what each server needs.
  const plan = yield* callStep<PlanRolloutOutput>(context, ACTIVITY_NAMES.planRollout, {
    key,
    targetVersion: latest.version,
    optOutTag: settings.optOutTag,
    canaryTag: settings.canaryTag,
  });
  if (!plan.ok) {
    const audit = record({
      step: 'PlanComputed',
      outcome: 'failure',
      reasonCode: plan.code,
      reason: plan.message,
    });
    yield* page(
      rotationIncident(
        'DiscoveryFailed',
        `CMK rotation of ${input.keyName} cannot list the servers that use it: ${plan.code}`,
        `Give the rotator's identity Reader (or the rotator's custom role) on the configured subscriptions.`,
        'error',
      ),
      'rotation',
      audit,
    );
    return yield* stop(plan.code, plan.message, latest.version);
  }
  yield* recordAudit(context, [
    record({
      step: 'PlanComputed',
      outcome: 'info',
      toVersion: latest.version,
      reason: summarizePlan(plan.servers),
      details: { discovered: String(plan.discovered), planned: String(plan.servers.length) },
    }),
  ]);

  // 3. The newest version itself expiring: rotate (opt-in) or page with the servers at risk.
  const latestDays = daysLeft(latest.expiresOn, now);
  const latestSeverity = expirySeverity(latestDays, settings.nearExpiry);
  let expiryPaged = false;
  if (latestSeverity !== undefined) {
    if (settings.autoRotateOnNearExpiry && input.autoRotatedFrom !== latest.version) {
      const rotated = yield* callStep<RotateKeyOutput>(context, ACTIVITY_NAMES.rotateKey, {
        vaultUrl: input.vaultUrl,
        keyName: input.keyName,
      });
      if (rotated.ok) {
        yield* recordAudit(context, [
          record({
            step: 'KeyRotated',
            outcome: 'success',
            fromVersion: latest.version,
            toVersion: rotated.version.version,
            reason: `version ${latest.version} expires in ${latestDays ?? '?'} days; rotated per the key's rotation policy`,
          }),
        ]);
        log(context, `rotated ${input.keyName}: ${latest.version} -> ${rotated.version.version}`);
        context.df.continueAsNew({
          ...input,
          generation: input.generation + 1,
          autoRotatedFrom: latest.version,
          hintVersion: rotated.version.version,
          openIncidents: mergeIncidents(input.openIncidents, opened),
        } satisfies RotationInput);
        return output({
          status: 'completed',
          targetVersion: rotated.version.version,
          reasonCode: 'KeyRotated',
        });
      }
      yield* page(
        rotationIncident(
          'RotateFailed',
          `CMK rotation could not rotate ${input.keyName} in ${input.vaultName}: ${rotated.code}`,
          `Give the rotator "Key Vault Crypto Officer" on ${input.vaultName}, or rotate the key by hand.`,
          latestSeverity,
        ),
        'rotation',
        record({ step: 'KeyRotated', outcome: 'failure', reasonCode: rotated.code, reason: rotated.message }),
      );
    }
    const atRisk = plan.servers.filter((s) =>
      s.slots.some((slot) => slot.version === undefined || slot.version === latest.version.toLowerCase()),
    );
    const expired = latestDays !== undefined && latestDays < 0;
    yield* page(
      expiryIncident(input, latest, latestDays, latestSeverity, atRisk, incidentBase),
      'expiry',
      record({
        step: expired ? 'KeyExpired' : 'NearExpiryNotified',
        outcome: 'failure',
        fromVersion: latest.version,
        reasonCode: expired ? 'KeyExpired' : 'KeyNearExpiry',
        reason: `${atRisk.length} server(s) on a version that expires ${latest.expiresOn ?? ''}`,
      }),
      latest.version,
    );
    expiryPaged = true;
  }

  // 4. Preflight: never PATCH a server to a version that fails it.
  const preflight = preflightKeyVersion(latest, { now, minLifetimeDays: settings.minKeyLifetimeDays });
  if (!preflight.passed) {
    const failedChecks = preflight.checks.filter((c) => !c.passed).map((c) => c.name);
    const audit = record({
      step: 'PreflightFailed',
      outcome: 'failure',
      toVersion: latest.version,
      reasonCode: failedChecks.join(','),
      reason: preflight.summary,
    });
    const onlyExpiry = failedChecks.every((c) => c === 'expiry');
    if (expiryPaged && onlyExpiry) yield* recordAudit(context, [audit]);
    else
      yield* page(
        {
          ...incidentBase,
          dedupKey: incidentKeys.preflight(input.vaultName, input.keyName, latest.version),
          summary: `CMK rotation will not use ${input.keyName}/${latest.version}: ${preflight.summary}`,
          severity: 'error',
          source: latest.kid,
          deadline: undefined,
          nextStep: `Create a compliant version (RSA or RSA-HSM, 2048/3072/4096 bits, enabled, wrapKey+unwrapKey, at least ${settings.minKeyLifetimeDays} days to expiry); servers stay on their current version meanwhile.`,
          facts: {
            vault: input.vaultName,
            key: input.keyName,
            version: latest.version,
            reasonCode: audit.reasonCode ?? '',
          },
        },
        'preflight',
        audit,
        latest.version,
      );
    return yield* stop('PreflightFailed', preflight.summary, latest.version);
  }

  // 5. Roll out: the canary ring first; the rest only if every canary verified.
  const skipped = plan.servers.filter((s) => s.action === 'skip');
  yield* recordAudit(
    context,
    skipped.map((s) =>
      record({
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        serverId: s.serverId,
        subscriptionId: s.subscriptionId,
        reasonCode: s.slots[0]?.decision ?? 'skip',
        reason: s.slots.map((x) => `${x.slot}: ${x.reason}`).join('; '),
      }),
    ),
  );
  const actionable = plan.servers.filter((s) => s.action !== 'skip');
  const canary = actionable.filter((s) => s.ring === 'canary');
  const rest = actionable.filter((s) => s.ring !== 'canary');
  const subInput = (server: PlannedServer): ServerRolloverInput => ({
    correlationId,
    trigger: input.trigger,
    key,
    targetVersion: latest.version,
    expiresOn: oldestExpiry(key, server),
    server,
    settings,
  });
  const outcomes: ServerOutcome[] = skipped.map((s) => ({
    serverId: s.serverId,
    serverName: s.serverName,
    subscriptionId: s.subscriptionId,
    outcome: 'skipped',
    slots: s.slots.map((x) => ({ slot: x.slot, from: x.version, to: x.version })),
    reasonCode: s.slots[0]?.decision ?? 'skip',
    reason: s.slots.map((x) => x.reason).join('; '),
  }));
  outcomes.push(...(yield* rollout(context, canary.map(subInput))));
  const canaryFailed = outcomes.some((o) => o.outcome === 'failed');
  if (canaryFailed) {
    const held = rest.map((s) => ({
      serverId: s.serverId,
      serverName: s.serverName,
      subscriptionId: s.subscriptionId,
      outcome: 'skipped' as const,
      slots: [],
      reasonCode: 'CanaryFailed',
      reason: 'held back: a canary server failed',
    }));
    outcomes.push(...held);
    yield* page(
      rotationIncident(
        'CanaryFailed',
        `CMK rotation of ${input.keyName} to ${latest.version} stopped after the canary ring: ${held.length} server(s) held back`,
        `Fix the failed canary server (see its own page), then re-run the rotation.`,
        'error',
      ),
      'rotation',
      record({
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        reasonCode: 'CanaryFailed',
        reason: `${held.length} server(s) held back after a canary failure`,
      }),
    );
  } else {
    outcomes.push(...(yield* rollout(context, rest.map(subInput))));
  }
  for (const o of outcomes) if (o.incident !== undefined) opened.push(o.incident);

  // 6. Servers left on an older pinned version that expires soon (excluded, failed, held back).
  const left = plan.servers.filter((s) => {
    const o = outcomes.find((x) => x.serverId === s.serverId);
    return o === undefined || o.outcome === 'failed' || o.outcome === 'skipped';
  });
  for (const v of key.versions) {
    if (v.version.toLowerCase() === latest.version.toLowerCase()) continue;
    const days = daysLeft(v.expiresOn, now);
    const severity = expirySeverity(days, settings.nearExpiry);
    const onIt = left.filter((s) => s.slots.some((slot) => slot.version === v.version.toLowerCase()));
    if (severity === undefined || onIt.length === 0) continue;
    yield* page(
      expiryIncident(input, v, days, severity, onIt, incidentBase),
      'expiry',
      record({
        step: days !== undefined && days < 0 ? 'KeyExpired' : 'NearExpiryNotified',
        outcome: 'failure',
        fromVersion: v.version,
        reasonCode: days !== undefined && days < 0 ? 'KeyExpired' : 'KeyNearExpiry',
        reason: `${onIt.length} server(s) still on a version that expires ${v.expiresOn ?? ''}`,
      }),
      v.version,
    );
  }

  // 7. A newer version appeared meanwhile: carry on with it in this instance (never a second one).
  const reread = yield* callStep<ReadKeyOutput>(context, ACTIVITY_NAMES.readKey, {
    vaultUrl: input.vaultUrl,
    keyName: input.keyName,
  });
  const open = mergeIncidents(input.openIncidents, opened);
  if (reread.ok && reread.latest !== undefined && reread.latest.version !== latest.version) {
    log(context, `newer version ${reread.latest.version} appeared; continuing as new`);
    yield* recordAudit(context, [
      record({
        step: 'RotationCompleted',
        outcome: 'info',
        toVersion: latest.version,
        reasonCode: 'Superseded',
        reason: `superseded by ${reread.latest.version}`,
      }),
    ]);
    context.df.continueAsNew({
      ...input,
      generation: input.generation + 1,
      hintVersion: reread.latest.version,
      openIncidents: open,
    } satisfies RotationInput);
    return output({
      status: 'completed',
      targetVersion: latest.version,
      servers: outcomes,
      openIncidents: open,
    });
  }

  // 8. Resolve what earlier runs paged and this run proved fixed.
  const fixed = input.openIncidents.filter((i) => isFixed(i, outcomes, opened));
  if (fixed.length > 0)
    yield* callStep<undefined>(context, ACTIVITY_NAMES.resolvePages, {
      dedupKeys: fixed.map((i) => i.dedupKey),
      summary: `Fixed: ${input.keyName} rotation to ${latest.version} verified`,
      audit: record({ step: 'PageResolved', outcome: 'success', toVersion: latest.version }),
    });
  const stillOpen = open.filter((i) => !fixed.some((f) => f.dedupKey === i.dedupKey));
  const failed = outcomes.filter((o) => o.outcome === 'failed').length;
  const status: RotationStatus = failed > 0 || canaryFailed ? 'completedWithFailures' : 'completed';
  yield* recordAudit(context, [
    record({
      step: 'RotationCompleted',
      outcome: status === 'completed' ? 'success' : 'failure',
      toVersion: latest.version,
      reasonCode: status === 'completed' ? undefined : canaryFailed ? 'CanaryFailed' : 'ServerFailures',
      reason: summarizeOutcomes(outcomes),
      durationMs: context.df.currentUtcDateTime.getTime() - Date.parse(now),
    }),
  ]);
  log(context, `rotation of ${input.keyName} to ${latest.version}: ${summarizeOutcomes(outcomes)}`);
  return output({
    status,
    targetVersion: latest.version,
    servers: outcomes,
    openIncidents: stillOpen,
    resolvedIncidents: fixed.map((f) => f.dedupKey),
  });
}

/** Sub-orchestrations in waves of `maxParallelUpdates`: ARM allows about 10 writes/s per subscription. */
function* rollout(
  context: OrchestrationContext,
  inputs: readonly ServerRolloverInput[],
): Generator<Task, ServerOutcome[], unknown> {
  const results: ServerOutcome[] = [];
  const width = Math.max(1, inputs[0]?.settings.maxParallelUpdates ?? 1);
  for (let i = 0; i < inputs.length; i += width) {
    const wave = inputs
      .slice(i, i + width)
      .map((s) =>
        context.df.callSubOrchestrator(
          FUNCTION_NAMES.serverRollover,
          s,
          serverRolloverInstanceId(
            context.df.instanceId,
            s.server.serverName,
            context.df.newGuid(s.server.serverId),
          ),
        ),
      );
    results.push(...((yield context.df.Task.all(wave)) as ServerOutcome[]));
  }
  return results;
}

/** The earliest expiry among the versions a server is on now: the deadline its page should name. */
function oldestExpiry(key: KeyInfo, server: PlannedServer): string | undefined {
  const dates = server.slots
    .map((s) => key.versions.find((v) => v.version.toLowerCase() === s.version)?.expiresOn)
    .filter((d): d is string => d !== undefined)
    .sort();
  return dates[0];
}

function expiryIncident(
  input: RotationInput,
  version: KeyVersionInfo,
  days: number | undefined,
  severity: 'critical' | 'warning',
  servers: readonly PlannedServer[],
  base: { since: string; correlationId: string },
): Incident {
  const expired = days !== undefined && days < 0;
  const names = servers.map((s) => s.serverName);
  const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');
  return {
    ...base,
    dedupKey: incidentKeys.expiry(input.vaultName, input.keyName, version.version, severity),
    summary: expired
      ? `Key ${input.keyName}/${version.version} in ${input.vaultName} has EXPIRED; ${servers.length} server(s) still use it: ${shown}`
      : `Key ${input.keyName}/${version.version} in ${input.vaultName} expires in ${days ?? '?'} day(s); ${servers.length} server(s) use it: ${shown}`,
    severity,
    source: version.kid,
    deadline: version.expiresOn,
    nextStep: expired
      ? `Create a new version of ${input.keyName} now (or re-enable access); the servers listed go Inaccessible. The rotator moves them as soon as a valid version exists.`
      : `Create a new version of ${input.keyName} (Key Vault "Rotate now", or set the rotation policy to rotate) before the deadline; the rotator then moves the servers.`,
    facts: {
      vault: input.vaultName,
      key: input.keyName,
      version: version.version,
      reasonCode: expired ? 'KeyExpired' : 'KeyNearExpiry',
      servers: String(servers.length),
    },
  };
}

/** Same dedup key twice is one incident. */
function mergeIncidents(a: readonly OpenIncident[], b: readonly OpenIncident[]): OpenIncident[] {
  const out = new Map<string, OpenIncident>();
  for (const i of [...a, ...b]) out.set(i.dedupKey, i);
  return [...out.values()];
}

/**
 * An incident from an earlier run is fixed when this run, which re-examined everything for the key,
 * did not raise it again and, for a server, proved the server works now.
 */
function isFixed(
  i: OpenIncident,
  outcomes: readonly ServerOutcome[],
  opened: readonly OpenIncident[],
): boolean {
  if (opened.some((o) => o.dedupKey === i.dedupKey)) return false;
  if (i.kind !== 'server') return true;
  const o = outcomes.find((x) => x.serverId.toLowerCase() === i.serverId?.toLowerCase());
  return o !== undefined && (o.outcome === 'updated' || o.outcome === 'verified');
}

function summarizePlan(servers: readonly PlannedServer[]): string {
  const count = (a: string) => servers.filter((s) => s.action === a).length;
  return `${count('update')} to update, ${count('verify')} to verify, ${count('skip')} skipped, ${servers.filter((s) => s.ring === 'canary').length} in the canary ring`;
}

function summarizeOutcomes(outcomes: readonly ServerOutcome[]): string {
  const count = (k: ServerOutcome['outcome']) => outcomes.filter((o) => o.outcome === k).length;
  return `${count('updated')} updated, ${count('verified')} verified, ${count('failed')} failed, ${count('skipped')} skipped`;
}
