import type { Config } from '../config';
import { findAllowedVault, rotationSettings } from '../config';
import type { AuditRecord } from '../domain/audit';
import { InvalidInputError } from '../domain/errors';
import { keyRef } from '../domain/keyId';
import { rotationInstanceId } from '../domain/rotation';
import type { AuditTrail } from '../ports/auditTrail';
import { AzureCallError, NotFoundError } from '../ports/errors';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { InstanceInfo, RotationInstances } from '../ports/rotations';
import { requestAudit, requestRotation, type RequestOutcome } from './rotationRequests';

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

/** Key Vault could not be asked whether the key exists (503): try again later. Nothing is started. */
export class OperatorDependencyError extends InvalidInputError {
  constructor(message: string) {
    super('KeyVaultUnavailable', message);
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
  deps: { readonly config: Config; readonly audit: AuditTrail; readonly keys: KeyVaultKeys },
  vault: string,
  key: string,
  caller: string,
  note: OperatorNote = {},
): Promise<RequestOutcome> {
  const target = operatorTarget(deps.config, vault, key);
  try {
    await deps.keys.readKey(target.vaultUrl, target.keyName);
  } catch (e) {
    if (e instanceof NotFoundError)
      throw new OperatorKeyNotFoundError(`No such key in vault: ${target.vaultUrl} has no key "${key}".`);
    if (e instanceof AzureCallError)
      throw new OperatorDependencyError(
        `Key Vault could not be asked whether ${target.vaultUrl} has key "${key}" (${e.azureCode ?? e.code}); nothing was started, try again later.`,
      );
    throw e;
  }
  const request = {
    ...target,
    trigger: `operator:${caller}`,
    reason: 'Operator' as const,
    version: undefined,
  };
  const outcome = await requestRotation(instances, request, rotationSettings(deps.config));
  const details: Record<string, string> = {};
  if (note.reason !== undefined) details['operatorReason'] = note.reason;
  if (note.ticket !== undefined) details['ticket'] = note.ticket;
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
