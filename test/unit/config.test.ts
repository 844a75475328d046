import { ConfigError, REQUIRED_SETTINGS, loadConfig } from '../../shared/config';

const base = {
  CMK_SUBSCRIPTIONS: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b, B2E4C6A8-1F3D-4B5E-8C7A-9D0E1F2A3B4C',
  CMK_ALLOWED_VAULTS: 'contoso-pg-kv,https://Contoso-Geo-KV.vault.azure.net/',
  APPLICATIONINSIGHTS_CONNECTION_STRING:
    'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
};
const SECRET_URL = 'https://contoso.webhook.office.com/webhookb2/very-secret-token';

describe('loadConfig', () => {
  it('reads the required settings and applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      subscriptions: ['6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b', 'b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c'],
      allowedVaults: ['contoso-pg-kv', 'contoso-geo-kv'],
      discovery: 'resourceGraph',
      maxParallelUpdates: 100,
      canaryTag: 'cmk-rotation-ring',
      optOutTag: 'cmk-rotation-optout',
      minKeyLifetimeDays: 30,
      nearExpiry: { warningDays: 30, criticalDays: 7 },
      autoRotateOnNearExpiry: false,
      managedIdentityClientId: undefined,
      pagers: {},
    });
    expect(c.warnings).toEqual([expect.stringContaining('No pager is configured')]);
  });

  it('reads every optional setting', () => {
    const c = loadConfig({
      ...base,
      CMK_DISCOVERY: 'armList',
      CMK_MAX_PARALLEL_UPDATES: '8',
      CMK_AUTO_ROTATE_ON_NEAR_EXPIRY: 'true',
      CMK_NEAR_EXPIRY_WARNING_DAYS: '21',
      CMK_NEAR_EXPIRY_CRITICAL_DAYS: '3',
      PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef0123456789abcde',
      TEAMS_WEBHOOK_URL: SECRET_URL,
      ALERT_WEBHOOK_URL: 'https://hooks.example.com/cmk',
      ALERT_WEBHOOK_SECRET: 's3cret',
      AZURE_CLIENT_ID: '9e8d7c6b-0001-4000-8000-000000000001',
    });
    expect(c).toMatchObject({
      discovery: 'armList',
      maxParallelUpdates: 8,
      autoRotateOnNearExpiry: true,
      nearExpiry: { warningDays: 21, criticalDays: 3 },
    });
    expect(Object.keys(c.pagers).sort()).toEqual(['pagerDuty', 'teams', 'webhook']);
    expect(c.pagers.pagerDuty?.eventsUrl).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(c.warnings).toEqual([]);
  });

  it.each(REQUIRED_SETTINGS.map((name) => [name]))('fails naming %s when it is missing', (name) => {
    const env = Object.fromEntries(Object.entries(base).filter(([k]) => k !== name));
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(`${name} is missing`);
  });

  it.each([
    [
      'a subscription that is not a UUID',
      { CMK_SUBSCRIPTIONS: 'prod-sub' },
      'CMK_SUBSCRIPTIONS has "prod-sub"',
    ],
    ['a vault that is not a name', { CMK_ALLOWED_VAULTS: 'https://example.com/' }, 'CMK_ALLOWED_VAULTS has'],
    [
      'an unknown discovery mode',
      { CMK_DISCOVERY: 'magic' },
      'CMK_DISCOVERY must be resourceGraph or armList',
    ],
    [
      'a parallelism of zero',
      { CMK_MAX_PARALLEL_UPDATES: '0' },
      'CMK_MAX_PARALLEL_UPDATES must be a whole number from 1 to 500',
    ],
    [
      'a critical threshold above the warning one',
      { CMK_NEAR_EXPIRY_CRITICAL_DAYS: '40' },
      'must not exceed',
    ],
    ['a boolean that is not one', { CMK_AUTO_ROTATE_ON_NEAR_EXPIRY: 'sometimes' }, 'must be true or false'],
    ['a five-field cron', { CMK_SWEEP_SCHEDULE: '0 */6 * * *' }, 'six-field NCRONTAB'],
    ['a short PagerDuty key', { PAGERDUTY_ROUTING_KEY: 'abc' }, '32-character'],
    [
      'a webhook without its signing secret',
      { ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' },
      'ALERT_WEBHOOK_SECRET is missing',
    ],
    [
      'a client id that is not a UUID',
      { AZURE_CLIENT_ID: 'my-identity' },
      'AZURE_CLIENT_ID must be a client id',
    ],
    [
      'a connection string that is not one',
      { APPLICATIONINSIGHTS_CONNECTION_STRING: 'hello' },
      'not an Application Insights connection string',
    ],
  ])('fails on %s, naming the setting', (_name, override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
  });

  it('names every problem in one message', () => {
    expect(() => loadConfig({ CMK_DISCOVERY: 'x' })).toThrow(
      /CMK_SUBSCRIPTIONS is missing; CMK_ALLOWED_VAULTS is missing; CMK_DISCOVERY must be/,
    );
  });

  it('never echoes a secret webhook URL in its error', () => {
    try {
      loadConfig({ ...base, TEAMS_WEBHOOK_URL: SECRET_URL.replace('https:', 'http:') });
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect((e as Error).message).toContain('TEAMS_WEBHOOK_URL must be an https URL');
      expect((e as Error).message).not.toContain('very-secret-token');
    }
  });
});
