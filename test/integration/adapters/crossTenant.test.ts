import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import type { FleetFile } from '../../../local/azure/fleet';
import { ArmServerFleet, CROSS_TENANT_API_VERSION } from '../../../shared/adapters/armServerFleet';
import { ResourceGraphServerFleet } from '../../../shared/adapters/resourceGraphServerFleet';
import { buildPatchBody } from '../../../shared/domain/plan';
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
    await expect(arm.readFederatedIdentityClientIds(PG_A)).resolves.toEqual({ primary: CLIENT });
    await expect(arm.readFederatedIdentityClientIds(serverId(SUB_A, 'rg-a', 'pg-c'))).resolves.toEqual({});
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
});
