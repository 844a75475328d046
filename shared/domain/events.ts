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
  /** ISO-8601 as sent; events are hints, so this is informational only. */
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

export type EventRejectionCode =
  'Malformed' | 'NotAKeyEvent' | 'UnsupportedEventType' | 'InvalidKeyIdentifier' | 'InconsistentData';

export interface EventRejection {
  readonly eventId: string | undefined;
  readonly eventType: string | undefined;
  readonly code: EventRejectionCode;
  readonly reason: string;
}

export type EventParseResult =
  | { readonly ok: true; readonly event: KeyVaultKeyEvent }
  | { readonly ok: false; readonly rejection: EventRejection };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Looks a property up ignoring case and surrounding whitespace in the key — Azure's own samples carry
 * `"ObjectName "` — and trims string values (`" ee05..."` in the same sample).
 */
function field(obj: Json, name: string): unknown {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(obj)) {
    if (k.trim().toLowerCase() === wanted) return typeof v === 'string' ? v.trim() : v;
  }
  return undefined;
}

function stringField(obj: Json, name: string): string | undefined {
  const v = field(obj, name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** NBF/EXP: unix seconds as a number or a numeric string (Azure's samples use strings), or absent. */
function unixSecondsField(obj: Json, name: string): { ok: true; iso: string | undefined } | { ok: false } {
  const v = field(obj, name);
  if (v === undefined || v === null || v === '') return { ok: true, iso: undefined };
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) return { ok: false };
  return { ok: true, iso: new Date(Math.round(n * 1000)).toISOString() };
}

function subscriptionOf(source: string): string | undefined {
  const m = /^\/subscriptions\/([^/]+)\//i.exec(source);
  return m?.[1] !== undefined && isUuid(m[1]) ? m[1].toLowerCase() : undefined;
}

function reject(
  eventId: string | undefined,
  eventType: string | undefined,
  code: EventRejectionCode,
  reason: string,
): EventParseResult {
  return { ok: false, rejection: { eventId, eventType, code, reason } };
}

/** Parses one event in either the Event Grid or the CloudEvents 1.0 schema. Never throws. */
export function parseKeyVaultEvent(raw: unknown): EventParseResult {
  if (!isObject(raw)) return reject(undefined, undefined, 'Malformed', 'event is not a JSON object');
  const isCloudEvent = field(raw, 'specversion') !== undefined;
  const eventId = stringField(raw, 'id');
  const eventType = stringField(raw, isCloudEvent ? 'type' : 'eventType');
  const source = stringField(raw, isCloudEvent ? 'source' : 'topic') ?? '';
  if (eventId === undefined) return reject(undefined, eventType, 'Malformed', 'event has no id');
  if (eventType === undefined)
    return reject(eventId, undefined, 'Malformed', `event has no ${isCloudEvent ? 'type' : 'eventType'}`);
  if (!eventType.startsWith(KEY_EVENT_TYPE_PREFIX)) {
    return reject(eventId, eventType, 'NotAKeyEvent', `event type ${eventType} is not a Key Vault event`);
  }
  const shortType = eventType.slice(KEY_EVENT_TYPE_PREFIX.length);
  if (!(KEY_EVENT_TYPES as readonly string[]).includes(shortType)) {
    const kind = /^(Secret|Certificate)/.exec(shortType)?.[1];
    return kind !== undefined
      ? reject(eventId, eventType, 'NotAKeyEvent', `${kind.toLowerCase()} events are not handled`)
      : reject(eventId, eventType, 'UnsupportedEventType', `event type ${eventType} is not handled`);
  }
  const data = field(raw, 'data');
  if (!isObject(data)) return reject(eventId, eventType, 'Malformed', 'event has no data object');

  const id = stringField(data, 'Id');
  if (id === undefined) return reject(eventId, eventType, 'Malformed', 'data.Id is missing');
  let ref: KeyRef;
  try {
    ref = parseKeyUri(id);
  } catch (e) {
    return reject(
      eventId,
      eventType,
      'InvalidKeyIdentifier',
      e instanceof Error ? e.message : 'invalid data.Id',
    );
  }
  const objectType = stringField(data, 'ObjectType');
  if (objectType !== undefined && objectType.toLowerCase() !== 'key') {
    return reject(eventId, eventType, 'InconsistentData', `data.ObjectType is ${objectType}, expected Key`);
  }
  const vaultName = stringField(data, 'VaultName');
  if (vaultName !== undefined && vaultName.toLowerCase() !== ref.vaultName) {
    return reject(
      eventId,
      eventType,
      'InconsistentData',
      `data.VaultName ${vaultName} does not match data.Id`,
    );
  }
  const objectName = stringField(data, 'ObjectName');
  if (objectName !== undefined && objectName.toLowerCase() !== ref.name.toLowerCase()) {
    return reject(
      eventId,
      eventType,
      'InconsistentData',
      `data.ObjectName ${objectName} does not match data.Id`,
    );
  }
  const versionField = stringField(data, 'Version')?.toLowerCase();
  if (versionField !== undefined && ref.version !== undefined && versionField !== ref.version) {
    return reject(
      eventId,
      eventType,
      'InconsistentData',
      `data.Version ${versionField} does not match data.Id`,
    );
  }
  const version =
    ref.version ??
    (versionField !== undefined && /^[0-9a-f]{32}$/.test(versionField) ? versionField : undefined);
  const nbf = unixSecondsField(data, 'NBF');
  const exp = unixSecondsField(data, 'EXP');
  if (!nbf.ok) return reject(eventId, eventType, 'Malformed', 'data.NBF is not unix seconds');
  if (!exp.ok) return reject(eventId, eventType, 'Malformed', 'data.EXP is not unix seconds');

  return {
    ok: true,
    event: {
      schema: isCloudEvent ? 'CloudEvents' : 'EventGrid',
      eventId,
      eventType: shortType as KeyEventType,
      eventTime: stringField(raw, isCloudEvent ? 'time' : 'eventTime'),
      source,
      subscriptionId: subscriptionOf(source),
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

/**
 * Parses a delivery body: a JSON string or an already-parsed value, one event or a batch (array).
 * Each item becomes a result; a body that is not JSON becomes one `Malformed` rejection.
 */
export function parseKeyVaultEvents(body: unknown): EventParseResult[] {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return [reject(undefined, undefined, 'Malformed', 'body is not valid JSON')];
    }
  }
  if (Array.isArray(value)) {
    return value.length === 0
      ? [reject(undefined, undefined, 'Malformed', 'empty batch')]
      : value.map(parseKeyVaultEvent);
  }
  return [parseKeyVaultEvent(value)];
}
