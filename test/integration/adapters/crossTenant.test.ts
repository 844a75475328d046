import { createHttpHeaders, createPipelineRequest, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import type { FleetFile } from '../../../local/azure/fleet';
import { ArmServerFleet, CROSS_TENANT_API_VERSION } from '../../../shared/adapters/armServerFleet';
import { ResourceGraphServerFleet } from '../../../shared/adapters/resourceGraphServerFleet';
import { CrossTenantUndeterminedError } from '../../../shared/domain/crossTenant';
import { buildPatchBody } from '../../../shared/domain/plan';
import { TransientError } from '../../../shared/ports/errors';
import type { OperationHandle, OperationStatus, ServerFleet } from '../../../shared/ports/serverFleet';
import { KEY, SUB_A, SUB_B, V2, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';

const CLIENT = '3c3c3c3c-0000-4000-8000-000000000001';
const PG_A = serverId(SUB_A, 'rg-a', 'pg-a');

/** The test fleet with pg-a configured for cross-tenant CMK (its stored ARM JSON names the federated client). */
function crossTenantFleet(): FleetFile {
  const base = testFleet().fleet;
  return {
    ...base,
    servers: (base.servers ?? []).map((raw) => {
      const s = raw as { id: string; properties: { dataEncryption: Record<string, unknown> } };
      return s.id.toLowerCase() !== PG_A.toLowerCase()
        ? raw
        : {
            ...s,
            properties: {
              ...s.properties,
              dataEncryption: { ...s.properties.dataEncryption, primaryFederatedIdentityClientId: CLIENT },
            },
          };
    }),
  };
}

async function settle(fleet: ServerFleet, handle: OperationHandle): Promise<OperationStatus> {
  return waitFor('operation to finish', async () => {
    const status = await fleet.pollOperation(handle);
    return status.status === 'InProgress' ? undefined : status;
  });
}

async function storedFederatedId(h: Harness): Promise<unknown> {
  const servers =
    await h.admin<{ id: string; properties: { dataEncryption?: Record<string, unknown> } }[]>('servers');
  return servers.find((s) => s.id.toLowerCase() === PG_A.toLowerCase())?.properties.dataEncryption?.[
    'primaryFederatedIdentityClientId'
  ];
}

describe('cross-tenant CMK servers in the local ARM, as the adapters see them', () => {
  let h: Harness;
  let arm: ArmServerFleet;

  beforeEach(async () => {
    h = await startHarness(crossTenantFleet());
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
  });
  afterEach(async () => {
    await h.azure.close();
  });

  it('the stable api-version hides the federated id; the preview read and Resource Graph show it', async () => {
    expect((await arm.getServer(PG_A)).dataEncryption?.primaryFederatedIdentityClientId).toBeUndefined();
    // The read before a PATCH (the preview api-version) shows it, as one request.
    const before = h.azure.requests.length;
    expect((await arm.getServerForUpdate(PG_A)).dataEncryption?.primaryFederatedIdentityClientId).toBe(
      CLIENT,
    );
    expect(h.azure.requests.length - before).toBe(1);
    const pgC = await arm.getServerForUpdate(serverId(SUB_A, 'rg-a', 'pg-c'));
    expect(pgC.dataEncryption?.primaryFederatedIdentityClientId).toBeUndefined();
    expect(pgC.dataEncryption?.primaryKeyURI).toMatch(/pg-cmk/);
    const graph = new ResourceGraphServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      arm,
      clientOptions: h.clientOptions,
    });
    const page = await graph.findServersReferencingKey({ vaultUrl: VAULT_URL, keyName: KEY });
    const row = page.servers.find((s) => s.id.toLowerCase() === PG_A.toLowerCase());
    expect(row?.dataEncryption?.primaryFederatedIdentityClientId).toBe(CLIENT);
  });

  it('the stand-in converts the server on a stable-api PATCH (the field is dropped), so a test can catch one', async () => {
    const server = await arm.getServer(PG_A);
    const handle = await arm.beginEncryptionUpdate(
      PG_A,
      buildPatchBody(server, { primary: `${VAULT_URL}/keys/${KEY}/${V2}` }),
    );
    await expect(settle(arm, handle)).resolves.toMatchObject({ status: 'Succeeded' });
    expect(await storedFederatedId(h)).toBeUndefined();
  });

  it('a PATCH with the preview api-version that names the id keeps it', async () => {
    const client = new PostgreSQLManagementFlexibleServerClient(h.credential, SUB_A, h.clientOptions);
    const de = (await arm.getServer(PG_A)).dataEncryption;
    const body = {
      properties: {
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: `${VAULT_URL}/keys/${KEY}/${V2}`,
          primaryUserAssignedIdentityId: de?.primaryUserAssignedIdentityId,
          primaryFederatedIdentityClientId: CLIENT,
        },
      },
    };
    const response = await client.sendRequest(
      createPipelineRequest({
        url: `${client.$host}${PG_A}?api-version=${CROSS_TENANT_API_VERSION}`,
        method: 'PATCH',
        body: JSON.stringify(body),
      }),
    );
    expect(response.status).toBe(202);
    await waitFor('the PATCH to complete', async () =>
      (await arm.getServer(PG_A)).state === 'Ready' &&
      (await arm.getServer(PG_A)).dataEncryption?.primaryKeyURI?.endsWith(V2) === true
        ? true
        : undefined,
    );
    expect(await storedFederatedId(h)).toBe(CLIENT);
  });

  it.each([
    [
      400,
      'InvalidApiVersionParameter',
      'fails closed: CrossTenantUndetermined, no stable read, never PATCHed blind',
    ],
    [
      400,
      'NoRegisteredProviderFound',
      'fails closed: CrossTenantUndetermined, no stable read, never PATCHed blind',
    ],
    [500, 'InternalServerError', 'fails the read: no PATCH after a read that could not tell'],
  ])('a preview read refused %i %s %s', async (status, code) => {
    // Azure's answer to an api-version the RP does not serve, in front of the stand-in.
    const refusePreview: PipelinePolicy = {
      name: 'refusePreviewApiVersion',
      sendRequest: (request, next) =>
        request.url.includes(CROSS_TENANT_API_VERSION)
          ? Promise.resolve({
              status,
              request,
              headers: createHttpHeaders(),
              bodyAsText: JSON.stringify({ error: { code, message: 'refused' } }),
            })
          : next(request),
    };
    const fleet = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: {
        ...h.clientOptions,
        retryOptions: { maxRetries: 0 },
        additionalPolicies: [
          ...h.clientOptions.additionalPolicies,
          { policy: refusePreview, position: 'perCall' },
        ],
      },
    });
    const pgC = serverId(SUB_A, 'rg-a', 'pg-c');
    if (status === 400) {
      const before = h.azure.requests.length;
      const refused = fleet.getServerForUpdate(pgC);
      await expect(refused).rejects.toBeInstanceOf(CrossTenantUndeterminedError);
      await expect(refused).rejects.toMatchObject({ code: 'CrossTenantUndetermined', retryable: false });
      // The preview read never reached the stand-in and no stable read followed it.
      expect(h.azure.requests.length - before).toBe(0);
    } else await expect(fleet.getServerForUpdate(pgC)).rejects.toBeInstanceOf(TransientError);
  });
});
