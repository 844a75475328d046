import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { randomBytes } from 'node:crypto';
import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import { ForbiddenError, NotFoundError, ThrottledError, TransientError } from '../../../shared/ports/errors';
import { KEY, SMALL, V1, V2, VAULT, VAULT_URL, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

describe('KeyVaultKeysAdapter over the real KeyClient against the local Key Vault', () => {
  let h: Harness;
  let adapter: KeyVaultKeysAdapter;

  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });
  beforeEach(async () => {
    await h.admin('faults', { method: 'DELETE' });
    adapter = new KeyVaultKeysAdapter({
      credential: h.credential,
      clientOptions: h.clientOptions,
      pageSize: 1,
    });
  });

  it('reads every version across pages, after the 401 challenge', async () => {
    const before = h.azure.requests.length;
    const key = await adapter.readKey(VAULT_URL, KEY);
    expect(key.versions.map((v) => v.version).sort()).toEqual([SMALL, V1, V2].sort());
    expect(key.versions.find((v) => v.version === V1)).toMatchObject({
      kid: `${VAULT_URL}/keys/${KEY}/${V1}`,
      enabled: true,
    });
    // The current version, as Key Vault serves the key without a version (the creation-time tie-break).
    expect(key.currentVersion).toBe(V2);
    const calls = h.azure.requests.slice(before).filter((r) => r.operation === 'keys.listVersions');
    expect(calls.map((c) => c.status)).toEqual([401, 200, 200, 200]); // challenge, then one page per version
  });

  it('reads one version with its key type, modulus size and operations', async () => {
    await expect(adapter.readKeyVersion(VAULT_URL, KEY, V2)).resolves.toMatchObject({
      keyType: 'RSA',
      keySize: 2048,
      keyOps: expect.arrayContaining(['wrapKey', 'unwrapKey']),
    });
    await expect(adapter.readKeyVersion(VAULT_URL, KEY, SMALL)).resolves.toMatchObject({ keySize: 1024 });
  });

  it('rotates: a new version with the policy expiry, announced as KeyNewVersionCreated', async () => {
    const events: string[] = [];
    h.azure.world.events.once('key', (e) => events.push(`${e.type}:${e.version.version}`));
    const rotated = await adapter.rotateKey(VAULT_URL, KEY);
    expect(rotated.version).toMatch(/^[0-9a-f]{32}$/);
    const lifetimeDays = (Date.parse(rotated.expiresOn ?? '') - Date.parse(rotated.createdOn)) / 86_400_000;
    expect(Math.round(lifetimeDays)).toBe(365);
    expect(events).toEqual([`KeyNewVersionCreated:${rotated.version}`]);
  });

  it('never resends a rotate the SDK saw fail after Key Vault made the version: one new version, a TransientError', async () => {
    // The first rotate answers the client's auth challenge for the write client; then the fault.
    await adapter.rotateKey(VAULT_URL, KEY);
    const versions = () => h.azure.world.vaultByName(VAULT)?.keys.get(KEY)?.versions.length ?? 0;
    const before = versions();
    h.azure.faults.add({ service: 'keyvault', operation: 'keys.rotate', status: 500, afterApply: true });
    try {
      const error = await adapter.rotateKey(VAULT_URL, KEY).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(versions()).toBe(before + 1);
    } finally {
      h.azure.faults.clear();
    }
  });

  it('maps a missing key to NotFoundError with Key Vault code', async () => {
    const error = await adapter.readKey(VAULT_URL, 'no-such-key').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'NotFound', azureCode: 'KeyNotFound', statusCode: 404 });
  });

  it('maps a caller without data-plane access to ForbiddenError', async () => {
    const vault = h.azure.world.vaultByName(VAULT);
    if (vault === undefined) throw new Error('vault missing');
    vault.enforceCallerAccess = true;
    try {
      const error = await adapter.readKeyVersion(VAULT_URL, KEY, V1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForbiddenError);
      expect((error as Error).message).toContain('Forbidden');
    } finally {
      vault.enforceCallerAccess = false;
    }
  });

  it('honours Retry-After on 429 through the SDK retry policy, then succeeds', async () => {
    await h.admin('faults', {
      method: 'POST',
      body: {
        service: 'keyvault',
        operation: 'keys.get',
        status: 429,
        code: 'Throttled',
        retryAfterSeconds: 1,
        count: 1,
      },
    });
    const started = Date.now();
    await expect(adapter.readKeyVersion(VAULT_URL, KEY, V1)).resolves.toMatchObject({ version: V1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('surfaces persistent throttling as ThrottledError with the Retry-After seconds', async () => {
    await h.admin('faults', {
      method: 'POST',
      body: {
        service: 'keyvault',
        operation: 'keys.get',
        status: 429,
        code: 'Throttled',
        retryAfterSeconds: 0,
      },
    });
    const error = await adapter.readKeyVersion(VAULT_URL, KEY, V1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 0 });
  });

  it('wraps and unwraps with real RSA crypto, and refuses a disabled version', async () => {
    const keys = new KeyClient(VAULT_URL, h.credential, h.clientOptions);
    const crypto = new CryptographyClient(`${VAULT_URL}/keys/${KEY}/${V2}`, h.credential, h.clientOptions);
    const dek = randomBytes(32);
    for (const alg of ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const) {
      const wrapped = await crypto.wrapKey(alg, dek);
      expect(Buffer.from((await crypto.unwrapKey(alg, wrapped.result)).result)).toEqual(dek);
    }
    await keys.updateKeyProperties(KEY, V2, { enabled: false });
    try {
      const error = await crypto.unwrapKey('RSA-OAEP-256', randomBytes(256)).catch((e: unknown) => e);
      expect(error).toMatchObject({ statusCode: 403 });
    } finally {
      await keys.updateKeyProperties(KEY, V2, { enabled: true });
    }
  });
});
