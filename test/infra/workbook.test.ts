import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_PREFIX, AUDIT_STEPS, toCustomEvent } from '../../shared/domain/audit';
import type { PostureReport, ServerPosture, SlotPosture } from '../../shared/domain/posture';
import { postureSnapshotRecords } from '../../shared/triggers/posture';

const WORKBOOK = readFileSync(join(__dirname, '..', '..', 'infra', 'modules', 'workbook.bicep'), 'utf8');

/** A report with one server on both slots, to learn which custom dimensions a snapshot carries. */
function report(servers: number): PostureReport {
  const slot = (s: 'primary' | 'geoBackup'): SlotPosture => ({
    slot: s,
    keyUri: 'https://kv.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef',
    vaultName: 'kv',
    keyName: 'k',
    pinnedVersion: '0123456789abcdef0123456789abcdef',
    versionless: false,
    effectiveVersion: '0123456789abcdef0123456789abcdef',
    expiresOn: '2027-01-01T00:00:00.000Z',
    daysLeft: 30,
    versionEnabled: true,
    keyStatus: 'Valid',
    identityId:
      '/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i',
    access: { identityId: undefined, principalId: undefined, model: 'rbac', granted: true, reason: 'ok' },
    risk: 'ok',
    reasons: [],
  });
  const server = (i: number): ServerPosture => ({
    serverId: `/subscriptions/s/resourceGroups/r/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-${i}`,
    serverName: `pg-${i}`,
    subscriptionId: 's',
    resourceGroup: 'r',
    location: 'westeurope',
    state: 'Ready',
    replicationRole: 'Primary',
    ring: 'main',
    slots: [slot('primary'), slot('geoBackup')],
    sameIdentityForGeoBackup: false,
    lastRotations: [],
    risk: i === 0 ? 'critical' : 'ok',
    reasons: i === 0 ? ['primary: version expired'] : [],
  });
  return {
    schemaVersion: 1,
    generatedAt: '2026-11-28T00:00:00.000Z',
    settings: { nearExpiryWarningDays: 30, nearExpiryCriticalDays: 7, versionlessPickupHours: 2 },
    summary: {
      servers,
      byRisk: { ok: servers - 1, warning: 0, critical: 1 },
      vaultChecksFailing: 0,
      nextExpiry: undefined,
    },
    servers: Array.from({ length: servers }, (_, i) => server(i)),
    keys: [],
    vaults: [],
    errors: [],
  };
}

describe('the workbook reads what the app writes', () => {
  it('names only audit events the app emits', () => {
    const names = [...WORKBOOK.matchAll(/"(CmkRotation\.\w+)"/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(AUDIT_STEPS.map((s) => `${AUDIT_PREFIX}${s}`)).toContain(n);
  });

  it('reads only the custom dimensions a PostureSnapshot carries (including the truncation record)', () => {
    const events = postureSnapshotRecords(report(3), 'sweep:2026-11-28T00:00:00.000Z', 2).map(toCustomEvent);
    const carried = new Set(events.flatMap((e) => Object.keys(e.properties)));
    const postureQueries = [...WORKBOOK.matchAll(/query: '([^']*)'/g)]
      .map((m) => m[1] ?? '')
      .filter((q) => q.includes('CmkRotation.PostureSnapshot'));
    expect(postureQueries).toHaveLength(3);
    const read = [
      ...postureQueries.join('\n').matchAll(/customDimensions\["([^"]+)"\]|customDimensions\.(\w+)/g),
    ].map((m) => m[1] ?? m[2]);
    expect(read).toEqual(expect.arrayContaining(['detail.primary.daysLeft', 'detail.truncated']));
    for (const dim of read) expect([dim, carried.has(dim ?? '')]).toEqual([dim, true]);
  });

  it('bounds the snapshot: at most the limit per sweep, most at risk first, then one truncation record', () => {
    const records = postureSnapshotRecords(report(5), 'sweep:t', 2);
    expect(records).toHaveLength(3);
    expect(records[0]?.serverId).toMatch(/pg-0$/);
    expect(records[2]).toMatchObject({ reasonCode: 'truncated', details: { truncated: '3', servers: '5' } });
    expect(postureSnapshotRecords(report(2), 'sweep:t', 2)).toHaveLength(2);
  });
});
