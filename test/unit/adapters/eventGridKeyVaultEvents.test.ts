import { EventGridDeserializer } from '@azure/eventgrid';
import {
  EventGridKeyVaultEvents,
  KEY_EVENT_WIRE_NAMES,
  MAX_EVENTS_PER_DELIVERY,
} from '../../../shared/adapters/eventGridKeyVaultEvents';
import type { EventParseResult, EventRejectionCode } from '../../../shared/domain/events';
import { parseKeyUri } from '../../../shared/domain/keyId';
import { fuzzedBodies } from '../../support/eventFuzz';
import { SAMPLE_NBF, SAMPLE_VERSION, asKeyEvent, publishedSamples } from '../../support/keyVaultSamples';
import { readSpec } from '../../support/specs';

const reader = new EventGridKeyVaultEvents();
const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const VER = 'ee059b2bb5bc48398a53b168c6cdcb10';
const TOPIC = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/sample-kv`;

function egEvent(type: string, data: unknown): Record<string, unknown> {
  return {
    id: 'evt-1',
    topic: TOPIC,
    subject: 'pg-cmk',
    eventType: `Microsoft.KeyVault.${type}`,
    eventTime: '2026-11-20T10:00:00.1234567Z',
    data,
    dataVersion: '1',
    metadataVersion: '1',
  };
}
function ceEvent(type: string, data: unknown): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: 'evt-2',
    source: TOPIC,
    subject: 'pg-cmk',
    type: `Microsoft.KeyVault.${type}`,
    time: '2026-11-20T10:00:00Z',
    data,
  };
}
const pascal = {
  Id: `https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`,
  VaultName: 'sample-kv',
  ObjectType: 'Key',
  ObjectName: 'pg-cmk',
  Version: VER,
  NBF: 1763600000,
  EXP: 1795136000,
};
const camel = {
  id: pascal.Id,
  vaultName: 'sample-kv',
  objectType: 'Key',
  objectName: 'pg-cmk',
  version: VER,
  nbf: '1763600000',
  exp: '1795136000',
};

function ok(r: EventParseResult | undefined) {
  if (r === undefined) throw new Error('no result');
  if (!r.ok) throw new Error(`rejected: ${r.rejection.code} ${r.rejection.reason}`);
  return r.event;
}
function rejection(r: EventParseResult | undefined) {
  if (r === undefined) throw new Error('no result');
  if (r.ok) throw new Error('accepted');
  return r.rejection;
}
function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('what the Event Grid SDK deserializer does with Azure payloads (the adapter normalises only the rest)', () => {
  const sdk = new EventGridDeserializer();

  it.each(publishedSamples().map((s) => [s.name, s] as const))(
    '%s: data comes back exactly as sent — PascalCase, whitespace in names and values, NBF/EXP strings',
    async (_name, sample) => {
      const sent = JSON.parse(sample.text) as unknown;
      const first = (Array.isArray(sent) ? sent[0] : sent) as { data: Record<string, unknown> };
      const [event] =
        sample.schema === 'EventGrid'
          ? await sdk.deserializeEventGridEvents(sample.text)
          : await sdk.deserializeCloudEvents(sample.text);
      expect(event?.data).toEqual(first.data);
      // The SDK's typed model says camelCase (`id`, `nbf: number`); none of it is there.
      expect(event?.data).not.toHaveProperty('id');
      expect(Object.keys(first.data)).toEqual(expect.arrayContaining(['Id', 'NBF', 'EXP']));
    },
  );

  it('accepts an unparseable eventTime as an Invalid Date instead of refusing it (so the adapter checks)', async () => {
    const [event] = await sdk.deserializeEventGridEvents(egEvent('KeyExpired', pascal));
    expect(event?.eventTime.toISOString()).toBe('2026-11-20T10:00:00.123Z');
    const [bad] = await sdk.deserializeEventGridEvents({
      ...egEvent('KeyExpired', pascal),
      eventTime: 'soon',
    });
    expect(Number.isNaN(bad?.eventTime.getTime())).toBe(true);
  });

  it('turns a string `data` into an object of characters (so the adapter judges the data that was sent)', async () => {
    const [event] = await sdk.deserializeEventGridEvents(egEvent('KeyExpired', 'abc'));
    expect(event?.data).toEqual({ 0: 'a', 1: 'b', 2: 'c' });
  });

  it('maps every field of the SDK model to the PascalCase name both published schemas use', () => {
    for (const version of ['2018-01-01', '2024-01-01']) {
      const spec = readSpec(`eventgrid-keyvault-events/${version}/KeyVault.json`) as {
        definitions: Record<string, { properties: Record<string, unknown> }>;
      };
      for (const def of [
        'KeyVaultKeyNewVersionCreatedEventData',
        'KeyVaultKeyNearExpiryEventData',
        'KeyVaultKeyExpiredEventData',
      ])
        expect(Object.keys(spec.definitions[def]?.properties ?? {}).sort()).toEqual(
          Object.values(KEY_EVENT_WIRE_NAMES).sort(),
        );
    }
  });
});

describe('readEvent accepts', () => {
  it.each([
    [
      'Event Grid schema, PascalCase data, numeric NBF/EXP',
      egEvent('KeyNewVersionCreated', pascal),
      'EventGrid',
      'KeyNewVersionCreated',
    ],
    [
      'Event Grid schema, camelCase data, string NBF/EXP',
      egEvent('KeyNearExpiry', camel),
      'EventGrid',
      'KeyNearExpiry',
    ],
    ['CloudEvents 1.0, PascalCase data', ceEvent('KeyExpired', pascal), 'CloudEvents', 'KeyExpired'],
    [
      'CloudEvents 1.0, camelCase data',
      ceEvent('KeyNewVersionCreated', camel),
      'CloudEvents',
      'KeyNewVersionCreated',
    ],
  ])('%s', async (_name, raw, schema, type) => {
    const e = ok(await reader.readEvent(raw));
    expect(e).toMatchObject({
      schema,
      eventType: type,
      subscriptionId: SUB,
      vaultName: 'sample-kv',
      vaultUrl: 'https://sample-kv.vault.azure.net',
      keyName: 'pg-cmk',
      version: VER,
      keyUri: `https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`,
      notBefore: '2025-11-20T00:53:20.000Z',
      expiresOn: '2026-11-20T00:53:20.000Z',
    });
  });

  it.each(publishedSamples().map((s) => [s.name, s] as const))(
    "Azure's published sample (%s) turned into a key event, with all its quirks",
    async (_name, sample) => {
      const [result, ...rest] = await reader.readDelivery(asKeyEvent(sample.text));
      expect(rest).toEqual([]);
      const e = ok(result);
      expect(e).toMatchObject({ schema: sample.schema, keyName: 'pg-cmk', version: SAMPLE_VERSION });
      expect(e.eventTime).toBe('2019-07-25T01:08:33.103Z');
      expect(e.subscriptionId).toBeUndefined(); // "{subscription-id}" is not a real subscription
      expect(e.notBefore).toBe(new Date(SAMPLE_NBF * 1000).toISOString());
    },
  );

  it('the docs sample with a trailing space in a key and a leading space in a value', async () => {
    const data = {
      Id: `https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`,
      VaultName: 'sample-kv',
      ObjectType: 'Key',
      'ObjectName ': 'pg-cmk',
      Version: ` ${VER}`,
      NBF: '1559081980',
      EXP: '1559082102',
    };
    expect(ok(await reader.readEvent(egEvent('KeyNewVersionCreated', data))).keyName).toBe('pg-cmk');
  });

  it('a versionless Id completed by the Version field', async () => {
    const e = ok(
      await reader.readEvent(
        egEvent('KeyNewVersionCreated', { ...pascal, Id: 'https://sample-kv.vault.azure.net/keys/pg-cmk' }),
      ),
    );
    expect(e.keyUri).toBe(`https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`);
  });

  it.each([
    ['absent', undefined],
    ['null (what Key Vault sends for a key without dates)', null],
  ])('NBF and EXP %s', async (_what, value) => {
    const e = ok(
      await reader.readEvent(egEvent('KeyNewVersionCreated', { ...pascal, NBF: value, EXP: value })),
    );
    expect(e.notBefore).toBeUndefined();
    expect(e.expiresOn).toBeUndefined();
  });

  it('a CloudEvent with extension attributes', async () => {
    expect(
      ok(await reader.readEvent({ ...ceEvent('KeyExpired', pascal), traceparent: '00-ab-cd-01' })).eventType,
    ).toBe('KeyExpired');
  });
});

describe('readEvent rejects, with a typed reason, without throwing', () => {
  it.each<[string, unknown, EventRejectionCode, string]>([
    ['a secret event', egEvent('SecretNewVersionCreated', pascal), 'NotAKeyEvent', 'secret events'],
    ['a certificate event', ceEvent('CertificateNearExpiry', pascal), 'NotAKeyEvent', 'certificate events'],
    [
      'a vault access policy change',
      egEvent('VaultAccessPolicyChanged', pascal),
      'UnsupportedEventType',
      'not handled',
    ],
    [
      'a storage event',
      { ...egEvent('KeyNewVersionCreated', pascal), eventType: 'Microsoft.Storage.BlobCreated' },
      'NotAKeyEvent',
      'not a Key Vault event',
    ],
    [
      'a subscription validation event',
      {
        ...egEvent('KeyNewVersionCreated', pascal),
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      },
      'NotAKeyEvent',
      'not a Key Vault event',
    ],
    [
      'a key event whose Id is a secret URI',
      egEvent('KeyNewVersionCreated', {
        ...pascal,
        Id: `https://sample-kv.vault.azure.net/secrets/pg-cmk/${VER}`,
      }),
      'InvalidKeyIdentifier',
      'collection must be "keys"',
    ],
    [
      'a key event with no data',
      { ...egEvent('KeyNewVersionCreated', pascal), data: null },
      'Malformed',
      'no data object',
    ],
    [
      'a key event whose data is a string',
      egEvent('KeyNewVersionCreated', 'Id'),
      'Malformed',
      'no data object',
    ],
    [
      'a key event whose data is an array',
      egEvent('KeyNewVersionCreated', [pascal]),
      'Malformed',
      'no data object',
    ],
    [
      'a CloudEvent with binary data',
      { ...ceEvent('KeyExpired', undefined), data_base64: 'AAAA' },
      'Malformed',
      'no data object',
    ],
    [
      'a key event with no Id',
      egEvent('KeyNewVersionCreated', { ...pascal, Id: undefined }),
      'Malformed',
      'data.Id is missing',
    ],
    [
      'a vault name that disagrees with Id',
      egEvent('KeyNewVersionCreated', { ...pascal, VaultName: 'other-kv' }),
      'InconsistentData',
      'VaultName',
    ],
    [
      'an object name that disagrees with Id',
      egEvent('KeyNewVersionCreated', { ...pascal, ObjectName: 'other' }),
      'InconsistentData',
      'ObjectName',
    ],
    [
      'a version that disagrees with Id',
      egEvent('KeyNewVersionCreated', { ...pascal, Version: 'ffffffffffffffffffffffffffffffff' }),
      'InconsistentData',
      'Version',
    ],
    [
      'an object type that is not Key',
      egEvent('KeyNewVersionCreated', { ...pascal, ObjectType: 'Secret' }),
      'InconsistentData',
      'ObjectType',
    ],
    [
      'two spellings of a field with different values',
      egEvent('KeyNewVersionCreated', { ...pascal, version: 'ffffffffffffffffffffffffffffffff' }),
      'Malformed',
      'two different values',
    ],
    [
      'a vault name that is not a string',
      egEvent('KeyNewVersionCreated', { ...pascal, VaultName: 7 }),
      'Malformed',
      'VaultName',
    ],
    ['a non-numeric EXP', egEvent('KeyNearExpiry', { ...pascal, EXP: 'tomorrow' }), 'Malformed', 'EXP'],
    // Issue 10's poison events: each used to throw (RangeError: Invalid time value) and answer 500.
    [
      'NBF "99999999999999"',
      egEvent('KeyNearExpiry', { ...pascal, NBF: '99999999999999' }),
      'Malformed',
      'NBF',
    ],
    ['EXP 1e300', egEvent('KeyNearExpiry', { ...pascal, EXP: 1e300 }), 'Malformed', 'EXP'],
    ['a negative NBF', ceEvent('KeyExpired', { ...pascal, NBF: -1 }), 'Malformed', 'NBF'],
    [
      'data nested 5,000 deep',
      egEvent('KeyExpired', { ...pascal, Extra: deep(5000) }),
      'TooLarge',
      'deeper than',
    ],
    [
      'an extension nested 5,000 deep',
      { ...ceEvent('KeyExpired', pascal), ext: deep(5000) },
      'TooLarge',
      'deeper than',
    ],
    // Issue 23: Event Grid caps an event at 1 MB; a single 3 MB event was accepted.
    [
      'a 3 MB event (Event Grid delivers at most 1 MB)',
      egEvent('KeyExpired', { ...pascal, Extra: 'x'.repeat(3 * 1024 * 1024) }),
      'TooLarge',
      "larger than Event Grid's 1 MB",
    ],
    [
      'a CloudEvent one byte over 1 MB',
      { ...ceEvent('KeyExpired', pascal), ext: 'x'.repeat(1024 * 1024) },
      'TooLarge',
      '1 MB',
    ],
    [
      'an event with 20,000 values',
      egEvent('KeyExpired', { ...pascal, Extra: Array.from({ length: 20_000 }, () => 0) }),
      'TooLarge',
      'more than',
    ],
    // What the SDK's deserializer refuses, as typed rejections.
    [
      'an event without id',
      { ...egEvent('KeyNewVersionCreated', pascal), id: undefined },
      'Malformed',
      "property 'id'",
    ],
    [
      'an event without type',
      { ...egEvent('KeyNewVersionCreated', pascal), eventType: undefined },
      'Malformed',
      "property 'eventType'",
    ],
    [
      'an Event Grid event without topic',
      { ...egEvent('KeyExpired', pascal), topic: undefined },
      'Malformed',
      "'topic'",
    ],
    [
      'an Event Grid event with metadataVersion 2',
      { ...egEvent('KeyExpired', pascal), metadataVersion: '2' },
      'Malformed',
      'not in the Event Grid schema',
    ],
    [
      'a CloudEvent with specversion 0.3',
      { ...ceEvent('KeyExpired', pascal), specversion: '0.3' },
      'Malformed',
      'Cloud Event 1.0',
    ],
    [
      'a CloudEvent without source',
      { ...ceEvent('KeyExpired', pascal), source: undefined },
      'Malformed',
      "'source'",
    ],
    [
      'an eventTime that is a number',
      { ...egEvent('KeyExpired', pascal), eventTime: 5 },
      'Malformed',
      'eventTime',
    ],
    // ...and what it lets through but is not a time.
    [
      'an unparseable eventTime',
      { ...egEvent('KeyExpired', pascal), eventTime: 'yesterday' },
      'Malformed',
      'eventTime is not a date-time',
    ],
    [
      'an unparseable CloudEvents time',
      { ...ceEvent('KeyExpired', pascal), time: 'now' },
      'Malformed',
      'time is not a date-time',
    ],
    ['a string', 'hello', 'Malformed', 'not a JSON object'],
    ['null', null, 'Malformed', 'not a JSON object'],
    ['an array', [egEvent('KeyExpired', pascal)], 'Malformed', 'not a JSON object'],
  ])('%s', async (_name, raw, code, reason) => {
    const r = rejection(await reader.readEvent(raw));
    expect(r.code).toBe(code);
    expect(r.reason).toContain(reason);
  });

  it('names the event and its type in the rejection when the envelope has them', async () => {
    expect(rejection(await reader.readEvent(egEvent('KeyExpired', { ...pascal, EXP: 1e300 })))).toMatchObject(
      {
        eventId: 'evt-1',
        eventType: 'Microsoft.KeyVault.KeyExpired',
      },
    );
  });

  it('recognises every Key Vault event type of both published schemas by type: keys acted on, the rest ignored', async () => {
    const types = new Set<string>();
    for (const version of ['2018-01-01', '2024-01-01']) {
      const spec = readSpec(`eventgrid-keyvault-events/${version}/KeyVault.json`) as { definitions: object };
      for (const def of Object.keys(spec.definitions))
        types.add(def.replace(/^KeyVault(Vault)?/, '').replace(/EventData$/, ''));
    }
    expect(types.size).toBe(10);
    for (const type of types) {
      const result = await reader.readEvent(egEvent(type, pascal));
      if (type.startsWith('Key')) expect(ok(result).eventType).toBe(type);
      else expect(['NotAKeyEvent', 'UnsupportedEventType']).toContain(rejection(result).code);
    }
  });
});

describe('readDelivery', () => {
  it('reads a batch in order, keeping rejections beside accepted events', async () => {
    const results = await reader.readDelivery([
      egEvent('KeyNewVersionCreated', pascal),
      egEvent('SecretNewVersionCreated', pascal),
      ceEvent('KeyExpired', camel),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
  });

  it('reads a single event object and a JSON string', async () => {
    expect(await reader.readDelivery(egEvent('KeyExpired', pascal))).toHaveLength(1);
    const [only] = await reader.readDelivery(JSON.stringify([ceEvent('KeyExpired', pascal)]));
    expect(ok(only).schema).toBe('CloudEvents');
  });

  it.each<[string, unknown, EventRejectionCode, string]>([
    ['invalid JSON text', '[{"id":', 'Malformed', 'not valid JSON'],
    ['an empty batch', [], 'Malformed', 'empty batch'],
    [
      'a batch larger than Event Grid delivers',
      Array.from({ length: MAX_EVENTS_PER_DELIVERY + 1 }, () => egEvent('KeyExpired', pascal)),
      'TooLarge',
      'at most 5000',
    ],
    [
      'a body larger than Event Grid delivers',
      `["${'x'.repeat(3 * 1024 * 1024)}"]`,
      'TooLarge',
      'larger than',
    ],
    ['5,000-deep JSON text', `${'['.repeat(5000)}${']'.repeat(5000)}`, 'Malformed', 'not a JSON object'],
  ])('turns %s into one typed rejection', async (_name, body, code, reason) => {
    const [first, ...rest] = await reader.readDelivery(body);
    expect(rest).toHaveLength(0);
    expect(rejection(first)).toMatchObject({ code });
    expect(rejection(first).reason).toContain(reason);
  });

  it('reads a dead-letter blob like the delivery it kept (what a replay command would feed it)', async () => {
    // Microsoft Learn, "Set dead-letter location and retry policy": a dead-letter blob holds one or
    // more events in an array; each carries deadLetterReason, deliveryAttempts, lastDeliveryOutcome,
    // lastHttpStatusCode beside the original envelope.
    const originals = [egEvent('KeyNewVersionCreated', pascal), egEvent('SecretNewVersionCreated', pascal)];
    const blob = JSON.stringify(
      originals.map((e) => ({
        ...e,
        deadLetterReason: 'MaxDeliveryAttemptsExceeded',
        deliveryAttempts: 30,
        lastDeliveryOutcome: 'TimedOut',
        lastHttpStatusCode: 408,
        publishTime: '2026-11-20T10:00:00.1234567Z',
        lastDeliveryAttemptTime: '2026-11-21T10:00:00.1234567Z',
      })),
    );
    expect(await reader.readDelivery(blob)).toEqual(await reader.readDelivery(originals));
  });

  it('reads a full 5,000-event batch', async () => {
    const results = await reader.readDelivery(
      Array.from({ length: MAX_EVENTS_PER_DELIVERY }, () => egEvent('KeyExpired', pascal)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(MAX_EVENTS_PER_DELIVERY);
  });
});

describe('a seeded fuzz of deliveries (10,000 bodies per seed)', () => {
  const target = { vault: 'contoso-pg-kv', key: 'pg-cmk', version: VER, subscriptionId: SUB };
  const codes: readonly EventRejectionCode[] = [
    'Malformed',
    'TooLarge',
    'NotAKeyEvent',
    'UnsupportedEventType',
    'InvalidKeyIdentifier',
    'InconsistentData',
  ];

  it.each([1])('poisoned bodies (seed %i): only typed rejections, never a throw', async (seed) => {
    const counts: Record<string, number> = {};
    for (const body of fuzzedBodies(seed, 10_000, { ...target, poisoned: true })) {
      const results = await reader.readDelivery(body);
      expect(results.length).toBeGreaterThan(0);
      for (const r of results) {
        const { code, reason } = rejection(r);
        expect(codes).toContain(code);
        // The adapter's last-resort catch never had to turn an exception into a rejection.
        expect(reason).not.toMatch(/^unreadable event/);
        counts[code] = (counts[code] ?? 0) + 1;
      }
    }
    expect(Object.keys(counts).length).toBeGreaterThanOrEqual(4);
  });

  it('randomly mutated bodies: typed results only; what is accepted is a consistent key event', async () => {
    let accepted = 0;
    for (const body of fuzzedBodies(3, 10_000, { ...target, poisoned: false })) {
      for (const r of await reader.readDelivery(body)) {
        if (!r.ok) {
          expect(codes).toContain(r.rejection.code);
          expect(r.rejection.reason).not.toMatch(/^unreadable event/);
          continue;
        }
        accepted += 1;
        const ref = parseKeyUri(r.event.keyUri);
        expect(ref).toMatchObject({
          vaultName: r.event.vaultName,
          name: r.event.keyName,
          version: r.event.version,
        });
        for (const iso of [r.event.notBefore, r.event.expiresOn, r.event.eventTime])
          if (iso !== undefined) expect(new Date(iso).toISOString()).toBe(iso);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
