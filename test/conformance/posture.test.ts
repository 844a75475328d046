import { armRouteTable } from '../../local/azure/arm';
import type { FleetFile } from '../../local/azure/fleet';
import { startLocalAzure, type LocalAzure } from '../../local/azure/server';
import { APP_PRINCIPAL } from '../support/localAzure';
import { rawClient, type RawResponse } from '../support/raw';
import { expectValid, readSpec, validatorFor } from '../support/specs';

/**
 * The posture stand-ins (Microsoft.KeyVault vaults, Microsoft.Authorization role assignments) against
 * Azure's saved specs and examples (test/fixtures/azure-specs/README.md).
 */
const AUTHZ = 'authorization/2022-04-01/authorization-RoleAssignmentsCalls.json';
/** The Key Vault control-plane spec @azure/arm-keyvault 5.0.0 speaks (every vault and HSM operation). */
const KVM = 'keyvault-management/2026-02-01/openapi.json';
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
/** Reader on the subscription: may use the resource provider's subscription-wide list. */
const SUB_READER = '5b5b5b5b-0000-4000-8000-000000000002';
/** An Entra group holding "Key Vault Crypto Service Encryption User" on the RBAC vault, and its member. */
const GROUP = '5b5b5b5b-0000-4000-8000-0000000000a1';
const MEMBER = '5b5b5b5b-0000-4000-8000-0000000000a2';
const RBAC_VAULT_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/rbac-vault`;

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
  roleAssignments: [
    // What infra deploys: the app reads each vault, at the vault (infra/modules/vaultAccess.bicep).
    ...[exampleVault.id, RBAC_VAULT_ID].map((scope) => ({
      principalId: APP_PRINCIPAL,
      scope,
      role: 'PostgreSQL CMK Posture Reader',
    })),
    { principalId: SUB_READER, scope: `/subscriptions/${SUB}`, role: 'Reader' },
    {
      principalId: GROUP,
      principalType: 'Group',
      members: [MEMBER],
      scope: RBAC_VAULT_ID,
      role: 'Key Vault Crypto Service Encryption User',
    },
  ],
  // One vault per page: every list answer below is followed through its nextLink.
  behaviour: { armPageSize: 1 },
};

type Spec = {
  info: { version: string };
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        parameters?: { name?: string; in?: string; enum?: string[] }[];
        'x-ms-pageable'?: { nextLinkName: string };
      }
    >
  >;
};
const kvSpec = readSpec(KVM) as unknown as Spec;

/** The spec's path and GET operation of an operationId. */
function specOperation(operationId: string): { path: string; op: Spec['paths'][string][string] } {
  for (const [path, ops] of Object.entries(kvSpec.paths))
    for (const op of Object.values(ops)) if (op.operationId === operationId) return { path, op };
  throw new Error(`${operationId} not in ${KVM}`);
}

/** A path template with its parameter names blanked, lower-cased: `/subscriptions/{}/resources`. */
const shape = (template: string): string =>
  `/${template.replace(/^\//, '')}`.replace(/\{[^}]+\}/g, '{}').toLowerCase();

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

  /** Follows nextLink from `url`, returning every page's body (the raw client, as the SDK pager does). */
  async function pages(url: string, as: typeof call): Promise<{ status: number; bodies: unknown[] }> {
    const bodies: unknown[] = [];
    let next: string | undefined = url;
    while (next !== undefined) {
      const res = await as('GET', next);
      if (res.status !== 200) return { status: res.status, bodies };
      bodies.push(res.body);
      next = (res.body as { nextLink?: string }).nextLink;
    }
    return { status: 200, bodies };
  }

  it("Vaults_Get answers valid against the spec's Vault: access policies, firewall and purge protection on; purge protection off", async () => {
    const validate = validatorFor(KVM, 'Vault');
    // Azure's own example is valid against the same definition (the validator reads the spec right).
    expectValid(validate, exampleVault);
    const rbac = await call('GET', arm(RBAC_VAULT_ID, '2026-02-01'));
    const policies = await call('GET', arm(exampleVault.id, '2026-02-01'));
    expect([rbac.status, policies.status]).toEqual([200, 200]);
    expectValid(validate, rbac.body);
    expectValid(validate, policies.body);
    expect((rbac.body as typeof exampleVault).properties).toMatchObject({
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enablePurgeProtection: true,
      accessPolicies: [],
      networkAcls: {
        bypass: 'AzureServices',
        defaultAction: 'Deny',
        ipRules: [{ value: '203.0.113.7' }],
        virtualNetworkRules: [],
      },
    });
    // Purge protection off: ARM leaves the property out (it can only ever be turned on).
    expect((policies.body as typeof exampleVault).properties).not.toHaveProperty('enablePurgeProtection');
    expect((policies.body as typeof exampleVault).properties.accessPolicies).toHaveLength(1);
  });

  it.each([
    ['a boolean sent as a string', (p: Record<string, unknown>) => (p['enableSoftDelete'] = 'true')],
    ['a retention sent as a string', (p: Record<string, unknown>) => (p['softDeleteRetentionInDays'] = '90')],
    ['an unknown sku name', (p: Record<string, unknown>) => (p['sku'] = { family: 'A', name: 'gold' })],
    ['no tenantId', (p: Record<string, unknown>) => delete p['tenantId']],
    ['a tenantId that is not a UUID', (p: Record<string, unknown>) => (p['tenantId'] = 'contoso')],
    [
      'an access policy without permissions',
      (p: Record<string, unknown>) =>
        (p['accessPolicies'] = [{ tenantId: exampleVault.properties.tenantId, objectId: 'x' }]),
    ],
    ['an IP rule without its value', (p: Record<string, unknown>) => (p['networkAcls'] = { ipRules: [{}] })],
  ])('the Vault validator refuses a vault with %s (the check can fail)', async (_what, spoil) => {
    const validate = validatorFor(KVM, 'Vault');
    const res = await call('GET', arm(RBAC_VAULT_ID, '2026-02-01'));
    const body = structuredClone(res.body) as { properties: Record<string, unknown> };
    expect(validate(body)).toBe(true);
    spoil(body.properties);
    expect(validate(body)).toBe(false);
  });

  it('Vaults_ListBySubscription pages valid VaultListResults to a subscription reader, and refuses a caller with read on the vaults only', async () => {
    const validate = validatorFor(KVM, 'VaultListResult');
    const url = arm(`/subscriptions/${SUB}/providers/Microsoft.KeyVault/vaults`, '2026-02-01');
    const reader = await pages(url, rawClient(azure, SUB_READER));
    expect(reader.status).toBe(200);
    expect(reader.bodies).toHaveLength(2);
    for (const b of reader.bodies) expectValid(validate, b);
    const names = reader.bodies.flatMap((b) => (b as { value: { name: string }[] }).value.map((v) => v.name));
    expect(names.sort()).toEqual(['rbac-vault', exampleVault.name].sort());
    // ARM authorizes the RP's collection read at the subscription: read granted at each vault is not enough.
    const app = await call('GET', url);
    expect(app.status).toBe(403);
    expect((app.body as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'AuthorizationFailed',
      message: expect.stringContaining(`over scope '/subscriptions/${SUB}'`) as string,
    });
    expectValid(validatorFor(KVM, 'CloudError'), app.body);
  });

  it("Vaults_List (ARM's resource list) pages valid ResourceListResults, envelopes only, of the vaults the caller may read", async () => {
    const validate = validatorFor(KVM, 'ResourceListResult');
    const { op } = specOperation('Vaults_List');
    const filter = op.parameters?.find((p) => p.name === '$filter')?.enum?.[0] ?? '';
    const apiVersion = op.parameters?.find((p) => p.name === 'api-version')?.enum?.[0] ?? '';
    const url = `${arm(`/subscriptions/${SUB}/resources`, apiVersion)}&$filter=${encodeURIComponent(filter)}`;
    const app = await pages(url, call);
    expect(app.status).toBe(200);
    expect(app.bodies).toHaveLength(2);
    for (const b of app.bodies) expectValid(validate, b);
    const items = app.bodies.flatMap((b) => (b as { value: Record<string, unknown>[] }).value);
    expect(items.map((v) => v['id']).sort()).toEqual([exampleVault.id, RBAC_VAULT_ID].sort());
    for (const v of items) {
      expect(Object.keys(v).sort()).toEqual(['id', 'location', 'name', 'tags', 'type']);
      expect(v['type']).toBe('Microsoft.KeyVault/vaults');
    }
    // Filtered per resource: a caller with read on no vault sees none (and is not refused).
    const stranger = await pages(url, rawClient(azure, PRINCIPAL));
    expect(stranger.status).toBe(200);
    expect(stranger.bodies.flatMap((b) => (b as { value: unknown[] }).value)).toEqual([]);
  });

  it("the stand-in's vault routes, api-versions and paging are the spec's", () => {
    const table = armRouteTable();
    for (const [operationId, operation] of [
      ['Vaults_Get', 'vaults.get'],
      ['Vaults_ListBySubscription', 'vaults.listBySubscription'],
      ['Vaults_List', 'vaults.list'],
    ] as const) {
      const { path, op } = specOperation(operationId);
      const route = table.find((r) => r.operation === operation);
      expect([operationId, route?.method, shape(route?.template ?? '')]).toEqual([
        operationId,
        'GET',
        shape(path),
      ]);
      // The api-version the spec (and so the SDK) sends: the file's version, or the operation's own enum.
      const versions = op.parameters?.find((p) => p.name === 'api-version')?.enum ?? [kvSpec.info.version];
      for (const v of versions)
        expect([operationId, route?.apiVersions]).toEqual([operationId, expect.arrayContaining([v])]);
      if (operationId !== 'Vaults_Get') expect(op['x-ms-pageable']?.nextLinkName).toBe('nextLink');
    }
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
    const vaultId = RBAC_VAULT_ID;
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
    const props = got.map((a) => a['properties'] as Record<string, unknown>);
    expect(props.map((p) => p['principalId']).sort()).toEqual([PRINCIPAL, GROUP].sort());
    for (const a of got) {
      expect(Object.keys(a).sort()).toEqual(Object.keys(example).sort());
      expect(Object.keys(a['properties'] as object).sort()).toEqual(
        Object.keys(example['properties'] as object).sort(),
      );
    }
    const role = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`;
    expect(props.find((p) => p['principalId'] === PRINCIPAL)).toMatchObject({
      principalType: 'ServicePrincipal',
      scope: vaultId,
      roleDefinitionId: role,
    });
    // A group's assignment names the group (principalType Group), never its members.
    expect(props.find((p) => p['principalId'] === GROUP)).toMatchObject({
      principalType: 'Group',
      roleDefinitionId: role,
    });
    expect(props.map((p) => p['principalId'])).not.toContain(MEMBER);
    // The access-policy vault grants nothing through RBAC: no assignment at it.
    const none = await call(
      'GET',
      `${arm(`${exampleVault.id}/providers/Microsoft.Authorization/roleAssignments`, '2022-04-01')}&$filter=atScope()`,
    );
    expect((none.body as { value: unknown[] }).value).toEqual([]);
  });
});
