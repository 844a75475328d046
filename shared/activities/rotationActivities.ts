import type { AuditRecord } from '../domain/audit';
import { RotatorError } from '../domain/errors';
import { tryParseKeyUri } from '../domain/keyId';
import type { ServerSnapshot, Slot } from '../domain/model';
import { hasTag, latestVersion, planRollout, type ServerPlan } from '../domain/plan';
import type { PlannedServer } from '../domain/rotation';
import type {
  BeginServerUpdateInput,
  BeginServerUpdateOutput,
  PageOperatorInput,
  PageOperatorOutput,
  PlanRolloutInput,
  PlanRolloutOutput,
  PollServerUpdateInput,
  PollServerUpdateOutput,
  PrepareServerInput,
  PrepareServerOutput,
  ReadKeyInput,
  ReadKeyOutput,
  ResolvePagesInput,
  RotateKeyInput,
  RotateKeyOutput,
  VerifyServerInput,
  VerifyServerOutput,
} from '../domain/steps';
import type { AuditTrail } from '../ports/auditTrail';
import { AzureCallError, NotFoundError, ThrottledError } from '../ports/errors';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { Pager } from '../ports/pager';
import { findAllServersReferencingKey, type ServerFleet } from '../ports/serverFleet';

/** The ports the rotation's activities work through. */
export interface ActivityPorts {
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly pager: Pager;
  readonly audit: AuditTrail;
}

/** Every configured pager channel failed; thrown so the durable retry policy tries the page again. */
export class PagingFailedError extends RotatorError {
  readonly code = 'PagingFailed';
}

/**
 * A permanent Azure failure becomes a tagged result the orchestrator decides on; anything retryable
 * (or unexpected) is thrown again for the activity's durable retry policy.
 */
function failure(e: unknown): { ok: false; code: string; message: string } {
  if (e instanceof AzureCallError && !e.retryable)
    return { ok: false, code: e.azureCode ?? e.code, message: e.message };
  throw e;
}

function isCanary(server: ServerSnapshot, canaryTag: string): boolean {
  return hasTag(server.tags, canaryTag)?.trim() === '0';
}

function compact(plan: ServerPlan, server: ServerSnapshot | undefined, canaryTag: string): PlannedServer {
  return {
    serverId: plan.serverId,
    serverName: plan.serverName,
    subscriptionId: plan.subscriptionId,
    action: plan.action,
    ring: server !== undefined && isCanary(server, canaryTag) ? 'canary' : 'main',
    slots: plan.slots.map((s) => ({
      slot: s.slot,
      decision: s.decision,
      version: tryParseKeyUri(s.currentUri)?.version,
      reason: s.reason,
    })),
  };
}

function slotUri(server: ServerSnapshot, slot: Slot): string | undefined {
  return slot === 'primary' ? server.dataEncryption?.primaryKeyURI : server.dataEncryption?.geoBackupKeyURI;
}

/** Builds the activity handlers over injected ports (no globals: tests hand in fakes or stand-in clients). */
export function createRotationActivities(ports: ActivityPorts) {
  const { keys, fleet, pager, audit } = ports;

  async function readKey(input: ReadKeyInput): Promise<ReadKeyOutput> {
    try {
      const key = await keys.readKey(input.vaultUrl, input.keyName);
      const newest = latestVersion(key);
      const latest =
        newest === undefined ? undefined : await keys.readKeyVersion(key.vaultUrl, key.name, newest.version);
      return { ok: true, key, latest };
    } catch (e) {
      return failure(e);
    }
  }

  async function planRolloutActivity(input: PlanRolloutInput): Promise<PlanRolloutOutput> {
    let servers: ServerSnapshot[];
    try {
      servers = await findAllServersReferencingKey(fleet, {
        vaultUrl: input.key.vaultUrl,
        keyName: input.key.name,
      });
    } catch (e) {
      return failure(e);
    }
    const plan = planRollout({
      key: input.key,
      targetVersion: input.targetVersion,
      servers,
      optOutTag: input.optOutTag,
    });
    const byId = new Map(servers.map((s) => [s.id.toLowerCase(), s]));
    return {
      ok: true,
      discovered: servers.length,
      servers: plan.servers.map((p) => compact(p, byId.get(p.serverId.toLowerCase()), input.canaryTag)),
    };
  }

  async function rotateKey(input: RotateKeyInput): Promise<RotateKeyOutput> {
    try {
      return { ok: true, version: await keys.rotateKey(input.vaultUrl, input.keyName) };
    } catch (e) {
      return failure(e);
    }
  }

  async function prepareServer(input: PrepareServerInput): Promise<PrepareServerOutput> {
    let server: ServerSnapshot;
    try {
      server = await fleet.getServer(input.serverId);
    } catch (e) {
      if (e instanceof NotFoundError)
        return { kind: 'skip', code: 'ServerGone', reason: 'the server no longer exists' };
      throw e;
    }
    const plan = planRollout({
      key: input.key,
      targetVersion: input.targetVersion,
      servers: [server],
      optOutTag: input.optOutTag,
    });
    const sp = plan.servers[0];
    if (sp === undefined)
      return {
        kind: 'skip',
        code: 'NotReferencingKey',
        reason: `the server no longer uses key ${input.key.name}`,
      };
    const current: Partial<Record<Slot, string>> = {};
    for (const s of sp.slots) current[s.slot] = s.currentUri;
    if (sp.action === 'verify') return { kind: 'verify', expected: current };
    if (sp.action === 'skip' || sp.patch === undefined) {
      const first = sp.slots[0];
      return {
        kind: 'skip',
        code: first?.decision ?? 'skip',
        reason: sp.slots.map((s) => s.reason).join('; '),
      };
    }
    const expected: Partial<Record<Slot, string>> = {};
    for (const s of sp.slots) expected[s.slot] = s.decision === 'update' ? plan.targetKid : s.currentUri;
    return {
      kind: 'update',
      patch: sp.patch,
      snapshot: { dataEncryption: server.dataEncryption ?? {}, identity: server.identity },
      expected,
      from: current,
    };
  }

  async function beginServerUpdate(input: BeginServerUpdateInput): Promise<BeginServerUpdateOutput> {
    try {
      return { ok: true, handle: await fleet.beginEncryptionUpdate(input.serverId, input.patch) };
    } catch (e) {
      if (!(e instanceof AzureCallError)) throw e;
      return {
        ok: false,
        code: e.azureCode ?? e.code,
        message: e.message,
        retryable: e.retryable,
        retryAfterSeconds: e instanceof ThrottledError ? e.retryAfterSeconds : undefined,
      };
    }
  }

  async function pollServerUpdate(input: PollServerUpdateInput): Promise<PollServerUpdateOutput> {
    // A throttled or failed poll throws: the durable retry policy polls again.
    const s = await fleet.pollOperation(input.handle);
    if (s.status === 'InProgress') return { status: 'InProgress' };
    if (s.status === 'Succeeded') return { status: 'Succeeded' };
    return { status: 'Failed', code: s.errorCode, message: s.message };
  }

  async function verifyServer(input: VerifyServerInput): Promise<VerifyServerOutput> {
    const server = await fleet.getServer(input.serverId);
    const de = server.dataEncryption ?? {};
    const identityOf = (slot: Slot): string | undefined =>
      slot === 'primary' ? de.primaryUserAssignedIdentityId : de.geoBackupUserAssignedIdentityId;
    const fail = (pending: boolean, code: string, message: string, slot: Slot = 'primary') =>
      ({ ok: false, pending, code, message, identityId: identityOf(slot) }) as const;
    if (server.state !== 'Ready')
      return fail(
        server.state === 'Updating',
        'VerificationFailed',
        `server state is ${server.state ?? 'unknown'}`,
      );
    for (const slot of ['primary', 'geoBackup'] as const) {
      const uri = slotUri(server, slot);
      const want = input.expected[slot];
      if (want !== undefined && uri?.toLowerCase() !== want.toLowerCase())
        return fail(
          false,
          'VerificationFailed',
          `${slot} key URI is ${uri ?? 'unset'}, expected ${want}`,
          slot,
        );
      if (uri === undefined || uri === '') continue;
      const status = slot === 'primary' ? de.primaryEncryptionKeyStatus : de.geoBackupEncryptionKeyStatus;
      if (status !== 'Valid')
        return fail(
          status === undefined || status === 'Unknown',
          'VerificationFailed',
          `${slot} key status is ${status ?? 'not reported'}`,
          slot,
        );
    }
    return { ok: true, dataEncryption: de };
  }

  async function recordAudit(records: readonly AuditRecord[]): Promise<void> {
    await audit.record(records);
  }

  async function pageOperator(input: PageOperatorInput): Promise<PageOperatorOutput> {
    const { incident } = input;
    const outcomes = await pager.trigger(incident);
    const delivered = outcomes.some((o) => o.ok);
    const failed = outcomes.flatMap((o) => (o.ok ? [] : [o]));
    const base = {
      ...input.audit,
      details: { dedupKey: incident.dedupKey, severity: incident.severity, summary: incident.summary },
      durationMs: undefined,
    };
    // The step that caused the page first, then what became of the page.
    const records: AuditRecord[] = [input.audit];
    if (delivered)
      records.push({
        ...base,
        step: 'OperatorPaged',
        outcome: 'info',
        reason: `paged via ${outcomes
          .filter((o) => o.ok)
          .map((o) => o.channel)
          .join(', ')}`,
      });
    if (failed.length > 0 || outcomes.length === 0)
      records.push({
        ...base,
        step: 'PageFailed',
        outcome: 'failure',
        reasonCode: outcomes.length === 0 ? 'NoPagerConfigured' : 'PagerUnavailable',
        reason:
          outcomes.length === 0
            ? 'no pager is configured; the incident is recorded here only'
            : failed.map((o) => `${o.channel}: ${o.reason}`).join('; '),
      });
    await audit.record(records);
    if (outcomes.length > 0 && !delivered)
      throw new PagingFailedError(`No pager channel accepted incident ${incident.dedupKey}.`);
    return { delivered, channels: outcomes.map((o) => ({ channel: o.channel, ok: o.ok })) };
  }

  async function resolvePages(input: ResolvePagesInput): Promise<void> {
    const records: AuditRecord[] = [];
    for (const dedupKey of input.dedupKeys) {
      const outcomes = await pager.resolve(dedupKey, input.summary, input.audit.correlationId);
      records.push({
        ...input.audit,
        step: 'PageResolved',
        outcome: outcomes.every((o) => o.ok) ? 'success' : 'failure',
        reason: input.summary,
        details: { dedupKey },
      });
    }
    await audit.record(records);
  }

  return {
    readKey,
    planRollout: planRolloutActivity,
    rotateKey,
    prepareServer,
    beginServerUpdate,
    pollServerUpdate,
    verifyServer,
    recordAudit,
    pageOperator,
    resolvePages,
  };
}
