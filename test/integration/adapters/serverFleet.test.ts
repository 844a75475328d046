import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { ResourceGraphServerFleet, discoveryQuery } from '../../../shared/adapters/resourceGraphServerFleet';
import { buildPatchBody } from '../../../shared/domain/plan';
import type { ServerSnapshot } from '../../../shared/domain/model';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ThrottledError,
} from '../../../shared/ports/errors';
import type { OperationHandle, OperationStatus, ServerFleet } from '../../../shared/ports/serverFleet';
import { KEY, SMALL, SUB_A, SUB_B, V1, V2, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';

const key = { vaultUrl: VAULT_URL, keyName: KEY };
const uri = (v: string) => `${VAULT_URL}/keys/${KEY}/${v}`;

async function collect(fleet: ServerFleet): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await fleet.findServersReferencingKey(key, token);
    pages++;
    names.push(...page.servers.map((s) => s.name));
    token = page.continuationToken;
  } while (token !== undefined);
  return { names: names.sort(), pages };
}

async function settle(fleet: ServerFleet, handle: OperationHandle): Promise<OperationStatus> {
  return waitFor('operation to finish', async () => {
    const status = await fleet.pollOperation(handle);
    return status.status === 'InProgress' ? undefined : status;
  });
}

const REFERENCING = [
  'pg-a',
  'pg-b',
  'pg-c',
  'pg-d',
  'pg-f',
  ...Array.from({ length: 5 }, (_, i) => `pg-x${i}`),
].sort();

describe('ServerFleet adapters over the real SDK clients against local ARM and Resource Graph', () => {
  let h: Harness;
  let arm: ArmServerFleet;
  let graph: ResourceGraphServerFleet;

  beforeAll(async () => {
    h = await startHarness(testFleet(5).fleet, { armPageSize: 2 });
  });
  afterAll(async () => {
    await h.azure.close();
  });
  beforeEach(async () => {
    await h.admin('faults', { method: 'DELETE' });
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    graph = new ResourceGraphServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      arm,
      pageSize: 3,
      clientOptions: h.clientOptions,
    });
  });

  describe('discovery', () => {
    it.each([
      ['ARM list', () => arm],
      ['Resource Graph', () => graph],
    ])(
      '%s finds exactly the servers naming the key (any version, versionless, either slot), across pages',
      async (_name, get) => {
        const { names, pages } = await collect(get());
        expect(names).toEqual(REFERENCING);
        expect(pages).toBeGreaterThan(2);
      },
    );

    it('Resource Graph really filters in the query: other keys never leave the service', async () => {
      const before = h.azure.requests.length;
      const page = await graph.findServersReferencingKey({ vaultUrl: VAULT_URL, keyName: 'other-key' });
      expect(page.servers.map((s) => s.name)).toEqual(['pg-e']);
      expect(
        h.azure.requests
          .slice(before)
          .filter((r) => r.service === 'resourcegraph')
          .map((r) => r.status),
      ).toEqual([200]);
    });

    it('Resource Graph finds a server by its geo-backup key', async () => {
      const page = await graph.findServersReferencingKey({
        vaultUrl: 'https://contoso-pg-geo-kv.vault.azure.net',
        keyName: 'pg-cmk-geo',
      });
      expect(page.servers.map((s) => s.name)).toEqual(['pg-b']);
    });

    it('a continuation token resumes where the previous page stopped', async () => {
      const first = await arm.findServersReferencingKey(key);
      const again = await arm.findServersReferencingKey(key, first.continuationToken);
      const replay = await arm.findServersReferencingKey(key, first.continuationToken);
      expect(again.servers.map((s) => s.id)).toEqual(replay.servers.map((s) => s.id));
      await expect(arm.findServersReferencingKey(key, 'garbage')).rejects.toBeInstanceOf(BadRequestError);
    });

    it('the discovery query names the key by prefix and by versionless URI', () => {
      expect(discoveryQuery(key)).toContain(
        "startswith 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/'",
      );
      expect(discoveryQuery(key)).toContain("=~ 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk'");
    });
  });

  describe('get and PATCH', () => {
    it('reads a server and maps a missing one to NotFoundError', async () => {
      const s = await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-a'));
      expect(s).toMatchObject({
        name: 'pg-a',
        state: 'Ready',
        dataEncryption: { primaryKeyURI: uri(V1), primaryEncryptionKeyStatus: 'Valid' },
      });
      await expect(arm.getServer(serverId(SUB_A, 'rg-a', 'pg-nope'))).rejects.toMatchObject({
        code: 'NotFound',
        azureCode: 'ResourceNotFound',
      });
      await expect(arm.getServer(serverId(SUB_A, 'rg-nope', 'pg-a'))).rejects.toBeInstanceOf(NotFoundError);
    });

    it('starts the PATCH with one request (no poll), reports InProgress, then Succeeded with the key verified', async () => {
      const server = await arm.getServer(serverId(SUB_B, 'rg-b', 'pg-b'));
      const before = h.azure.requests.length;
      const handle = await arm.beginEncryptionUpdate(server.id, buildPatchBody(server, { primary: uri(V2) }));
      // The SDK's beginUpdate would also have polled the operation once here.
      expect(h.azure.requests.slice(before).map((r) => r.operation)).toEqual(['servers.update']);
      expect(handle.operationUrl).toMatch(
        /^https:\/\/management\.azure\.com\/subscriptions\/.*\/azureAsyncOperation\//,
      );
      const polled = h.azure.requests.length;
      await expect(arm.pollOperation(handle)).resolves.toEqual({ status: 'InProgress' });
      expect(h.azure.requests.slice(polled).map((r) => r.operation)).toEqual(['operations.get']);
      expect((await arm.getServer(server.id)).state).toBe('Updating');
      const done = await settle(arm, handle);
      expect(done.status).toBe('Succeeded');
      // ARM's own clock says how long it ran (the status's startTime/endTime): it paces later polls.
      const op = h.azure.world.findServer(server.id)?.operation;
      expect(done).toEqual({
        status: 'Succeeded',
        durationSeconds: ((op?.endTime ?? NaN) - (op?.startTime ?? NaN)) / 1000,
      });
      const after = await arm.getServer(server.id);
      expect(after).toMatchObject({
        state: 'Ready',
        dataEncryption: {
          primaryKeyURI: uri(V2),
          primaryEncryptionKeyStatus: 'Valid',
          geoBackupEncryptionKeyStatus: 'Valid',
        },
      });
      expect(after.dataEncryption?.geoBackupKeyURI).toBe(server.dataEncryption?.geoBackupKeyURI);
    });

    it.each([
      ['an identity without key grants', 'pg-f', SUB_B, 'rg-b', V2, 'AzureKeyVaultMissingPermissions'],
      ['a key version that is too small', 'pg-x0', SUB_A, 'rg-x', SMALL, 'AzureKeyVaultInvalidKey'],
    ])(
      'fails the operation like Azure for %s, leaving the server as it was',
      async (_name, name, sub, rg, version, code) => {
        const server = await arm.getServer(serverId(sub, rg, name));
        const handle = await arm.beginEncryptionUpdate(
          server.id,
          buildPatchBody(server, { primary: uri(version) }),
        );
        const done = await settle(arm, handle);
        expect(done).toMatchObject({ status: 'Failed', errorCode: code });
        expect(await arm.getServer(server.id)).toMatchObject({
          state: 'Ready',
          dataEncryption: { primaryKeyURI: server.dataEncryption?.primaryKeyURI },
        });
      },
    );

    it('fails the operation for a disabled version', async () => {
      const v = h.azure.world
        .vaultByName('contoso-pg-kv')
        ?.keys.get(KEY)
        ?.versions.find((x) => x.version === V2);
      if (v === undefined) throw new Error('missing version');
      v.enabled = false;
      try {
        const server = await arm.getServer(serverId(SUB_A, 'rg-x', 'pg-x2'));
        const done = await settle(
          arm,
          await arm.beginEncryptionUpdate(server.id, buildPatchBody(server, { primary: uri(V2) })),
        );
        expect(done).toMatchObject({ status: 'Failed', errorCode: 'AzureKeyVaultKeyDisabled' });
      } finally {
        v.enabled = true;
      }
    });

    it('sends the PATCH as one request: an operation status that keeps failing plays no part in the write', async () => {
      const server = await arm.getServer(serverId(SUB_B, 'rg-x', 'pg-x3'));
      const patchesBefore = h.azure.requests.filter((r) => r.method === 'PATCH' && r.status < 300).length;
      const before = h.azure.requests.length;
      // The SDK's beginUpdate would poll once right after the PATCH and fail on these.
      h.azure.faults.add({ service: 'arm', operation: 'operations.get', status: 500, count: 4 });
      try {
        const handle = await arm.beginEncryptionUpdate(
          server.id,
          buildPatchBody(server, { primary: uri(V2) }),
        );
        expect(handle.operationUrl).toMatch(/^https:\/\/management\.azure\.com\//);
        expect(h.azure.requests.slice(before).map((r) => r.operation)).toEqual(['servers.update']);
        expect(h.azure.requests.filter((r) => r.method === 'PATCH' && r.status < 300).length).toBe(
          patchesBefore + 1,
        );
        h.azure.faults.clear();
        await expect(settle(arm, handle)).resolves.toMatchObject({ status: 'Succeeded' });
      } finally {
        h.azure.faults.clear();
      }
    });

    it.each([
      ['a 500 after ARM applied it', { status: 500 }],
      ['a 503 with Retry-After after ARM applied it', { status: 503, retryAfterSeconds: 0 }],
      ['a 408 after ARM applied it', { status: 408 }],
    ])(
      'never resends a PATCH that got %s: exactly one accepted PATCH, a retryable error',
      async (_, fault) => {
        const quick = await startHarness(testFleet().fleet, { updateDurationMs: 0 });
        try {
          const fleet = new ArmServerFleet({
            credential: quick.credential,
            subscriptions: [SUB_A],
            clientOptions: quick.clientOptions,
          });
          const server = await fleet.getServer(serverId(SUB_A, 'rg-a', 'pg-a'));
          quick.azure.faults.add({ service: 'arm', operation: 'servers.update', afterApply: true, ...fault });
          const error = await fleet
            .beginEncryptionUpdate(server.id, buildPatchBody(server, { primary: uri(V2) }))
            .catch((e: unknown) => e);
          expect(error).toMatchObject({ retryable: true });
          const accepted = [...quick.azure.world.operations.values()].filter(
            (o) => o.serverId.toLowerCase() === server.id.toLowerCase(),
          );
          expect(accepted).toHaveLength(1);
          expect(quick.azure.requests.filter((r) => r.operation === 'servers.update')).toHaveLength(1);
        } finally {
          await quick.azure.close();
        }
      },
    );

    it('answers 409 while the server is busy, mapped to a retryable ConflictError', async () => {
      const server = await arm.getServer(serverId(SUB_B, 'rg-x', 'pg-x1'));
      const body = buildPatchBody(server, { primary: uri(V2) });
      const handle = await arm.beginEncryptionUpdate(server.id, body);
      const error = await arm.beginEncryptionUpdate(server.id, body).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ retryable: true, azureCode: 'ServerBusy' });
      await settle(arm, handle);
    });

    it('rejects a partial body that would drop the geo-backup key, changing nothing', async () => {
      const server = await arm.getServer(serverId(SUB_B, 'rg-b', 'pg-b'));
      const client = new PostgreSQLManagementFlexibleServerClient(h.credential, SUB_B, h.clientOptions);
      const error = await client.servers
        .beginUpdate('rg-b', 'pg-b', {
          dataEncryption: {
            type: 'AzureKeyVault',
            primaryKeyURI: uri(V2),
            primaryUserAssignedIdentityId: server.dataEncryption?.primaryUserAssignedIdentityId ?? '',
          },
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ statusCode: 400 });
      expect(await arm.getServer(server.id)).toEqual(server);
    });

    it('maps 403 to ForbiddenError', async () => {
      await h.admin('faults', {
        method: 'POST',
        body: {
          service: 'arm',
          operation: 'servers.update',
          status: 403,
          code: 'LinkedAuthorizationFailed',
          count: 1,
        },
      });
      const server = await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-a'));
      const error = await arm
        .beginEncryptionUpdate(server.id, buildPatchBody(server, { primary: uri(V2) }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForbiddenError);
      expect(error).toMatchObject({ code: 'Forbidden', azureCode: 'LinkedAuthorizationFailed' });
    });
  });

  describe('ARM throttling (token bucket per subscription and principal)', () => {
    it('answers 429 with Retry-After once the write bucket is empty; the PATCH is not resent by the SDK but surfaces as ThrottledError', async () => {
      const tight = await startHarness(testFleet().fleet, { armWrites: { burst: 1, perSecond: 1 } });
      try {
        const fleet = new ArmServerFleet({
          credential: tight.credential,
          subscriptions: [SUB_A],
          clientOptions: tight.clientOptions,
        });
        const a: ServerSnapshot = await fleet.getServer(serverId(SUB_A, 'rg-a', 'pg-a'));
        const c: ServerSnapshot = await fleet.getServer(serverId(SUB_A, 'rg-a', 'pg-c'));
        await fleet.beginEncryptionUpdate(a.id, buildPatchBody(a, { primary: uri(V2) }));
        // The orchestrator waits Retry-After on a durable timer and re-reads the server first.
        const error = await fleet
          .beginEncryptionUpdate(c.id, buildPatchBody(c, { primary: uri(V2) }))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ThrottledError);
        expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 1 });
        const patches = tight.azure.requests
          .filter((r) => r.operation === 'servers.update')
          .map((r) => r.status);
        expect(patches).toEqual([202, 429]);
      } finally {
        await tight.azure.close();
      }
    });

    it('surfaces throttling that outlasts the SDK retries as ThrottledError with Retry-After', async () => {
      await h.admin('faults', {
        method: 'POST',
        body: {
          service: 'arm',
          operation: 'servers.get',
          status: 429,
          code: 'SubscriptionRequestsThrottled',
          retryAfterSeconds: 0,
        },
      });
      const error = await arm.getServer(serverId(SUB_A, 'rg-a', 'pg-a')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ThrottledError);
      expect(error).toMatchObject({ retryAfterSeconds: 0, azureCode: 'SubscriptionRequestsThrottled' });
    });
  });
});
