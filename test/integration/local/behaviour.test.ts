import { ResourceGraphClient } from '@azure/arm-resourcegraph';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KEY, SUB_A, SUB_B, SUB_SECURITY, V1, V2, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';

interface Received {
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A webhook receiver that answers the validation handshake and then the given status. */
async function receiver(
  status: () => number,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        data?: { validationCode?: string };
      }[];
      received.push({ headers: req.headers, body });
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ validationResponse: body[0]?.data?.validationCode }));
        return;
      }
      res.writeHead(status());
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/events`, received, server };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

describe('the local Azure behaves like the service', () => {
  let h: Harness;
  let arm: ArmServerFleet;
  let keys: KeyClient;

  beforeEach(async () => {
    h = await startHarness(testFleet().fleet);
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    keys = new KeyClient(VAULT_URL, h.credential, h.clientOptions);
  });
  afterEach(async () => {
    await h.azure.close();
  });

  it('expiring a version turns its servers Invalid, then Inaccessible after the configured delay', async () => {
    const a = serverId(SUB_A, 'rg-a', 'pg-a'); // on V1, which expires in 65 days
    const c = serverId(SUB_A, 'rg-a', 'pg-c'); // on V2
    await h.admin('clock/advance', { method: 'POST', body: { days: 66 } });
    expect(await arm.getServer(a)).toMatchObject({
      state: 'Ready',
      dataEncryption: { primaryEncryptionKeyStatus: 'Invalid' },
    });
    await h.admin('clock/advance', { method: 'POST', body: { seconds: 61 } });
    expect(await arm.getServer(a)).toMatchObject({
      state: 'Inaccessible',
      dataEncryption: { primaryEncryptionKeyStatus: 'Invalid' },
    });
    expect(await arm.getServer(c)).toMatchObject({
      state: 'Ready',
      dataEncryption: { primaryEncryptionKeyStatus: 'Valid' },
    });
  });

  it('disabling a version through the real KeyClient invalidates the servers pinned to it', async () => {
    await keys.updateKeyProperties(KEY, V1, { enabled: false });
    const a = await waitFor('pg-a to see its key disabled', async () => {
      const s = await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-a'));
      return s.dataEncryption?.primaryEncryptionKeyStatus === 'Invalid' ? s : undefined;
    });
    expect(a.state).toBe('Ready'); // Inaccessible only after the delay
  });

  it('a versionless URI follows the latest version: disabling an old version does not touch it', async () => {
    await keys.updateKeyProperties(KEY, V1, { enabled: false });
    await h.admin('clock/advance', { method: 'POST', body: { seconds: 120 } });
    expect(await arm.getServer(serverId(SUB_B, 'rg-b', 'pg-d'))).toMatchObject({
      state: 'Ready',
      dataEncryption: { primaryEncryptionKeyStatus: 'Valid' },
    });
    await keys.updateKeyProperties(KEY, V2, { enabled: false });
    await waitFor('pg-d to see its latest version disabled', async () =>
      (await arm.getServer(serverId(SUB_B, 'rg-b', 'pg-d'))).dataEncryption?.primaryEncryptionKeyStatus ===
      'Invalid'
        ? true
        : undefined,
    );
    await h.admin('clock/advance', { method: 'POST', body: { seconds: 61 } });
    expect(await arm.getServer(serverId(SUB_B, 'rg-b', 'pg-d'))).toMatchObject({ state: 'Inaccessible' });
  });

  it('revoking and restoring the identity grant takes a server down and back', async () => {
    const who = {
      identity: `/subscriptions/${SUB_A}/resourceGroups/rg-identity/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-c`,
      permissions: ['unwrapKey'],
    };
    await h.admin('vaults/contoso-pg-kv/access', { method: 'DELETE', body: who });
    expect(
      (await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-c'))).dataEncryption?.primaryEncryptionKeyStatus,
    ).toBe('Invalid');
    await h.admin('clock/advance', { method: 'POST', body: { seconds: 61 } });
    expect((await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-c'))).state).toBe('Inaccessible');
    await h.admin('vaults/contoso-pg-kv/access', { method: 'POST', body: who });
    expect(await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-c'))).toMatchObject({
      state: 'Ready',
      dataEncryption: { primaryEncryptionKeyStatus: 'Valid' },
    });
  });

  it('Resource Graph refuses a query it cannot parse instead of ignoring it', async () => {
    const client = new ResourceGraphClient(h.credential, h.clientOptions);
    const error = await client
      .resources({ subscriptions: [SUB_A], query: 'resources | summarize count() by type' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 400 });
    const ok = await client.resources({
      subscriptions: [SUB_A],
      query:
        "resources | where type =~ 'Microsoft.DBforPostgreSQL/flexibleServers' and name startswith 'pg-a' | project id, name",
    });
    expect(ok.data).toEqual([{ id: serverId(SUB_A, 'rg-a', 'pg-a'), name: 'pg-a' }]);
  });

  describe('Event Grid delivery', () => {
    it('validates the subscription, then delivers KeyNewVersionCreated with the real headers and PascalCase data', async () => {
      const hook = await receiver(() => 200);
      try {
        await h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'pg-cmk-rotator', endpoint: hook.url, vaults: ['contoso-pg-kv'] },
        });
        expect(hook.received[0]?.headers['aeg-event-type']).toBe('SubscriptionValidation');
        const rotated = await keys.rotateKey(KEY);
        const got = await waitFor('delivery', () =>
          hook.received.find((r) => r.headers['aeg-event-type'] === 'Notification'),
        );
        expect(got.headers).toMatchObject({
          'aeg-subscription-name': 'PG-CMK-ROTATOR',
          'aeg-delivery-count': '0',
          'aeg-data-version': '1',
          'aeg-metadata-version': '1',
        });
        expect(got.body).toEqual([
          expect.objectContaining({
            eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
            topic: `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/contoso-pg-kv`,
            subject: KEY,
            data: expect.objectContaining({
              Id: rotated.id,
              VaultName: 'contoso-pg-kv',
              ObjectType: 'Key',
              ObjectName: KEY,
              Version: rotated.properties.version,
            }),
          }),
        ]);
      } finally {
        await close(hook.server);
      }
    });

    it('announces an imported key version too, and the imported material really unwraps', async () => {
      const hook = await receiver(() => 200);
      try {
        await h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'imports', endpoint: hook.url },
        });
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const jwk = privateKey.export({ format: 'jwk' });
        const b = (v: string | undefined) => Buffer.from(v ?? '', 'base64url');
        const imported = await keys.importKey('byok-key', {
          kty: 'RSA',
          n: b(jwk.n),
          e: b(jwk.e),
          d: b(jwk.d),
          p: b(jwk.p),
          q: b(jwk.q),
          dp: b(jwk.dp),
          dq: b(jwk.dq),
          qi: b(jwk.qi),
          keyOps: ['wrapKey', 'unwrapKey'],
        });
        expect(imported.keyType).toBe('RSA');
        await waitFor('import event', () =>
          hook.received.find((r) => JSON.stringify(r.body).includes('byok-key')),
        );
        const wrapped = publicEncrypt(
          { key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          Buffer.from('data-key'),
        );
        const crypto = new CryptographyClient(imported.id ?? '', h.credential, h.clientOptions);
        expect(Buffer.from((await crypto.unwrapKey('RSA-OAEP-256', wrapped)).result).toString()).toBe(
          'data-key',
        );
      } finally {
        await close(hook.server);
      }
    });

    it('refuses a subscription whose endpoint fails the handshake', async () => {
      await expect(
        h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'broken', endpoint: 'http://127.0.0.1:9/nothing' },
        }),
      ).rejects.toThrow('handshake failed');
    });

    it('retries a failing endpoint on the (compressed) schedule and dead-letters after the last attempt', async () => {
      const hook = await receiver(() => 500);
      try {
        await h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'flaky', endpoint: hook.url, maxDeliveryAttempts: 3, deadLetter: true },
        });
        await keys.rotateKey(KEY);
        const delivery = await waitFor('dead-letter', async () => {
          const ds =
            await h.admin<{ state: string; attempts: { status: number }[]; deadLetterReason: string }[]>(
              'deliveries',
            );
          return ds.find((d) => d.state === 'deadLettered');
        });
        expect(delivery.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
        expect(delivery.deadLetterReason).toContain('max delivery attempts');
        expect(
          hook.received
            .filter((r) => r.headers['aeg-event-type'] === 'Notification')
            .map((r) => r.headers['aeg-delivery-count']),
        ).toEqual(['0', '1', '2']);
      } finally {
        await close(hook.server);
      }
    });

    it('does not retry a 400 and drops it without a dead-letter destination', async () => {
      const hook = await receiver(() => 400);
      try {
        await h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'rejecting', endpoint: hook.url },
        });
        await keys.rotateKey(KEY);
        const delivery = await waitFor('drop', async () =>
          (await h.admin<{ state: string; attempts: unknown[] }[]>('deliveries')).find(
            (d) => d.state === 'dropped',
          ),
        );
        expect(delivery.attempts).toHaveLength(1);
      } finally {
        await close(hook.server);
      }
    });

    it('announces KeyNearExpiry 30 days before expiry and KeyExpired at expiry, from the clock', async () => {
      const hook = await receiver(() => 200);
      try {
        await h.admin('eventgrid/subscriptions', {
          method: 'POST',
          body: { name: 'expiry', endpoint: hook.url },
        });
        const types = () =>
          hook.received.flatMap((r) =>
            (r.body as { eventType: string; data: { Version: string } }[]).map(
              (e) => `${e.eventType.split('.').pop() ?? ''}:${e.data.Version}`,
            ),
          );
        await h.admin('clock/advance', { method: 'POST', body: { days: 306 } }); // V2 expires at +335d
        await waitFor('near expiry', () => (types().includes(`KeyNearExpiry:${V2}`) ? true : undefined));
        await h.admin('clock/advance', { method: 'POST', body: { days: 30 } });
        await waitFor('expired', () => (types().includes(`KeyExpired:${V2}`) ? true : undefined));
        // Only the current version is announced: V1 expired silently (that is what the sweep is for).
        expect(types().filter((t) => t.includes(V1))).toEqual([]);
      } finally {
        await close(hook.server);
      }
    });
  });
});
