import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KeyClient } from '@azure/keyvault-keys';
import { Agent } from 'node:https';
import { KEY, SUB_A, SUB_B, V1, VAULT, VAULT_URL, serverId, testFleet, uai } from '../../support/fleet';
import { httpsJson } from '../../support/https';
import { startHarness, type Harness } from '../../support/localAzure';

/** The admin API's vault routes: a name that matches nothing is refused, never a silent 200. */
describe('the local admin API changes a vault only when it names what is there', () => {
  let h: Harness;
  let arm: ArmServerFleet;
  let send: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

  beforeEach(async () => {
    h = await startHarness(testFleet(2).fleet);
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    const agent = new Agent({ ca: h.azure.caCertPem });
    send = async (method, path, body) => {
      const res = await httpsJson(`${h.azure.url}/admin/${path}`, {
        agent,
        method,
        ...(body !== undefined ? { body } : {}),
      });
      return { status: res.status, body: res.body };
    };
  });
  afterEach(async () => {
    await h.azure.close();
  });

  const pgC = () => serverId(SUB_A, 'rg-a', 'pg-c');
  const permissions = ['unwrapKey'];

  it.each([
    ['a name no identity has', 'id-pg-orders'],
    ['a misspelt name', 'id-cc'],
    ['a resource id no identity has', uai(SUB_A, 'id-pg-orders')],
  ])('refuses to revoke for %s with 404 and the known identities, changing nothing', async (_, identity) => {
    const state = async () => {
      const { vaults, servers } = (await send('GET', 'state')).body as Record<string, unknown>;
      return { vaults, servers };
    };
    const before = await state();
    const res = await send('DELETE', `vaults/${VAULT}/access`, { identity, permissions });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      error: expect.stringContaining(`no identity ${identity}`) as unknown,
      identities: expect.arrayContaining([uai(SUB_A, 'id-c')]) as unknown,
    });
    expect(await state()).toEqual(before);
    expect((await arm.getServer(pgC())).dataEncryption?.primaryEncryptionKeyStatus).toBe('Valid');
  });

  it('suggests the identity a misspelt name was probably meant to be', async () => {
    const res = await send('DELETE', `vaults/${VAULT}/access`, { identity: 'id-cc', permissions });
    expect((res.body as { error: string }).error).toContain('did you mean id-c?');
  });

  it('accepts a short name that names exactly one identity, like its resource id', async () => {
    const res = await send('DELETE', `vaults/${VAULT}/access`, { identity: 'id-c', permissions });
    expect(res.status).toBe(200);
    expect((await arm.getServer(pgC())).dataEncryption?.primaryEncryptionKeyStatus).toBe('Invalid');
    expect((await send('POST', `vaults/${VAULT}/access`, { identity: 'ID-C', permissions })).status).toBe(
      200,
    );
    expect((await arm.getServer(pgC())).dataEncryption?.primaryEncryptionKeyStatus).toBe('Valid');
  });

  it('refuses a short name two identities share, listing their ids', async () => {
    const res = await send('DELETE', `vaults/${VAULT}/access`, { identity: 'id-a', permissions });
    expect(res).toEqual({
      status: 400,
      body: {
        error: expect.stringContaining('2 identities are named id-a') as unknown,
        identities: [uai(SUB_A, 'id-a'), uai(SUB_B, 'id-a')],
      },
    });
  });

  it('refuses a revoke for a principal without permissions in the vault, and an unknown vault', async () => {
    const nobody = '00000000-0000-0000-0000-000000000001';
    expect(
      (await send('DELETE', `vaults/${VAULT}/access`, { principalId: nobody, permissions })).status,
    ).toBe(404);
    const res = await send('DELETE', 'vaults/contoso-pg-kw/access', { identity: 'id-c', permissions });
    expect(res.status).toBe(404);
    expect((res.body as { error: string }).error).toContain(`did you mean ${VAULT}?`);
  });

  it('extends the expiry of a key version, as updateKeyProperties does, so an expired key works again', async () => {
    const a = serverId(SUB_A, 'rg-a', 'pg-a'); // on V1, which expires in 65 days
    await send('POST', 'clock/advance', { days: 66 });
    expect((await arm.getServer(a)).dataEncryption?.primaryEncryptionKeyStatus).toBe('Invalid');
    // The stand-in's clock runs: the expiry is 90 days from some instant between these two reads.
    const clock = async (): Promise<number> =>
      Date.parse(((await send('GET', 'clock')).body as { now: string }).now);
    const before = await clock();
    const res = await send('POST', `vaults/${VAULT}/keys/${KEY}/expiry`, { version: V1, days: 90 });
    const after = await clock();
    expect(res.status).toBe(200);
    const keys = new KeyClient(VAULT_URL, h.credential, h.clientOptions);
    const v1 = await keys.getKey(KEY, { version: V1 });
    // Key Vault keeps whole seconds.
    const exp = Math.floor((v1.properties.expiresOn?.getTime() ?? 0) / 1000);
    expect(exp).toBeGreaterThanOrEqual(Math.floor((before + 90 * 86_400_000) / 1000));
    expect(exp).toBeLessThanOrEqual(Math.floor((after + 90 * 86_400_000) / 1000));
    expect(exp).toBe(Math.floor(Date.parse((res.body as { exp: string }).exp) / 1000));
    expect((await arm.getServer(a)).dataEncryption?.primaryEncryptionKeyStatus).toBe('Valid');
  });

  it.each([
    ['an unknown key', `vaults/${VAULT}/keys/pg-cmc/expiry`, { days: 1 }, 404, 'did you mean pg-cmk?'],
    [
      'an unknown version',
      `vaults/${VAULT}/keys/${KEY}/expiry`,
      { version: 'f'.repeat(32), days: 1 },
      404,
      'has no version',
    ],
    ['no time', `vaults/${VAULT}/keys/${KEY}/expiry`, {}, 400, 'give either'],
    ['a misspelt field', `vaults/${VAULT}/keys/${KEY}/expiry`, { dyas: 1 }, 400, 'unknown field(s) dyas'],
  ])('refuses an expiry change naming %s', async (_, path, body, status, said) => {
    const res = await send('POST', path, body);
    expect(res.status).toBe(status);
    expect((res.body as { error: string }).error).toContain(said);
  });
});
