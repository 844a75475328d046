import {
  causesOf,
  healthIncident,
  isRecovered,
  isUnhealthy,
  type ServerHealth,
} from '../../../shared/domain/healthWatch';
import type { ServerPosture, SlotPosture, VaultCheck, VaultPosture } from '../../../shared/domain/posture';
import { vaultPosture } from '../../support/vaults';

const V = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const URI = `https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/${V}`;
const ID = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a';

function slot(over: Partial<SlotPosture> = {}): SlotPosture {
  return {
    slot: 'primary',
    keyUri: URI,
    vaultName: 'contoso-pg-kv',
    keyName: 'pg-cmk',
    pinnedVersion: V,
    versionless: false,
    effectiveVersion: V,
    expiresOn: '2027-01-01T00:00:00.000Z',
    daysLeft: 30,
    versionEnabled: true,
    keyStatus: 'Invalid',
    identityId:
      '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a',
    access: {
      identityId: undefined,
      principalId: undefined,
      model: 'rbac',
      granted: true,
      reason: 'granted',
    },
    risk: 'critical',
    reasons: [],
    ...over,
  };
}
const posture = (s: SlotPosture): ServerPosture => ({
  serverId: ID,
  serverName: 'pg-a',
  subscriptionId: 's',
  resourceGroup: 'rg',
  location: 'westeurope',
  state: 'Ready',
  replicationRole: undefined,
  ring: 'main',
  slots: [s],
  sameIdentityForGeoBackup: false,
  lastRotations: [],
  risk: 'critical',
  reasons: [],
});
const vault = (checks: VaultCheck[]): VaultPosture => vaultPosture('contoso-pg-kv', { checks });
const health = (
  state: string,
  keyStatus: string | undefined,
  leftAlone?: 'optedOut' | 'held',
): ServerHealth => ({
  serverId: ID,
  serverName: 'pg-a',
  subscriptionId: 's',
  state,
  slots: [{ slot: 'primary', keyUri: URI, keyStatus, identityId: undefined }],
  leftAlone,
});

describe('health watch: causes the posture shows', () => {
  it.each([
    [
      'identity grant missing',
      slot({
        access: {
          identityId: undefined,
          principalId: undefined,
          model: 'rbac',
          granted: false,
          reason: 'no role',
        },
      }),
      [],
      'IdentityGrantMissing',
      /identity id-a may not use pg-cmk\/5f1e/,
    ],
    ['version disabled', slot({ versionEnabled: false }), [], 'KeyVersionDisabled', /is disabled/],
    ['version expired', slot({ daysLeft: -2 }), [], 'KeyVersionExpired', /expired/],
    [
      'version no longer listed (deleted)',
      slot({
        effectiveVersion: undefined,
        versionEnabled: undefined,
        reasons: [`version ${V} is not listed by the vault`],
      }),
      [],
      'KeyVersionNotListed',
      /not listed/,
    ],
    [
      'vault unreachable (firewall without the trusted-services bypass)',
      slot(),
      [
        {
          name: 'networkAccess',
          kind: 'requirement',
          status: 'failing',
          reason: 'servers cannot reach their keys',
        },
      ] as VaultCheck[],
      'VaultUnreachable',
      /unreachable: servers cannot reach/,
    ],
  ])('%s', (_name, s, checks, code, what) => {
    const causes = causesOf(posture(s), [vault(checks)], health('Ready', 'Invalid'));
    expect(causes.map((c) => c.code)).toEqual([code]);
    expect(causes[0]?.what).toMatch(what);
  });

  it('a failing network recommendation (public access open) is not "unreachable"', () => {
    const open: VaultCheck = {
      name: 'networkAccess',
      kind: 'recommendation',
      status: 'failing',
      reason: 'open',
    };
    expect(causesOf(posture(slot()), [vault([open])], health('Ready', 'Invalid'))).toEqual([]);
  });
});

describe('health watch: what pages and what resolves', () => {
  it.each([
    ['Ready, Valid', health('Ready', 'Valid'), false, true],
    ['Ready, Invalid', health('Ready', 'Invalid'), true, false],
    ['Inaccessible, Valid', health('Inaccessible', 'Valid'), true, false],
    ['Updating, Valid', health('Updating', 'Valid'), false, false],
    ['Ready, status not reported', health('Ready', undefined), false, false],
  ])('%s', (_name, h, unhealthy, recovered) => {
    expect(isUnhealthy(h)).toBe(unhealthy);
    expect(isRecovered(h)).toBe(recovered);
  });
});

describe('health watch: the page', () => {
  it("names the cause and Learn's recovery: the same version first, then rotate", () => {
    const { incident } = healthIncident(
      health('Inaccessible', 'Invalid'),
      [{ code: 'KeyVersionDisabled', slot: 'primary', what: `key version pg-cmk/${V} is disabled` }],
      '2026-12-04T10:00:00.000Z',
      'cmk-health-watch',
    );
    expect(incident.summary).toBe(`pg-a is Inaccessible: key version pg-cmk/${V} is disabled`);
    expect(incident.nextStep).toMatch(
      new RegExp(
        `^Restore access to the SAME key version: re-enable pg-cmk/${V} in contoso-pg-kv\\. Wait until pg-a is Ready`,
      ),
    );
    expect(incident.nextStep).toContain(
      'the rotator moves it to the newest version on its next run (sweep, event or POST /api/rotations/contoso-pg-kv/pg-cmk)',
    );
    expect(incident.dedupKey).toMatch(/^cmk-health:pg-a:[0-9a-f]{12}$/);
  });

  it.each([
    [
      'IdentityGrantMissing',
      're-grant the server\'s identity "Key Vault Crypto Service Encryption User" on vault contoso-pg-kv',
    ],
    ['KeyVersionExpired', `extend the expiry date of pg-cmk/${V} in contoso-pg-kv`],
    ['KeyVersionNotListed', `recover pg-cmk/${V} in contoso-pg-kv from soft delete`],
    ['VaultUnreachable', 'let the server reach vault contoso-pg-kv again'],
  ] as const)('%s: the recovery restores access to the same version (%s)', (code, action) => {
    const { incident } = healthIncident(
      health('Ready', 'Invalid'),
      [{ code, slot: 'primary', what: 'w' }],
      'T',
      'c',
    );
    expect(incident.nextStep).toContain(`Restore access to the SAME key version: ${action}`);
  });

  it.each([
    ['optedOut', 'opted out'],
    ['held', 'on hold'],
  ] as const)('a %s server is not "moved by the rotator"', (leftAlone, words) => {
    const { incident } = healthIncident(health('Ready', 'Invalid', leftAlone), [], 'T', 'c');
    expect(incident.nextStep).toContain(`rotate it yourself: it is ${words}, the rotator does not move it`);
    expect(incident.nextStep).not.toContain('the rotator moves it');
    expect(incident.summary).toContain('cause not determined');
  });
});
