import type { KeyInfo, ServerSnapshot } from '../../../shared/domain/model';
import { PlanInputError } from '../../../shared/domain/plan';
import {
  autoRotateDecision,
  backoffSeconds,
  RETRY_POLICIES,
  signalNeedsRun,
} from '../../../shared/rotation/policy';
import { type RotationSettings } from '../../../shared/rotation/contract';
import { isOnTarget, prepareServerUpdate, verifyEncryption } from '../../../shared/domain/serverUpdate';
import { keyInfo, keyVersion } from '../../support/keys';
import { serverSnapshot, userAssigned } from '../../support/servers';

const SUB = '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23';
const VAULT = 'https://contoso-kv.vault.azure.net';
const V1 = '11111111111111111111111111111111';
const V2 = '22222222222222222222222222222222';
const V3 = '33333333333333333333333333333333';
const ID_P = `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-p`;
const uri = (v?: string) => (v === undefined ? `${VAULT}/keys/pg-cmk` : `${VAULT}/keys/pg-cmk/${v}`);

const key: KeyInfo = keyInfo(
  [
    keyVersion(V1, '2026-01-01T00:00:00Z', { vaultUrl: VAULT }),
    keyVersion(V2, '2026-06-01T00:00:00Z', { vaultUrl: VAULT }),
  ],
  { vaultUrl: VAULT, vaultName: 'contoso-kv' },
);

function server(over: Partial<ServerSnapshot> & { primary?: string; status?: string } = {}): ServerSnapshot {
  const { primary = uri(V1), status = 'Valid', ...rest } = over;
  return serverSnapshot('pg-a', {
    subscriptionId: SUB,
    identity: userAssigned({ [ID_P]: undefined }),
    dataEncryption: {
      primaryKeyURI: primary,
      primaryUserAssignedIdentityId: ID_P,
      primaryEncryptionKeyStatus: status,
    },
    ...rest,
  });
}

describe('prepareServerUpdate: what the rollout does with a server as it is now', () => {
  it.each([
    ['Ready on an older version', server(), 'update'],
    ['Ready on the target', server({ primary: uri(V2) }), 'verify'],
    ['versionless', server({ primary: uri() }), 'verify'],
    ['busy with an operation', server({ state: 'Updating' }), 'updating'],
    [
      'busy with our own PATCH, already naming the target',
      server({ state: 'Updating', primary: uri(V2) }),
      'updating',
    ],
    ['Inaccessible (its key version unusable)', server({ state: 'Inaccessible' }), 'inaccessible'],
    ['Stopped', server({ state: 'Stopped' }), 'skip'],
    [
      'opted out, even when Inaccessible',
      server({ state: 'Inaccessible', tags: { 'cmk-rotation-optout': 'true' } }),
      'skip',
    ],
    ['on another key', server({ primary: `${VAULT}/keys/other/${V1}` }), 'skip'],
  ] as const)('%s → %s', (_what, s, kind) => {
    expect(prepareServerUpdate(s, key, V2, 'cmk-rotation-optout').kind).toBe(kind);
  });

  it('an update carries the full PATCH body, the last-known-good snapshot and the URIs to expect', () => {
    const p = prepareServerUpdate(server(), key, V2, 'cmk-rotation-optout');
    expect(p).toMatchObject({
      kind: 'update',
      expected: { primary: uri(V2) },
      from: { primary: uri(V1) },
      snapshot: { dataEncryption: { primaryKeyURI: uri(V1) } },
      patch: {
        properties: { dataEncryption: { primaryKeyURI: uri(V2), primaryUserAssignedIdentityId: ID_P } },
      },
    });
  });

  it('waiting on a busy server expects the target for the slot it would move', () => {
    expect(prepareServerUpdate(server({ state: 'Updating' }), key, V2, 'x')).toEqual({
      kind: 'updating',
      expected: { primary: uri(V2) },
    });
  });

  it('a server without a primary identity cannot be planned: a permanent PlanInputError', () => {
    const s = server();
    const broken = {
      ...s,
      dataEncryption: { ...s.dataEncryption, primaryUserAssignedIdentityId: undefined },
    };
    expect(() => prepareServerUpdate(broken, key, V2, 'x')).toThrow(PlanInputError);
  });
});

describe('isOnTarget: is the server already where the PATCH would put it', () => {
  it.each([
    [uri(V2), { primary: uri(V2) }, true],
    [`https://CONTOSO-KV.vault.azure.net/keys/PG-CMK/${V2.toUpperCase()}`, { primary: uri(V2) }, true],
    [uri(V1), { primary: uri(V2) }, false],
    [uri(), { primary: uri(V2) }, false],
    [uri(V2), {}, false],
  ] as const)('%s vs %j → %s', (primary, expected, on) => {
    expect(isOnTarget(server({ primary }), expected)).toBe(on);
  });
});

describe('verifyEncryption: proof the server works on the expected key', () => {
  it.each([
    ['Ready, Valid, on target', server({ primary: uri(V2) }), { ok: true }],
    [
      'Updating',
      server({ primary: uri(V2), state: 'Updating' }),
      { ok: false, pending: true, updating: true, code: 'VerificationFailed' },
    ],
    [
      'Inaccessible',
      server({ primary: uri(V2), state: 'Inaccessible' }),
      { ok: false, pending: false, code: 'ServerInaccessible' },
    ],
    [
      'on the wrong version',
      server({ primary: uri(V1) }),
      { ok: false, pending: false, code: 'VerificationFailed' },
    ],
    ['status Invalid', server({ primary: uri(V2), status: 'Invalid' }), { ok: false, pending: false }],
    [
      'status not reported yet',
      server({ primary: uri(V2), status: 'Unknown' }),
      { ok: false, pending: true },
    ],
  ] as const)('%s', (_what, s, want) => {
    expect(verifyEncryption(s, { primary: uri(V2) })).toMatchObject(want);
  });

  it('says Updating only of a server in that state (an operation still running on it), never of one that settles', () => {
    const flagged = [
      server({ primary: uri(V2), state: 'Updating' }),
      server({ primary: uri(V2), status: 'Unknown' }),
      server({ primary: uri(V1) }),
      server({ primary: uri(V2), state: 'Inaccessible' }),
    ].map((s) => {
      const v = verifyEncryption(s, { primary: uri(V2) });
      return !v.ok && v.updating === true;
    });
    expect(flagged).toEqual([true, false, false, false]);
  });
});

describe('retry backoff', () => {
  it("doubles from 5 s, capped at 120 s; Azure's Retry-After wins", () => {
    const p = RETRY_POLICIES.read;
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffSeconds(p, a))).toEqual([5, 10, 20, 40, 80, 120, 120]);
    expect(backoffSeconds(p, 1, 17)).toBe(17);
  });
});

describe('autoRotateDecision: at most one automatic rotation per expiring version', () => {
  const settings = (on: boolean): RotationSettings => ({
    maxParallelUpdates: 1,
    canaryTag: 'c',
    optOutTag: 'o',
    minKeyLifetimeDays: 30,
    nearExpiry: { warningDays: 30, criticalDays: 7 },
    autoRotateOnNearExpiry: on,
    pollIntervalSeconds: 10,
    operationTimeoutMinutes: 60,
    maxWriteAttempts: 4,
  });
  const v = (createdOn: string, expiresOn: string) => ({ version: V2, createdOn, expiresOn });
  it.each([
    ['off', v('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), undefined, false, 'off'],
    ['a year-long version', v('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), undefined, true, undefined],
    [
      'already rotated from it',
      v('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'),
      V2,
      true,
      'alreadyRotatedFromIt',
    ],
    [
      'a P28D version with a 30-day window',
      v('2026-11-01T00:00:00Z', '2026-11-29T00:00:00Z'),
      undefined,
      true,
      'bornInsideWarningWindow',
    ],
    [
      'a P30D version with a 30-day window',
      v('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z'),
      undefined,
      true,
      'bornInsideWarningWindow',
    ],
    [
      'a P31D version with a 30-day window',
      v('2026-11-01T00:00:00Z', '2026-12-02T00:00:00Z'),
      undefined,
      true,
      undefined,
    ],
  ] as const)('%s', (_what, latest, from, on, reason) => {
    const d = autoRotateDecision(latest, { autoRotatedFrom: from, settings: settings(on) });
    expect(d).toEqual(reason === undefined ? { rotate: true } : { rotate: false, reason });
  });
});

describe('signalNeedsRun: which signals a finishing run continues as new for', () => {
  const withV3 = {
    ...key,
    versions: [
      ...key.versions,
      { kid: uri(V3), version: V3, enabled: true, createdOn: '2026-11-01T00:00:00Z' },
    ],
  };
  it.each([
    ['an operator request', { trigger: 'operator:a', reason: 'Operator', version: undefined }, true],
    [
      'a redelivery of the handled version',
      { trigger: 'event:1', reason: 'KeyNewVersionCreated', version: V2 },
      false,
    ],
    ['a newer version', { trigger: 'event:2', reason: 'KeyNewVersionCreated', version: V3 }, true],
    ['an older version', { trigger: 'event:3', reason: 'KeyNearExpiry', version: V1 }, false],
    [
      'a version the last read did not list',
      { trigger: 'event:4', reason: 'KeyNewVersionCreated', version: 'f'.repeat(32) },
      true,
    ],
    ['a sweep (covered by this run)', { trigger: 'sweep:t', reason: 'Sweep', version: V2 }, false],
  ] as const)('%s → %s', (_what, signal, needs) => {
    expect(signalNeedsRun(signal, V2, withV3)).toBe(needs);
  });
});
