import {
  EventGridDeserializer,
  isSystemEvent,
  type CloudEvent,
  type EventGridEvent,
  type KnownSystemEventTypes,
  type SystemEventNameToEventData,
} from '@azure/eventgrid';
import { keyVaultEventFrom, rejectEvent, type EventParseResult, type KeyEventType } from '../domain/events';
import type { KeyVaultEventReader } from '../ports/keyVaultEvents';

/** The Key Vault events the rotator acts on, by the SDK's system event names. */
const KEY_EVENTS = {
  'Microsoft.KeyVault.KeyNewVersionCreated': 'KeyNewVersionCreated',
  'Microsoft.KeyVault.KeyNearExpiry': 'KeyNearExpiry',
  'Microsoft.KeyVault.KeyExpired': 'KeyExpired',
} as const satisfies Partial<Record<KnownSystemEventTypes, KeyEventType>>;
type KeyEventName = keyof typeof KEY_EVENTS;

/**
 * Every other Key Vault system event the SDK knows, and why it is ignored. Typed against the SDK's
 * list, so a Key Vault event type added to `@azure/eventgrid` fails compilation here until someone
 * decides what the intake does with it.
 */
const IGNORED_KEY_VAULT_EVENTS = {
  'Microsoft.KeyVault.SecretNewVersionCreated': 'secret',
  'Microsoft.KeyVault.SecretNearExpiry': 'secret',
  'Microsoft.KeyVault.SecretExpired': 'secret',
  'Microsoft.KeyVault.CertificateNewVersionCreated': 'certificate',
  'Microsoft.KeyVault.CertificateNearExpiry': 'certificate',
  'Microsoft.KeyVault.CertificateExpired': 'certificate',
  'Microsoft.KeyVault.VaultAccessPolicyChanged': 'accessPolicy',
} as const satisfies Record<
  Exclude<Extract<KnownSystemEventTypes, `Microsoft.KeyVault.${string}`>, KeyEventName>,
  'secret' | 'certificate' | 'accessPolicy'
>;

/** The SDK's model of a key event's data (camelCase; identical for the three key events). */
type SdkKeyEventData = SystemEventNameToEventData[KeyEventName];

/**
 * The name Azure puts on the wire for each field of the SDK's model: Key Vault sends PascalCase
 * (`KeyVault.json` 2018-01-01 and 2024-01-01 and every published sample), while the SDK's interfaces
 * say camelCase and its deserializer passes `data` through untouched (mapper `Dictionary<any>`). Typed
 * against the SDK's model, so a field added to or renamed in it is a compile error here.
 */
export const KEY_EVENT_WIRE_NAMES = {
  id: 'Id',
  vaultName: 'VaultName',
  objectType: 'ObjectType',
  objectName: 'ObjectName',
  version: 'Version',
  nbf: 'NBF',
  exp: 'EXP',
} as const satisfies Record<keyof SdkKeyEventData, string>;

/**
 * Event Grid delivers at most 5,000 events per batch ("max events per batch: 1 to 5,000") and batches
 * of at most 1,024 KB ("preferred batch size in kilobytes: 1 to 1,024"; a single larger event, up to
 * Event Grid's 1 MB event limit, goes alone) — Microsoft Learn, "Event Grid message delivery and
 * retry". A body beyond that is not a delivery; twice the size leaves room for encoding differences.
 */
export const MAX_EVENTS_PER_DELIVERY = 5_000;
/**
 * Event Grid's limit on one event: 1 MB ("Each event in the array is limited to 1 MB. If an event or
 * the array is greater than the size limits, you receive the response 413 Payload Too Large" —
 * Microsoft Learn, "Azure Event Grid event schema"; "Event size: 1 MB" in "Event Grid quotas and
 * limits"). Event Grid never delivers a larger one, so a larger body did not come from Key Vault through
 * Event Grid: refused (`TooLarge`), audited, acknowledged — a trigger cannot answer 413 itself, and a
 * redelivery would not make it smaller. Measured as the event's compact JSON in UTF-8.
 */
export const MAX_EVENT_BYTES = 1024 * 1024;
export const MAX_DELIVERY_BYTES = 2 * 1024 * 1024;
/**
 * A Key Vault event is three levels deep (envelope, data, value). Bounded well below the Functions
 * host's JSON readers (depth 64) and far below where recursive code overflows the stack (JSON.stringify
 * on Node 20 does by 5,000 levels).
 */
export const MAX_EVENT_DEPTH = 32;
export const MAX_EVENT_VALUES = 10_000;

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Depth and size of a parsed JSON value, walked without recursion. Undefined when within bounds. */
function shapeViolation(value: unknown): string | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  let values = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    values += 1;
    if (values > MAX_EVENT_VALUES) return `event has more than ${MAX_EVENT_VALUES} JSON values`;
    const { node, depth } = item;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > MAX_EVENT_DEPTH) return `event is nested deeper than ${MAX_EVENT_DEPTH} levels`;
    for (const child of Array.isArray(node) ? (node as unknown[]) : Object.values(node))
      stack.push({ node: child, depth: depth + 1 });
  }
  return undefined;
}

function stringOf(raw: Json, name: string): string | undefined {
  const v = raw[name];
  return typeof v === 'string' ? v : undefined;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

type Delivered =
  | { readonly schema: 'EventGrid'; readonly event: EventGridEvent<unknown> }
  | { readonly schema: 'CloudEvents'; readonly event: CloudEvent<unknown> };

function isType(d: Delivered, type: KnownSystemEventTypes): boolean {
  return d.schema === 'EventGrid' ? isSystemEvent(type, d.event) : isSystemEvent(type, d.event);
}

/**
 * Reads the data of a key event into the SDK's field names. The deserializer does none of this (it
 * copies `data` key by key, values as sent; see the adapter's tests), so each line below exists for a
 * published payload:
 * - names compared case-insensitively: Azure sends PascalCase (`Id`, `NBF`; the spec examples
 *   `secret_new_version_created.json` in both schemas and the docs article), the SDK's model is
 *   camelCase (`id`, `nbf`; what a sender built on the SDK's types would emit);
 * - names trimmed: the docs article's samples (both schemas) carry the key `"ObjectName "`;
 * - string values trimmed: the same samples carry `"Version": " ee059b2b..."`;
 * - NBF/EXP accepted as numeric strings: every published sample sends `"NBF": "1559081980"` although
 *   both schema versions say number.
 */
function readKeyEventData(
  data: Json,
): { ok: true; data: Partial<SdkKeyEventData> } | { ok: false; reason: string } {
  const byName = new Map<string, { wire: string; value: unknown }>();
  for (const [k, value] of Object.entries(data)) {
    const name = k.trim().toLowerCase();
    const seen = byName.get(name);
    if (seen !== undefined && seen.value !== value)
      return { ok: false, reason: `data has two different values for ${seen.wire}` };
    byName.set(name, { wire: k.trim(), value });
  }
  // The SDK's model, honestly partial: nothing guarantees Azure sends every field.
  const out: { -readonly [K in keyof SdkKeyEventData]?: SdkKeyEventData[K] } = {};
  for (const field of Object.keys(KEY_EVENT_WIRE_NAMES) as (keyof SdkKeyEventData)[]) {
    const wire = KEY_EVENT_WIRE_NAMES[field];
    const v = byName.get(wire.toLowerCase())?.value;
    if (v === undefined || v === null) continue;
    if (field === 'nbf' || field === 'exp') {
      const text = typeof v === 'string' ? v.trim() : undefined;
      if (text === '') continue;
      const n =
        typeof v === 'number' ? v : text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
      if (Number.isNaN(n)) return { ok: false, reason: `data.${wire} is not unix seconds` };
      out[field] = n;
    } else {
      if (typeof v !== 'string') return { ok: false, reason: `data.${wire} is not a string` };
      const text = v.trim();
      if (text !== '') out[field] = text;
    }
  }
  return { ok: true, data: out };
}

/**
 * The intake's reader of Key Vault events, built on `@azure/eventgrid`: the SDK's
 * `EventGridDeserializer` checks the envelope (required fields and types, `metadataVersion` "1",
 * `specversion` "1.0"), `isSystemEvent` decides what the event is, the data is read into the SDK's
 * `KeyVaultKey*EventData` model (not taken from the type `isSystemEvent` narrows to: that type says
 * camelCase numbers, the wire carries PascalCase and strings), and the domain (`keyVaultEventFrom`)
 * keeps the key-identifier and consistency rules. Never throws: what the SDK or
 * the domain refuses becomes a typed rejection. A dead-letter replay reads stored deliveries with
 * `readDelivery` and gets exactly the intake's verdicts.
 */
export class EventGridKeyVaultEvents implements KeyVaultEventReader {
  private readonly deserializer = new EventGridDeserializer();

  async readEvent(raw: unknown): Promise<EventParseResult> {
    try {
      return await this.read(raw);
    } catch (e) {
      // Nothing above is expected to throw; the contract holds even if something does.
      return rejectEvent(undefined, undefined, 'Malformed', `unreadable event: ${messageOf(e)}`);
    }
  }

  async readDelivery(body: unknown): Promise<EventParseResult[]> {
    let value = body;
    if (typeof body === 'string') {
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes > MAX_DELIVERY_BYTES)
        return [
          rejectEvent(
            undefined,
            undefined,
            'TooLarge',
            `a ${bytes}-byte body is larger than Event Grid sends`,
          ),
        ];
      try {
        value = JSON.parse(body) as unknown;
      } catch {
        return [rejectEvent(undefined, undefined, 'Malformed', 'body is not valid JSON')];
      }
    }
    if (!Array.isArray(value)) return [await this.readEvent(value)];
    if (value.length === 0) return [rejectEvent(undefined, undefined, 'Malformed', 'empty batch')];
    if (value.length > MAX_EVENTS_PER_DELIVERY)
      return [
        rejectEvent(
          undefined,
          undefined,
          'TooLarge',
          `a batch of ${value.length} events; Event Grid delivers at most ${MAX_EVENTS_PER_DELIVERY}`,
        ),
      ];
    const results: EventParseResult[] = [];
    for (const item of value as unknown[]) results.push(await this.readEvent(item));
    return results;
  }

  private async read(raw: unknown): Promise<EventParseResult> {
    if (!isRecord(raw)) return rejectEvent(undefined, undefined, 'Malformed', 'event is not a JSON object');
    const cloud = Object.hasOwn(raw, 'specversion');
    const rawId = stringOf(raw, 'id');
    const rawType = stringOf(raw, cloud ? 'type' : 'eventType');
    const tooLarge = shapeViolation(raw);
    if (tooLarge !== undefined) return rejectEvent(rawId, rawType, 'TooLarge', tooLarge);
    // Within the shape bounds, so serialising is safe (no deep recursion, at most 10,000 values).
    const bytes = Buffer.byteLength(JSON.stringify(raw), 'utf8');
    if (bytes > MAX_EVENT_BYTES)
      return rejectEvent(
        rawId,
        rawType,
        'TooLarge',
        `a ${bytes}-byte event is larger than Event Grid's 1 MB (${MAX_EVENT_BYTES} bytes) limit`,
      );

    let delivered: Delivered;
    try {
      delivered = cloud
        ? { schema: 'CloudEvents', event: only(await this.deserializer.deserializeCloudEvents(raw)) }
        : { schema: 'EventGrid', event: only(await this.deserializer.deserializeEventGridEvents(raw)) };
    } catch (e) {
      return rejectEvent(
        rawId,
        rawType,
        'Malformed',
        `the Event Grid SDK refused the event: ${messageOf(e)}`,
      );
    }
    const { event } = delivered;
    const eventType = delivered.schema === 'EventGrid' ? delivered.event.eventType : delivered.event.type;
    // The deserializer turns an unparseable time into an Invalid Date instead of refusing it.
    const time = delivered.schema === 'EventGrid' ? delivered.event.eventTime : delivered.event.time;
    if (time !== undefined && Number.isNaN(time.getTime()))
      return rejectEvent(
        event.id,
        eventType,
        'Malformed',
        `${delivered.schema === 'EventGrid' ? 'eventTime' : 'time'} is not a date-time`,
      );

    const keyEvent = (Object.keys(KEY_EVENTS) as KeyEventName[]).find((t) => isType(delivered, t));
    if (keyEvent === undefined) {
      const ignored = (
        Object.keys(IGNORED_KEY_VAULT_EVENTS) as (keyof typeof IGNORED_KEY_VAULT_EVENTS)[]
      ).find((t) => isType(delivered, t));
      if (ignored === undefined)
        return rejectEvent(
          event.id,
          eventType,
          'NotAKeyEvent',
          `event type ${eventType} is not a Key Vault event the intake handles`,
        );
      const kind = IGNORED_KEY_VAULT_EVENTS[ignored];
      return kind === 'accessPolicy'
        ? rejectEvent(event.id, eventType, 'UnsupportedEventType', `event type ${eventType} is not handled`)
        : rejectEvent(event.id, eventType, 'NotAKeyEvent', `${kind} events are not handled`);
    }

    // The SDK's Dictionary mapper turns a string or array `data` into {"0": ..., "1": ...} and
    // CloudEvents `data_base64` into bytes: judge what was sent.
    if (!isRecord(raw['data']) || !isRecord(event.data))
      return rejectEvent(event.id, eventType, 'Malformed', 'event has no data object');
    const data = readKeyEventData(event.data);
    if (!data.ok) return rejectEvent(event.id, eventType, 'Malformed', data.reason);
    return keyVaultEventFrom({
      schema: delivered.schema,
      eventId: event.id,
      eventType: KEY_EVENTS[keyEvent],
      eventTime: time?.toISOString(),
      source: delivered.schema === 'EventGrid' ? (delivered.event.topic ?? '') : delivered.event.source,
      data: data.data,
    });
  }
}

function only<T>(events: T[]): T {
  const [first] = events;
  if (first === undefined || events.length !== 1) throw new Error('expected exactly one event');
  return first;
}
