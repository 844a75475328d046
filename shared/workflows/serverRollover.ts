import type { OrchestrationContext, Task } from 'durable-functions';
import type { AuditRecord } from '../domain/audit';
import { diagnose } from '../domain/diagnosis';
import { tryParseKeyUri } from '../domain/keyId';
import type { Slot } from '../domain/model';
import {
  incidentKeys,
  retryDelaySeconds,
  type ServerOutcome,
  type ServerRolloverInput,
  type SlotChange,
} from '../domain/rotation';
import {
  ACTIVITY_NAMES,
  type BeginServerUpdateOutput,
  type PollServerUpdateOutput,
  type PrepareServerOutput,
  type VerifyServerOutput,
} from '../domain/steps';
import { callStep, log, pageOperator, recordAudit, waitSeconds } from './steps';

/** How often a verification that is still settling (Updating, status not yet reported) is looked at again. */
const VERIFY_ATTEMPTS = 5;

type Failure = { code: string; message: string; identityId?: string | undefined };

const versionOf = (uri: string | undefined): string | undefined =>
  uri === undefined ? undefined : (tryParseKeyUri(uri)?.version ?? 'versionless');

function changes(from: Partial<Record<Slot, string>>, to: Partial<Record<Slot, string>>): SlotChange[] {
  return (['primary', 'geoBackup'] as const)
    .filter((slot) => to[slot] !== undefined || from[slot] !== undefined)
    .map((slot) => ({ slot, from: versionOf(from[slot]), to: versionOf(to[slot]) }));
}

/**
 * One server: re-read it, PATCH the full encryption body if it still needs it, wait for ARM's operation
 * on durable timers, prove the result (Ready, key status Valid, URIs on the target), and on failure
 * page with a diagnosis. Expected outcomes are returned, never thrown, so one server cannot fail the
 * rotation of the others.
 */
export function* serverRolloverOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ServerOutcome, unknown> {
  const input = context.df.getInput<ServerRolloverInput>();
  const { server, settings, key } = input;
  const started = context.df.currentUtcDateTime.getTime();
  const elapsed = (): number => context.df.currentUtcDateTime.getTime() - started;
  const base: AuditRecord = {
    step: 'ServerUpdateStarted',
    correlationId: input.correlationId,
    trigger: input.trigger,
    outcome: 'info',
    vault: key.vaultName,
    key: key.name,
    toVersion: input.targetVersion,
    serverId: server.serverId,
    subscriptionId: server.subscriptionId,
  };
  const outcome = (
    kind: ServerOutcome['outcome'],
    slots: SlotChange[],
    extra: Partial<ServerOutcome> = {},
  ) => ({
    serverId: server.serverId,
    serverName: server.serverName,
    subscriptionId: server.subscriptionId,
    outcome: kind,
    slots,
    ...extra,
  });

  const prep = yield* callStep<PrepareServerOutput>(context, ACTIVITY_NAMES.prepareServer, {
    serverId: server.serverId,
    key,
    targetVersion: input.targetVersion,
    optOutTag: settings.optOutTag,
  });
  if (prep.kind === 'skip') {
    yield* recordAudit(context, [
      { ...base, step: 'ServerSkipped', outcome: 'skipped', reasonCode: prep.code, reason: prep.reason },
    ]);
    return outcome('skipped', [], { reasonCode: prep.code, reason: prep.reason });
  }

  let failure: Failure | undefined;
  const slots =
    prep.kind === 'update' ? changes(prep.from, prep.expected) : changes(prep.expected, prep.expected);
  const fromVersion = slots.find((s) => s.from !== s.to)?.from ?? slots[0]?.from;

  if (prep.kind === 'update') {
    log(context, `${server.serverName}: PATCH dataEncryption to ${input.targetVersion}`);
    yield* recordAudit(context, [
      {
        ...base,
        fromVersion,
        reason: `moving ${slots.map((s) => `${s.slot} ${s.from ?? '-'} -> ${s.to ?? '-'}`).join(', ')}`,
        details: { lastKnownGood: JSON.stringify(prep.snapshot) },
      },
    ]);
    failure = yield* update(context, input, prep.patch, started);
    if (failure !== undefined)
      failure = { ...failure, identityId: prep.snapshot.dataEncryption.primaryUserAssignedIdentityId };
  }
  if (failure === undefined) failure = yield* verify(context, input, prep.expected);

  if (failure === undefined) {
    yield* recordAudit(context, [
      {
        ...base,
        step: 'ServerVerified',
        outcome: 'success',
        fromVersion,
        reason:
          prep.kind === 'update'
            ? 'Ready, key status Valid, on the target version'
            : 'Ready, key status Valid (no change needed)',
        durationMs: elapsed(),
      },
    ]);
    return outcome(prep.kind === 'update' ? 'updated' : 'verified', slots);
  }

  const diagnosis = diagnose(failure.code, {
    vaultName: key.vaultName,
    keyName: key.name,
    serverName: server.serverName,
    identityId: failure.identityId,
  });
  const reason = `${diagnosis.what} (${failure.message})`;
  const incident = {
    dedupKey: incidentKeys.server(
      key.vaultName,
      key.name,
      input.targetVersion,
      server.serverName,
      server.serverId,
    ),
    kind: 'server' as const,
    serverId: server.serverId,
    version: input.targetVersion,
  };
  log(context, `${server.serverName}: failed with ${failure.code}`);
  const failedRecord: AuditRecord = {
    ...base,
    step: 'ServerFailed',
    outcome: 'failure',
    fromVersion,
    reasonCode: failure.code,
    reason,
    durationMs: elapsed(),
  };
  yield* pageOperator(
    context,
    {
      dedupKey: incident.dedupKey,
      summary: `CMK rotation of ${server.serverName} to ${key.name}/${input.targetVersion} failed: ${diagnosis.what}`,
      severity: 'error',
      source: server.serverId,
      since: new Date(started).toISOString(),
      deadline: input.expiresOn,
      nextStep: diagnosis.nextStep,
      correlationId: input.correlationId,
      facts: {
        vault: key.vaultName,
        key: key.name,
        targetVersion: input.targetVersion,
        fromVersion: fromVersion ?? '-',
        reasonCode: failure.code,
        subscription: server.subscriptionId,
      },
    },
    failedRecord,
  );
  return outcome('failed', slots, { reasonCode: failure.code, reason, incident });
}

/** PATCH (retrying what Azure says is worth retrying, after its Retry-After), then poll to the end. */
function* update(
  context: OrchestrationContext,
  input: ServerRolloverInput,
  patch: unknown,
  started: number,
): Generator<Task, Failure | undefined, unknown> {
  const { settings, server } = input;
  let handle: { serverId: string; pollerState: string } | undefined;
  for (let attempt = 1; handle === undefined; attempt++) {
    const r = (yield context.df.callActivity(ACTIVITY_NAMES.beginServerUpdate, {
      serverId: server.serverId,
      patch,
    })) as BeginServerUpdateOutput;
    if (r.ok) {
      handle = r.handle;
      break;
    }
    if (!r.retryable) return { code: r.code, message: r.message };
    if (attempt >= settings.maxWriteAttempts)
      return { code: 'RetriesExhausted', message: `${attempt} attempts, last: ${r.code}` };
    const delay = retryDelaySeconds(attempt, r.retryAfterSeconds);
    log(context, `${server.serverName}: ${r.code}, retrying in ${delay}s`);
    yield* waitSeconds(context, delay);
  }

  const deadline = started + settings.operationTimeoutMinutes * 60_000;
  for (;;) {
    yield* waitSeconds(context, settings.pollIntervalSeconds);
    const s = yield* callStep<PollServerUpdateOutput>(context, ACTIVITY_NAMES.pollServerUpdate, { handle });
    if (s.status === 'Succeeded') return undefined;
    if (s.status === 'Failed') return { code: s.code, message: s.message };
    if (context.df.currentUtcDateTime.getTime() > deadline)
      return {
        code: 'OperationTimedOut',
        message: `still running after ${settings.operationTimeoutMinutes} minutes`,
      };
  }
}

/** Proves the server works on the expected key URIs; settles briefly if Azure is still reporting. */
function* verify(
  context: OrchestrationContext,
  input: ServerRolloverInput,
  expected: Partial<Record<Slot, string>>,
): Generator<Task, Failure | undefined, unknown> {
  for (let attempt = 1; ; attempt++) {
    const v = yield* callStep<VerifyServerOutput>(context, ACTIVITY_NAMES.verifyServer, {
      serverId: input.server.serverId,
      expected,
    });
    if (v.ok) return undefined;
    if (!v.pending || attempt >= VERIFY_ATTEMPTS)
      return { code: v.code, message: v.message, identityId: v.identityId };
    yield* waitSeconds(context, input.settings.pollIntervalSeconds);
  }
}
