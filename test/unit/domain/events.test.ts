import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseKeyVaultEvent,
  parseKeyVaultEvents,
  type EventParseResult,
} from '../../../shared/domain/events';

const SPECS = join(__dirname, '../../fixtures/azure-specs/eventgrid-keyvault-events');
const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const VER = 'ee059b2bb5bc48398a53b168c6cdcb10';
const TOPIC = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/sample-kv`;

function egEvent(type: string, data: Record<string, unknown>): Record<string, unknown> {
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
function ceEvent(type: string, data: Record<string, unknown>): Record<string, unknown> {
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

function ok(r: EventParseResult) {
  if (!r.ok) throw new Error(`rejected: ${r.rejection.reason}`);
  return r.event;
}
function rejection(r: EventParseResult) {
  if (r.ok) throw new Error('accepted');
  return r.rejection;
}

/** Azure's own sample with its quirks, turned into a key event by replacing "secrets" with "keys". */
function azureSampleAsKeyEvent(schema: 'event-grid-schema' | 'cloud-events-schema'): Record<string, unknown> {
  const text = readFileSync(
    join(SPECS, '2018-01-01/examples', schema, 'secret_new_version_created.json'),
    'utf8',
  );
  return JSON.parse(
    text
      .replace(/Secret/g, 'Key')
      .replace(/secrets/g, 'keys')
      .replace(/newsecret/g, 'pg-cmk'),
  ) as Record<string, unknown>;
}

describe('parseKeyVaultEvent accepts', () => {
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
  ])('%s', (_name, raw, schema, type) => {
    const e = ok(parseKeyVaultEvent(raw));
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

  it.each(['event-grid-schema', 'cloud-events-schema'] as const)(
    "Azure's %s sample quirks (string NBF/EXP, topic placeholder)",
    (schema) => {
      const e = ok(parseKeyVaultEvent(azureSampleAsKeyEvent(schema)));
      expect(e.version).toBe(VER);
      expect(e.subscriptionId).toBeUndefined(); // "{subscription-id}" is not a real subscription
      expect(e.notBefore).toBe(new Date(1559081980 * 1000).toISOString());
    },
  );

  it('the docs sample with a trailing space in a key and a leading space in a value', () => {
    const data = {
      Id: `https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`,
      VaultName: 'sample-kv',
      ObjectType: 'Key',
      'ObjectName ': 'pg-cmk',
      Version: ` ${VER}`,
      NBF: '1559081980',
      EXP: '1559082102',
    };
    expect(ok(parseKeyVaultEvent(egEvent('KeyNewVersionCreated', data))).keyName).toBe('pg-cmk');
  });

  it('a versionless Id completed by the Version field', () => {
    const e = ok(
      parseKeyVaultEvent(
        egEvent('KeyNewVersionCreated', { ...pascal, Id: 'https://sample-kv.vault.azure.net/keys/pg-cmk' }),
      ),
    );
    expect(e.keyUri).toBe(`https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`);
  });

  it('absent NBF and EXP', () => {
    const { NBF: _n, EXP: _e, ...rest } = pascal;
    const e = ok(parseKeyVaultEvent(egEvent('KeyNewVersionCreated', rest)));
    expect(e.notBefore).toBeUndefined();
    expect(e.expiresOn).toBeUndefined();
  });
});

describe('parseKeyVaultEvent rejects, with a reason, without throwing', () => {
  it.each([
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
    ['a non-numeric EXP', egEvent('KeyNearExpiry', { ...pascal, EXP: 'tomorrow' }), 'Malformed', 'EXP'],
    [
      'an event without id',
      { ...egEvent('KeyNewVersionCreated', pascal), id: undefined },
      'Malformed',
      'no id',
    ],
    [
      'an event without type',
      { ...egEvent('KeyNewVersionCreated', pascal), eventType: undefined },
      'Malformed',
      'no eventType',
    ],
    ['a string', 'hello', 'Malformed', 'not a JSON object'],
    ['null', null, 'Malformed', 'not a JSON object'],
  ])('%s', (_name, raw, code, reason) => {
    const r = rejection(parseKeyVaultEvent(raw));
    expect(r.code).toBe(code);
    expect(r.reason).toContain(reason);
  });
});

describe('parseKeyVaultEvents', () => {
  it('parses a batch in order, keeping rejections beside accepted events', () => {
    const results = parseKeyVaultEvents([
      egEvent('KeyNewVersionCreated', pascal),
      egEvent('SecretNewVersionCreated', pascal),
      ceEvent('KeyExpired', camel),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
  });
  it('parses a single event object and a JSON string', () => {
    expect(parseKeyVaultEvents(egEvent('KeyExpired', pascal))).toHaveLength(1);
    const [only] = parseKeyVaultEvents(JSON.stringify([ceEvent('KeyExpired', pascal)]));
    expect(only && ok(only).schema).toBe('CloudEvents');
  });
  it.each([
    ['invalid JSON text', '[{"id":', 'not valid JSON'],
    ['an empty batch', [], 'empty batch'],
  ])('turns %s into one Malformed rejection', (_name, body, reason) => {
    const [first, ...rest] = parseKeyVaultEvents(body);
    expect(rest).toHaveLength(0);
    expect(first && rejection(first)).toMatchObject({ code: 'Malformed' });
    expect(first && rejection(first).reason).toContain(reason);
  });
});
