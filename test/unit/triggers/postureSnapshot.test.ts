import type { ServerSnapshot } from '../../../shared/domain/model';
import type { VaultProperties } from '../../../shared/domain/posture';
import { buildPosture } from '../../../shared/domain/postureRules';
import { postureSnapshotRecords } from '../../../shared/triggers/posture';
import { serverSnapshot, userAssigned } from '../../support/servers';
import { vaultProperties } from '../../support/vaults';

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/contoso-kv`;
const ROLE = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6`;
const UAI = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`;
const V1 = '11111111111111111111111111111111';

const vault: VaultProperties = vaultProperties('contoso-kv', {
  id: VAULT_ID,
  publicNetworkAccess: 'Enabled',
  networkAcls: undefined,
});

const server: ServerSnapshot = serverSnapshot('pg-a', {
  subscriptionId: SUB,
  identity: userAssigned({ [UAI]: 'p-1' }, TENANT),
  dataEncryption: {
    primaryKeyURI: `https://contoso-kv.vault.azure.net/keys/pg-cmk/${V1}`,
    primaryUserAssignedIdentityId: UAI,
  },
});

function report(principalType: string | undefined, principalId: string) {
  return buildPosture({
    now: new Date('2026-11-28T12:00:00Z'),
    nearExpiry: { warningDays: 30, criticalDays: 7 },
    canaryTag: 'ring',
    optOutTag: 'optout',
    keys: new Map(),
    incompleteKeys: new Set(),
    rotationPolicies: new Map(),
    servers: [server],
    vaults: new Map([['contoso-kv', vault]]),
    assignments: new Map([
      ['contoso-kv', [{ id: 'ra', scope: VAULT_ID, roleDefinitionId: ROLE, principalId, principalType }]],
    ]),
    lastRotations: new Map(),
    errors: [],
  });
}

describe('PostureSnapshot records', () => {
  it.each([
    ['the identity holds the role', 'ServicePrincipal', 'p-1', 'granted', undefined],
    ['only a group holds it', 'Group', 'g-1', 'cannotVerify', 'g-1'],
    ['another service principal holds it', 'ServicePrincipal', 'p-2', 'denied', undefined],
  ])('%s: primary.access %s', (_what, type, principal, access, groups) => {
    const [record] = postureSnapshotRecords(report(type, principal), 'sweep:t');
    expect(record?.details?.['primary.access']).toBe(access);
    expect(record?.details?.['primary.accessGroups']).toBe(groups);
    if (groups !== undefined)
      expect(record?.details?.['reasons']).toMatch(/cannot verify.*g-1.*membership is not read/);
  });
});
