import type { OrchestrationContext, Task, TimerTask } from 'durable-functions';
import type { AuditRecord } from '../../domain/audit';
import { CROSS_TENANT_CODE, CROSS_TENANT_UNDETERMINED_CODE } from '../../domain/crossTenant';
import { diagnose, isVaultUnreachable } from '../../domain/diagnosis';
import type { Incident, Severity } from '../../domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import { expiredRecovery, leftAloneNote } from '../incidentText';
import { FUNCTION_NAMES } from '../../domain/names';
import { addCounts, addOutcome, describeCounts, noOutcomes } from '../outcomes';
import { ROTATION_OUTPUT_VERSION, type OutcomeCounts } from '../contract';
import { leavesAlone } from '../../domain/plan';
import { runKind, withRun } from '../../domain/runs';
import { preflightKeyVersion } from '../../domain/preflight';
import { autoRotateDecision, nextFailedRuns, signalNeedsRun } from '../policy';
import { daysLeft, expirySeverity } from '../../domain/expiry';
import { incidentKeys } from '../ids';
import {
  KEY_EVENT_SIGNAL,
  ROTATION_SCHEMA_VERSION,
  type BatchServer,
  type KeyEventSignal,
  type OpenIncident,
  type RotationInput,
  type RolloutBatchInput,
  type RolloutBatchOutput,
  type RotationOutput,
  type RotationPhase,
  type RotationProgress,
  type RotationStatus,
  type ServerOutcome,
} from '../contract';
import { progressFromCounts } from '../outcomes';
import { packIds, serverRefOf, unpackIds, compactKey, serverSettings } from '../packing';
import { serverNameOf, subscriptionOf } from '../../domain/resourceId';
import { type PlannedServer } from '../activityIo';
import type { PlanRolloutOutput, UnplannableServer } from '../activityIo';
import { BATCHES_PER_SUBSCRIPTION, ROLLOUT_BATCH_SIZE } from '../pacing';
import { subOrchestrationFailed } from './rolloutBatch';
import {
  callStep,
  inputOf,
  log,
  pageOperator,
  recordAudit,
  undeliveredAudit,
} from '../../workflows/activityCalls';

/** One run of a key's rotation: its context and what it opened so far. */
interface Run {
  readonly context: OrchestrationContext;
  readonly input: RotationInput;
  readonly now: string;
  readonly opened: OpenIncident[];
  /** For the progress (custom status): servers planned, and the outcomes known so far. */
  planned: number;
  targetVersion: string | undefined;
  sofar: OutcomeCounts;
  /** Audit records of the servers' rollovers the trail refused (the batches' sums). */
  serverAuditUndelivered: number;
  /** Typical duration of ARM's operations in the batches finished so far (canary first): paces the next batches' first polls. */
  operationSeconds: number | undefined;
  /** The run's open wait for a `keyEvent` (see `pendingSignal`). */
  signals?: Task;
  /** The phase last published (`progress`). */
  phase?: RotationPhase;
}

/**
 * What the rollout did: counts for every server, details only for those that need attention, and
 * (in memory only, never in the history) which servers it proved updated or verified: a server handed
 * to a batch that the batch did not list (a batch lists every other outcome).
 */
interface Rolled {
  readonly counts: OutcomeCounts;
  readonly listed: readonly ServerOutcome[];
  /** Lower-case ids. */
  readonly succeeded: ReadonlySet<string>;
  readonly canaryFailed: boolean;
}

type Ended = { readonly ended: RotationOutput };
const ended = (v: unknown): v is Ended => typeof v === 'object' && v !== null && 'ended' in v;

/**
 * The rotation of one key (instance id `rotationInstanceId(vault, key)`), in the steps of the README:
 * read the key (events are hints, Key Vault is the truth), discover and plan per server, handle the
 * newest version's expiry, preflight it, roll out (canary ring first, bounded parallelism, one
 * sub-orchestration per server, each isolated), page what is left on an expiring version, and before
 * finishing re-read the key and take in every signal that arrived meanwhile: a newer version or an
 * operator request continues as new instead of racing a second instance. Nothing in here throws for
 * an expected failure: every step that still fails after its retries ends the run cleanly, paged.
 */
export function* keyRotationOrchestrator(
  context: OrchestrationContext,
): Generator<Task, RotationOutput, unknown> {
  const input = inputOf(context, 'keyRotation');
  if (input.schemaVersion !== ROTATION_SCHEMA_VERSION) {
    // Started by another deployment: its history does not match these steps. End at once (no
    // activity, so nothing to mismatch); the next event, sweep or operator request starts it again.
    return {
      status: 'stopped',
      vaultName: input.vaultName,
      keyName: input.keyName,
      targetVersion: undefined,
      reasonCode: 'SchemaVersionChanged',
      outputVersion: ROTATION_OUTPUT_VERSION,
      counts: noOutcomes(),
      servers: [],
      openIncidents: input.openIncidents,
      resolvedIncidents: [],
    };
  }
  const run: Run = {
    context,
    input,
    now: context.df.currentUtcDateTime.toISOString(),
    opened: [],
    planned: 0,
    targetVersion: undefined,
    sofar: noOutcomes(),
    serverAuditUndelivered: 0,
    operationSeconds: undefined,
  };
  log(context, `rotation of ${input.vaultName}/${input.keyName} (${input.reason}, ${input.trigger})`);
  try {
    return yield* rotate(run);
  } catch (e) {
    // A bug or a malformed answer must not leave the instance Failed with nobody told: page it, end.
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    yield* page(
      run,
      rotationIncident(
        run,
        'UnexpectedError',
        `CMK rotation of ${input.keyName} in ${input.vaultName} stopped on an unexpected error`,
        `Look up the audit trail and the Function App's logs for ${context.df.instanceId}; re-run it (POST /api/rotations/${input.vaultName}/${input.keyName}) once the cause is fixed.`,
        'error',
      ),
      'rotation',
      record(run, {
        step: 'RotationCompleted',
        outcome: 'failure',
        reasonCode: 'UnexpectedError',
        reason: message.slice(0, 500),
      }),
    );
    yield* pageUndeliveredAudit(run);
    // Signals still get their run (a deterministic bug pages again under the same dedup key).
    progress(run, run.phase ?? 'reading', { closing: true });
    const next = yield* pendingSignal(run, undefined, undefined);
    const out = output(run, { status: 'stopped', targetVersion: undefined, reasonCode: 'UnexpectedError' });
    if (next !== undefined) continueWith(run, next, out);
    return out;
  }
}

function* rotate(run: Run): Generator<Task, RotationOutput, unknown> {
  progress(run, 'reading');
  const read = yield* readTheKey(run);
  if (ended(read)) return read.ended;
  const { key, latest } = read;
  run.targetVersion = latest.version;

  progress(run, 'planning');
  const discovered = yield* discoverAndPlan(run, key, latest);
  if (ended(discovered)) return discovered.ended;
  const plan = onlyTheServersAskedFor(run, discovered);
  run.planned = plan.servers.length + plan.unplannable.length;

  const expiry = yield* handleNewestVersionExpiry(run, key, latest, plan);
  if (ended(expiry)) return expiry.ended;

  const preflight = yield* preflightTarget(run, latest, expiry.paged);
  if (ended(preflight)) return preflight.ended;

  const rolled = yield* rollOut(run, key, latest, plan);
  yield* pageServersLeftOnExpiringVersions(run, key, latest, plan, rolled);
  return yield* finish(run, latest, rolled);
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the phases

/** Publishes where the run is as the orchestration's custom status (deterministic: replay-safe). */
function progress(
  run: Run,
  phase: RotationPhase,
  extra: {
    wave?: RotationProgress['wave'];
    current?: readonly string[];
    counts?: OutcomeCounts;
    closing?: true;
  } = {},
): void {
  run.phase = phase;
  const status: RotationProgress = {
    phase,
    trigger: run.input.trigger,
    targetVersion: run.targetVersion,
    wave: extra.wave,
    counts: progressFromCounts(run.planned, extra.counts ?? run.sofar),
    current: (extra.current ?? []).slice(0, 20),
    onlyServers: run.input.onlyServers,
    ...(extra.closing === true ? { closing: true } : {}),
  };
  run.context.df.setCustomStatus(status);
}

/** An operator's retry of named servers: only those are rolled out; nothing else is touched or paged. */
function onlyTheServersAskedFor(run: Run, plan: PlanRolloutOutput): PlanRolloutOutput {
  const only = run.input.onlyServers;
  if (only === undefined) return plan;
  const wanted = (id: string) => only.includes(id.toLowerCase());
  return {
    ...plan,
    servers: plan.servers.filter((s) => wanted(s.serverId)),
    unplannable: plan.unplannable.filter((u) => wanted(u.serverId)),
  };
}

function record(run: Run, r: Omit<AuditRecord, 'correlationId' | 'trigger' | 'vault' | 'key'>): AuditRecord {
  return {
    correlationId: run.context.df.instanceId,
    trigger: run.input.trigger,
    vault: run.input.vaultName,
    key: run.input.keyName,
    ...r,
  };
}

function* page(
  run: Run,
  incident: Incident,
  kind: OpenIncident['kind'],
  audit: AuditRecord,
  extra: { version?: string; serverId?: string } = {},
): Generator<Task, void, unknown> {
  run.opened.push({ dedupKey: incident.dedupKey, kind, ...extra });
  yield* pageOperator(run.context, incident, audit);
}

function output(
  run: Run,
  o: Pick<RotationOutput, 'status' | 'targetVersion'> & Partial<RotationOutput>,
): RotationOutput {
  const failedRuns = nextFailedRuns(run.input.failedRuns, o.status, o.targetVersion);
  const auditUndelivered = undeliveredTotal(run);
  const completedAt = run.context.df.currentUtcDateTime.toISOString();
  const counts = o.counts ?? noOutcomes();
  // This run in front of the earlier ones (`runs` in the CLI, `GET /api/runs`).
  const history = withRun(run.input.history, {
    kind: runKind(run.input.trigger, run.input.onlyServers !== undefined),
    trigger: run.input.trigger,
    startedAt: run.now,
    endedAt: completedAt,
    status: o.status,
    targetVersion: o.targetVersion,
    reasonCode: o.reasonCode,
    counts: { done: counts.updated + counts.verified, failed: counts.failed, skipped: counts.skipped },
  });
  return {
    outputVersion: ROTATION_OUTPUT_VERSION,
    vaultName: run.input.vaultName,
    keyName: run.input.keyName,
    counts: noOutcomes(),
    servers: [],
    openIncidents: mergeIncidents(run.input.openIncidents, run.opened),
    resolvedIncidents: [],
    completedAt,
    ...o,
    ...(failedRuns !== undefined ? { failedRuns } : {}),
    ...(auditUndelivered > 0 ? { auditUndelivered } : {}),
    history,
  };
}

/** Audit records of this run and of its servers' rollovers that the trail refused after the retries. */
function undeliveredTotal(run: Run): number {
  return undeliveredAudit(run.context) + run.serverAuditUndelivered;
}

/**
 * Audit records the trail kept refusing are not claimed sent: the run pages them once (the trail is
 * the operators' record, a gap in it is theirs to know) with where the run's own account is, and the
 * count goes into the output (`auditUndelivered`). A later run whose records all arrive resolves it.
 */
function* pageUndeliveredAudit(run: Run): Generator<Task, void, unknown> {
  const count = undeliveredTotal(run);
  if (count === 0) return;
  const { input } = run;
  yield* page(
    run,
    rotationIncident(
      run,
      'AuditUndelivered',
      `${count} audit record(s) of the CMK rotation of ${input.keyName} in ${input.vaultName} were refused by Application Insights`,
      `The audit trail of ${run.context.df.instanceId} is incomplete. Its outcome per server is in the instance output (GET /api/rotations/${input.vaultName}/${input.keyName}); check the Application Insights ingestion (identity role "Monitoring Metrics Publisher", local auth, daily cap, outage) and the Function App's logs.`,
      'warning',
    ),
    'rotation',
    record(run, {
      step: 'AuditUndelivered',
      outcome: 'failure',
      reasonCode: 'AuditUndelivered',
      reason: `${count} audit record(s) refused by the trail after the retries`,
      details: { count: String(count) },
    }),
  );
}

function rotationIncident(
  run: Run,
  code: string,
  summary: string,
  nextStep: string,
  severity: Severity,
): Incident {
  const { input } = run;
  return {
    since: run.now,
    correlationId: run.context.df.instanceId,
    dedupKey: incidentKeys.rotation(input.vaultName, input.keyName, code),
    summary,
    severity,
    source: `${input.vaultUrl}/keys/${input.keyName}`,
    deadline: undefined,
    nextStep,
    facts: { vault: input.vaultName, key: input.keyName, reasonCode: code },
  };
}

/**
 * Ends a run that stopped before the rollout; incidents stay open (nothing proved them fixed). A
 * signal that arrived meanwhile (an operator request, a newer version) still gets its run.
 */
function* stop(
  run: Run,
  code: string,
  reason: string,
  target: string | undefined,
): Generator<Task, Ended, unknown> {
  const waiting = yield* pendingSignal(run, target, undefined);
  yield* recordAudit(run.context, [
    record(run, {
      step: 'RotationCompleted',
      outcome: 'failure',
      reasonCode: code,
      reason,
      toVersion: target,
    }),
  ]);
  yield* pageUndeliveredAudit(run);
  // A last look after the last activity (see `finish`): nothing is sent between it and the end.
  if (waiting === undefined) progress(run, run.phase ?? 'reading', { closing: true });
  const next = waiting ?? (yield* pendingSignal(run, target, undefined));
  const out = output(run, { status: 'stopped', targetVersion: target, reasonCode: code });
  if (next !== undefined) continueWith(run, next, out);
  return { ended: out };
}

/**
 * Continues as new for a signal. The output of a run that continues as new is never stored (the
 * next generation replaces it), so what the next run must carry on comes from this run's finished
 * output, not from its input: the run history with this generation in front (`GET /api/runs`, the
 * CLI's `runs`), the failed-run count as this run left it (the sweep's backoff), its open incidents.
 */
function continueWith(run: Run, signal: KeyEventSignal, done: RotationOutput): void {
  log(run.context, `continuing as new for ${signal.trigger} (${signal.reason})`);
  run.context.df.continueAsNew({
    ...carriedOn(run, done),
    trigger: signal.trigger,
    reason: signal.reason,
    hintVersion: signal.version,
  } satisfies RotationInput);
}

/** The next generation's input: this run's input with what its finished output carries on. */
function carriedOn(run: Run, done: RotationOutput): RotationInput {
  return {
    ...run.input,
    generation: run.input.generation + 1,
    openIncidents: done.openIncidents,
    failedRuns: done.failedRuns,
    history: done.history,
    onlyServers: undefined,
  };
}

/**
 * Takes in every `keyEvent` signal already waiting and returns the first that needs a run of its own;
 * the others were covered by this run and are dropped. A zero-length timer races the wait: raised
 * events are buffered by the durable runtime, so one already sent wins.
 *
 * The wait that lost the race stays open (durable-functions has no way to cancel it) and takes the
 * next `keyEvent` whenever it lands in the history: a new wait would never see that event. So the run
 * keeps that one wait (`run.signals`) and a later look fires a zero timer and reads it.
 */
function* pendingSignal(
  run: Run,
  handledVersion: string | undefined,
  key: KeyInfo | undefined,
): Generator<Task, KeyEventSignal | undefined, unknown> {
  const { context } = run;
  let wanted: KeyEventSignal | undefined;
  for (;;) {
    let timer: TimerTask | undefined;
    let event = run.signals;
    if (event === undefined) {
      event = context.df.waitForExternalEvent(KEY_EVENT_SIGNAL);
      run.signals = event;
      timer = context.df.createTimer(context.df.currentUtcDateTime);
      yield context.df.Task.any([event, timer]);
    } else if (!event.isCompleted) {
      timer = context.df.createTimer(context.df.currentUtcDateTime);
      yield timer;
    }
    if (!event.isCompleted) return wanted;
    if (timer !== undefined && !timer.isCompleted) timer.cancel();
    run.signals = undefined;
    const signal = asSignal(event.result);
    if (signal === undefined) {
      // Not one the intake sends (someone raised it by hand): read, and nothing to do.
      log(context, `ignored a malformed ${KEY_EVENT_SIGNAL} signal`);
      continue;
    }
    const needs =
      key === undefined
        ? signal.reason === 'Operator' || signal.version !== undefined
        : signalNeedsRun(signal, handledVersion, key);
    log(
      context,
      `signal ${signal.trigger} (${signal.reason} ${signal.version ?? ''}): ${needs ? 'needs a run' : 'covered'}`,
    );
    if (needs && wanted === undefined) wanted = signal;
  }
}

function asSignal(v: unknown): KeyEventSignal | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { trigger, reason, version } = v as Partial<Record<keyof KeyEventSignal, unknown>>;
  return typeof trigger === 'string' &&
    typeof reason === 'string' &&
    (version === undefined || version === null || typeof version === 'string')
    ? { trigger, reason: reason as KeyEventSignal['reason'], version: version ?? undefined }
    : undefined;
}

// ---------------------------------------------------------------------------------------------
// 1. The key, from Key Vault (retried on durable timers through a short outage, then paged).

function* readTheKey(run: Run): Generator<Task, Ended | { key: KeyInfo; latest: KeyVersionInfo }, unknown> {
  const { input } = run;
  const read = yield* callStep(run.context, 'readKey', { vaultUrl: input.vaultUrl, keyName: input.keyName });
  if (read.ok && read.value.latest !== undefined) return { key: read.value.key, latest: read.value.latest };
  const code = read.ok ? 'KeyHasNoVersions' : read.error.code;
  const message = read.ok
    ? 'the key lists no versions'
    : `${read.error.message}${read.error.attempts !== undefined && read.error.attempts > 1 ? ` (after ${read.error.attempts} attempts)` : ''}`;
  const transient = !read.ok && read.error.retryable;
  if (!read.ok && isVaultUnreachable(code)) {
    // Key Vault's firewall refused the app: not a missing permission, not transient (never retried:
    // the activity's error is permanent). One page with the reason and the network fix.
    const d = diagnose(code, { vaultName: input.vaultName, keyName: input.keyName });
    yield* page(
      run,
      rotationIncident(
        run,
        'VaultUnreachable',
        `CMK rotation cannot reach vault ${input.vaultName} for key ${input.keyName} (vault unreachable): ${code}`,
        d.nextStep,
        'error',
      ),
      'rotation',
      record(run, { step: 'PreflightFailed', outcome: 'failure', reasonCode: code, reason: d.what }),
    );
    return yield* stop(run, code, d.what, undefined);
  }
  yield* page(
    run,
    rotationIncident(
      run,
      'KeyUnreadable',
      `CMK rotation cannot read key ${input.keyName} in ${input.vaultName} (key unreadable): ${code}`,
      transient
        ? `Key Vault ${input.vaultName} kept failing (${code}) through every retry. Check its availability and network access; the next event or sweep retries, or POST /api/rotations/${input.vaultName}/${input.keyName}.`
        : `Give the rotator's identity "Key Vault Reader" and "Key Vault Crypto User" (or get/list permissions) on ${input.vaultName}, and check the key exists.`,
      'error',
    ),
    'rotation',
    record(run, { step: 'PreflightFailed', outcome: 'failure', reasonCode: code, reason: message }),
  );
  return yield* stop(run, code, message, undefined);
}

// ---------------------------------------------------------------------------------------------
// 2. Who uses the key, and what each server needs (planned one by one).

function* discoverAndPlan(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
): Generator<Task, Ended | PlanRolloutOutput, unknown> {
  const { input } = run;
  const plan = yield* callStep(run.context, 'planRollout', {
    key,
    targetVersion: latest.version,
    optOutTag: input.settings.optOutTag,
    canaryTag: input.settings.canaryTag,
    holdTag: input.settings.holdTag,
  });
  if (!plan.ok) {
    yield* page(
      run,
      rotationIncident(
        run,
        'DiscoveryFailed',
        `CMK rotation of ${input.keyName} cannot list the servers that use it: ${plan.error.code}`,
        `Give the rotator's identity Reader (or the rotator's custom role) on the configured subscriptions.`,
        'error',
      ),
      'rotation',
      record(run, {
        step: 'PlanComputed',
        outcome: 'failure',
        reasonCode: plan.error.code,
        reason: plan.error.message,
      }),
    );
    return yield* stop(run, plan.error.code, plan.error.message, latest.version);
  }
  yield* recordAudit(run.context, [
    record(run, {
      step: 'PlanComputed',
      outcome: 'info',
      toVersion: latest.version,
      reason: summarizePlan(plan.value.servers, plan.value.unplannable),
      details: { discovered: String(plan.value.discovered), planned: String(plan.value.servers.length) },
    }),
  ]);
  // The activity front-codes the ids (its output is in this history once per server): whole again here.
  return { ...plan.value, servers: unpackIds(plan.value.servers) };
}

// ---------------------------------------------------------------------------------------------
// 3. The newest version itself expiring: rotate (opt-in, at most once) or page with the servers at risk.

function* handleNewestVersionExpiry(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
): Generator<Task, Ended | { paged: boolean }, unknown> {
  const { input } = run;
  const { settings } = input;
  const days = daysLeft(latest.expiresOn, run.now);
  const severity = expirySeverity(days, settings.nearExpiry);
  if (severity === undefined) return { paged: false };
  if (autoRotateDecision(latest, input).rotate) {
    const rotated = yield* callStep(run.context, 'rotateKey', {
      vaultUrl: input.vaultUrl,
      keyName: input.keyName,
      fromVersion: latest.version,
    });
    if (rotated.ok) {
      const to = rotated.value.version.version;
      yield* recordAudit(run.context, [
        record(run, {
          step: 'KeyRotated',
          outcome: rotated.value.rotated ? 'success' : 'skipped',
          fromVersion: latest.version,
          toVersion: to,
          reason: rotated.value.rotated
            ? `version ${latest.version} expires in ${days ?? '?'} days; rotated per the key's rotation policy`
            : `a newer version ${to} already exists; not rotated again`,
        }),
      ]);
      log(run.context, `rotated ${input.keyName}: ${latest.version} -> ${to}`);
      const out = output(run, { status: 'completed', targetVersion: to, reasonCode: 'KeyRotated' });
      run.context.df.continueAsNew({
        ...carriedOn(run, out),
        autoRotatedFrom: latest.version,
        hintVersion: to,
      } satisfies RotationInput);
      return { ended: out };
    }
    yield* page(
      run,
      rotationIncident(
        run,
        'RotateFailed',
        `CMK rotation could not rotate ${input.keyName} in ${input.vaultName}: ${rotated.error.code}`,
        `Give the rotator "Key Vault Crypto Officer" on ${input.vaultName}, or rotate the key by hand.`,
        severity,
      ),
      'rotation',
      record(run, {
        step: 'KeyRotated',
        outcome: 'failure',
        reasonCode: rotated.error.code,
        reason: rotated.error.message,
      }),
    );
  }
  const atRisk = plan.servers.filter((s) =>
    s.slots.some((slot) => slot.version === undefined || slot.version === latest.version.toLowerCase()),
  );
  yield* pageExpiry(run, key, latest, days, severity, atRisk, true);
  return { paged: true };
}

// ---------------------------------------------------------------------------------------------
// 4. Preflight: never PATCH a server to a version that fails it.

function* preflightTarget(
  run: Run,
  latest: KeyVersionInfo,
  expiryPaged: boolean,
): Generator<Task, Ended | { passed: true }, unknown> {
  const { input } = run;
  const preflight = preflightKeyVersion(latest, {
    now: run.now,
    minLifetimeDays: input.settings.minKeyLifetimeDays,
  });
  if (preflight.passed) return { passed: true };
  const failedChecks = preflight.checks.filter((c) => !c.passed).map((c) => c.name);
  const audit = record(run, {
    step: 'PreflightFailed',
    outcome: 'failure',
    toVersion: latest.version,
    reasonCode: failedChecks.join(','),
    reason: preflight.summary,
  });
  if (expiryPaged && failedChecks.every((c) => c === 'expiry')) yield* recordAudit(run.context, [audit]);
  else
    yield* page(
      run,
      {
        since: run.now,
        correlationId: run.context.df.instanceId,
        dedupKey: incidentKeys.preflight(input.vaultName, input.keyName, latest.version),
        summary: `CMK rotation will not use ${input.keyName}/${latest.version}: ${preflight.summary}`,
        severity: 'error',
        source: latest.kid,
        deadline: undefined,
        nextStep: `Create a compliant version (RSA or RSA-HSM, 2048/3072/4096 bits, enabled, wrapKey+unwrapKey, at least ${input.settings.minKeyLifetimeDays} days to expiry); servers stay on their current version meanwhile.`,
        facts: {
          vault: input.vaultName,
          key: input.keyName,
          version: latest.version,
          reasonCode: audit.reasonCode ?? '',
        },
      },
      'preflight',
      audit,
      { version: latest.version },
    );
  return yield* stop(run, 'PreflightFailed', preflight.summary, latest.version);
}

// ---------------------------------------------------------------------------------------------
// 5. Roll out: the canary ring first; the rest only if every canary verified.

function* rollOut(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
): Generator<Task, Rolled, unknown> {
  const { input, context } = run;
  const listed: ServerOutcome[] = [];
  let counts = noOutcomes();
  // Servers that could not be planned: skipped, audited and paged once each; the others proceed.
  for (const u of plan.unplannable) {
    const o = yield* unplannableServer(run, u, latest.version);
    listed.push(o);
    counts = addOutcome(counts, o.outcome, o.reasonCode);
  }

  // Inaccessible servers go through their rollover too: it pages the documented recovery.
  const inaccessible = (s: PlannedServer) =>
    s.state?.toLowerCase() === 'inaccessible' && s.slots.every((x) => !leavesAlone(x.decision));
  const skipped = plan.servers.filter((s) => s.action === 'skip' && !inaccessible(s));
  const skipCode = (s: PlannedServer): string => s.slots[0]?.decision ?? 'skip';
  yield* recordAudit(
    context,
    skipped.map((s) =>
      record(run, {
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        serverId: s.serverId,
        subscriptionId: subscriptionOf(s.serverId),
        reasonCode: skipCode(s),
        reason: s.slots.map((x) => `${x.slot}: ${x.reason ?? x.decision}`).join('; '),
      }),
    ),
  );
  // Skipped by the plan (opt-out, hold, not Ready, ahead...): counted by reason code, not listed; each
  // has the ServerSkipped record above.
  for (const s of skipped) counts = addOutcome(counts, 'skipped', skipCode(s));
  const actionable = plan.servers.filter((s) => s.action !== 'skip' || inaccessible(s));
  const canary = actionable.filter((s) => s.ring === 'canary');
  const rest = actionable.filter((s) => s.ring !== 'canary');
  // Only what the rollover cannot re-read: the deadline its page names, and whether it was behind.
  const ref = (server: PlannedServer): BatchServer => {
    const expiresOn = oldestExpiry(key, server);
    return {
      serverId: server.serverId,
      ...(expiresOn !== undefined ? { expiresOn } : {}),
      ...(server.action === 'update' ? { behind: true as const } : {}),
    };
  };
  run.sofar = counts;
  const canaryRun = yield* rolloutInBatches(run, key, latest.version, canary.map(ref), 'canary');
  counts = addCounts(counts, canaryRun.counts);
  listed.push(...canaryRun.servers);
  // A canary that was already Inaccessible, or left alone as a cross-tenant CMK server, never tried
  // the new version (or not told apart from one): it proves nothing either way.
  const canaryFailed = canaryRun.servers.some(
    (o) =>
      o.outcome === 'failed' &&
      o.reasonCode !== 'ServerInaccessible' &&
      o.reasonCode !== CROSS_TENANT_CODE &&
      o.reasonCode !== CROSS_TENANT_UNDETERMINED_CODE,
  );
  if (canaryFailed) {
    // Held back: counted (skipped, CanaryFailed), not listed; the page below names how many.
    counts = addOutcome(counts, 'skipped', 'CanaryFailed', rest.length);
    run.sofar = counts;
    yield* page(
      run,
      rotationIncident(
        run,
        'CanaryFailed',
        `CMK rotation of ${input.keyName} to ${latest.version} stopped after the canary ring: ${rest.length} server(s) held back`,
        `Fix the failed canary server (see its own page), then re-run the rotation.`,
        'error',
      ),
      'rotation',
      record(run, {
        step: 'ServerSkipped',
        outcome: 'skipped',
        toVersion: latest.version,
        reasonCode: 'CanaryFailed',
        reason: `${rest.length} server(s) held back after a canary failure`,
      }),
    );
  } else {
    run.sofar = counts;
    const restRun = yield* rolloutInBatches(run, key, latest.version, rest.map(ref), 'rollout');
    counts = addCounts(counts, restRun.counts);
    listed.push(...restRun.servers);
    for (const id of restRun.succeeded) canaryRun.succeeded.add(id);
  }
  for (const o of listed) if (o.incident !== undefined) run.opened.push(o.incident);
  return { counts, listed, succeeded: canaryRun.succeeded, canaryFailed };
}

/** A server discovery found but could not plan: `InvalidConfiguration`, audited and paged once. */
function* unplannableServer(
  run: Run,
  u: UnplannableServer,
  target: string,
): Generator<Task, ServerOutcome, unknown> {
  const { input } = run;
  const incident: OpenIncident = {
    dedupKey: incidentKeys.server(input.vaultName, input.keyName, target, u.serverName, u.serverId),
    kind: 'server',
    serverId: u.serverId,
    version: target,
  };
  yield* pageOperator(
    run.context,
    {
      since: run.now,
      correlationId: run.context.df.instanceId,
      dedupKey: incident.dedupKey,
      summary: `CMK rotation of ${u.serverName} to ${input.keyName}/${target} skipped: its configuration cannot be planned`,
      severity: 'error',
      source: u.serverId,
      deadline: undefined,
      nextStep: `Check ${u.serverName}'s dataEncryption (primary key URI and user-assigned identity) and identities (${u.reason}); the rotator leaves it alone until they are consistent.`,
      facts: {
        vault: input.vaultName,
        key: input.keyName,
        targetVersion: target,
        reasonCode: u.code,
        subscription: u.subscriptionId,
      },
    },
    record(run, {
      step: 'ServerSkipped',
      outcome: 'skipped',
      toVersion: target,
      serverId: u.serverId,
      subscriptionId: u.subscriptionId,
      reasonCode: u.code,
      reason: u.reason,
    }),
  );
  return {
    serverId: u.serverId,
    serverName: u.serverName,
    subscriptionId: u.subscriptionId,
    outcome: 'skipped',
    slots: [],
    reasonCode: u.code,
    reason: u.reason,
    incident,
  };
}

/**
 * The servers in batches of at most `ROLLOUT_BATCH_SIZE` per subscription, each a `rolloutBatch`
 * sub-orchestration that keeps as many of its servers in flight as ARM's quota for that subscription
 * allows. This history holds one entry per batch, never one per server: its size and the cost of
 * replaying it do not grow with the fleet's servers. `BATCHES_PER_SUBSCRIPTION` batches of a
 * subscription run at once (a batch waiting on its last slow server never idles the subscription),
 * sharing `maxParallelUpdates`; subscriptions run side by side (ARM's quota is per subscription).
 */
/** How often the rotation looks at its running batches, in poll intervals. */
const BATCH_LOOK_EVERY_POLLS = 5;

function* rolloutInBatches(
  run: Run,
  key: KeyInfo,
  targetVersion: string,
  servers: readonly BatchServer[],
  phase: 'canary' | 'rollout',
): Generator<Task, { counts: OutcomeCounts; servers: ServerOutcome[]; succeeded: Set<string> }, unknown> {
  const { context, input } = run;
  const lanes = new Map<string, BatchServer[][]>();
  for (const s of servers) {
    const sub = subscriptionOf(s.serverId).toLowerCase();
    const lane = lanes.get(sub) ?? [];
    const last = lane[lane.length - 1];
    if (last !== undefined && last.length < ROLLOUT_BATCH_SIZE) last.push(s);
    else lane.push([s]);
    lanes.set(sub, lane);
  }
  const compact = compactKey(key);
  const settings = serverSettings(input.settings);
  const batchInput = (sub: string, batch: BatchServer[], share: number): RolloutBatchInput => ({
    schemaVersion: ROTATION_SCHEMA_VERSION,
    correlationId: context.df.instanceId,
    trigger: input.trigger,
    key: compact,
    targetVersion,
    subscriptionId: sub,
    // Per server only the end of its id (front-coded), its deadline, whether it is behind; the key
    // and the settings once per batch.
    servers: packIds(batch),
    settings,
    maxInFlight: Math.max(1, Math.ceil(input.settings.maxParallelUpdates / share)),
    ...(run.operationSeconds !== undefined ? { operationSeconds: run.operationSeconds } : {}),
  });
  let running: { readonly sub: string; readonly batch: BatchServer[]; readonly task: Task }[] = [];
  const started: Task[] = [];
  const start = (sub: string): void => {
    const lane = lanes.get(sub) ?? [];
    const batch = lane.shift();
    if (batch === undefined) return;
    const alongside = running.filter((r) => r.sub === sub).length;
    const share = Math.min(BATCHES_PER_SUBSCRIPTION, lane.length + 1 + alongside);
    const task = context.df.callSubOrchestrator(
      FUNCTION_NAMES.rolloutBatch,
      batchInput(sub, batch, share),
      `cmk-batch:${context.df.newGuid(`${sub}:${batch[0]?.serverId ?? ''}`)}`,
    );
    running.push({ sub, batch, task });
    started.push(task);
  };
  for (const sub of lanes.keys()) for (let i = 0; i < BATCHES_PER_SUBSCRIPTION; i++) start(sub);
  let counts = noOutcomes();
  const listed: ServerOutcome[] = [];
  const succeeded = new Set<string>();
  // Progress for the operator API and the status page: batch i of n (the "wave") and the servers of
  // the batches in flight (at most 20 names: custom status stays small).
  const batches = [...lanes.values()].reduce((n, lane) => n + lane.length, running.length);
  let batchesDone = 0;
  const report = (): void =>
    progress(run, phase, {
      wave: { index: Math.min(batches, batchesDone + 1), of: batches },
      current: running.flatMap((r) => r.batch.slice(0, 20).map((s) => serverNameOf(s.serverId))),
      counts: addCounts(run.sofar, counts),
    });
  report();
  const rollout = {
    correlationId: context.df.instanceId,
    trigger: input.trigger,
    vaultName: input.vaultName,
    keyName: input.keyName,
    targetVersion,
  };
  const pollMs = Math.max(1, input.settings.pollIntervalSeconds) * 1000;
  while (running.length > 0) {
    // Batches last minutes: while more wait to start, looking every few poll intervals keeps this
    // history short and a subscription's other batch keeps its servers busy. The canary ring and
    // the last batches are looked at every poll interval: the whole rollout waits on them.
    const waiting = [...lanes.values()].some((lane) => lane.length > 0);
    const tickMs = phase === 'canary' || !waiting ? pollMs : BATCH_LOOK_EVERY_POLLS * pollMs;
    // Wake on a batch just started finishing, or after one tick to look at the others (only new
    // tasks in Task.any: see rolloutBatch).
    const tick = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + tickMs));
    const winner = (yield context.df.Task.any([...started.splice(0), tick])) as Task;
    if (winner !== tick) tick.cancel();
    const finished = running.filter((r) => r.task.isCompleted || r.task.isFaulted);
    running = running.filter((r) => !finished.includes(r));
    for (const done of finished) {
      if (!done.task.isFaulted) {
        const out = done.task.result as RolloutBatchOutput;
        counts = addCounts(counts, out.counts);
        listed.push(...out.servers);
        run.serverAuditUndelivered += out.auditUndelivered ?? 0;
        run.operationSeconds = out.operationSeconds ?? run.operationSeconds;
        // A batch lists every server it did not update or verify: when its counts add up, a server of
        // it that is not listed went well (kept in memory only, for the incidents it proves fixed).
        if (out.counts.updated + out.counts.verified + out.servers.length === done.batch.length) {
          const notWell = new Set(out.servers.map((o) => o.serverId.toLowerCase()));
          for (const s of done.batch)
            if (!notWell.has(s.serverId.toLowerCase())) succeeded.add(s.serverId.toLowerCase());
        } else log(context, `batch output of ${done.batch.length} server(s) does not add up: none proven`);
      }
      // A batch never throws; should one still fail (a host fault), each of its servers is recorded
      // and paged as failed: what it did is unknown, and the next run re-reads them all.
      else
        for (const s of done.batch) {
          const failed = yield* subOrchestrationFailed(context, rollout, serverRefOf(s), done.task.result);
          listed.push(failed);
          counts = addOutcome(counts, failed.outcome, failed.reasonCode);
        }
      start(done.sub);
    }
    batchesDone += finished.length;
    if (finished.length > 0) report();
  }
  return { counts, servers: listed, succeeded };
}

// ---------------------------------------------------------------------------------------------
// 6. Servers left on an older pinned version that expires soon (excluded, failed, held back).

function* pageServersLeftOnExpiringVersions(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
  rolled: Rolled,
): Generator<Task, void, unknown> {
  // Left on their version: every planned server the rollout did not prove updated or verified.
  const left = plan.servers.filter((s) => !rolled.succeeded.has(s.serverId.toLowerCase()));
  for (const v of key.versions) {
    if (v.version.toLowerCase() === latest.version.toLowerCase()) continue;
    const days = daysLeft(v.expiresOn, run.now);
    const severity = expirySeverity(days, run.input.settings.nearExpiry);
    const onIt = left.filter((s) => s.slots.some((slot) => slot.version === v.version.toLowerCase()));
    if (severity === undefined || onIt.length === 0) continue;
    yield* pageExpiry(run, key, v, days, severity, onIt, false);
  }
}

/**
 * Pages the expiry of a version its servers are on (`newest`: the version the rollout targets; else
 * an older one servers were left on) and records it as KeyExpired or NearExpiryNotified.
 */
function* pageExpiry(
  run: Run,
  key: KeyInfo,
  version: KeyVersionInfo,
  days: number | undefined,
  severity: 'critical' | 'warning',
  servers: readonly PlannedServer[],
  newest: boolean,
): Generator<Task, void, unknown> {
  const expired = days !== undefined && days < 0;
  yield* page(
    run,
    expiryIncident(run, key, version, days, severity, servers, newest),
    'expiry',
    record(run, {
      step: expired ? 'KeyExpired' : 'NearExpiryNotified',
      outcome: 'failure',
      fromVersion: version.version,
      reasonCode: expired ? 'KeyExpired' : 'KeyNearExpiry',
      reason: `${servers.length} server(s) ${newest ? '' : 'still '}on a version that expires ${version.expiresOn ?? ''}`,
    }),
    { version: version.version },
  );
}

// ---------------------------------------------------------------------------------------------
// 7. Finish: a newer version or a waiting request continues as new; else resolve what is fixed.

function* finish(run: Run, latest: KeyVersionInfo, rolled: Rolled): Generator<Task, RotationOutput, unknown> {
  const { input, context } = run;
  const { counts, listed } = rolled;
  run.sofar = counts;
  progress(run, 'finishing');
  const open = mergeIncidents(input.openIncidents, run.opened);
  const reread = yield* callStep(context, 'readKey', { vaultUrl: input.vaultUrl, keyName: input.keyName });
  const newer =
    reread.ok && reread.value.latest !== undefined && reread.value.latest.version !== latest.version
      ? reread.value.latest.version
      : undefined;
  const key = reread.ok ? reread.value.key : { ...emptyKey(input), versions: [latest] };
  const signal = yield* pendingSignal(run, latest.version, key);
  const next: KeyEventSignal | undefined =
    newer !== undefined ? { trigger: input.trigger, reason: input.reason, version: newer } : signal;
  if (next !== undefined) {
    yield* recordAudit(context, [
      record(run, {
        step: 'RotationCompleted',
        outcome: 'info',
        toVersion: latest.version,
        reasonCode: 'Superseded',
        reason:
          newer !== undefined ? `superseded by ${newer}` : `${next.reason} request ${next.trigger} runs next`,
      }),
    ]);
    yield* pageUndeliveredAudit(run);
    const superseded = output(run, {
      status: counts.failed > 0 || listed.some(isFailure) ? 'completedWithFailures' : 'completed',
      targetVersion: latest.version,
      counts,
      servers: listed,
      openIncidents: mergeIncidents(open, run.opened),
    });
    continueWith(run, next, superseded);
    return superseded;
  }

  // An audit gap is proved fixed only by a run whose own records all arrived.
  const auditGap = incidentKeys.rotation(input.vaultName, input.keyName, 'AuditUndelivered');
  const fixed = input.openIncidents.filter(
    (i) =>
      inScope(i, input.onlyServers) &&
      isFixed(i, rolled.succeeded, run.opened) &&
      !(i.dedupKey === auditGap && undeliveredTotal(run) > 0),
  );
  if (fixed.length > 0)
    yield* callStep(context, 'resolvePages', {
      dedupKeys: fixed.map((i) => i.dedupKey),
      summary: `Fixed: ${input.keyName} rotation to ${latest.version} verified`,
      audit: record(run, { step: 'PageResolved', outcome: 'success', toVersion: latest.version }),
    });
  const stillOpen = open.filter((i) => !fixed.some((f) => f.dedupKey === i.dedupKey));
  const { canaryFailed } = rolled;
  const status: RotationStatus =
    counts.failed > 0 || listed.some(isFailure) || canaryFailed ? 'completedWithFailures' : 'completed';
  yield* recordAudit(context, [
    record(run, {
      step: 'RotationCompleted',
      outcome: status === 'completed' ? 'success' : 'failure',
      toVersion: latest.version,
      reasonCode: status === 'completed' ? undefined : canaryFailed ? 'CanaryFailed' : 'ServerFailures',
      reason: describeCounts(counts),
      durationMs: context.df.currentUtcDateTime.getTime() - Date.parse(run.now),
    }),
  ]);
  yield* pageUndeliveredAudit(run);
  log(context, `rotation of ${input.keyName} to ${latest.version}: ${describeCounts(counts)}`);
  const done = output(run, {
    status,
    targetVersion: latest.version,
    counts,
    servers: listed,
    openIncidents: mergeIncidents(stillOpen, run.opened),
    resolvedIncidents: fixed.map((f) => f.dedupKey),
  });
  // A signal raised while the activities above ran found the instance Running and was answered
  // "signalled": look once more, after the last activity, so that none is left unread when the
  // instance completes (a completed instance takes no events: see `requestRotation`). This run is done and
  // audited as such; a signal that needs a run gets the next one. `closing` tells the intake that a
  // signal raised from now on may come too late for this look (it then waits for the end).
  progress(run, 'finishing', { closing: true });
  const late = yield* pendingSignal(run, latest.version, key);
  if (late !== undefined) continueWith(run, late, done);
  return done;
}

/**
 * Failed, or skipped with a page of its own (could not be planned): the run is not clean. The run's
 * status also counts `counts.failed`: a batch whose counts did not add up may count a failure it did
 * not list.
 */
const isFailure = (o: ServerOutcome): boolean =>
  o.outcome === 'failed' || (o.outcome === 'skipped' && o.incident !== undefined);

function emptyKey(input: RotationInput): KeyInfo {
  return { vaultUrl: input.vaultUrl, vaultName: input.vaultName, name: input.keyName, versions: [] };
}

/** The earliest expiry among the versions a server is on now: the deadline its page should name. */
function oldestExpiry(key: KeyInfo, server: PlannedServer): string | undefined {
  const dates = server.slots
    .map((s) => key.versions.find((v) => v.version.toLowerCase() === s.version)?.expiresOn)
    .filter((d): d is string => d !== undefined)
    .sort();
  return dates[0];
}

/**
 * The page for servers on an expiring version. Before expiry: create a new version, the rotator
 * moves them. After expiry the servers are (or soon go) Inaccessible and refuse a new key until access
 * to the version they use is back (Microsoft Learn, PostgreSQL flexible server data encryption):
 * restore that version first, wait for Ready, then the rotator moves them.
 */
function expiryIncident(
  run: Run,
  key: KeyInfo,
  version: KeyVersionInfo,
  days: number | undefined,
  severity: 'critical' | 'warning',
  servers: readonly PlannedServer[],
  newest: boolean,
): Incident {
  const { input } = run;
  const expired = days !== undefined && days < 0;
  const names = servers.map((s) => serverNameOf(s.serverId));
  const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');
  const restore = expiredRecovery(key.name, version.version, input.vaultName, input.keyName, newest, servers);
  return {
    since: run.now,
    correlationId: run.context.df.instanceId,
    dedupKey: incidentKeys.expiry(input.vaultName, input.keyName, version.version, severity),
    summary: expired
      ? `Key ${input.keyName}/${version.version} in ${input.vaultName} has EXPIRED; ${servers.length} server(s) still use it: ${shown}`
      : `Key ${input.keyName}/${version.version} in ${input.vaultName} expires in ${days ?? '?'} day(s); ${servers.length} server(s) use it: ${shown}`,
    severity,
    source: version.kid,
    deadline: version.expiresOn,
    nextStep: expired
      ? restore
      : newest
        ? `Create a new version of ${input.keyName} (Key Vault "Rotate now", or set the rotation policy to rotate) before the deadline; the rotator then moves the servers it may move.${leftAloneNote(servers)}`
        : `The rotator could not move these servers to the newest version (see their own pages or the opt-out tag); fix that before the deadline, or they go Inaccessible when this version expires.${leftAloneNote(servers)}`,
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

/** A retry of named servers can prove only those servers' incidents fixed. */
function inScope(i: OpenIncident, only: readonly string[] | undefined): boolean {
  return only === undefined || (i.kind === 'server' && only.includes(i.serverId?.toLowerCase() ?? ''));
}

/**
 * An incident from an earlier run is fixed when this run, which re-examined everything for the key,
 * did not raise it again and, for a server, proved the server works now.
 */
function isFixed(i: OpenIncident, succeeded: ReadonlySet<string>, opened: readonly OpenIncident[]): boolean {
  if (opened.some((o) => o.dedupKey === i.dedupKey)) return false;
  if (i.kind !== 'server') return true;
  return i.serverId !== undefined && succeeded.has(i.serverId.toLowerCase());
}

function summarizePlan(servers: readonly PlannedServer[], unplannable: readonly UnplannableServer[]): string {
  const count = (a: string) => servers.filter((s) => s.action === a).length;
  return `${count('update')} to update, ${count('verify')} to verify, ${count('skip')} skipped, ${unplannable.length} unplannable, ${servers.filter((s) => s.ring === 'canary').length} in the canary ring`;
}
