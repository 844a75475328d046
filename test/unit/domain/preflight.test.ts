import type { KeyVersionInfo } from '../../../shared/domain/model';
import { preflightKeyVersion } from '../../../shared/domain/preflight';
import { keyVersion } from '../../support/keys';

const NOW = '2026-11-24T00:00:00.000Z';
const good: KeyVersionInfo = keyVersion('0123456789abcdef0123456789abcdef', '2026-11-01T00:00:00.000Z', {
  vaultUrl: 'https://contoso-kv.vault.azure.net',
  notBefore: '2026-11-01T00:00:00.000Z',
  expiresOn: '2027-11-01T00:00:00.000Z',
  keyType: 'RSA',
  keySize: 2048,
  keyOps: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify'],
});

describe('preflightKeyVersion', () => {
  it.each<[string, Partial<KeyVersionInfo>]>([
    ['an enabled RSA 2048 key valid for a year', {}],
    ['an RSA-HSM 4096 key', { keyType: 'RSA-HSM', keySize: 4096 }],
    ['an RSA 3072 key', { keySize: 3072 }],
    ['a key without activation or expiry dates', { notBefore: undefined, expiresOn: undefined }],
    ['a key whose only operations are wrap and unwrap', { keyOps: ['wrapKey', 'unwrapKey'] }],
  ])('passes %s', (_name, override) => {
    const result = preflightKeyVersion({ ...good, ...override }, { now: NOW, minLifetimeDays: 7 });
    expect(result.summary).toBe('');
    expect(result.passed).toBe(true);
    expect(result.checks.map((c) => c.name)).toEqual([
      'keyType',
      'keySize',
      'enabled',
      'notBefore',
      'expiry',
      'operations',
    ]);
  });

  it.each<[string, Partial<KeyVersionInfo>, string, string]>([
    ['an EC key', { keyType: 'EC', keySize: undefined }, 'keyType', 'key type EC is not RSA or RSA-HSM'],
    ['an oct-HSM key', { keyType: 'oct-HSM' }, 'keyType', 'not RSA or RSA-HSM'],
    ['an RSA 1024 key', { keySize: 1024 }, 'keySize', 'key size 1024 is not 2048, 3072 or 4096 bits'],
    [
      'a version read without its key material',
      { keyType: undefined, keySize: undefined },
      'keySize',
      'key size unknown',
    ],
    ['a disabled version', { enabled: false }, 'enabled', 'key version is disabled'],
    [
      'a version not yet active',
      { notBefore: '2026-12-01T00:00:00.000Z' },
      'notBefore',
      'not active until 2026-12-01',
    ],
    ['an expired version', { expiresOn: '2026-11-23T00:00:00.000Z' }, 'expiry', 'expired at 2026-11-23'],
    [
      'a version expiring inside the minimum lifetime',
      { expiresOn: '2026-11-27T00:00:00.000Z' },
      'expiry',
      'less than 7 days from now',
    ],
    [
      'a version that may not unwrap',
      { keyOps: ['wrapKey', 'encrypt'] },
      'operations',
      'do not allow unwrapKey',
    ],
    [
      'a version with no operations listed',
      { keyOps: undefined },
      'operations',
      'do not allow wrapKey and unwrapKey',
    ],
  ])('fails %s on check %s', (_name, override, checkName, reason) => {
    const result = preflightKeyVersion({ ...good, ...override }, { now: NOW, minLifetimeDays: 7 });
    expect(result.passed).toBe(false);
    const failed = result.checks.find((c) => c.name === checkName);
    expect(failed?.passed).toBe(false);
    expect(failed?.reason).toContain(reason);
    expect(result.summary).toContain(reason);
  });

  it('reports every failing rule, not only the first', () => {
    const result = preflightKeyVersion(
      { ...good, enabled: false, keySize: 1024 },
      { now: NOW, minLifetimeDays: 7 },
    );
    expect(result.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['keySize', 'enabled']);
  });

  it('treats the activation instant itself as active', () => {
    expect(preflightKeyVersion({ ...good, notBefore: NOW }, { now: NOW, minLifetimeDays: 0 }).passed).toBe(
      true,
    );
  });
});
