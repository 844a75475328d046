import {
  keyVaultEventFrom,
  rejectEvent,
  type EventParseResult,
  type EventRejectionCode,
  type KeyEventData,
  type KeyEventEnvelope,
} from '../../../shared/domain/events';

// Reading the wire (envelopes, PascalCase, Azure's samples) is the adapter's job and is tested in
// test/unit/adapters/eventGridKeyVaultEvents.test.ts; these are the domain's rules on what it read.

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const VER = 'ee059b2bb5bc48398a53b168c6cdcb10';
const TOPIC = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/sample-kv`;
const data: KeyEventData = {
  id: `https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`,
  vaultName: 'sample-kv',
  objectType: 'Key',
  objectName: 'pg-cmk',
  version: VER,
  nbf: 1763600000,
  exp: 1795136000,
};

function envelope(d: KeyEventData, source = TOPIC): KeyEventEnvelope {
  return {
    schema: 'EventGrid',
    eventId: 'evt-1',
    eventType: 'KeyNewVersionCreated',
    eventTime: '2026-11-20T10:00:00.123Z',
    source,
    data: d,
  };
}
function ok(r: EventParseResult) {
  if (!r.ok) throw new Error(`rejected: ${r.rejection.reason}`);
  return r.event;
}
function rejection(r: EventParseResult) {
  if (r.ok) throw new Error('accepted');
  return r.rejection;
}

describe('keyVaultEventFrom accepts', () => {
  it('a key event: canonical key URI, subscription from the source, dates from unix seconds', () => {
    expect(ok(keyVaultEventFrom(envelope(data)))).toEqual({
      schema: 'EventGrid',
      eventId: 'evt-1',
      eventType: 'KeyNewVersionCreated',
      eventTime: '2026-11-20T10:00:00.123Z',
      source: TOPIC,
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

  it('a source without a real subscription id (Azure samples say "{subscription-id}")', () => {
    const source =
      '/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv';
    expect(ok(keyVaultEventFrom(envelope(data, source))).subscriptionId).toBeUndefined();
  });

  it('a versionless Id completed by the Version field', () => {
    const e = ok(
      keyVaultEventFrom(envelope({ ...data, id: 'https://sample-kv.vault.azure.net/keys/pg-cmk' })),
    );
    expect(e.keyUri).toBe(`https://sample-kv.vault.azure.net/keys/pg-cmk/${VER}`);
  });

  it('a versionless Id with a Version that is not a key version stays versionless', () => {
    const e = ok(
      keyVaultEventFrom(
        envelope({ ...data, id: 'https://sample-kv.vault.azure.net/keys/pg-cmk', version: 'latest' }),
      ),
    );
    expect(e.version).toBeUndefined();
  });

  it('absent NBF and EXP; the largest date a Date prints as a four-digit year', () => {
    const e = ok(keyVaultEventFrom(envelope({ ...data, nbf: undefined, exp: 253402300799 })));
    expect(e.notBefore).toBeUndefined();
    expect(e.expiresOn).toBe('9999-12-31T23:59:59.000Z');
  });
});

describe('keyVaultEventFrom rejects, with a reason, without throwing', () => {
  it.each<[string, KeyEventData, EventRejectionCode, string]>([
    ['no Id', { ...data, id: undefined }, 'Malformed', 'data.Id is missing'],
    [
      'an Id that is a secret URI',
      { ...data, id: `https://sample-kv.vault.azure.net/secrets/pg-cmk/${VER}` },
      'InvalidKeyIdentifier',
      'collection must be "keys"',
    ],
    ['an Id that is not a URL', { ...data, id: 'pg-cmk' }, 'InvalidKeyIdentifier', ''],
    [
      'a vault name that disagrees with Id',
      { ...data, vaultName: 'other-kv' },
      'InconsistentData',
      'VaultName',
    ],
    [
      'an object name that disagrees with Id',
      { ...data, objectName: 'other' },
      'InconsistentData',
      'ObjectName',
    ],
    [
      'a version that disagrees with Id',
      { ...data, version: 'ffffffffffffffffffffffffffffffff' },
      'InconsistentData',
      'Version',
    ],
    ['an object type that is not Key', { ...data, objectType: 'Secret' }, 'InconsistentData', 'ObjectType'],
    // Issue 10's poison values: `new Date(n * 1000).toISOString()` threw RangeError for both.
    ['NBF 99999999999999', { ...data, nbf: 99999999999999 }, 'Malformed', 'data.NBF'],
    ['EXP 1e300', { ...data, exp: 1e300 }, 'Malformed', 'data.EXP'],
    ['EXP one second past year 9999', { ...data, exp: 253402300800 }, 'Malformed', 'data.EXP'],
    ['a negative NBF', { ...data, nbf: -1 }, 'Malformed', 'data.NBF'],
    ['NBF NaN', { ...data, nbf: Number.NaN }, 'Malformed', 'data.NBF'],
    ['EXP Infinity', { ...data, exp: Number.POSITIVE_INFINITY }, 'Malformed', 'data.EXP'],
  ])('%s', (_name, d, code, reason) => {
    const r = rejection(keyVaultEventFrom(envelope(d)));
    expect(r).toMatchObject({ code, eventId: 'evt-1', eventType: 'Microsoft.KeyVault.KeyNewVersionCreated' });
    expect(r.reason).toContain(reason);
  });
});

describe('bounded rejections (issue 23: what the host kept under a fuzz)', () => {
  it('refuses an event id longer than 256 characters, and repeats at most 256 of it', () => {
    const id = 'x'.repeat(5000);
    const r = rejection(keyVaultEventFrom({ ...envelope(data), eventId: id }));
    expect(r).toMatchObject({ code: 'Malformed', reason: 'event id is longer than 256 characters' });
    expect(r.eventId?.length).toBeLessThanOrEqual(259);
  });

  it('bounds the id, type and reason every rejection carries into the audit trail', () => {
    const r = rejection(rejectEvent('i'.repeat(9000), 't'.repeat(9000), 'Malformed', 'r'.repeat(9000)));
    expect(JSON.stringify(r).length).toBeLessThan(1700);
  });
});
