import type { AuditRecord } from '../../domain/audit';
import {
  CROSS_TENANT_CODE,
  crossTenantReason,
  federatedIdsOf,
  isCrossTenant,
} from '../../domain/crossTenant';
import { classifyError, RotatorError } from '../../domain/errors';
import { tryParseKeyUri } from '../../domain/keyId';
import { resourceNameOf, subscriptionOf as subscriptionIdOf } from '../../domain/resourceId';
import type { ServerSnapshot } from '../../domain/model';
import { latestVersion, planRollout, ringOf, type ServerPlan } from '../../domain/plan';
import { packIds } from '../packing';
import { type PlannedServer, type StepError, type StepResult, type UnplannableServer } from '../activityIo';
import { isOnTarget, prepareServerUpdate, verifyEncryption } from '../../domain/serverUpdate';
import { STEP_NAMES, type StepActivities, type StepHandlers, type StepName } from '../contract';
import type { AuditTrail } from '../../ports/auditTrail';
import { AzureCallError, NotFoundError, ThrottledError } from '../../ports/errors';
import type { KeyVaultKeys } from '../../ports/keyVaultKeys';
import type { Pager } from '../../ports/pager';
import { discoverServersReferencingKey, type ServerFleet } from '../../ports/serverFleet';

/** The ports the rotation's activities work through. */
export interface ActivityPorts {
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly pager: Pager;
  readonly audit: AuditTrail;
}

/** Every configured pager channel failed: worth another try later. */
export class PagingFailedError extends RotatorError {
  readonly code = 'PagingFailed';
  readonly retryable = true;
}

/**
 * A server configured for cross-tenant CMK: never PATCHed (shared/domain/crossTenant.ts). Permanent:
 * the rollover fails it at once, diagnosed, paged once, audited; the other servers go on.
 */
export class CrossTenantServerError extends RotatorError {
  readonly code = CROSS_TENANT_CODE;
  readonly retryable = false;
}

/** The error as the orchestrator sees it: Azure's own code when it sent one, and whether a retry can help. */
export function toStepError(e: unknown): StepError {
  if (e instanceof AzureCallError)
    return {
      code: e.azureCode ?? e.code,
      message: e.message,
      retryable: e.retryable,
      retryAfterSeconds: e instanceof ThrottledError ? e.retryAfterSeconds : undefined,
      ...(e instanceof ThrottledError ? { throttled: true } : {}),
    };
  return classifyError(e);
}

/**
 * Wraps a handler so it always answers with a `StepResult`: whatever it throws is classified here,
 * where the error's class is still known, and the orchestrator decides on retries from that.
 * `onError` sees the thrown error itself (the activity boundary logs its class and stack from it).
 */
export function asStep<I, O>(
  handler: (input: I) => Promise<O>,
  onError?: (thrown: unknown, error: StepError) => void,
): (input: I) => Promise<StepResult<O>> {
  return async (input: I) => {
    try {
      return { ok: true, value: await handler(input) };
    } catch (e) {
      const error = toStepError(e);
      onError?.(e, error);
      return { ok: false, error };
    }
  };
}

/**
 * The plan entry the rotation carries for a server: in its history once per server, so only what the
 * rotation decides with (the name and subscription are in the id; a slot's reason only for a server
 * the plan skips, which the rotation audits with it; the state only when it is not Ready). Each
 * server's rollover re-reads and re-plans the server itself.
 */
function compact(plan: ServerPlan, server: ServerSnapshot, canaryTag: string): PlannedServer {
  const skip = plan.action === 'skip';
  return {
    serverId: plan.serverId,
    action: plan.action,
    ring: ringOf(server, canaryTag),
    ...(server.state !== undefined && server.state.toLowerCase() !== 'ready' ? { state: server.state } : {}),
    slots: plan.slots.map((s) => {
      const version = tryParseKeyUri(s.currentUri)?.version;
      return {
        slot: s.slot,
        decision: s.decision,
        ...(version !== undefined ? { version } : {}),
        ...(skip ? { reason: s.reason } : {}),
      };
    }),
  };
}

const nameOf = (id: string | undefined): string => (id === undefined ? 'unknown' : resourceNameOf(id));
const subscriptionOf = (id: string | undefined): string => (id === undefined ? '' : subscriptionIdOf(id));

/**
 * Builds the activity handlers over injected ports (no globals: tests hand in fakes or stand-in
 * clients). Handlers throw named errors; `registerableSteps` wraps them into `StepResult`s.
 */
export function createRotationActivities(ports: ActivityPorts): StepHandlers {
  const { keys, fleet, pager, audit } = ports;

  /**
   * Records a read-only step puts on record for the orchestrator (`Audited`; only `verifyServer`: a
   * re-run of a read repeats nothing), in one write: true once the trail accepted them. A refusal is
   * not this step's failure (the server was read): it is answered as false and the orchestrator sends
   * them with its next write or through `recordAudit`, so nothing is lost and nothing is claimed sent
   * that the trail did not take.
   */
  const recordAlong = async (records: AuditRecord[]): Promise<boolean> => {
    try {
      await audit.record(records);
      return true;
    } catch {
      return false;
    }
  };

  return {
    async readKey(input) {
      const key = await keys.readKey(input.vaultUrl, input.keyName);
      const newest = latestVersion(key);
      const latest =
        newest === undefined ? undefined : await keys.readKeyVersion(key.vaultUrl, key.name, newest.version);
      return { key, latest };
    },

    /** Discovery, then a plan per server: one server that cannot be planned never hides the others. */
    async planRollout(input) {
      const found = await discoverServersReferencingKey(fleet, {
        vaultUrl: input.key.vaultUrl,
        keyName: input.key.name,
      });
      // The target itself must be a version of the key: that is the whole step's problem, not a server's.
      planRollout({
        key: input.key,
        targetVersion: input.targetVersion,
        servers: [],
        optOutTag: input.optOutTag,
      });
      const servers: PlannedServer[] = [];
      const unplannable: UnplannableServer[] = found.invalid.map((row) => ({
        serverId: row.id ?? `unknown:${row.name ?? 'row'}`,
        serverName: row.name ?? nameOf(row.id),
        subscriptionId: subscriptionOf(row.id),
        code: 'InvalidConfiguration',
        reason: `discovery returned a row that is not a usable server: ${row.reason}`,
      }));
      for (const server of found.servers) {
        try {
          const plan = planRollout({
            key: input.key,
            targetVersion: input.targetVersion,
            servers: [server],
            optOutTag: input.optOutTag,
            holdTag: input.holdTag,
          });
          for (const p of plan.servers) servers.push(compact(p, server, input.canaryTag));
        } catch (e) {
          // A server whose configuration cannot be planned (no primary identity, ...) is reported on its own.
          const err = classifyError(e);
          if (err.retryable) throw e;
          unplannable.push({
            serverId: server.id,
            serverName: server.name,
            subscriptionId: server.subscriptionId,
            code: 'InvalidConfiguration',
            reason: err.message,
          });
        }
      }
      // Front-coded ids: the plan is in the rotation's history once per server (`unpackIds` there).
      return {
        servers: packIds(servers),
        discovered: found.servers.length + found.invalid.length,
        unplannable,
      };
    },

    /**
     * Rotates only if `fromVersion` is still the newest: a retry after a timeout (Key Vault may have
     * made the version before the answer was lost) finds the newer version and does not rotate again.
     */
    async rotateKey(input) {
      const key = await keys.readKey(input.vaultUrl, input.keyName);
      const newest = latestVersion(key);
      if (newest !== undefined && newest.version.toLowerCase() !== input.fromVersion.toLowerCase()) {
        const version = await keys.readKeyVersion(key.vaultUrl, key.name, newest.version);
        return { version, rotated: false };
      }
      return { version: await keys.rotateKey(input.vaultUrl, input.keyName), rotated: true };
    },

    /**
     * One read of the server and, only when that read says it needs it, the PATCH (issue 13: one
     * read per server before its write, not two). The read right before the write is what makes a
     * re-run after a crash, a lost answer or a 5xx that hid an accepted PATCH safe: it finds the
     * server Updating or on the target and does not write again. A failed read throws (retried as a
     * read, nothing written); a refused PATCH is answered as `refused` for the orchestrator to retry.
     */
    async updateServer(input) {
      const started = Date.now();
      const quota = () => ({ quota: fleet.armQuota?.(subscriptionOf(input.serverId), started) });
      let server: ServerSnapshot;
      try {
        server = await fleet.getServerForUpdate(input.serverId);
      } catch (e) {
        if (e instanceof NotFoundError)
          return { kind: 'skip', code: 'ServerGone', reason: 'the server no longer exists', ...quota() };
        throw e;
      }
      const prep = prepareServerUpdate(
        server,
        input.key,
        input.targetVersion,
        input.optOutTag,
        input.holdTag,
      );
      if (prep.kind === 'verify')
        return { ...prep, verification: verifyEncryption(server, prep.expected), ...quota() };
      if (prep.kind !== 'update') return { ...prep, ...quota() };
      if (isOnTarget(server, prep.expected))
        return {
          kind: 'verify',
          expected: prep.expected,
          verification: verifyEncryption(server, prep.expected),
          ...quota(),
        };
      // Cross-tenant CMK: the stable PATCH would convert the server (shared/domain/crossTenant.ts); the
      // read above used the api-version that shows the federated ids.
      const federated = federatedIdsOf(server.dataEncryption);
      if (isCrossTenant(federated)) throw new CrossTenantServerError(crossTenantReason(federated));
      const { patch, ...update } = prep;
      // Nothing else happens between ARM's answer and this step's: until the answer is in the rollover's
      // history, a crash re-runs the step, and a re-run that reads the server after our operation already
      // failed finds it Ready and behind and PATCHes again. So no audit record rides here (a record
      // with the trail's own retries held that window open for seconds, and the chaos suite, seed 23,
      // caught a second accepted PATCH); ServerUpdateStarted is the rollover's, once the answer is in.
      try {
        const handle = await fleet.beginEncryptionUpdate(input.serverId, patch);
        return {
          ...update,
          kind: 'accepted',
          acceptedAt: Date.now(),
          handle:
            handle.operationUrl === undefined
              ? undefined
              : { serverId: handle.serverId, operationUrl: handle.operationUrl },
          ...quota(),
        };
      } catch (e) {
        return { ...update, kind: 'refused', error: toStepError(e), ...quota() };
      }
    },

    /**
     * One read of ARM's operation; once it succeeded, one read of the server, which is the
     * verification (a failed read there leaves it to `verifyServer`). A failed poll throws and is
     * retried as a read, never as the PATCH.
     */
    async pollServerUpdate(input) {
      const started = Date.now();
      const quota = () => ({ quota: fleet.armQuota?.(subscriptionOf(input.handle.serverId), started) });
      const s = await fleet.pollOperation({
        serverId: input.handle.serverId,
        operationUrl: input.handle.operationUrl,
      });
      if (s.status === 'InProgress') return { status: 'InProgress', ...quota() };
      if (s.status !== 'Succeeded')
        return { status: 'Failed', code: s.errorCode, message: s.message, ...quota() };
      let verification;
      try {
        verification = verifyEncryption(await fleet.getServer(input.handle.serverId), input.expected);
      } catch {
        verification = undefined;
      }
      return { status: 'Succeeded', verification, operationSeconds: s.durationSeconds, ...quota() };
    },

    async verifyServer(input) {
      const started = Date.now();
      const v = verifyEncryption(await fleet.getServer(input.serverId), input.expected);
      const quota = fleet.armQuota?.(subscriptionOf(input.serverId), started);
      // After the read: a read that fails throws before anything is sent, and its retry sends once.
      const records = [...(input.along ?? [])];
      // The proof's time: once the read above showed the server on the target.
      if (v.ok && input.audit !== undefined)
        records.push({ ...input.audit.record, durationMs: Date.now() - input.audit.startedAt });
      if (records.length === 0) return { ...v, quota };
      const audited = await recordAlong(records);
      return {
        ...v,
        quota,
        audited,
        ...(audited && input.along !== undefined ? { alongRecorded: input.along.length } : {}),
      };
    },

    async recordAudit(records) {
      await audit.record(records);
      return null;
    },

    /** Pages only; the orchestrator records the step first and what became of the page after. */
    async pageOperator(input) {
      const outcomes = await pager.trigger(input.incident);
      const delivered = outcomes.some((o) => o.ok);
      if (outcomes.length > 0 && !delivered)
        throw new PagingFailedError(
          `No pager channel accepted incident ${input.incident.dedupKey}: ${outcomes
            .map((o) => `${o.channel}: ${o.ok ? 'ok' : o.reason}`)
            .join('; ')}`,
        );
      return {
        delivered,
        channels: outcomes.map((o) => ({
          channel: o.channel,
          ok: o.ok,
          reason: o.ok ? undefined : o.reason,
        })),
      };
    },

    async resolvePages(input) {
      const records: AuditRecord[] = [];
      const resolved: { dedupKey: string; accepted: boolean }[] = [];
      for (const dedupKey of input.dedupKeys) {
        const outcomes = await pager.resolve(dedupKey, input.summary, input.audit.correlationId);
        const refused = outcomes.flatMap((o) => (o.ok ? [] : [`${o.channel}: ${o.reason}`]));
        resolved.push({ dedupKey, accepted: refused.length === 0 });
        records.push({
          ...input.audit,
          step: 'PageResolved',
          outcome: refused.length === 0 ? 'success' : 'failure',
          ...(refused.length > 0 ? { reasonCode: 'PagerUnavailable' } : {}),
          reason:
            refused.length === 0
              ? input.summary
              : `${input.summary}; resolve refused by ${refused.join('; ')}`.slice(0, 1000),
          details: { dedupKey },
        });
      }
      await audit.record(records);
      return { resolved };
    },
  };
}

/** Every handler wrapped as a step, keyed by activity name: what functions/index.ts registers. */
export function registerableSteps(handlers: StepHandlers): StepActivities {
  const out: Partial<Record<StepName, unknown>> = {};
  for (const name of STEP_NAMES) out[name] = asStep(handlers[name] as (input: unknown) => Promise<unknown>);
  return out as StepActivities;
}
