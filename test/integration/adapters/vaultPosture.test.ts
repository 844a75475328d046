import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import { KeyVaultManagementAdapter } from '../../../shared/adapters/keyVaultManagementAdapter';
import { RoleAssignmentsAdapter } from '../../../shared/adapters/roleAssignmentsAdapter';
import { CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID } from '../../../shared/domain/posture';
import { identityAccess } from '../../../shared/domain/postureRules';
import { ForbiddenError, NotFoundError } from '../../../shared/ports/errors';
import type { FleetFile } from '../../../local/azure/fleet';
import { KEY, SUB_A, SUB_B, SUB_SECURITY, VAULT, VAULT_URL, testFleet, uai } from '../../support/fleet';
import { LocalTokenCredential } from '../../../local/azure/credential';
import { APP_PRINCIPAL, startHarness, type Harness } from '../../support/localAzure';

const VAULT_ID = `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/${VAULT}`;
const ROLE_GRANTEE = '7a7a7a7a-0000-4000-8000-000000000077';
const NARROW = '7b7b7b7b-0000-4000-8000-000000000078';

/** The test fleet with posture properties: the geo vault on access policies, one inherited role assignment. */
function postureFleet(): FleetFile {
  const base = testFleet().fleet;
  return {
    ...base,
    vaults: (base.vaults ?? []).map((v) =>
      v.name === VAULT
        ? {
            ...v,
            enablePurgeProtection: true,
            publicNetworkAccess: 'Disabled',
            networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', ipRules: ['203.0.113.0/24'] },
          }
        : {
            ...v,
            enableRbacAuthorization: false,
            softDeleteRetentionInDays: 30,
            tenantId: '11111111-2222-4333-8444-555555555555',
          },
    ),
    roleAssignments: [
      {
        principalId: ROLE_GRANTEE,
        scope: `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security`,
        role: 'Key Vault Crypto Service Encryption User',
      },
      // With role assignments in the fleet, ARM checks callers against them only: the app gets what infra grants.
      ...[SUB_A, SUB_B, SUB_SECURITY].flatMap((sub) => [
        { principalId: APP_PRINCIPAL, scope: `/subscriptions/${sub}`, role: 'PostgreSQL CMK Posture Reader' },
        {
          principalId: APP_PRINCIPAL,
          scope: `/subscriptions/${sub}`,
          role: 'PostgreSQL CMK Rotation Operator',
        },
      ]),
      // A principal that may read one vault only.
      { principalId: NARROW, scope: VAULT_ID, role: 'PostgreSQL CMK Posture Reader' },
    ],
  };
}

describe('posture adapters (@azure/arm-keyvault, @azure/arm-authorization) against the local ARM', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(postureFleet());
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('lists the vaults of every subscription in scope with the properties the checks read', async () => {
    const adapter = new KeyVaultManagementAdapter({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B, SUB_SECURITY],
      clientOptions: h.clientOptions,
    });
    const vaults = await adapter.listVaults();
    expect(vaults.map((v) => v.name).sort()).toEqual(['contoso-pg-geo-kv', VAULT]);
    expect(vaults.find((v) => v.name === VAULT)).toMatchObject({
      id: VAULT_ID,
      location: 'westeurope',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enablePurgeProtection: true,
      enableRbacAuthorization: true,
      publicNetworkAccess: 'Disabled',
      networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', ipRules: 1, virtualNetworkRules: 0 },
      accessPolicies: [],
    });
    const geo = vaults.find((v) => v.name === 'contoso-pg-geo-kv');
    expect(geo).toMatchObject({
      location: 'northeurope',
      enableRbacAuthorization: false,
      enablePurgeProtection: undefined,
      softDeleteRetentionInDays: 30,
      tenantId: '11111111-2222-4333-8444-555555555555',
    });
    // Access-policy vault: the data-plane grants show as policies, camel-cased as Key Vault writes them.
    expect(geo?.accessPolicies).toEqual([
      {
        tenantId: '11111111-2222-4333-8444-555555555555',
        objectId: expect.any(String) as string,
        keys: ['get', 'wrapkey', 'unwrapkey'],
      },
    ]);
    const calls = h.azure.requests.filter((r) => r.operation === 'vaults.listBySubscription');
    expect(calls.every((c) => c.status === 200 || c.status === 401)).toBe(true);
  });

  it('maps an unknown subscription to NotFoundError', async () => {
    const adapter = new KeyVaultManagementAdapter({
      credential: h.credential,
      subscriptions: ['00000000-1111-4222-8333-444444444444'],
      clientOptions: h.clientOptions,
    });
    await expect(adapter.listVaults()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('lists role assignments at or above a vault: the vault grants as "Crypto Service Encryption User", the inherited one from the resource group', async () => {
    const adapter = new RoleAssignmentsAdapter({ credential: h.credential, clientOptions: h.clientOptions });
    const list = await adapter.listAtScope(VAULT_ID);
    const cseu = list.filter((a) =>
      a.roleDefinitionId.endsWith(`/${CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID}`),
    );
    const principals = h.azure.world.identities;
    const principal = (name: string, sub: string) =>
      principals.get(uai(sub, name).toLowerCase())?.principalId;
    expect(cseu.map((a) => a.principalId)).toEqual(
      expect.arrayContaining([principal('id-a', SUB_A), principal('id-b', SUB_B), ROLE_GRANTEE]),
    );
    expect(cseu.map((a) => a.principalId)).not.toContain(principal('id-f', SUB_B));
    expect(list.find((a) => a.principalId === ROLE_GRANTEE)?.scope).toBe(
      `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security`,
    );
    // The rule reads it as Azure would: id-a may use the vault, id-f may not.
    const vault = (
      await new KeyVaultManagementAdapter({
        credential: h.credential,
        subscriptions: [SUB_SECURITY],
        clientOptions: h.clientOptions,
      }).listVaults()
    ).find((v) => v.name === VAULT);
    expect(identityAccess(vault, list, uai(SUB_A, 'id-a'), principal('id-a', SUB_A)).granted).toBe(true);
    expect(identityAccess(vault, list, uai(SUB_B, 'id-f'), principal('id-f', SUB_B)).granted).toBe(false);
    // The assignment sent with $filter=atScope() and api-version 2022-04-01, as the spec describes.
    const call = h.azure.requests.filter((r) => r.operation === 'roleAssignments.listForScope').pop();
    expect(call?.status).toBe(200);
  });

  it('a "Crypto Service Encryption User" assignment above an RBAC vault grants the key permissions on the data plane', () => {
    const vault = h.azure.world.vaultByName(VAULT);
    const entry = vault?.access.find((a) => a.principalId === ROLE_GRANTEE);
    expect([...(entry?.permissions ?? [])].sort()).toEqual(['get', 'unwrapkey', 'wrapkey']);
    // ...but not on the access-policy vault (RBAC does not apply there).
    expect(
      h.azure.world.vaultByName('contoso-pg-geo-kv')?.access.some((a) => a.principalId === ROLE_GRANTEE),
    ).toBe(false);
  });

  it('refuses a scope outside any subscription', async () => {
    const adapter = new RoleAssignmentsAdapter({ credential: h.credential, clientOptions: h.clientOptions });
    await expect(adapter.listAtScope('/providers/Microsoft.Management/managementGroups/mg')).rejects.toThrow(
      /not a subscription-level scope/,
    );
    await expect(
      adapter.listAtScope('/subscriptions/00000000-1111-4222-8333-444444444444'),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses what ARM refuses: a caller sees only the vaults it may read, and needs roleAssignments/read at the scope', async () => {
    const credential = new LocalTokenCredential(NARROW, h.azure.tenantId);
    const vaults = new KeyVaultManagementAdapter({
      credential,
      subscriptions: [SUB_A, SUB_B, SUB_SECURITY],
      clientOptions: h.clientOptions,
    });
    expect((await vaults.listVaults()).map((v) => v.name)).toEqual([VAULT]);
    const roles = new RoleAssignmentsAdapter({ credential, clientOptions: h.clientOptions });
    await expect(roles.listAtScope(VAULT_ID)).resolves.not.toHaveLength(0);
    await expect(
      roles.listAtScope(
        `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security-ne/providers/Microsoft.KeyVault/vaults/contoso-pg-geo-kv`,
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('reads and summarises a key rotation policy through the real KeyClient', async () => {
    const keys = new KeyVaultKeysAdapter({ credential: h.credential, clientOptions: h.clientOptions });
    await expect(keys.readRotationPolicy(VAULT_URL, KEY)).resolves.toMatchObject({
      notifyBeforeExpiry: 'P30D',
      expiresAfter: 'P1Y',
      summary: 'notifies P30D before expiry; new versions expire after P1Y',
    });
  });
});
