import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';
import { LocalTokenCredential } from '../../../local/azure/credential';
import type { FleetFile } from '../../../local/azure/fleet';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { buildPatchBody } from '../../../shared/domain/plan';
import { BadRequestError, ConflictError } from '../../../shared/ports/errors';
import type { OperationHandle, OperationStatus } from '../../../shared/ports/serverFleet';
import { serverId, SUB_A, SUB_B } from '../../support/fleet';
import { APP_PRINCIPAL, startHarness, waitFor, type Harness } from '../../support/localAzure';
import { rawClient } from '../../support/raw';

/**
 * The PATCH a rotation sends, against an ARM stand-in that refuses what Azure refuses: identity-map
 * semantics of ARM PATCH (merge, null removes), linked authorization on every identity in the body,
 * caller role assignments, the RP's identity and state checks.
 */
const VAULT = 'contoso-sec-kv';
const VAULT_URL = `https://${VAULT}.vault.azure.net`;
const GEO_VAULT_URL = 'https://contoso-sec-geo-kv.vault.azure.net';
const V1 = '11111111111111111111111111111111';
const V2 = '22222222222222222222222222222222';
const OFF = '33333333333333333333333333333333';
const GEO = '44444444444444444444444444444444';
const READER = '5e5e5e5e-0000-4000-8000-000000000001';
const STRANGER = '5e5e5e5e-0000-4000-8000-000000000002';

const uai = (sub: string, rg: string, name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;
const ID_PG = uai(SUB_A, 'rg-db', 'id-pg');
const ID_GEO = uai(SUB_A, 'rg-db', 'id-pg-geo');
const ID_NEW = uai(SUB_A, 'rg-db', 'id-pg-new');
/** Assigned to the server, but lives in the security team's resource group (another subscription). */
const ID_ELSEWHERE = uai(SUB_B, 'rg-security-identities', 'id-audit-reader');
const key = (v: string) => `${VAULT_URL}/keys/pg-cmk/${v}`;
const geoKey = `${GEO_VAULT_URL}/keys/pg-cmk-geo/${GEO}`;

function server(name: string, state: string, primary = key(V1)): Record<string, unknown> {
  return {
    id: serverId(SUB_A, 'rg-db', name),
    name,
    type: 'Microsoft.DBforPostgreSQL/flexibleServers',
    location: 'westeurope',
    sku: { name: 'Standard_D2ds_v5', tier: 'GeneralPurpose' },
    identity: {
      type: 'UserAssigned',
      userAssignedIdentities: { [ID_PG]: {}, [ID_GEO]: {}, [ID_ELSEWHERE]: {} },
    },
    properties: {
      state,
      version: '16',
      backup: { backupRetentionDays: 7, geoRedundantBackup: 'Enabled' },
      dataEncryption: {
        type: 'AzureKeyVault',
        primaryKeyURI: primary,
        primaryUserAssignedIdentityId: ID_PG,
        geoBackupKeyURI: geoKey,
        geoBackupUserAssignedIdentityId: ID_GEO,
      },
    },
    tags: {},
  };
}

const STATES = ['Stopped', 'Stopping', 'Starting', 'Updating', 'Disabled', 'Dropping', 'Inaccessible'];
const nameOf = (state: string) => `pg-${state.toLowerCase()}`;

function fleet(): FleetFile {
  const grant = ['get', 'wrapKey', 'unwrapKey'];
  let n = 0;
  const identity = (id: string) => {
    n++;
    return {
      id,
      principalId: `7a7a7a7a-0000-4000-8000-00000000000${n}`,
      clientId: `7b7b7b7b-0000-4000-8000-00000000000${n}`,
    };
  };
  return {
    identities: [ID_PG, ID_GEO, ID_NEW, ID_ELSEWHERE].map(identity),
    vaults: [
      {
        name: VAULT,
        subscriptionId: SUB_A,
        resourceGroup: 'rg-security',
        access: [ID_PG, ID_NEW].map((identity) => ({ identity, permissions: grant })),
        keys: [
          {
            name: 'pg-cmk',
            versions: [
              { version: V1, created: 'now-100d' },
              { version: OFF, created: 'now-50d', enabled: false },
              { version: V2, created: 'now-1d' },
            ],
          },
        ],
      },
      {
        name: 'contoso-sec-geo-kv',
        subscriptionId: SUB_A,
        resourceGroup: 'rg-security-ne',
        location: 'northeurope',
        access: [{ identity: ID_GEO, permissions: grant }],
        keys: [{ name: 'pg-cmk-geo', versions: [{ version: GEO, created: 'now-100d' }] }],
      },
    ],
    servers: [
      server('pg-orders', 'Ready'),
      server('pg-merge', 'Ready'),
      // Inaccessible stays so: its key version is disabled.
      ...STATES.map((s) => server(nameOf(s), s, s === 'Inaccessible' ? key(OFF) : key(V1))),
    ],
    roleAssignments: [
      // What infra grants the app: the rotation operator role where the servers are, nothing on identities.
      {
        principalId: APP_PRINCIPAL,
        scope: `/subscriptions/${SUB_A}`,
        role: 'PostgreSQL CMK Rotation Operator',
      },
      // An operator who may assign the identities of the servers' own resource group (not the security one).
      {
        principalId: APP_PRINCIPAL,
        scope: `/subscriptions/${SUB_A}/resourceGroups/rg-db/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-pg-new`,
        role: 'Managed Identity Operator',
      },
      { principalId: READER, scope: `/subscriptions/${SUB_A}`, role: 'Reader' },
    ],
    behaviour: { updateDurationMs: 150 },
  };
}

describe('the PATCH a rotation sends, against an ARM that refuses what Azure refuses', () => {
  let h: Harness;
  let arm: ArmServerFleet;
  let raw: ReturnType<typeof rawClient>;
  const url = (name: string) =>
    `https://management.azure.com${serverId(SUB_A, 'rg-db', name)}?api-version=2025-08-01`;
  const identitiesOf = (name: string): string[] => {
    const json = h.azure.world.findServer(serverId(SUB_A, 'rg-db', name))?.json ?? {};
    const identity = json['identity'] as { userAssignedIdentities?: Record<string, unknown> } | undefined;
    return Object.keys(identity?.userAssignedIdentities ?? {}).sort();
  };
  const settled = (name: string) =>
    waitFor(`PATCH of ${name}`, () => {
      const op = h.azure.world.findServer(serverId(SUB_A, 'rg-db', name))?.operation;
      return op !== undefined && op.status !== 'InProgress' ? op : undefined;
    });
  const settle = (handle: OperationHandle): Promise<OperationStatus> =>
    waitFor('operation', async () => {
      const s = await arm.pollOperation(handle);
      return s.status === 'InProgress' ? undefined : s;
    });
  const client = (principal: string) =>
    new PostgreSQLManagementFlexibleServerClient(
      new LocalTokenCredential(principal, h.azure.tenantId),
      SUB_A,
      h.clientOptions,
    );

  beforeAll(async () => {
    h = await startHarness(fleet());
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A],
      clientOptions: h.clientOptions,
    });
    raw = rawClient(h.azure);
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('accepts the rotation body without assign/action: the identity elsewhere stays assigned, geo-backup kept', async () => {
    const before = await arm.getServer(serverId(SUB_A, 'rg-db', 'pg-orders'));
    const body = buildPatchBody(before, { primary: key(V2) });
    const status = await settle(await arm.beginEncryptionUpdate(before.id, body));

    expect(status.status).toBe('Succeeded');
    const after = await arm.getServer(before.id);
    expect(after.dataEncryption).toMatchObject({
      primaryKeyURI: key(V2),
      primaryUserAssignedIdentityId: ID_PG,
      geoBackupKeyURI: geoKey,
      geoBackupUserAssignedIdentityId: ID_GEO,
      primaryEncryptionKeyStatus: 'Valid',
      geoBackupEncryptionKeyStatus: 'Valid',
    });
    expect(Object.keys(after.identity?.userAssignedIdentities ?? {}).sort()).toEqual(
      [ID_PG, ID_GEO, ID_ELSEWHERE].sort(),
    );
  });

  it('refuses the body that names every identity of the server: 403 LinkedAuthorizationFailed, nothing changes', async () => {
    const before = structuredClone(h.azure.world.findServer(serverId(SUB_A, 'rg-db', 'pg-merge'))?.json);
    const error = await client(APP_PRINCIPAL)
      .servers.beginUpdate('rg-db', 'pg-merge', {
        identity: {
          type: 'UserAssigned',
          userAssignedIdentities: { [ID_PG]: {}, [ID_GEO]: {}, [ID_ELSEWHERE]: {} },
        },
        dataEncryption: {
          type: 'AzureKeyVault',
          primaryKeyURI: key(V2),
          primaryUserAssignedIdentityId: ID_PG,
          geoBackupKeyURI: geoKey,
          geoBackupUserAssignedIdentityId: ID_GEO,
        },
      })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 403, code: 'LinkedAuthorizationFailed' });
    const message = (error as Error).message;
    expect(message).toContain("'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'");
    expect(message).toContain(ID_ELSEWHERE.toLowerCase());
    expect(h.azure.world.findServer(serverId(SUB_A, 'rg-db', 'pg-merge'))?.json).toEqual(before);
  });

  it('merges the identity map like ARM PATCH: an identity left out stays, null removes one', async () => {
    const added = await raw('PATCH', url('pg-merge'), {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [ID_NEW]: {} } },
    });
    expect(added.status).toBe(202);
    expect((await settled('pg-merge')).status).toBe('Succeeded');
    expect(identitiesOf('pg-merge')).toEqual([ID_PG, ID_GEO, ID_NEW, ID_ELSEWHERE].sort());

    // Removing needs no assign/action on the identity removed.
    const removed = await raw('PATCH', url('pg-merge'), {
      identity: { type: 'UserAssigned', userAssignedIdentities: { [ID_NEW]: null } },
    });
    expect(removed.status).toBe(202);
    expect((await settled('pg-merge')).status).toBe('Succeeded');
    expect(identitiesOf('pg-merge')).toEqual([ID_PG, ID_GEO, ID_ELSEWHERE].sort());
  });

  it.each([
    [
      'removing the primary encryption identity',
      { identity: { type: 'UserAssigned', userAssignedIdentities: { [ID_PG]: null } } },
      'is used for data encryption',
    ],
    [
      'dropping every user-assigned identity with type None',
      { identity: { type: 'None' } },
      'is used for data encryption',
    ],
    [
      'an encryption identity the server does not have',
      {
        properties: {
          dataEncryption: {
            type: 'AzureKeyVault',
            primaryKeyURI: key(V2),
            primaryUserAssignedIdentityId: ID_NEW,
            geoBackupKeyURI: geoKey,
            geoBackupUserAssignedIdentityId: ID_GEO,
          },
        },
      },
      'is not associated with the server',
    ],
  ])('refuses %s with 400 (the identity must stay assigned after the merge)', async (_name, body, text) => {
    const before = identitiesOf('pg-merge');
    const res = await raw('PATCH', url('pg-merge'), body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain(text);
    expect(identitiesOf('pg-merge')).toEqual(before);
  });

  it('checks the caller against role assignments: a Reader reads but may not write, a stranger may do neither', async () => {
    const name = 'pg-merge';
    await expect(client(READER).servers.get('rg-db', name)).resolves.toMatchObject({ name });
    await expect(
      client(READER).servers.beginUpdate('rg-db', name, { tags: { owner: 'x' } }),
    ).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });

    await expect(client(STRANGER).servers.get('rg-db', name)).rejects.toMatchObject({
      statusCode: 403,
      code: 'AuthorizationFailed',
    });
    const listed: string[] = [];
    for await (const s of client(STRANGER).servers.listBySubscription()) listed.push(s.name ?? '');
    expect(listed).toEqual([]);
  });

  it('Resource Graph shows each caller only the servers it may read', async () => {
    const count = async (principal: string) => {
      const res = await rawClient(h.azure, principal)(
        'POST',
        'https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01',
        {
          subscriptions: [SUB_A],
          query: "resources | where type =~ 'microsoft.dbforpostgresql/flexibleservers'",
        },
      );
      expect(res.status).toBe(200);
      return (res.body as { totalRecords: number }).totalRecords;
    };
    expect(await count(APP_PRINCIPAL)).toBe(2 + STATES.length);
    expect(await count(READER)).toBe(2 + STATES.length);
    expect(await count(STRANGER)).toBe(0);
  });

  it.each(
    STATES.map((state) => [
      state,
      state === 'Stopped' || state === 'Stopping' ? 'ServerStoppedError' : 'ServerIsNotReady',
    ]),
  )('refuses a PATCH of a server that is %s (%s) and starts no operation', async (state, code) => {
    const id = serverId(SUB_A, 'rg-db', nameOf(state));
    const snapshot = await arm.getServer(id);
    const error = await arm
      .beginEncryptionUpdate(id, buildPatchBody(snapshot, { primary: key(V2) }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(code === 'ServerStoppedError' ? BadRequestError : ConflictError);
    expect(error).toMatchObject({ azureCode: code });
    const record = h.azure.world.findServer(id);
    expect(record?.operation).toBeUndefined();
    expect((record?.json['properties'] as Record<string, unknown>)['state']).toBe(state);
  });
});
