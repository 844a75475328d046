import type { Config } from '../config';
import { findAllowedVault, rotationSettings } from '../config';
import type { AuditRecord } from '../domain/audit';
import { vaultUnreachableFix } from '../domain/diagnosis';
import { InvalidInputError, RotatorError } from '../domain/errors';
import { keyRef } from '../domain/keyId';
import { FUNCTION_NAMES } from '../domain/names';
import { asRotationProgress, progressFromCounts, rotationOutcomesOf, totalOf } from '../rotation/outcomes';
import { didYouMean } from '../domain/suggest';
import {
  ROTATION_SCHEMA_VERSION,
  type RotationInput,
  type RotationOutput,
  type RotationProgress,
} from '../rotation/contract';
import { rotationInstanceId } from '../rotation/ids';
import type { AuditTrail } from '../ports/auditTrail';
import { AzureCallError, NotFoundError, VaultUnreachableError } from '../ports/errors';
import type { KeyInfo } from '../domain/model';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import { isActive, type InstanceInfo, type ListedInstance, type RotationInstances } from '../ports/rotations';
import {
  historyOf,
  openIncidentsOf,
  requestAudit,
  requestRotation,
  type ClosingWait,
  type RequestOutcome,
} from './rotationRequests';

/** A request the operator API refuses as malformed or out of scope (400). Nothing is started. */
export class OperatorRequestError extends InvalidInputError {
  constructor(message: string) {
    super('InvalidOperatorRequest', message);
  }
}

/** The vault is in scope but has no such key (404). Nothing is started, nobody is paged. */
export class OperatorKeyNotFoundError extends InvalidInputError {
  constructor(message: string) {
    super('KeyNotFound', message);
  }
}

/**
 * Key Vault could not be asked whether the key exists. Nothing is started. Not an input error: the
 * request was fine. `retryable` (5xx, throttling, a timeout) is a 503 with Retry-After, "try again";
 * not retryable (the vault's firewall refuses the app, a missing role) fails the same way until an
 * operator changes something, so it is answered without Retry-After.
 */
export class OperatorDependencyError extends RotatorError {
  readonly code = 'KeyVaultUnavailable';

  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/**
 * Validates the vault and key an operator named; throws `OperatorRequestError` and changes nothing.
 * The vault is named by its name (when only one allowed vault has it), its host or its URL.
 */
export function operatorTarget(
  config: Config,
  vault: string,
  key: string,
): { vaultUrl: string; vaultName: string; keyName: string } {
  const found = findAllowedVault(config, vault);
  if (found === 'ambiguous')
    throw new OperatorRequestError(
      `More than one vault in CMK_ALLOWED_VAULTS is named "${vault}": name it by host (e.g. ${vault}.managedhsm.azure.net).`,
    );
  if (found === undefined) throw new OperatorRequestError(`Vault "${vault}" is not in CMK_ALLOWED_VAULTS.`);
  if (!KEY_NAME.test(key)) throw new OperatorRequestError(`"${key}" is not a Key Vault key name.`);
  const ref = keyRef(found.vaultUrl, key);
  return { vaultUrl: ref.vaultUrl, vaultName: found.vaultName, keyName: key };
}

/**
 * Reads the key an operator named. One answer for a key the vault does not have, in every endpoint
 * (rotate, plan, status): `OperatorKeyNotFoundError` with the vault's keys and the nearest names, never
 * the SDK's words; Key Vault failing to answer is `OperatorDependencyError`.
 */
export async function readOperatorKey(
  keys: Pick<KeyVaultKeys, 'readKey' | 'listKeys'>,
  target: { readonly vaultUrl: string; readonly vaultName: string; readonly keyName: string },
): Promise<KeyInfo> {
  try {
    return await keys.readKey(target.vaultUrl, target.keyName);
  } catch (e) {
    if (e instanceof NotFoundError) {
      const known = await keys.listKeys(target.vaultUrl).catch(() => undefined);
      const near = known === undefined ? '' : didYouMean(target.keyName, known);
      throw new OperatorKeyNotFoundError(
        `No such key in vault: ${target.vaultUrl} has no key "${target.keyName}"${near}.${known !== undefined ? ` Its keys: ${known.join(', ') || '(none)'}.` : ''} Nothing was started.`,
      );
    }
    // Not "try again later": the firewall refuses the app until its network changes.
    if (e instanceof VaultUnreachableError)
      throw new OperatorDependencyError(
        `The rotator cannot reach ${target.vaultUrl} over the network (${e.azureCode ?? e.code}: Key Vault's firewall refused it); nothing was started. ${vaultUnreachableFix(target.vaultName)}`,
        false,
        { cause: e },
      );
    if (e instanceof AzureCallError)
      throw new OperatorDependencyError(
        e.retryable
          ? `Key Vault could not be asked whether ${target.vaultUrl} has key "${target.keyName}" (${e.azureCode ?? e.code}); nothing was started, try again later.`
          : `Key Vault refused to say whether ${target.vaultUrl} has key "${target.keyName}" (${e.azureCode ?? e.code}); nothing was started. It will refuse the same way until that is fixed.`,
        e.retryable,
        { cause: e },
      );
    throw e;
  }
}

/** What an operator may say about a manual rotation (request body, JSON, optional). */
export interface OperatorNote {
  /** Why, in words (at most 500 characters). */
  readonly reason?: string;
  /** Change or incident ticket (at most 64 characters: letters, digits, `. _ : # / -`). */
  readonly ticket?: string;
}

const MAX_REASON = 500;
const TICKET = /^[A-Za-z0-9._:#/-]{1,64}$/;

/** Parses the optional JSON body of `POST /api/rotations/{vault}/{key}`; throws `OperatorRequestError`. */
export function parseOperatorNote(body: string): OperatorNote {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new OperatorRequestError(
      'The body must be JSON: {"reason": "...", "ticket": "..."} (both optional).',
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new OperatorRequestError('The body must be a JSON object with optional "reason" and "ticket".');
  const fields = parsed as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'reason' && k !== 'ticket');
  if (unknown.length > 0)
    throw new OperatorRequestError(
      `Unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}: only "reason" and "ticket".`,
    );
  const note: { reason?: string; ticket?: string } = {};
  if (fields['reason'] !== undefined) {
    const reason = fields['reason'];

    if (
      typeof reason !== 'string' ||
      reason.trim() === '' ||
      reason.length > MAX_REASON ||
      /[\u0000-\u001f]/.test(reason)
    )
      throw new OperatorRequestError(`"reason" must be text of 1 to ${MAX_REASON} characters on one line.`);
    note.reason = reason.trim();
  }
  if (fields['ticket'] !== undefined) {
    const ticket = fields['ticket'];
    if (typeof ticket !== 'string' || !TICKET.test(ticket))
      throw new OperatorRequestError('"ticket" must be 1 to 64 letters, digits or . _ : # / -.');
    note.ticket = ticket;
  }
  return note;
}

/** An operator's note as audit record details (`operatorReason`, `ticket`); empty without one. */
export function noteDetails(note: OperatorNote): Record<string, string> {
  const details: Record<string, string> = {};
  if (note.reason !== undefined) details['operatorReason'] = note.reason;
  if (note.ticket !== undefined) details['ticket'] = note.ticket;
  return details;
}

/**
 * Who is asking. Under App Service Authentication (enabled for the app: `WEBSITE_AUTH_ENABLED=True`)
 * the platform authenticates the caller, strips any client-sent `x-ms-client-principal-*` headers and
 * sets `x-ms-client-principal-name` itself, so the name can be trusted. Otherwise the request proved
 * only that it holds a function key, and any header is the caller's own claim: `function-key`.
 */
export function operatorCaller(
  config: Pick<Config, 'callerAttribution'>,
  principalName: string | null,
): string {
  if (config.callerAttribution !== 'appServiceAuthentication') return 'function-key';

  const name = (principalName ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return name === '' ? 'function-key' : name.slice(0, 256);
}

/**
 * Manual rotation: the same path as an event (one instance per key), attributed to the caller. The key
 * is read first: a key the vault does not have is refused (`OperatorKeyNotFoundError`, nothing started,
 * nobody paged), and Key Vault failing to answer is `OperatorDependencyError`.
 */
export async function requestOperatorRotation(
  instances: RotationInstances,
  deps: {
    readonly config: Config;
    readonly audit: AuditTrail;
    readonly keys: KeyVaultKeys;
    /** How long to wait for a closing run (`requestRotation`); its default when absent. */
    readonly closingWait?: ClosingWait | undefined;
  },
  vault: string,
  key: string,
  caller: string,
  note: OperatorNote = {},
): Promise<RequestOutcome> {
  const target = operatorTarget(deps.config, vault, key);
  await readOperatorKey(deps.keys, target);
  const request = {
    ...target,
    trigger: `operator:${caller}`,
    reason: 'Operator' as const,
    version: undefined,
  };
  const outcome = await requestRotation(instances, request, rotationSettings(deps.config), deps.closingWait);
  const details = noteDetails(note);
  const record: AuditRecord = {
    ...requestAudit(request, outcome),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
  await deps.audit.record([record]);
  return outcome;
}

/** The key's rotation instance, for `GET`. */
export async function rotationStatus(
  instances: RotationInstances,
  config: Config,
  vault: string,
  key: string,
): Promise<{ instanceId: string; info: InstanceInfo | undefined }> {
  const target = operatorTarget(config, vault, key);
  const instanceId = rotationInstanceId(target.vaultUrl, target.keyName);
  return { instanceId, info: await instances.status(instanceId) };
}

/** One key's rotation in the listing: the run going on now, or the last one. */
export interface RotationSummary {
  readonly instanceId: string;
  readonly vault: string;
  readonly key: string;
  readonly runtimeStatus: InstanceInfo['runtimeStatus'];
  readonly running: boolean;
  readonly createdTime: string | undefined;
  readonly lastUpdatedTime: string | undefined;
  /** While running: phase, batch, counts, servers in flight. */
  readonly progress: RotationProgress | undefined;
  /** Once ended: its outcome. */
  readonly result:
    | {
        readonly status: string;
        readonly targetVersion: string | undefined;
        readonly reasonCode: string | undefined;
        readonly completedAt: string | undefined;
        readonly counts: RotationProgress['counts'];
        readonly failedServers: readonly string[];
        readonly openIncidents: number;
      }
    | undefined;
}

const ROTATION_ID = /^cmk-rotation:([^:]+):([^:]+)$/;

/** The summary of one instance (its output read defensively: it crossed the durable boundary). */
export function summarizeRotation(instanceId: string, info: InstanceInfo): RotationSummary | undefined {
  const m = ROTATION_ID.exec(instanceId);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const raw = info.output;
  const out = typeof raw === 'object' && raw !== null ? (raw as Partial<RotationOutput>) : undefined;
  // Either format: counts and the servers that need attention, or (older outputs) every server.
  const { counts, servers } = rotationOutcomesOf(out);
  const running = isActive(info.runtimeStatus);
  return {
    instanceId,
    vault: m[1],
    key: m[2],
    runtimeStatus: info.runtimeStatus,
    running,
    createdTime: info.createdTime,
    lastUpdatedTime: info.lastUpdatedTime,
    progress: running ? asRotationProgress(info.customStatus) : undefined,
    result:
      running || out === undefined || typeof out.status !== 'string'
        ? undefined
        : {
            status: out.status,
            targetVersion: out.targetVersion,
            reasonCode: out.reasonCode,
            completedAt: out.completedAt,
            counts: progressFromCounts(totalOf(counts), counts),
            failedServers: servers.filter((s) => s.outcome === 'failed').map((s) => s.serverName),
            openIncidents: Array.isArray(out.openIncidents) ? out.openIncidents.length : 0,
          },
  };
}

/** Every key's rotation (one instance per key; server sub-orchestrations left out), running ones first. */
export async function listRotations(instances: RotationInstances): Promise<RotationSummary[]> {
  return summarizeRotations(await instances.list());
}

export function summarizeRotations(all: readonly ListedInstance[]): RotationSummary[] {
  return all
    .filter((i) => i.name === FUNCTION_NAMES.keyRotation)
    .map((i) => summarizeRotation(i.instanceId, i))
    .filter((s): s is RotationSummary => s !== undefined)
    .sort((a, b) => Number(b.running) - Number(a.running) || a.instanceId.localeCompare(b.instanceId));
}

/** Why a retry cannot run now (HTTP 409 for the API). */
export class RetryRefusedError extends InvalidInputError {
  constructor(message: string) {
    super('RetryRefused', message);
  }
}

/**
 * Retries one server that failed (or was skipped with a page) in the key's last run: a run of the
 * key limited to that server (`onlyServers`), attributed to the caller. Refused while the key's
 * rotation runs (it would cover the server anyway) and for a server the last run did not fail.
 */
export async function requestServerRetry(
  instances: RotationInstances,
  deps: { readonly config: Config; readonly audit: AuditTrail },
  vault: string,
  key: string,
  server: string,
  caller: string,
  note: OperatorNote = {},
): Promise<{ kind: 'started'; instanceId: string; serverId: string }> {
  const target = operatorTarget(deps.config, vault, key);
  const instanceId = rotationInstanceId(target.vaultUrl, target.keyName);
  const current = await instances.status(instanceId);
  if (current === undefined) throw new RetryRefusedError(`No rotation has run for ${vault}/${key}.`);
  if (isActive(current.runtimeStatus))
    throw new RetryRefusedError(
      `The rotation of ${vault}/${key} is running; it covers ${server}. Retry after it ends if it fails.`,
    );
  // Either format lists every server that failed or was skipped with a page: the ones a retry is for.
  const { servers } = rotationOutcomesOf(current.output);
  const named = servers.filter((s) => s.serverName.toLowerCase() === server.toLowerCase());
  if (named.length > 1)
    throw new RetryRefusedError(
      `${server} names ${named.length} servers in the last run; ask by the one to retry.`,
    );
  const last = named[0];
  if (
    last === undefined ||
    !(last.outcome === 'failed' || (last.outcome === 'skipped' && last.incident !== undefined))
  )
    throw new RetryRefusedError(
      `${server} did not fail in the last run of ${vault}/${key}${last !== undefined ? ` (it was ${last.outcome})` : ''}: nothing to retry.`,
    );
  const trigger = `operator:${caller}`;
  const input: RotationInput = {
    schemaVersion: ROTATION_SCHEMA_VERSION,
    vaultUrl: target.vaultUrl,
    vaultName: target.vaultName,
    keyName: target.keyName,
    trigger,
    reason: 'Operator',
    hintVersion: undefined,
    settings: rotationSettings(deps.config),
    openIncidents: openIncidentsOf(current),
    generation: 0,
    onlyServers: [last.serverId.toLowerCase()],
    ...historyOf(current),
  };
  const started = await instances.start(instanceId, input);
  if (started === 'alreadyRunning')
    throw new RetryRefusedError(`A rotation of ${vault}/${key} started meanwhile; it covers ${server}.`);
  await deps.audit.record([
    {
      step: 'EventReceived',
      correlationId: instanceId,
      trigger,
      outcome: 'info',
      vault: target.vaultName,
      key: target.keyName,
      serverId: last.serverId,
      reasonCode: 'Operator',
      reason: `retry of ${last.serverName} (${last.reasonCode ?? last.outcome} in the last run) started`,
      ...(Object.keys(noteDetails(note)).length > 0 ? { details: noteDetails(note) } : {}),
    },
  ]);
  return { kind: 'started', instanceId, serverId: last.serverId };
}
