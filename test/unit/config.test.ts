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
      allowedVaults: [
        { vaultUrl: 'https://contoso-pg-kv.vault.azure.net', vaultName: 'contoso-pg-kv', kind: 'vault' },
        { vaultUrl: 'https://contoso-geo-kv.vault.azure.net', vaultName: 'contoso-geo-kv', kind: 'vault' },
      ],
      vaultSubscriptions: undefined,
      callerAttribution: 'functionKey',
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
    expect(c.warnings).toEqual([expect.stringContaining('No pager is usable')]);
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
    [
      'a vault URL with a path',
      { CMK_ALLOWED_VAULTS: 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk' },
      'CMK_ALLOWED_VAULTS has',
    ],
    [
      'a vault subscription that is not a UUID',
      { CMK_VAULT_SUBSCRIPTIONS: 'security' },
      'CMK_VAULT_SUBSCRIPTIONS has "security"',
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

  it.each([
    [
      'https URLs of a vault, a Managed HSM and sovereign-cloud vaults, kept as URLs',
      'https://Contoso-KV.vault.azure.net/, https://contoso-hsm.managedhsm.azure.net, https://contoso-kv.vault.azure.cn, https://gov-kv.vault.usgovcloudapi.net:443',
      [
        'https://contoso-kv.vault.azure.net',
        'https://contoso-hsm.managedhsm.azure.net',
        'https://contoso-kv.vault.azure.cn',
        'https://gov-kv.vault.usgovcloudapi.net',
      ],
    ],
    [
      'a bare name (backward compatible: the public cloud host), deduplicated with its URL',
      'contoso-kv;https://contoso-kv.vault.azure.net',
      ['https://contoso-kv.vault.azure.net'],
    ],
  ])('reads CMK_ALLOWED_VAULTS as vault URLs: %s', (_what, value, urls) => {
    expect(loadConfig({ ...base, CMK_ALLOWED_VAULTS: value }).allowedVaults.map((v) => v.vaultUrl)).toEqual(
      urls,
    );
  });

  it('names Managed HSMs as such', () => {
    const c = loadConfig({ ...base, CMK_ALLOWED_VAULTS: 'https://contoso-hsm.managedhsm.azure.net' });
    expect(c.allowedVaults).toEqual([
      { vaultUrl: 'https://contoso-hsm.managedhsm.azure.net', vaultName: 'contoso-hsm', kind: 'managedHsm' },
    ]);
  });

  it('reads the vault subscriptions apart from the server subscriptions', () => {
    const c = loadConfig({ ...base, CMK_VAULT_SUBSCRIPTIONS: '3F9A1C7E-5B2D-4E8F-A1C3-7D9E0B2F4A6C' });
    expect(c.vaultSubscriptions).toEqual(['3f9a1c7e-5b2d-4e8f-a1c3-7d9e0b2f4a6c']);
    expect(c.subscriptions).not.toContain('3f9a1c7e-5b2d-4e8f-a1c3-7d9e0b2f4a6c');
  });

  it.each([
    ['True', 'appServiceAuthentication'],
    ['true', 'appServiceAuthentication'],
    ['False', 'functionKey'],
    [undefined, 'functionKey'],
  ])(
    'attributes operator calls by App Service Authentication only when WEBSITE_AUTH_ENABLED=%s',
    (value, mode) => {
      const env = value === undefined ? base : { ...base, WEBSITE_AUTH_ENABLED: value };
      expect(loadConfig(env).callerAttribution).toBe(mode);
    },
  );

  const REF = '@Microsoft.KeyVault(SecretUri=https://contoso-kv.vault.azure.net/secrets/pd-key/)';
  it.each([
    [
      'an unresolved Key Vault reference for the PagerDuty key',
      { PAGERDUTY_ROUTING_KEY: REF },
      'pagerDuty',
      'PAGERDUTY_ROUTING_KEY is an unresolved Key Vault reference',
    ],
    ['a short PagerDuty key', { PAGERDUTY_ROUTING_KEY: 'abc' }, 'pagerDuty', '32-character'],
    [
      'an unresolved Key Vault reference for the Teams webhook',
      { TEAMS_WEBHOOK_URL: '@Microsoft.KeyVault(VaultName=contoso-kv;SecretName=teams)' },
      'teams',
      'TEAMS_WEBHOOK_URL is an unresolved Key Vault reference',
    ],
    [
      'a webhook without its signing secret',
      { ALERT_WEBHOOK_URL: 'https://hooks.example.com/x', ALERT_WEBHOOK_SECRET: '' },
      'webhook',
      'ALERT_WEBHOOK_SECRET is missing',
    ],
    [
      'an unresolved Key Vault reference for the webhook secret',
      { ALERT_WEBHOOK_URL: 'https://hooks.example.com/x', ALERT_WEBHOOK_SECRET: REF },
      'webhook',
      'ALERT_WEBHOOK_SECRET is an unresolved Key Vault reference',
    ],
  ])(
    'disables only the channel with %s, with a warning; the app still loads',
    (_what, override, channel, reason) => {
      const c = loadConfig({
        ...base,
        PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef0123456789abcde',
        TEAMS_WEBHOOK_URL: SECRET_URL,
        ALERT_WEBHOOK_URL: 'https://hooks.example.com/cmk',
        ALERT_WEBHOOK_SECRET: 's3cret',
        ...override,
      });
      const state = c.pagerChannels.find((x) => x.channel === channel);
      expect(state).toEqual({ channel, state: 'disabled', reason: expect.stringContaining(reason) });
      expect(c.pagers).not.toHaveProperty(channel);
      expect(Object.keys(c.pagers)).toHaveLength(2);
      expect(c.warnings).toEqual([expect.stringContaining(`Pager channel ${channel} is disabled`)]);
      expect(JSON.stringify(c.pagerChannels) + c.warnings.join()).not.toContain('very-secret-token');
      expect(JSON.stringify(c.pagerChannels) + c.warnings.join()).not.toContain('SecretUri');
    },
  );

  it('never echoes a secret webhook URL in its warning', () => {
    const c = loadConfig({ ...base, TEAMS_WEBHOOK_URL: SECRET_URL.replace('https:', 'http:') });
    expect(c.warnings.join()).toContain('TEAMS_WEBHOOK_URL must be an https URL');
    expect(c.warnings.join()).not.toContain('very-secret-token');
    expect(c.pagerChannels).toContainEqual(expect.objectContaining({ channel: 'teams', state: 'disabled' }));
  });
});

describe('loadConfig: the health watch and the links pages carry', () => {
  it('defaults: the watch every minute; pages link nowhere until told where', () => {
    expect(loadConfig(base)).toMatchObject({
      healthWatchSchedule: '0 * * * * *',
      statusPageUrl: undefined,
      runbookBaseUrl: undefined,
    });
  });

  it.each([
    ['every 2 minutes', '0 */2 * * * *'],
    ['every 4 minutes', '0 */4 * * * *'],
    ['every 30 seconds', '*/30 * * * * *'],
  ])('accepts a schedule that pages within 5 minutes: %s', (_name, schedule) => {
    expect(loadConfig({ ...base, CMK_HEALTH_WATCH_SCHEDULE: schedule }).healthWatchSchedule).toBe(schedule);
  });

  it.each([
    [
      'every 5 minutes (a pass may start 5 minutes after the key is lost)',
      '0 */5 * * * *',
      'at least every 4 minutes',
    ],
    ['hourly', '0 0 * * * *', 'wait 60 minutes'],
    ['every minute, but only 9 to 5', '0 * 9-16 * * *', 'at least every 4 minutes'],
    ['every minute on weekdays only', '0 * * * * 1-5', 'at least every 4 minutes'],
    ['five fields', '* * * * *', 'six-field NCRONTAB'],
    ['not a cron', '0 * * * * banana', 'six-field NCRONTAB'],
  ])('refuses %s, naming the setting', (_name, schedule, says) => {
    expect(() => loadConfig({ ...base, CMK_HEALTH_WATCH_SCHEDULE: schedule })).toThrow(
      new RegExp(`CMK_HEALTH_WATCH_SCHEDULE .*${says.replace(/[()]/g, '\\$&')}`),
    );
  });

  it('the status page URL: the setting, else the platform host name (WEBSITE_HOSTNAME); the runbook base URL', () => {
    expect(loadConfig({ ...base, WEBSITE_HOSTNAME: 'func-cmk.azurewebsites.net' }).statusPageUrl).toBe(
      'https://func-cmk.azurewebsites.net/api/status',
    );
    const c = loadConfig({
      ...base,
      WEBSITE_HOSTNAME: 'func-cmk.azurewebsites.net',
      CMK_STATUS_PAGE_URL: 'https://ops.contoso.com/cmk/status',
      CMK_RUNBOOK_BASE_URL: 'https://github.com/contoso/pg-cmk-rotator/blob/main/docs/runbook.md',
    });
    expect([c.statusPageUrl, c.runbookBaseUrl]).toEqual([
      'https://ops.contoso.com/cmk/status',
      'https://github.com/contoso/pg-cmk-rotator/blob/main/docs/runbook.md',
    ]);
  });

  it.each([
    ['CMK_STATUS_PAGE_URL', 'http://func.azurewebsites.net/api/status'],
    ['CMK_STATUS_PAGE_URL', 'https://func.azurewebsites.net/api/status?code=secret'],
    ['CMK_RUNBOOK_BASE_URL', 'docs/runbook.md'],
  ])('refuses %s=%s (https, no credentials or query: a link must never carry a key)', (name, value) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(new RegExp(`${name} must be an https URL`));
    expect(() => loadConfig({ ...base, [name]: value })).not.toThrow(/secret/);
  });

  it.each([
    'https://func.azurewebsites.net/api/status#access_token=secret',
    'https://func.azurewebsites.net/api/status#',
  ])('refuses a fragment in CMK_STATUS_PAGE_URL (%s), naming the setting, never echoing it', (value) => {
    const load = () => loadConfig({ ...base, CMK_STATUS_PAGE_URL: value });
    expect(load).toThrow(/CMK_STATUS_PAGE_URL must be an https URL without credentials, query or fragment/);
    expect(load).not.toThrow(/secret|#/);
  });
});
