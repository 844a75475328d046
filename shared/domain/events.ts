import { formatKeyUri, parseKeyUri, type KeyRef } from './keyId';
import { isUuid } from './resourceId';

/** The Key Vault key events the rotator acts on (suffix of `Microsoft.KeyVault.<type>`). */
export const KEY_EVENT_TYPES = ['KeyNewVersionCreated', 'KeyNearExpiry', 'KeyExpired'] as const;
export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];
export const KEY_EVENT_TYPE_PREFIX = 'Microsoft.KeyVault.';

export interface KeyVaultKeyEvent {
  readonly schema: 'EventGrid' | 'CloudEvents';
  readonly eventId: string;
  readonly eventType: KeyEventType;
  /** ISO-8601; events are hints, so this is informational only. */
  readonly eventTime: string | undefined;
  /** Event Grid `topic` / CloudEvents `source`: the vault's ARM id. */
  readonly source: string;
  /** From the source's ARM id when it carries a real subscription id. */
  readonly subscriptionId: string | undefined;
  readonly vaultName: string;
  readonly vaultUrl: string;
  readonly keyName: string;
  readonly version: string | undefined;
  /** Canonical key URI, versioned when the event names a version. */
  readonly keyUri: string;
  readonly notBefore: string | undefined;
  readonly expiresOn: string | undefined;
}

/**
 * Why an event was not acted on. `NotAKeyEvent` and `UnsupportedEventType` are expected traffic
 * (skipped); the others are failures. `TooLarge`: a delivery beyond what Event Grid sends (batch,
 * body size, nesting depth).
 */
export type EventRejectionCode =
  | 'Malformed'
  | 'TooLarge'
  | 'NotAKeyEvent'
  | 'UnsupportedEventType'
  | 'InvalidKeyIdentifier'
  | 'InconsistentData';

export interface EventRejection {
  readonly eventId: string | undefined;
  readonly eventType: string | undefined;
  readonly code: EventRejectionCode;
  readonly reason: string;
}

export type EventParseResult =
  | { readonly ok: true; readonly event: KeyVaultKeyEvent }
  | { readonly ok: false; readonly rejection: EventRejection };

/**
 * The `data` of a Key Vault key event after the wire has been read: the field names of the Event Grid
 * SDK's `KeyVaultKey*EventData`, values trimmed, `nbf`/`exp` as numbers (unix seconds). Every field
 * is optional here: the domain decides what is missing.
 */
export interface KeyEventData {
  readonly id?: string | undefined;
  readonly vaultName?: string | undefined;
  readonly objectType?: string | undefined;
  readonly objectName?: string | undefined;
  readonly version?: string | undefined;
  readonly nbf?: number | undefined;
  readonly exp?: number | undefined;
}

/** One key event as the intake adapter hands it to the domain: envelope read, type known. */
export interface KeyEventEnvelope {
  readonly schema: 'EventGrid' | 'CloudEvents';
  readonly eventId: string;
  readonly eventType: KeyEventType;
  readonly eventTime: string | undefined;
  readonly source: string;
  readonly data: KeyEventData;
}

/**
 * The longest event id (and type) a rejection repeats, and the longest id an accepted event may carry:
 * Event Grid's ids are GUIDs; a hostile 5,000-character id would otherwise be copied into every audit
 * record of it (and an accepted one into the rotation's input and history).
 */
export const MAX_EVENT_ID = 256;
const bounded = (s: string | undefined): string | undefined =>
  s === undefined || s.length <= MAX_EVENT_ID ? s : `${s.slice(0, MAX_EVENT_ID)}...`;

export function rejectEvent(
  eventId: string | undefined,
  eventType: string | undefined,
  code: EventRejectionCode,
  reason: string,
): EventParseResult & { ok: false } {
  return {
    ok: false,
    rejection: {
      eventId: bounded(eventId),
      eventType: bounded(eventType),
      code,
      reason: reason.length > 1000 ? `${reason.slice(0, 1000)}...` : reason,
    },
  };
}

/**
 * The last second a JavaScript `Date` prints as a plain ISO-8601 year (9999-12-31T23:59:59Z). Key
 * Vault dates are unix seconds; anything beyond this is not a date Key Vault could have set
 * (`new Date(1e17).toISOString()` throws RangeError: Invalid time value).
 */
const MAX_UNIX_SECONDS = 253_402_300_799;

function isoFromUnixSeconds(n: number | undefined): { ok: true; iso: string | undefined } | { ok: false } {
  if (n === undefined) return { ok: true, iso: undefined };
  if (!Number.isFinite(n) || n < 0 || n > MAX_UNIX_SECONDS) return { ok: false };
  return { ok: true, iso: new Date(Math.round(n * 1000)).toISOString() };
}

function subscriptionOf(source: string): string | undefined {
  const m = /^\/subscriptions\/([^/]+)\//i.exec(source);
  return m?.[1] !== undefined && isUuid(m[1]) ? m[1].toLowerCase() : undefined;
}

/**
 * The domain's rules for a Key Vault key event: `data.Id` must be a key identifier, the other data
 * fields must agree with it, NBF/EXP must be dates. Never throws.
 */
export function keyVaultEventFrom(envelope: KeyEventEnvelope): EventParseResult {
  const { eventId, data } = envelope;
  const eventType = `${KEY_EVENT_TYPE_PREFIX}${envelope.eventType}`;
  const reject = (code: EventRejectionCode, reason: string) => rejectEvent(eventId, eventType, code, reason);

  if (eventId.length > MAX_EVENT_ID)
    return reject('Malformed', `event id is longer than ${MAX_EVENT_ID} characters`);
  if (data.id === undefined || data.id === '') return reject('Malformed', 'data.Id is missing');
  let ref: KeyRef;
  try {
    ref = parseKeyUri(data.id);
  } catch (e) {
    return reject('InvalidKeyIdentifier', e instanceof Error ? e.message : 'invalid data.Id');
  }
  if (data.objectType !== undefined && data.objectType.toLowerCase() !== 'key')
    return reject('InconsistentData', `data.ObjectType is ${data.objectType}, expected Key`);
  if (data.vaultName !== undefined && data.vaultName.toLowerCase() !== ref.vaultName)
    return reject('InconsistentData', `data.VaultName ${data.vaultName} does not match data.Id`);
  if (data.objectName !== undefined && data.objectName.toLowerCase() !== ref.name.toLowerCase())
    return reject('InconsistentData', `data.ObjectName ${data.objectName} does not match data.Id`);
  const versionField = data.version?.toLowerCase();
  if (versionField !== undefined && ref.version !== undefined && versionField !== ref.version)
    return reject('InconsistentData', `data.Version ${versionField} does not match data.Id`);
  const version =
    ref.version ??
    (versionField !== undefined && /^[0-9a-f]{32}$/.test(versionField) ? versionField : undefined);
  const nbf = isoFromUnixSeconds(data.nbf);
  const exp = isoFromUnixSeconds(data.exp);
  if (!nbf.ok) return reject('Malformed', 'data.NBF is not a date in unix seconds');
  if (!exp.ok) return reject('Malformed', 'data.EXP is not a date in unix seconds');

  return {
    ok: true,
    event: {
      schema: envelope.schema,
      eventId,
      eventType: envelope.eventType,
      eventTime: envelope.eventTime,
      source: envelope.source,
      subscriptionId: subscriptionOf(envelope.source),
      vaultName: ref.vaultName,
      vaultUrl: ref.vaultUrl,
      keyName: ref.name,
      version,
      keyUri: formatKeyUri({ vaultUrl: ref.vaultUrl, name: ref.name, version }),
      notBefore: nbf.iso,
      expiresOn: exp.iso,
    },
  };
}
