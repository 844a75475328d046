import { ApplicationInsightsAuditTrail } from '../../../shared/adapters/applicationInsightsAuditTrail';
import { auditId, type AuditRecord } from '../../../shared/domain/audit';
import { testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';

process.env['APPLICATIONINSIGHTS_STATSBEAT_DISABLED'] = 'true';

describe('the audit trail through the applicationinsights SDK to the ingestion stand-in', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('sends each record as a custom event (EventData) with its auditId', async () => {
    const trail = new ApplicationInsightsAuditTrail(
      `InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=${h.azure.url}/`,
    );
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
    await trail.record(records);
    await trail.shutdown();
    const received = await waitFor('telemetry', async () => {
      const items = await h.admin<
        {
          envelope: {
            iKey: string;
            data: {
              baseType: string;
              baseData: {
                name: string;
                properties: Record<string, string>;
                measurements?: Record<string, number>;
              };
            };
          };
        }[]
      >('telemetry');
      return items.length >= 2 ? items : undefined;
    });
    const events = received.map((i) => i.envelope).filter((e) => e.data.baseType === 'EventData');
    expect(events.map((e) => e.data.baseData.name)).toEqual([
      'CmkRotation.PlanComputed',
      'CmkRotation.ServerFailed',
    ]);
    expect(events[1]?.iKey).toBe('11111111-2222-3333-4444-555555555555');
    expect(events[1]?.data.baseData.properties).toMatchObject({
      auditId: auditId(records[1] as AuditRecord),
      reasonCode: 'AzureKeyVaultMissingPermissions',
      outcome: 'failure',
    });
    expect(events[1]?.data.baseData.measurements).toEqual({ durationMs: 3100 });
  });
});
