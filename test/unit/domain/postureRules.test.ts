import type { KeyInfo, ServerSnapshot } from '../../../shared/domain/model';
import type { RoleAssignmentInfo, VaultProperties } from '../../../shared/domain/posture';
import { identityAccess } from '../../../shared/domain/postureIdentity';
import { keyPosture, summarizeRotationPolicy } from '../../../shared/domain/postureKeys';
import { buildPosture, type PostureInput } from '../../../shared/domain/postureRules';
import { lastRotationFor, rolloutPlaceOf } from '../../../shared/domain/postureServers';
import { vaultChecks, vaultRisk, type VaultUser } from '../../../shared/domain/postureVault';
import { keyInfo, keyVersion } from '../../support/keys';
import { serverSnapshot, userAssigned } from '../../support/servers';
import { vaultProperties } from '../../support/vaults';

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/contoso-kv`;
const ROLE = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`;
const READER = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/21090545-7ca7-4776-b22c-e363652d74d2`;
const V1 = '11111111111111111111111111111111';
const V2 = '22222222222222222222222222222222';
const V3 = '33333333333333333333333333333333';
const NOW = new Date('2026-11-28T12:00:00Z');
const uai = (name: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`;

const vault = (over: Partial<VaultProperties> = {}): VaultProperties =>
  vaultProperties('contoso-kv', { id: VAULT_ID, ...over });
const user = (over: Partial<VaultUser> = {}): VaultUser => ({
  serverId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-1`,
  slot: 'primary',
  serverLocation: 'westeurope',
  tenantId: TENANT,
  ...over,
});
const check = (v: VaultProperties, name: string, users: VaultUser[] = [user()]) =>
  vaultChecks(v, users).find((c) => c.name === name);

describe('vault checks (the seeds requirements and recommendations)', () => {
  it.each([
    ['softDelete', vault(), 'ok', /on/],
    ['softDelete', vault({ enableSoftDelete: false }), 'failing', /cannot be recovered/],
    ['purgeProtection', vault(), 'ok', /on/],
    ['purgeProtection', vault({ enablePurgeProtection: false }), 'failing', /purged/],
    ['purgeProtection', vault({ enablePurgeProtection: undefined }), 'failing', /off/],
    ['retentionDays', vault(), 'ok', /90 days/],
    ['retentionDays', vault({ softDeleteRetentionInDays: 7 }), 'failing', /7 days; 90 are recommended/],
    ['permissionModel', vault(), 'ok', /RBAC/],
    ['permissionModel', vault({ enableRbacAuthorization: false }), 'failing', /access-policy/],
    ['networkAccess', vault(), 'ok', /trusted Microsoft services/],
    [
      'networkAccess',
      vault({ publicNetworkAccess: 'Enabled', networkAcls: undefined }),
      'failing',
      /open to all networks/,
    ],
    [
      'networkAccess',
      vault({
        publicNetworkAccess: 'Enabled',
        networkAcls: { bypass: 'None', defaultAction: 'Deny', ipRules: 1, virtualNetworkRules: 0 },
      }),
      'failing',
      /cannot reach their keys/,
    ],
    [
      'networkAccess',
      vault({
        publicNetworkAccess: 'Enabled',
        networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', ipRules: 1, virtualNetworkRules: 0 },
      }),
      'ok',
      /denies by default/,
    ],
  ])('%s on %j is %s', (name, v, status, reason) => {
    const c = check(v, name);
    expect(c?.status).toBe(status);
    expect(c?.reason).toMatch(reason);
  });

  it.each([
    ['same tenant', [user()], 'ok'],
    ['another tenant', [user({ tenantId: OTHER_TENANT })], 'failing'],
    ['no tenant reported', [user({ tenantId: undefined })], 'unknown'],
  ])('sameTenant with %s is %s', (_, users, status) => {
    expect(check(vault(), 'sameTenant', users)?.status).toBe(status);
  });

  it.each([
    ['primary in the vault region', user(), 'ok', /westeurope/],
    ['primary elsewhere', user({ serverLocation: 'eastus' }), 'failing', /primary\) is in eastus/],
    [
      'geo-backup vault in the paired region',
      user({ slot: 'geoBackup', serverLocation: 'northeurope' }),
      'ok',
      /westeurope/,
    ],
    [
      'geo-backup vault in the server region',
      user({ slot: 'geoBackup', serverLocation: 'westeurope' }),
      'failing',
      /own region westeurope, not the backup region northeurope/,
    ],
    [
      'geo-backup vault in a third region',
      user({ slot: 'geoBackup', serverLocation: 'eastus' }),
      'failing',
      /backs up to westus, the vault is in westeurope/,
    ],
  ])('sameRegion: %s is %s', (_, u, status, reason) => {
    const c = check(vault(), 'sameRegion', [u]);
    expect(c?.status).toBe(status);
    expect(c?.reason).toMatch(reason);
  });

  it('a failing requirement makes the vault critical, a failing recommendation a warning', () => {
    expect(vaultRisk(vaultChecks(vault(), [user()])).risk).toBe('ok');
    expect(vaultRisk(vaultChecks(vault({ softDeleteRetentionInDays: 30 }), [user()])).risk).toBe('warning');
    const r = vaultRisk(vaultChecks(vault({ enablePurgeProtection: false }), [user()]));
    expect(r.risk).toBe('critical');
    expect(r.reasons.join()).toMatch(/purgeProtection/);
  });
});

describe('identity access', () => {
  const assignment = (over: Partial<RoleAssignmentInfo>): RoleAssignmentInfo => ({
    id: 'ra',
    scope: VAULT_ID,
    roleDefinitionId: ROLE,
    principalId: 'p-1',
    ...over,
  });
  it.each([
    ['the role on the vault', [assignment({})], true],
    [
      'the role on the resource group',
      [assignment({ scope: `/subscriptions/${SUB}/resourceGroups/rg-kv` })],
      true,
    ],
    ['the role on the subscription', [assignment({ scope: `/subscriptions/${SUB}` })], true],
    ['the role for another principal', [assignment({ principalId: 'p-2' })], false],
    ['another role', [assignment({ roleDefinitionId: READER })], false],
    ['the role on another vault', [assignment({ scope: `${VAULT_ID}-2` })], false],
    ['no assignments', [], false],
  ])('RBAC vault, %s: granted %s', (_, assignments, granted) => {
    expect(identityAccess(vault(), assignments, uai('id-1'), 'p-1').granted).toBe(granted);
  });

  it.each([
    [['get', 'list', 'wrapkey', 'unwrapkey'], true, /grants/],
    [['all'], true, /grants/],
    [['get', 'wrapKey', 'unwrapKey'], false, /lacks list/],
    [['get', 'list'], false, /lacks wrapKey, unwrapKey/],
  ])('access-policy vault with %j: granted %s', (keys, granted, reason) => {
    const v = vault({
      enableRbacAuthorization: false,
      accessPolicies: [{ tenantId: TENANT, objectId: 'p-1', keys }],
    });
    const a = identityAccess(v, [], uai('id-1'), 'p-1');
    expect(a).toMatchObject({ model: 'accessPolicies', granted });
    expect(a.reason).toMatch(reason);
  });

  // A role held by an Entra group the identity may belong to: membership is Microsoft Graph's, not read.
  it.each([
    [
      'a group holds the role on the vault',
      [assignment({ principalId: 'g-1', principalType: 'Group' })],
      undefined,
      ['g-1'],
    ],
    [
      'a group holds it on the resource group',
      [
        assignment({
          principalId: 'g-1',
          principalType: 'Group',
          scope: `/subscriptions/${SUB}/resourceGroups/rg-kv`,
        }),
      ],
      undefined,
      ['g-1'],
    ],
    [
      'two groups (and a foreign group) hold it',
      [
        assignment({ principalId: 'g-2', principalType: 'Group' }),
        assignment({ principalId: 'g-1', principalType: 'ForeignGroup', scope: `/subscriptions/${SUB}` }),
        assignment({ principalId: 'g-2', principalType: 'Group', scope: `/subscriptions/${SUB}` }),
      ],
      undefined,
      ['g-1', 'g-2'],
    ],
    [
      'the identity holds it itself, a group too',
      [assignment({}), assignment({ principalId: 'g-1', principalType: 'Group' })],
      true,
      undefined,
    ],
    [
      'a group holds another role',
      [assignment({ principalId: 'g-1', principalType: 'Group', roleDefinitionId: READER })],
      false,
      undefined,
    ],
    [
      'a group holds it on another vault',
      [assignment({ principalId: 'g-1', principalType: 'Group', scope: `${VAULT_ID}-2` })],
      false,
      undefined,
    ],
    [
      'another service principal holds it',
      [assignment({ principalId: 'p-2', principalType: 'ServicePrincipal' })],
      false,
      undefined,
    ],
    ['another principal of unknown type holds it', [assignment({ principalId: 'p-2' })], false, undefined],
    ['a user holds it', [assignment({ principalId: 'u-1', principalType: 'User' })], false, undefined],
  ])('RBAC vault, %s: granted %s, cannot verify for groups %j', (_, assignments, granted, groups) => {
    const a = identityAccess(vault(), assignments, uai('id-1'), 'p-1');
    expect(a.granted).toBe(granted);
    expect(a.cannotVerifyGroups).toEqual(groups);
    if (groups !== undefined) {
      expect(a.reason).toMatch(/^cannot verify/);
      for (const g of groups) expect(a.reason).toContain(g);
      expect(a.reason).toMatch(/group membership is not read/);
    }
  });

  it('is unknown, not denied, when the vault, the assignments or the principal could not be read', () => {
    expect(identityAccess(undefined, [], uai('id'), 'p-1').granted).toBeUndefined();
    expect(identityAccess(vault(), undefined, uai('id'), 'p-1').granted).toBeUndefined();
    expect(identityAccess(vault(), [], uai('id'), undefined).granted).toBeUndefined();
  });
});

const VAULT_URL = 'https://contoso-kv.vault.azure.net';
const key = (versions: { v: string; created: string; exp?: string; enabled?: boolean }[]): KeyInfo =>
  keyInfo(
    versions.map((x) =>
      keyVersion(x.v, x.created, { vaultUrl: VAULT_URL, enabled: x.enabled ?? true, expiresOn: x.exp }),
    ),
    { vaultUrl: VAULT_URL, vaultName: 'contoso-kv' },
  );
const threeVersions = key([
  { v: V1, created: '2026-01-01T00:00:00Z', exp: '2027-01-01T00:00:00Z' },
  { v: V2, created: '2026-06-01T00:00:00Z', exp: '2027-06-01T00:00:00Z' },
  { v: V3, created: '2026-11-28T11:00:00Z', exp: '2027-11-28T00:00:00Z' },
]);

describe('versions safe to disable', () => {
  it.each([
    ['nobody pins V1 or V2, no versionless users', [{ v: V3 }], true, [V2, V1]],
    ['a server pins V1', [{ v: V1 }, { v: V3 }], true, [V2]],
    ['versionless users and the current version is 1 h old', [{ v: undefined }], true, []],
    ['discovery incomplete', [{ v: V3 }], false, []],
  ])('%s -> %j', (_, pins, complete, safe) => {
    const uses = pins.map((p, i) => ({ serverId: `s${i}`, slot: 'primary' as const, version: p.v }));
    expect(keyPosture(threeVersions, uses, NOW, complete, undefined).safeToDisable).toEqual(safe);
  });

  it('versionless users: older versions become safe once the current one is older than the 2 h pickup window', () => {
    const later = new Date('2026-11-28T13:00:01Z');
    const p = keyPosture(
      threeVersions,
      [{ serverId: 's', slot: 'primary', version: undefined }],
      later,
      true,
      undefined,
    );
    expect(p.safeToDisable).toEqual([V2, V1]);
    expect(p.versions.find((v) => v.version === V3)?.disableReason).toBe('current version');
  });

  it('never lists the current version or a disabled one, and counts pins per version', () => {
    const k = key([
      { v: V1, created: '2026-01-01T00:00:00Z', enabled: false },
      { v: V2, created: '2026-06-01T00:00:00Z' },
    ]);
    const p = keyPosture(
      k,
      [
        { serverId: 'a', slot: 'primary', version: V2 },
        { serverId: 'b', slot: 'geoBackup', version: V2 },
      ],
      NOW,
      true,
      undefined,
    );
    expect(p.safeToDisable).toEqual([]);
    expect(p.versions.map((v) => [v.version, v.pinnedBy, v.disableReason])).toEqual([
      [V2, 2, 'current version'],
      [V1, 0, 'already disabled'],
    ]);
  });

  it('next expiry is the earliest among current and pinned enabled versions', () => {
    const p = keyPosture(
      threeVersions,
      [{ serverId: 's', slot: 'primary', version: V2 }],
      NOW,
      true,
      undefined,
    );
    expect(p.nextExpiry?.version).toBe(V2);
  });
});

describe('rotation policy summary', () => {
  it.each([
    [
      {
        lifetimeActions: [
          { action: 'Rotate', timeAfterCreate: 'P90D' },
          { action: 'Notify', timeBeforeExpiry: 'P30D' },
        ],
        expiresIn: 'P1Y',
      },
      true,
      'rotates P90D after creation; notifies P30D before expiry; new versions expire after P1Y',
    ],
    [
      { lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: 'P30D' }] },
      false,
      'notifies P30D before expiry',
    ],
    [{}, false, 'no automatic rotation (versions are created by hand)'],
  ])('%j', (policy, configured, summary) => {
    expect(summarizeRotationPolicy(policy)).toMatchObject({ configured, summary });
  });
});

function server(
  name: string,
  over: Partial<ServerSnapshot> = {},
  de: Record<string, string> = {},
): ServerSnapshot {
  return serverSnapshot(name, {
    subscriptionId: SUB,
    identity: userAssigned({ [uai('id-1')]: 'p-1', [uai('id-2')]: 'p-2' }, TENANT),
    dataEncryption: {
      primaryKeyURI: `${VAULT_URL}/keys/pg-cmk/${V3}`,
      primaryUserAssignedIdentityId: uai('id-1'),
      ...de,
    },
    ...over,
  });
}

function input(servers: ServerSnapshot[], over: Partial<PostureInput> = {}): PostureInput {
  return {
    now: NOW,
    nearExpiry: { warningDays: 30, criticalDays: 7 },
    canaryTag: 'cmk-rotation-ring',
    optOutTag: 'cmk-rotation-optout',
    keys: new Map([['contoso-kv/pg-cmk', threeVersions]]),
    incompleteKeys: new Set(),
    rotationPolicies: new Map(),
    servers,
    vaults: new Map([['contoso-kv', vault()]]),
    assignments: new Map([
      ['contoso-kv', [{ id: 'ra', scope: VAULT_ID, roleDefinitionId: ROLE, principalId: 'p-1' }]],
    ]),
    lastRotations: new Map(),
    errors: [],
    ...over,
  };
}

describe('server risk', () => {
  const soon = key([{ v: V3, created: '2026-01-01T00:00:00Z', exp: '2026-12-03T12:00:00Z' }]);
  const month = key([{ v: V3, created: '2026-01-01T00:00:00Z', exp: '2026-12-20T12:00:00Z' }]);
  const expired = key([{ v: V3, created: '2026-01-01T00:00:00Z', exp: '2026-11-01T00:00:00Z' }]);
  const disabled = key([{ v: V3, created: '2026-01-01T00:00:00Z', enabled: false }]);
  it.each([
    ['healthy', input([server('a')]), 'ok', undefined],
    [
      'expires in 5 days',
      input([server('a')], { keys: new Map([['contoso-kv/pg-cmk', soon]]) }),
      'critical',
      /expires in 5 day/,
    ],
    [
      'expires in 22 days',
      input([server('a')], { keys: new Map([['contoso-kv/pg-cmk', month]]) }),
      'warning',
      /expires in 22 day/,
    ],
    [
      'expired',
      input([server('a')], { keys: new Map([['contoso-kv/pg-cmk', expired]]) }),
      'critical',
      /expired 27 whole day/,
    ],
    [
      'disabled version',
      input([server('a')], { keys: new Map([['contoso-kv/pg-cmk', disabled]]) }),
      'critical',
      /disabled/,
    ],
    ['Inaccessible', input([server('a', { state: 'Inaccessible' })]), 'critical', /Inaccessible/],
    [
      'key status Invalid',
      input([server('a', {}, { primaryEncryptionKeyStatus: 'Invalid' })]),
      'critical',
      /key status is Invalid/,
    ],
    [
      'identity without the role',
      input([server('a', {}, { primaryUserAssignedIdentityId: uai('id-2') })]),
      'critical',
      /lacks "Key Vault Crypto Service Encryption User"/,
    ],
    [
      'pinned to an unknown version',
      input([server('a', {}, { primaryKeyURI: `${VAULT_URL}/keys/pg-cmk/${'4'.repeat(32)}` })]),
      'critical',
      /not listed/,
    ],
    [
      'vault without purge protection',
      input([server('a')], { vaults: new Map([['contoso-kv', vault({ enablePurgeProtection: false })]]) }),
      'warning',
      /purgeProtection/,
    ],
    ['vault unreadable', input([server('a')], { vaults: new Map() }), 'warning', /identity access unknown/],
    [
      'same identity for both slots',
      input(
        [
          server(
            'a',
            {},
            {
              geoBackupKeyURI: `${VAULT_URL}/keys/pg-cmk/${V3}`,
              geoBackupUserAssignedIdentityId: uai('id-1'),
              geoBackupEncryptionKeyStatus: 'Valid',
            },
          ),
        ],
        {
          vaults: new Map([['contoso-kv', vault()]]),
        },
      ),
      'warning',
      /same identity/,
    ],
  ])('%s -> %s', (_, inp, risk, reason) => {
    const report = buildPosture(inp);
    const s = report.servers[0];
    expect(s?.risk).toBe(risk);
    if (reason === undefined) expect(s?.reasons).toEqual([]);
    else expect(s?.reasons.join('\n')).toMatch(reason);
  });

  it('a role held only through a group is a warning that names the group, on the server and the vault, not a critical', () => {
    const groupOnly = input([server('a')], {
      assignments: new Map([
        [
          'contoso-kv',
          [{ id: 'ra', scope: VAULT_ID, roleDefinitionId: ROLE, principalId: 'g-9', principalType: 'Group' }],
        ],
      ]),
    });
    const report = buildPosture(groupOnly);
    const s = report.servers[0];
    expect(s?.risk).toBe('warning');
    expect(s?.reasons.join('\n')).toMatch(/identity id-1: cannot verify.*g-9.*group membership is not read/);
    expect(s?.slots[0]?.access).toMatchObject({ granted: undefined, cannotVerifyGroups: ['g-9'] });
    const v = report.vaults.find((x) => x.vaultName === 'contoso-kv');
    expect(v?.risk).toBe('warning');
    expect(v?.identities[0]?.cannotVerifyGroups).toEqual(['g-9']);
    expect(v?.reasons.join('\n')).toMatch(/g-9/);
    // The same fleet without the group: missing, critical (the old reading of the group case).
    const none = buildPosture(input([server('a')], { assignments: new Map([['contoso-kv', []]]) }));
    expect(none.servers[0]?.risk).toBe('critical');
  });

  it('a vault in use that could not be read reports every check not evaluated, with why, even with no server on it', () => {
    const report = buildPosture(
      input([server('a')], {
        vaults: new Map(),
        vaultReadErrors: new Map([
          ['contoso-kv', 'its properties could not be read (AuthorizationFailed)'],
          ['contoso-geo-kv', 'not listed in the subscriptions in scope'],
        ]),
      }),
    );
    for (const name of ['contoso-kv', 'contoso-geo-kv']) {
      const v = report.vaults.find((x) => x.vaultName === name);
      expect(v).toMatchObject({ model: 'unknown', risk: 'warning' });
      expect(v?.checks).toHaveLength(8);
      for (const c of v?.checks ?? []) expect(c.status).toBe('unknown');
    }
    expect(report.vaults.find((x) => x.vaultName === 'contoso-kv')?.checks[0]?.reason).toBe(
      'not evaluated: its properties could not be read (AuthorizationFailed)',
    );
    expect(report.servers[0]?.risk).toBe('warning');
    expect(report.servers[0]?.slots[0]?.access.granted).toBeUndefined();
  });

  it('reports versionless slots with the current version as effective, the last rotation from the durable output, rings, and sorts critical first', () => {
    const versionless = server(
      'b-versionless',
      { tags: { 'cmk-rotation-ring': '0' } },
      { primaryKeyURI: `${VAULT_URL}/keys/pg-cmk` },
    );
    const broken = server('c-broken', { state: 'Inaccessible', tags: { 'cmk-rotation-optout': 'true' } });
    const report = buildPosture(
      input([versionless, broken], {
        lastRotations: new Map([
          [
            'contoso-kv/pg-cmk',
            {
              instanceId: 'cmk-rotation:contoso-kv:pg-cmk',
              runtimeStatus: 'Completed',
              output: {
                status: 'completedWithFailures',
                targetVersion: V3,
                completedAt: '2026-11-28T11:30:00Z',
                servers: [{ serverId: broken.id, outcome: 'failed', reason: 'ServerInaccessible' }],
              },
            },
          ],
        ]),
      }),
    );
    expect(report.servers.map((s) => [s.serverName, s.risk, s.ring])).toEqual([
      ['c-broken', 'critical', 'optedOut'],
      ['b-versionless', 'ok', 'canary'],
    ]);
    const slot = report.servers[1]?.slots[0];
    expect(slot).toMatchObject({ versionless: true, pinnedVersion: undefined, effectiveVersion: V3 });
    expect(report.servers[0]?.lastRotations[0]).toMatchObject({
      outcome: 'failed',
      at: '2026-11-28T11:30:00Z',
      runStatus: 'completedWithFailures',
      source: 'durableInstance',
    });
    expect(report.servers[1]?.lastRotations[0]?.outcome).toBe('completedWithFailures');
    expect(report.summary.byRisk).toEqual({ ok: 1, warning: 0, critical: 1 });
    expect(report.keys[0]).toMatchObject({ versionlessSlots: 1, pinnedSlots: 1, safeToDisable: [] });
  });

  it.each<[string, Record<string, unknown>, string]>([
    // name, the run's output, the server's outcome
    [
      'an output listing only servers that need attention, without this one: notListed, never the run status',
      { outputVersion: 2, status: 'completed', targetVersion: V3, servers: [] },
      'notListed',
    ],
    [
      'the same output listing it as failed: failed',
      {
        outputVersion: 2,
        status: 'completedWithFailures',
        targetVersion: V3,
        servers: [{ serverId: '<id>', outcome: 'failed', reason: 'ServerBusy' }],
      },
      'failed',
    ],
    [
      'an older output (every server listed) without it: the run status',
      { status: 'completed', targetVersion: V3, servers: [] },
      'completed',
    ],
  ])('last rotation of a server: %s', (_, output, expected) => {
    const one = server('a-one');
    const withId = {
      ...output,
      servers: (output['servers'] as Record<string, unknown>[]).map((s) => ({ ...s, serverId: one.id })),
    };
    const last = lastRotationFor(one.id, {
      instanceId: 'cmk-rotation:contoso-kv:pg-cmk',
      runtimeStatus: 'Completed',
      output: withId,
    });
    expect(last.outcome).toBe(expected);
    if (expected === 'notListed') expect(last.reason).toMatch(/audit record/);
  });

  it('ring follows the same tags as the rollout', () => {
    expect(
      rolloutPlaceOf(
        server('a', { tags: { 'CMK-ROTATION-OPTOUT': 'yes' } }),
        'cmk-rotation-ring',
        'cmk-rotation-optout',
      ),
    ).toBe('optedOut');
    expect(
      rolloutPlaceOf(
        server('a', { tags: { 'cmk-rotation-optout': 'false' } }),
        'cmk-rotation-ring',
        'cmk-rotation-optout',
      ),
    ).toBe('main');
  });
});
