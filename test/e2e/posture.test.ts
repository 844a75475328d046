import type { PostureReport, ServerPosture, VaultPosture } from '../../shared/domain/posture';
import { waitFor } from '../support/localAzure';
import { startProduct, type Product } from '../support/product';

const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const GEO = 'contoso-pg-geo-kv';
const MAIN = 'contoso-pg-kv';

jest.setTimeout(120_000);

/**
 * `GET /api/posture` through local/host on the demo fleet: a vault without purge protection
 * (contoso-pg-kv), a geo-backup vault in the wrong region on the access-policy model (contoso-pg-geo-kv
 * in uksouth; pg-billing-prod backs up from West Europe to North Europe), and an identity without the
 * role (id-pg-reporting). Every check is reported, each with its reason.
 */
describe('fleet posture end to end on the demo fleet', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  async function posture(product: Product): Promise<{ status: number; body: PostureReport }> {
    const res = await fetch(`${product.hostUrl}/api/posture?code=${product.functionKey}`);
    return { status: res.status, body: (await res.json()) as PostureReport };
  }

  it('reports every vault check, identity access, versions and risk on the demo fleet', async () => {
    p = await startProduct();
    const unauthenticated = await fetch(`${p.hostUrl}/api/posture`);
    expect(unauthenticated.status).toBe(401);

    const { status, body } = await posture(p);
    expect(status).toBe(200);
    expect(body.schemaVersion).toBe(1);
    expect(body.errors).toEqual([]);
    const vault = (name: string): VaultPosture | undefined => body.vaults.find((v) => v.vaultName === name);
    const check = (v: string, name: string) => vault(v)?.checks.find((c) => c.name === name);

    // Every named check on both vaults.
    for (const v of [MAIN, GEO])
      expect(
        vault(v)
          ?.checks.map((c) => c.name)
          .sort(),
      ).toEqual(
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
    // contoso-pg-kv refuses public access; the demo app reaches it through its private endpoint.
    expect(check(MAIN, 'appReachable')).toMatchObject({
      status: 'ok',
      reason: expect.stringMatching(/private endpoint/) as string,
    });
    expect(check(MAIN, 'purgeProtection')).toMatchObject({ status: 'failing', kind: 'requirement' });
    expect(check(MAIN, 'softDelete')?.status).toBe('ok');
    expect(check(MAIN, 'retentionDays')?.status).toBe('ok');
    expect(check(MAIN, 'sameTenant')?.status).toBe('ok');
    expect(check(MAIN, 'sameRegion')?.status).toBe('ok');
    expect(check(MAIN, 'networkAccess')).toMatchObject({
      status: 'ok',
      reason: expect.stringMatching(/trusted Microsoft services/) as string,
    });
    expect(check(MAIN, 'permissionModel')).toMatchObject({
      status: 'ok',
      reason: expect.stringMatching(/RBAC/) as string,
    });
    expect(vault(MAIN)?.risk).toBe('critical');

    expect(check(GEO, 'sameRegion')).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(
        /pg-billing-prod \(geo-backup\) backs up to northeurope, the vault is in uksouth/,
      ) as string,
    });
    expect(check(GEO, 'permissionModel')).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(/access-policy/) as string,
    });
    expect(check(GEO, 'retentionDays')).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(/30 days/) as string,
    });
    expect(check(GEO, 'networkAccess')).toMatchObject({
      status: 'failing',
      reason: expect.stringMatching(/open to all networks/) as string,
    });
    expect(check(GEO, 'purgeProtection')?.status).toBe('ok');

    // Identities: the reporting identity lacks the role; the geo identity is granted by access policy.
    const server = (name: string): ServerPosture | undefined =>
      body.servers.find((s) => s.serverName === name);
    const reporting = server('pg-reporting');
    expect(reporting?.risk).toBe('critical');
    expect(reporting?.slots[0]?.access).toMatchObject({
      model: 'rbac',
      granted: false,
      reason: expect.stringMatching(/lacks "Key Vault Crypto Service Encryption User"/) as string,
    });
    expect(vault(MAIN)?.identities.find((i) => i.identityId?.endsWith('/id-pg-reporting'))?.granted).toBe(
      false,
    );
    const billing = server('pg-billing-prod');
    expect(billing?.slots.map((s) => s.slot)).toEqual(['primary', 'geoBackup']);
    expect(billing?.slots[1]?.access).toMatchObject({ model: 'accessPolicies', granted: true });
    expect(billing?.sameIdentityForGeoBackup).toBe(false);

    // Versions, rings, versionless, sorting: critical first.
    expect(server('pg-analytics')?.slots[0]).toMatchObject({ versionless: true, effectiveVersion: V2 });
    expect(server('pg-legacy-erp')?.ring).toBe('optedOut');
    expect(server('pg-orders-prod')?.ring).toBe('canary');
    expect(server('pg-orders-prod')?.slots[0]?.daysLeft).toBe(64);
    expect(body.servers[0]?.risk).toBe('critical');

    const key = body.keys.find((k) => k.vaultName === MAIN && k.keyName === 'pg-cmk');
    expect(key?.currentVersion).toBe(V2);
    expect(key?.safeToDisable).toEqual([]); // V1 pinned; V2 current
    expect(key?.nextExpiry?.daysLeft).toBe(64);
    expect(key?.rotationPolicy?.summary).toBe('notifies P30D before expiry; new versions expire after P1Y');
    expect(body.summary.nextExpiry).toMatchObject({ vaultName: MAIN, keyName: 'pg-cmk', daysLeft: 64 });
  });

  it('each sweep records one PostureSnapshot per server in the audit trail', async () => {
    p = await startProduct({ env: { CMK_SWEEP_SCHEDULE: '*/5 * * * * *' } });
    const product = p;
    const snapshots = await waitFor(
      'PostureSnapshot events',
      async () => {
        const events = (await product.audit()).filter((e) => e.name === 'CmkRotation.PostureSnapshot');
        return events.length >= 6 ? events : undefined;
      },
      60_000,
    );
    const first = snapshots.filter((e) => e.properties['trigger'] === snapshots[0]?.properties['trigger']);
    // Every CMK server of the demo fleet (exampleserver2 uses a service-managed key: not in posture).
    expect(first.map((e) => e.properties['serverId']?.split('/').pop()).sort()).toEqual([
      'pg-analytics',
      'pg-billing-prod',
      'pg-inventory-prod',
      'pg-legacy-erp',
      'pg-orders-prod',
      'pg-reporting',
    ]);
    const reporting = first.find((e) => e.properties['serverId']?.endsWith('/pg-reporting'));
    expect(reporting?.properties).toMatchObject({
      reasonCode: 'critical',
      'detail.primary.access': 'denied',
      'detail.primary.version': '5f1e2d3c4b5a69788796a5b4c3d2e1f0',
    });
    expect(reporting?.properties['detail.primary.daysLeft']).toMatch(/^\d+$/);
  });
});
