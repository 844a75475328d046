import {
  ApplicationInsightsAuditTrail,
  ingestionTarget,
} from '../../../shared/adapters/applicationInsightsAuditTrail';
import { AuditDeliveryError } from '../../../shared/ports/errors';

describe('where the audit trail is sent, from the connection string', () => {
  it.each([
    [
      'a public-cloud connection string',
      'InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/',
      'https://westeurope-5.in.applicationinsights.azure.com/v2.1/track',
      'https://monitor.azure.com/.default',
    ],
    [
      'a sovereign cloud naming its audience',
      'InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=https://chinaeast2-0.in.applicationinsights.azure.cn/;AADAudience=https://monitor.azure.cn/',
      'https://chinaeast2-0.in.applicationinsights.azure.cn/v2.1/track',
      'https://monitor.azure.cn/.default',
    ],
    [
      'keys in any case and no endpoint (the SDKs default)',
      'instrumentationkey=11111111-2222-3333-4444-555555555555',
      'https://dc.services.visualstudio.com/v2.1/track',
      'https://monitor.azure.com/.default',
    ],
  ])('%s', (_what, connectionString, trackUrl, scope) => {
    expect(ingestionTarget(connectionString)).toEqual({
      instrumentationKey: '11111111-2222-3333-4444-555555555555',
      trackUrl,
      scope,
    });
  });

  it('refuses a connection string without an instrumentation key', () => {
    expect(() => ingestionTarget('IngestionEndpoint=https://x.in.applicationinsights.azure.com/')).toThrow(
      AuditDeliveryError,
    );
  });
});

describe('the envelopes of one write', () => {
  it('are stamped a millisecond apart in the order written, so ordering by time keeps that order', () => {
    const trail = new ApplicationInsightsAuditTrail({
      connectionString: 'InstrumentationKey=11111111-2222-3333-4444-555555555555',
      credential: { getToken: () => Promise.resolve(null) },
    });
    const base = { correlationId: 'cmk-rotation:v:k', trigger: 'event:1', outcome: 'info' } as const;
    const steps = ['ServerUpdateStarted', 'ServerVerified', 'OperatorPaged'] as const;
    const envelopes = trail.envelopes(
      steps.map((step) => ({ ...base, step })),
      new Date('2026-12-05T10:00:00.998Z'),
    );
    expect(envelopes.map((e) => e['time'])).toEqual([
      '2026-12-05T10:00:00.998Z',
      '2026-12-05T10:00:00.999Z',
      '2026-12-05T10:00:01.000Z',
    ]);
  });
});
