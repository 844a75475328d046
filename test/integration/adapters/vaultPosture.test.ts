import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import { KeyVaultManagementAdapter } from '../../../shared/adapters/keyVaultManagementAdapter';
import { RoleAssignmentsAdapter } from '../../../shared/adapters/roleAssignmentsAdapter';
import { CRYPTO_SERVICE_ENCRYPTION_USER_ROLE_ID } from '../../../shared/domain/posture';
import { identityAccess } from '../../../shared/domain/postureIdentity';
import { loadConfig } from '../../../shared/config';
import { readPosture } from '../../../shared/triggers/posture';
import { ForbiddenError, NotFoundError } from '../../../shared/ports/errors';
import type { FleetFile } from '../../../local/azure/fleet';
import { KEY, SUB_A, SUB_B, SUB_SECURITY, VAULT, VAULT_URL, testFleet, uai } from '../../support/fleet';
import { LocalTokenCredential } from '../../../local/azure/credential';
import { APP_PRINCIPAL, startHarness, type Harness } from '../../support/localAzure';

const VAULT_ID = `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security/providers/Microsoft.KeyVault/vaults/${VAULT}`;
const ROLE_GRANTEE = '7a7a7a7a-0000-4000-8000-000000000077';
const NARROW = '7b7b7b7b-0000-4000-8000-000000000078';
/** An Entra group holding "Key Vault Crypto Service Encryption User" on the vault; id-f is a member. */
const GROUP = '7c7c7c7c-0000-4000-8000-0000000000a1';
const GEO_VAULT = 'contoso-pg-geo-kv';
const GEO_ID = `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security-ne/providers/Microsoft.KeyVault/vaults/${GEO_VAULT}`;

/**
 * The test fleet with posture properties: the geo vault on access policies, one inherited role
 * assignment, one to a group (id-f is a member), and the app's reads granted as infra grants them: the
 * posture reader at each vault, not at the subscriptions.
 */
function postureFleet(): FleetFile {
  const base = testFleet().fleet;
  const idF = base.identities?.find((i) => i.id.toLowerCase() === uai(SUB_B, 'id-f').toLowerCase());
  return {
    ...base,
    // The vault below refuses public access: the app reaches it through a private endpoint.
    appNetwork: { privateEndpoints: [VAULT] },
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
      {
        principalId: GROUP,
        principalType: 'Group' as const,
        members: idF === undefined ? [] : [idF.principalId],
        scope: VAULT_ID,
        role: 'Key Vault Crypto Service Encryption User',
      },
      // With role assignments in the fleet, ARM checks callers against them only: the app gets what
      // infra grants (serverOperatorRole.bicep per subscription, vaultAccess.bicep per vault).
      ...[SUB_A, SUB_B, SUB_SECURITY].map((sub) => ({
        principalId: APP_PRINCIPAL,
        scope: `/subscriptions/${sub}`,
        role: 'PostgreSQL CMK Rotation Operator',
      })),
      ...[VAULT_ID, GEO_ID].map((scope) => ({
        principalId: APP_PRINCIPAL,
        scope,
        role: 'PostgreSQL CMK Posture Reader',
      })),
      // A principal that may read one vault only (and discover the servers).
      { principalId: NARROW, scope: VAULT_ID, role: 'PostgreSQL CMK Posture Reader' },
      ...[SUB_A, SUB_B].map((sub) => ({
        principalId: NARROW,
        scope: `/subscriptions/${sub}`,
        role: 'PostgreSQL CMK Rotation Operator',
      })),
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

  it('lists the vaults of every subscription in scope with the properties the checks read, with read granted at each vault only', async () => {
    const adapter = new KeyVaultManagementAdapter({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B, SUB_SECURITY],
      clientOptions: h.clientOptions,
    });
    const before = h.azure.requests.length;
    const listing = await adapter.listVaults();
    expect(listing.unreadable).toEqual([]);
    const vaults = listing.vaults;
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
    // ARM's resource list per subscription finds them, Vaults_Get reads each; never the RP's subscription list.
    const calls = h.azure.requests.slice(before).filter((r) => r.operation.startsWith('vaults.'));
    expect(calls.filter((c) => c.status !== 401).map((c) => `${c.operation} ${c.status}`)).toEqual([
      'vaults.list 200',
      'vaults.list 200',
      'vaults.list 200',
      'vaults.get 200',
      'vaults.get 200',
    ]);
  });

  it('reads only the vaults it is asked for (each Vaults_Get spends ARM read quota): one vault in use, one GET', async () => {
    const adapter = new KeyVaultManagementAdapter({
      credential: h.credential,
      subscriptions: [SUB_SECURITY],
      clientOptions: h.clientOptions,
    });
    const before = h.azure.requests.length;
    const listing = await adapter.listVaults(new Set([VAULT.toLowerCase()]));
    expect(listing.vaults.map((v) => v.name)).toEqual([VAULT]);
    expect(listing.unreadable).toEqual([]);
    const calls = h.azure.requests.slice(before).filter((r) => r.operation.startsWith('vaults.'));
    expect(calls.filter((c) => c.status !== 401).map((c) => `${c.operation} ${c.status}`)).toEqual([
      'vaults.list 200',
      'vaults.get 200',
    ]);
  });

  it("the RP's subscription-wide list (Vaults_ListBySubscription) refuses a caller with read at the vaults only: 403 AuthorizationFailed", async () => {
    const client = new KeyVaultManagementClient(h.credential, SUB_SECURITY, h.clientOptions);
    const all = async () => {
      const names: (string | undefined)[] = [];
      for await (const v of client.vaults.listBySubscription()) names.push(v.name);
      return names;
    };
    await expect(all()).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    // ...while ARM's resource list shows it both vaults (envelopes only: no properties).
    const found: { name?: string; properties?: unknown }[] = [];
    for await (const r of client.vaults.list()) found.push(r);
    expect(found.map((r) => r.name).sort()).toEqual([GEO_VAULT, VAULT]);
    expect(found.every((r) => r.properties === undefined)).toBe(true);
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
    // principalType travels from ARM through the SDK: the identities are service principals, the group a Group.
    expect(list.find((a) => a.principalId === principal('id-a', SUB_A))?.principalType).toBe(
      'ServicePrincipal',
    );
    expect(list.find((a) => a.principalId === GROUP)?.principalType).toBe('Group');
    // The rule reads it as Azure would: id-a may use the vault; id-f only through the group.
    const [vault] = (
      await new KeyVaultManagementAdapter({
        credential: h.credential,
        subscriptions: [SUB_SECURITY],
        clientOptions: h.clientOptions,
      }).listVaults()
    ).vaults.filter((v) => v.name === VAULT);
    expect(identityAccess(vault, list, uai(SUB_A, 'id-a'), principal('id-a', SUB_A)).granted).toBe(true);
    // id-f holds the role only through the group: the app cannot read membership, so it cannot verify
    // (not "missing", which would be a false critical: Key Vault does let id-f wrap and unwrap).
    expect(identityAccess(vault, list, uai(SUB_B, 'id-f'), principal('id-f', SUB_B))).toMatchObject({
      granted: undefined,
      cannotVerifyGroups: [GROUP],
      reason: expect.stringContaining(GROUP) as string,
    });
    expect(
      [
        ...(h.azure.world.vaultByName(VAULT)?.access.find((a) => a.principalId === principal('id-f', SUB_B))
          ?.permissions ?? []),
      ].sort(),
    ).toEqual(['get', 'unwrapkey', 'wrapkey']);
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
    const listing = await vaults.listVaults();
    // ARM's resource list shows it the vault it may read; the other is not listed (not an error).
    expect(listing.vaults.map((v) => v.name)).toEqual([VAULT]);
    expect(listing.unreadable).toEqual([]);
    const roles = new RoleAssignmentsAdapter({ credential, clientOptions: h.clientOptions });
    await expect(roles.listAtScope(VAULT_ID)).resolves.not.toHaveLength(0);
    await expect(
      roles.listAtScope(
        `/subscriptions/${SUB_SECURITY}/resourceGroups/rg-security-ne/providers/Microsoft.KeyVault/vaults/contoso-pg-geo-kv`,
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  /** The posture read through the real adapters as `principal` (what `GET /api/posture` runs). */
  async function postureAs(principal: string) {
    const credential = new LocalTokenCredential(principal, h.azure.tenantId);
    const config = loadConfig({
      CMK_SUBSCRIPTIONS: `${SUB_A},${SUB_B}`,
      CMK_VAULT_SUBSCRIPTIONS: SUB_SECURITY,
      CMK_ALLOWED_VAULTS: `${VAULT},${GEO_VAULT}`,
      CMK_DISCOVERY: 'armList',
      APPLICATIONINSIGHTS_CONNECTION_STRING:
        'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
    });
    const keys = new KeyVaultKeysAdapter({ credential, clientOptions: h.clientOptions });
    return readPosture(
      { status: () => Promise.resolve(undefined) },
      {
        config,
        keys,
        rotationPolicies: keys,
        fleet: new ArmServerFleet({
          credential,
          subscriptions: config.subscriptions,
          clientOptions: h.clientOptions,
        }),
        vaults: new KeyVaultManagementAdapter({
          credential,
          subscriptions: [SUB_A, SUB_B, SUB_SECURITY],
          clientOptions: h.clientOptions,
        }),
        roleAssignments: new RoleAssignmentsAdapter({ credential, clientOptions: h.clientOptions }),
      },
      new Date(),
    );
  }

  it('a server whose identity holds the role only through a group is a "cannot verify" warning naming the group, not a critical', async () => {
    const report = await postureAs(APP_PRINCIPAL);
    const pgF = report.servers.find((s) => s.serverName === 'pg-f');
    const slot = pgF?.slots.find((x) => x.slot === 'primary');
    expect(slot?.access).toMatchObject({ model: 'rbac', granted: undefined, cannotVerifyGroups: [GROUP] });
    expect(slot?.risk).toBe('warning');
    expect(pgF?.risk).not.toBe('critical');
    expect(pgF?.reasons.join('\n')).toMatch(
      new RegExp(`id-f: cannot verify.*${GROUP}.*group membership is not read`),
    );
    // An identity holding the role itself is granted, as before.
    const pgA = report.servers.find((s) => s.serverName === 'pg-a');
    expect(pgA?.slots.find((x) => x.slot === 'primary')?.access.granted).toBe(true);
  });

  it('a vault in use that the app may not read is reported with every check not evaluated, never dropped nor ok', async () => {
    const report = await postureAs(NARROW);
    const geo = report.vaults.find((v) => v.vaultName === GEO_VAULT);
    expect(geo).toMatchObject({ model: 'unknown', risk: 'warning' });
    expect(geo?.checks.map((c) => c.name).sort()).toEqual(
      [
        'appReachable',
        'networkAccess',
        'permissionModel',
        'purgeProtection',
        'retentionDays',
        'sameRegion',
        'sameTenant',
        'softDelete',
      ].sort(),
    );
    // Whether the app reaches the data plane is observed there, not read from ARM: known all the same.
    expect(geo?.checks.find((c) => c.name === 'appReachable')).toMatchObject({ status: 'ok' });
    for (const c of geo?.checks.filter((x) => x.name !== 'appReachable') ?? [])
      expect(c).toMatchObject({
        status: 'unknown',
        reason: expect.stringMatching(/^not evaluated: not listed/) as string,
      });
    expect(report.errors).toContain(`${GEO_VAULT}: vault properties not found in the subscriptions in scope`);
    // The readable vault is checked as usual.
    const main = report.vaults.find((v) => v.vaultName === VAULT);
    expect(main?.model).toBe('rbac');
    expect(main?.checks.filter((c) => c.reason.startsWith('not evaluated'))).toEqual([]);
    // The server backing up to the unreadable vault carries it as unknown access, a warning, not ok.
    const geoSlots = report.servers.flatMap((s) => s.slots).filter((x) => x.vaultName === GEO_VAULT);
    expect(geoSlots.length).toBeGreaterThan(0);
    for (const slot of geoSlots) expect(slot.access).toMatchObject({ model: 'unknown', granted: undefined });
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
