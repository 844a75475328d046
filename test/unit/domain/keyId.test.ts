import {
  InvalidKeyIdentifierError,
  formatKeyUri,
  isVersioned,
  keyIdentity,
  parseKeyUri,
  sameKey,
  sameKeyVersion,
  tryParseKeyUri,
} from '../../../shared/domain/keyId';

const V1 = '0123456789abcdef0123456789abcdef';

describe('parseKeyUri', () => {
  it.each([
    [
      'a versioned vault key',
      `https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`,
      { vaultName: 'contoso-kv', name: 'pg-cmk', version: V1, kind: 'vault' },
    ],
    [
      'a versionless vault key',
      'https://contoso-kv.vault.azure.net/keys/pg-cmk',
      { name: 'pg-cmk', version: undefined },
    ],
    [
      'a versionless key with a trailing slash',
      'https://contoso-kv.vault.azure.net/keys/pg-cmk/',
      { version: undefined },
    ],
    [
      'a Managed HSM key',
      `https://contoso-hsm.managedhsm.azure.net/keys/k1/${V1}`,
      { kind: 'managedHsm', vaultName: 'contoso-hsm' },
    ],
    [
      'an upper-case host and version, lower-cased',
      `https://CONTOSO-KV.Vault.Azure.Net/keys/Pg-Cmk/${V1.toUpperCase()}`,
      { vaultUrl: 'https://contoso-kv.vault.azure.net', name: 'Pg-Cmk', version: V1 },
    ],
    [
      'an explicit :443 port',
      `https://contoso-kv.vault.azure.net:443/keys/pg-cmk/${V1}`,
      { vaultUrl: 'https://contoso-kv.vault.azure.net' },
    ],
    ['surrounding whitespace', `  https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1} `, { version: V1 }],
    [
      'a sovereign cloud vault',
      `https://gov-kv.vault.usgovcloudapi.net/keys/k/${V1}`,
      { vaultName: 'gov-kv' },
    ],
  ])('accepts %s', (_name, input, expected) => {
    expect(parseKeyUri(input)).toMatchObject(expected);
  });

  it.each([
    ['an empty string', '', 'empty'],
    ['a non-URI', 'pg-cmk', 'not a URI'],
    ['plain http', `http://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`, 'scheme must be https'],
    ['a secret', `https://contoso-kv.vault.azure.net/secrets/pg-cmk/${V1}`, 'collection must be "keys"'],
    [
      'a certificate',
      `https://contoso-kv.vault.azure.net/certificates/pg-cmk/${V1}`,
      'collection must be "keys"',
    ],
    ['a host that is not a vault', `https://contoso.example.com/keys/pg-cmk/${V1}`, 'is not a Key Vault'],
    [
      'a look-alike host',
      `https://contoso-kv.vault.azure.net.evil.com/keys/pg-cmk/${V1}`,
      'is not a Key Vault',
    ],
    ['another port', `https://contoso-kv.vault.azure.net:8443/keys/pg-cmk/${V1}`, 'port must be 443'],
    [
      'extra path segments',
      `https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}/extra`,
      'expected /keys/<name>',
    ],
    [
      'a version that is not 32 hex digits',
      'https://contoso-kv.vault.azure.net/keys/pg-cmk/latest',
      'not 32 hex digits',
    ],
    [
      'a key name with invalid characters',
      `https://contoso-kv.vault.azure.net/keys/pg_cmk/${V1}`,
      'key name "pg_cmk" is invalid',
    ],
    [
      'a query string',
      `https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}?api-version=7.5`,
      'query or fragment',
    ],
    ['a too-short vault name', `https://kv.vault.azure.net/keys/pg-cmk/${V1}`, 'vault name "kv" is invalid'],
  ])('rejects %s, naming the input and the reason', (_name, input, reason) => {
    expect(() => parseKeyUri(input)).toThrow(InvalidKeyIdentifierError);
    expect(() => parseKeyUri(input)).toThrow(reason);
    try {
      parseKeyUri(input);
    } catch (e) {
      expect((e as InvalidKeyIdentifierError).code).toBe('InvalidKeyIdentifier');
      expect((e as Error).message).toContain(`"${input.trim()}"`);
    }
  });
  it.each([
    ['user and password', `https://admin:s3cret@contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`],
    ['a user alone', `https://admin@contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`],
    ['an empty user information', `https://@contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`],
    ['a password alone', `https://:s3cret@contoso-kv.vault.azure.net/keys/pg-cmk`],
  ])('rejects an authority with %s (not a Key Vault identifier) and never echoes it', (_name, input) => {
    expect(() => parseKeyUri(input)).toThrow('user information (user:password@) not allowed');
    expect(tryParseKeyUri(input)).toBeUndefined();
    try {
      parseKeyUri(input);
    } catch (e) {
      expect((e as Error).message).not.toContain('s3cret');
      expect((e as Error).message).not.toContain('admin');
      expect((e as Error).message).toContain('https://***@contoso-kv.vault.azure.net/keys/pg-cmk');
    }
  });
});

describe('comparisons', () => {
  const a = parseKeyUri(`https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`);
  it.each([
    [
      'same key in other casing',
      `https://CONTOSO-KV.vault.azure.net/keys/PG-CMK/${V1.toUpperCase()}`,
      true,
      true,
    ],
    ['the versionless URI of the same key', 'https://contoso-kv.vault.azure.net/keys/pg-cmk', true, false],
    [
      'another version',
      'https://contoso-kv.vault.azure.net/keys/pg-cmk/ffffffffffffffffffffffffffffffff',
      true,
      false,
    ],
    ['same name in another vault', `https://other-kv.vault.azure.net/keys/pg-cmk/${V1}`, false, false],
    [
      'another key with a common prefix',
      `https://contoso-kv.vault.azure.net/keys/pg-cmk2/${V1}`,
      false,
      false,
    ],
  ])('%s: sameKey=%s sameKeyVersion=%s', (_name, other, key, version) => {
    const b = parseKeyUri(other);
    expect(sameKey(a, b)).toBe(key);
    expect(sameKeyVersion(a, b)).toBe(version);
  });

  it('tells versioned from versionless', () => {
    expect(isVersioned(a)).toBe(true);
    expect(isVersioned(parseKeyUri('https://contoso-kv.vault.azure.net/keys/pg-cmk'))).toBe(false);
  });

  it('formats a canonical URI and a stable key identity', () => {
    expect(formatKeyUri(parseKeyUri(`https://CONTOSO-KV.vault.azure.net:443/keys/pg-cmk/${V1}`))).toBe(
      `https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`,
    );
    expect(keyIdentity(parseKeyUri('https://contoso-kv.vault.azure.net/keys/PG-Cmk'))).toBe(
      'contoso-kv/pg-cmk',
    );
  });

  it('tryParseKeyUri returns undefined instead of throwing', () => {
    expect(tryParseKeyUri(undefined)).toBeUndefined();
    expect(tryParseKeyUri('')).toBeUndefined();
    expect(tryParseKeyUri('https://contoso-kv.vault.azure.net/secrets/s')).toBeUndefined();
    expect(tryParseKeyUri(`https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`)?.version).toBe(V1);
  });
});
