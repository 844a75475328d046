import type { FleetFile } from '../../local/azure/fleet';
import { startLocalAzure, type LocalAzure } from '../../local/azure/server';
import { rawClient, type RawResponse } from '../support/raw';
import { expectValid, readSpec, validatorFor } from '../support/specs';

/**
 * The posture stand-ins (Microsoft.KeyVault vaults, Microsoft.Authorization role assignments) against
 * Azure's saved specs and examples (test/fixtures/azure-specs/README.md).
 */
const AUTHZ = 'authorization/2022-04-01/authorization-RoleAssignmentsCalls.json';
type Example = {
  parameters: Record<string, string>;
  responses: Record<string, { body: Record<string, unknown> }>;
};
const getVault = readSpec('keyvault-management/2026-02-01/examples/getVault.json') as unknown as Example;
const listForScope = readSpec(
  'authorization/2022-04-01/examples/RoleAssignments_ListForScope.json',
) as unknown as Example;
const exampleVault = getVault.responses['200']?.body as {
  id: string;
  name: string;
  type: string;
  location: string;
  properties: Record<string, unknown> & {
    tenantId: string;
    accessPolicies: { objectId: string; tenantId: string; permissions: { keys: string[] } }[];
  };
};
const examplePolicy = exampleVault.properties.accessPolicies[0];
const SUB = getVault.parameters['subscriptionId'] ?? '';
const RG = getVault.parameters['resourceGroupName'] ?? '';
const PRINCIPAL = '5b5b5b5b-0000-4000-8000-000000000001';

/** The example vault (access policies, as in the example) and a second, RBAC vault with one identity. */
const fleet: FleetFile = {
  vaults: [
    {
      name: exampleVault.name,
      subscriptionId: SUB,
      resourceGroup: RG,
      location: exampleVault.location,
      tenantId: exampleVault.properties.tenantId,
      enableRbacAuthorization: false,
      access: [
        { principalId: examplePolicy?.objectId ?? '', permissions: examplePolicy?.permissions.keys ?? [] },
      ],
    },
    {
      name: 'rbac-vault',
      subscriptionId: SUB,
      resourceGroup: RG,
      location: 'westus',
      enablePurgeProtection: true,
      networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', ipRules: ['203.0.113.7'] },
      access: [{ principalId: PRINCIPAL, permissions: ['get', 'wrapKey', 'unwrapKey'] }],
    },
  ],
};

describe('posture stand-ins answer in the wire shapes of the Azure REST specs', () => {
  let azure: LocalAzure;
  let call: (method: string, url: string) => Promise<RawResponse>;
  const arm = (path: string, v: string) => `https://management.azure.com${path}?api-version=${v}`;

  beforeAll(async () => {
    azure = await startLocalAzure({ fleet });
    call = rawClient(azure);
  });
  afterAll(async () => {
    await azure.close();
  });

  it("Vaults_Get answers Azure's example for the vault it describes (ids, sku, tenant, access policies, types)", async () => {
    const res = await call('GET', arm(exampleVault.id, getVault.parameters['api-version'] ?? ''));
    expect(res.status).toBe(200);
    const got = res.body as typeof exampleVault;
    expect({ id: got.id, name: got.name, type: got.type, location: got.location }).toEqual({
      id: exampleVault.id,
      name: exampleVault.name,
      type: exampleVault.type,
      location: exampleVault.location,
    });
    for (const k of ['tenantId', 'sku', 'provisioningState', 'publicNetworkAccess'])
      expect(got.properties[k]).toEqual(exampleVault.properties[k]);
    const policy = got.properties.accessPolicies[0];
    expect(policy).toMatchObject({ objectId: examplePolicy?.objectId, tenantId: examplePolicy?.tenantId });
    expect([...(policy?.permissions.keys ?? [])].sort()).toEqual(
      [...(examplePolicy?.permissions.keys ?? [])].sort(),
    );
    // Every property the stand-in sends that the example also has carries the same JSON type.
    for (const [k, v] of Object.entries(got.properties))
      if (k in exampleVault.properties) expect([k, typeof v]).toEqual([k, typeof exampleVault.properties[k]]);
  });

  it('Vaults_ListBySubscription lists both vaults; the RBAC vault has no access policies and its firewall', async () => {
    const res = await call(
      'GET',
      arm(`/subscriptions/${SUB}/providers/Microsoft.KeyVault/vaults`, '2026-02-01'),
    );
    expect(res.status).toBe(200);
    const value = (res.body as { value: (typeof exampleVault)[] }).value;
    expect(value.map((v) => v.name).sort()).toEqual(['rbac-vault', exampleVault.name].sort());
    expect(value.find((v) => v.name === 'rbac-vault')?.properties).toMatchObject({
      enableRbacAuthorization: true,
      enablePurgeProtection: true,
      accessPolicies: [],
      networkAcls: {
        bypass: 'AzureServices',
        defaultAction: 'Deny',
        ipRules: [{ value: '203.0.113.7' }],
        virtualNetworkRules: [],
      },
    });
    // Purge protection off: ARM leaves the property out.
    expect(value.find((v) => v.name === exampleVault.name)?.properties).not.toHaveProperty(
      'enablePurgeProtection',
    );
  });

  it.each([
    [
      'an api-version the Key Vault RP does not serve',
      arm(exampleVault.id, '2025-08-01'),
      400,
      'InvalidApiVersionParameter',
    ],
    [
      // ARM authorizes before the RP looks: with read on the vaults only, an unknown name is a 403.
      'an unknown vault to a caller who may read only the vaults it was granted',
      arm(
        `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/nope`,
        '2026-02-01',
      ),
      403,
      'AuthorizationFailed',
    ],
    [
      'role assignments with the Key Vault api-version',
      arm(`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments`, '2026-02-01'),
      400,
      'InvalidApiVersionParameter',
    ],
  ])('refuses %s', async (_what, url, status, code) => {
    const res = await call('GET', url);
    expect(res.status).toBe(status);
    expect((res.body as { error: { code: string } }).error.code).toBe(code);
  });

  it("RoleAssignments_ListForScope answers valid against RoleAssignmentListResult, shaped like Azure's example", async () => {
    const validate = validatorFor(AUTHZ, 'RoleAssignmentListResult');
    const vaultId = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/rbac-vault`;
    const res = await call(
      'GET',
      `${arm(`${vaultId}/providers/Microsoft.Authorization/roleAssignments`, '2022-04-01')}&$filter=atScope()`,
    );
    expect(res.status).toBe(200);
    expectValid(validate, res.body);
    expectValid(validate, listForScope.responses['200']?.body);
    const got = (res.body as { value: Record<string, unknown>[] }).value;
    const example =
      (listForScope.responses['200']?.body as { value: Record<string, unknown>[] }).value[0] ?? {};
    expect(got).toHaveLength(1);
    expect(Object.keys(got[0] ?? {}).sort()).toEqual(Object.keys(example).sort());
    expect(Object.keys((got[0]?.['properties'] as object | undefined) ?? {}).sort()).toEqual(
      Object.keys(example['properties'] as object).sort(),
    );
    expect(got[0]?.['properties']).toMatchObject({
      principalId: PRINCIPAL,
      scope: vaultId,
      roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`,
    });
    // The access-policy vault grants nothing through RBAC: no assignment at it.
    const none = await call(
      'GET',
      `${arm(`${exampleVault.id}/providers/Microsoft.Authorization/roleAssignments`, '2022-04-01')}&$filter=atScope()`,
    );
    expect((none.body as { value: unknown[] }).value).toEqual([]);
  });
});
