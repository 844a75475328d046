import { diagnose, isVaultUnreachable } from '../../../shared/domain/diagnosis';
import type { KeyInfo, ServerSnapshot } from '../../../shared/domain/model';
import type { VaultProperties } from '../../../shared/domain/posture';
import { buildPosture, type PostureInput } from '../../../shared/domain/postureRules';
import { failingVaultChecks } from '../../../shared/triggers/statusModel';
import {
  APP_REACHABILITY_CHECK,
  appReachabilityCheck,
  reachabilityFromCall,
} from '../../../shared/domain/vaultReachability';
import { serverSnapshot, userAssigned } from '../../support/servers';
import { vaultProperties } from '../../support/vaults';

const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const VAULT_URL = 'https://contoso-kv.vault.azure.net';
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const UAI = `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1`;
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/contoso-kv`;

const closedVault: VaultProperties = vaultProperties('contoso-kv', {
  id: VAULT_ID,
  enableRbacAuthorization: false,
  accessPolicies: [{ tenantId: TENANT, objectId: 'p-1', keys: ['get', 'list', 'wrapkey', 'unwrapkey'] }],
});

const server: ServerSnapshot = serverSnapshot('pg-1', {
  subscriptionId: SUB,
  identity: userAssigned({ [UAI]: 'p-1' }, TENANT),
  dataEncryption: { primaryKeyURI: `${VAULT_URL}/keys/pg-cmk/${V1}`, primaryUserAssignedIdentityId: UAI },
});

function input(over: Partial<PostureInput>): PostureInput {
  return {
    now: new Date('2026-12-01T00:00:00Z'),
    nearExpiry: { warningDays: 30, criticalDays: 7 },
    canaryTag: 'cmk-rotation-ring',
    optOutTag: 'cmk-rotation-optout',
    keys: new Map<string, KeyInfo>(),
    incompleteKeys: new Set(),
    rotationPolicies: new Map(),
    servers: [server],
    vaults: new Map([['contoso-kv', closedVault]]),
    assignments: new Map(),
    lastRotations: new Map(),
    errors: [],
    ...over,
  };
}

describe('the appReachable rule (stable check id for posture and health watches)', () => {
  it.each([
    [undefined, 'reached'],
    ['ForbiddenByConnection', 'refused'],
    ['ForbiddenByFirewall', 'refused'],
    ['VaultUnreachable', 'refused'],
    ['Forbidden', 'unknown'],
    ['ForbiddenByRbac', 'unknown'],
  ] as const)('a data-plane call failing with %s means %s', (code, outcome) => {
    expect(reachabilityFromCall(code).outcome).toBe(outcome);
  });

  it('a refusal is a failing requirement naming the cause and the network fix, with the Learn link', () => {
    const check = appReachabilityCheck(
      'contoso-kv',
      { outcome: 'refused', code: 'ForbiddenByFirewall' },
      closedVault,
    );
    expect(check).toMatchObject({ name: APP_REACHABILITY_CHECK, kind: 'requirement', status: 'failing' });
    expect(check.name).toBe('appReachable');
    expect(check.reason).toMatch(
      /cannot reach vault contoso-kv.*ForbiddenByFirewall.*public network access is disabled/,
    );
    expect(check.fix).toMatch(/private endpoint/);
    expect(check.fix).toMatch(/virtualNetworkSubnetId/);
    expect(check.fix).toMatch(
      /https:\/\/learn\.microsoft\.com\/azure\/key-vault\/general\/private-link-service/,
    );
    expect(check.fix).not.toMatch(/Crypto|Grant/);
  });

  it.each([
    [{ outcome: 'reached' } as const, 'ok', /private endpoint or an allowed network/],
    [{ outcome: 'unknown', why: 'not called' } as const, 'unknown', /^not evaluated: not called/],
  ])('%p is %s', (reach, status, reason) => {
    expect(appReachabilityCheck('contoso-kv', reach, closedVault)).toMatchObject({
      status,
      reason: expect.stringMatching(reason) as string,
    });
  });
});

describe('posture: a vault in use that the app cannot reach', () => {
  it('is critical with the reason and the fix, and its servers carry it', () => {
    const report = buildPosture(
      input({
        appReachability: new Map([['contoso-kv', { outcome: 'refused', code: 'ForbiddenByFirewall' }]]),
      }),
    );
    const v = report.vaults.find((x) => x.vaultName === 'contoso-kv');
    expect(v?.risk).toBe('critical');
    expect(v?.checks.find((c) => c.name === 'appReachable')).toMatchObject({ status: 'failing' });
    expect(v?.reasons.join('\n')).toMatch(/appReachable: the app cannot reach vault contoso-kv/);
    expect(report.servers[0]?.reasons.join('\n')).toMatch(/vault contoso-kv appReachable/);
  });

  it('is critical even when its ARM properties could not be read (the refusal is observed on the data plane)', () => {
    const report = buildPosture(
      input({
        vaults: new Map(),
        vaultReadErrors: new Map([['contoso-kv', 'its properties could not be read (AuthorizationFailed)']]),
        appReachability: new Map([['contoso-kv', { outcome: 'refused', code: 'ForbiddenByFirewall' }]]),
      }),
    );
    const v = report.vaults.find((x) => x.vaultName === 'contoso-kv');
    expect(v?.risk).toBe('critical');
    expect(v?.checks.find((c) => c.name === 'appReachable')?.status).toBe('failing');
  });

  it('the status page shows the fix next to the reason', () => {
    const report = buildPosture(
      input({
        appReachability: new Map([['contoso-kv', { outcome: 'refused', code: 'ForbiddenByFirewall' }]]),
      }),
    );
    const row = failingVaultChecks(report).find((r) => r.check === 'appReachable');
    expect(row).toMatchObject({ vault: 'contoso-kv', status: 'failing' });
    expect(row?.reason).toMatch(/cannot reach vault contoso-kv.*\. Fix: .*private endpoint/);
  });

  it('a closed vault the app reached (privately) passes', () => {
    const report = buildPosture(
      input({ appReachability: new Map([['contoso-kv', { outcome: 'reached' }]]) }),
    );
    const v = report.vaults.find((x) => x.vaultName === 'contoso-kv');
    expect(v?.checks.find((c) => c.name === 'appReachable')?.status).toBe('ok');
    expect(v?.risk).not.toBe('critical');
  });
});

describe('diagnosis of an unreachable vault', () => {
  it.each(['ForbiddenByFirewall', 'VaultUnreachable'])(
    '%s: the network, never a permission to grant',
    (code) => {
      expect(isVaultUnreachable(code)).toBe(true);
      const d = diagnose(code, { vaultName: 'contoso-kv', keyName: 'pg-cmk' });
      expect(d.what).toMatch(/cannot reach vault contoso-kv over the network/);
      expect(d.nextStep).toMatch(/private endpoint/);
      expect(d.nextStep).not.toMatch(/Grant|Crypto Service Encryption User/);
    },
  );

  it('a missing permission is still diagnosed as one', () => {
    expect(isVaultUnreachable('Forbidden')).toBe(false);
    expect(diagnose('AzureKeyVaultMissingPermissions', { vaultName: 'v', keyName: 'k' }).nextStep).toMatch(
      /Grant/,
    );
  });
});
