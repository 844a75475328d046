import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ApplicationInsightsAuditTrail } from '../../../shared/adapters/applicationInsightsAuditTrail';
import { auditId, type AuditRecord } from '../../../shared/domain/audit';
import { AuditDeliveryError } from '../../../shared/ports/errors';
import { LocalTokenCredential } from '../../../local/azure/credential';
import { testFleet } from '../../support/fleet';
import { httpsJson } from '../../support/https';
import { APP_PRINCIPAL, startHarness, type Harness } from '../../support/localAzure';

const IKEY = '11111111-2222-3333-4444-555555555555';

interface Envelope {
  name: string;
  iKey: string;
  data: {
    baseType: string;
    baseData: { name: string; properties: Record<string, string>; measurements?: Record<string, number> };
  };
}

const records: AuditRecord[] = [
  {
    step: 'PlanComputed',
    correlationId: 'c1',
    trigger: 'event:e1',
    outcome: 'info',
    vault: 'contoso-pg-kv',
    key: 'pg-cmk',
    toVersion: 'a0b1c2d3e4f5061728394a5b6c7d8e9f',
  },
  {
    step: 'ServerFailed',
    correlationId: 'c1',
    trigger: 'event:e1',
    outcome: 'failure',
    serverId: '/subscriptions/x/pg-f',
    reasonCode: 'AzureKeyVaultMissingPermissions',
    durationMs: 3100,
  },
];

/** A credential that has no token to give (a managed identity without a token endpoint). */
const noToken: TokenCredential = {
  getToken: (): Promise<AccessToken | null> => Promise.resolve(null),
};

describe('the audit trail to the Entra-only ingestion stand-in (local auth disabled)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });
  afterEach(async () => {
    await h.admin('faults', { method: 'DELETE' });
  });

  const trail = (credential: TokenCredential = h.credential) =>
    new ApplicationInsightsAuditTrail({
      connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${h.azure.url}/`,
      credential,
      clientOptions: h.clientOptions,
    });
  const received = async () =>
    (await h.admin<{ envelope: Envelope }[]>('telemetry'))
      .map((i) => i.envelope)
      .filter((e) => e.data.baseType === 'EventData');
  const failure = async (p: Promise<void>): Promise<AuditDeliveryError> => {
    const e: unknown = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    if (!(e instanceof AuditDeliveryError)) throw new Error(`expected AuditDeliveryError, got ${String(e)}`);
    return e;
  };

  it('sends each record as a custom event (EventData) with its auditId, authenticated for the Monitor audience', async () => {
    const before = (await received()).length;
    await trail().record(records);
    const events = (await received()).slice(before);
    expect(events.map((e) => [e.name, e.data.baseData.name])).toEqual([
      ['Microsoft.ApplicationInsights.Event', 'CmkRotation.PlanComputed'],
      ['Microsoft.ApplicationInsights.Event', 'CmkRotation.ServerFailed'],
    ]);
    expect(events[1]?.iKey).toBe(IKEY);
    expect(events[1]?.data.baseData.properties).toMatchObject({
      auditId: auditId(records[1] as AuditRecord),
      reasonCode: 'AzureKeyVaultMissingPermissions',
      outcome: 'failure',
    });
    expect(events[1]?.data.baseData.measurements).toEqual({ durationMs: 3100 });
  });

  it('fails without sending when the credential has no token to give', async () => {
    const before = (await received()).length;
    const e = await failure(trail(noToken).record(records));
    expect(e.code).toBe('AuditNotDelivered');
    expect((await received()).length).toBe(before);
  });

  it('is refused with 401 for a token of another audience, and says so (nothing stored)', async () => {
    const vaultToken: TokenCredential = {
      getToken: () =>
        new LocalTokenCredential(APP_PRINCIPAL, h.azure.tenantId).getToken(
          'https://vault.azure.net/.default',
        ),
    };
    const before = (await received()).length;
    const e = await failure(trail(vaultToken).record(records));
    expect(e.statusCode).toBe(401);
    expect(e.retryable).toBe(true);
    expect((await received()).length).toBe(before);
  });

  it.each([
    ['no Authorization header', 401, undefined],
    ['a token for another audience', 401, 'https://management.azure.com/.default'],
    ['a Monitor token', 200, 'https://monitor.azure.com/.default'],
  ])('the stand-in answers a raw track call with %s: HTTP %i', async (_what, status, scope) => {
    const envelope = trail().envelopes([records[0] as AuditRecord]);
    const token =
      scope === undefined
        ? undefined
        : (await new LocalTokenCredential(APP_PRINCIPAL, h.azure.tenantId).getToken(scope)).token;
    const res = await httpsJson(`${h.azure.url}/v2.1/track`, {
      method: 'POST',
      body: envelope,
      ca: h.azure.caCertPem,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ itemsAccepted: status === 200 ? 1 : 0 });
  });

  it.each([
    [503, true],
    [500, true],
    [400, false],
  ])('reports failure when ingestion answers %i (retryable: %s)', async (status, retryable) => {
    await h.admin('faults', { method: 'POST', body: { service: 'ingestion', status } });
    const before = (await received()).length;
    const e = await failure(trail().record(records));
    expect(e.statusCode).toBe(status);
    expect(e.retryable).toBe(retryable);
    expect(e.message).toContain('accepted 0 of 2');
    expect((await received()).length).toBe(before);
  });

  it('reports a partial acceptance (206 with errors) as a failure naming the counts', async () => {
    await h.admin('faults', { method: 'POST', body: { service: 'ingestion', status: 206, count: 1 } });
    const e = await failure(trail().record(records));
    expect(e.statusCode).toBe(206);
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('accepted 1 of 2');
  });

  it('succeeds once ingestion recovers from a transient 503 within the pipeline retries', async () => {
    await h.admin('faults', { method: 'POST', body: { service: 'ingestion', status: 503, count: 1 } });
    const before = (await received()).length;
    await trail().record(records);
    expect((await received()).length).toBe(before + 2);
  });

  it('keeps no offline store: a refused batch is not replayed by a later client', async () => {
    await h.admin('faults', { method: 'POST', body: { service: 'ingestion', status: 503 } });
    await failure(trail().record([records[0] as AuditRecord]));
    await h.admin('faults', { method: 'DELETE' });
    const before = (await received()).length;
    await trail().record([records[1] as AuditRecord]);
    await new Promise((r) => setTimeout(r, 300));
    const after = (await received()).slice(before);
    expect(after.map((e) => e.data.baseData.name)).toEqual(['CmkRotation.ServerFailed']);
  });
});
