import {
  MultiChannelPager,
  PagerDutyChannel,
  SignedWebhookChannel,
  TeamsChannel,
  verifyWebhookSignature,
} from '../../../shared/adapters/pagers';
import type { Incident } from '../../../shared/ports/pager';
import { testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde';
const SECRET = 'webhook-signing-secret';

const incident: Incident = {
  dedupKey: 'cmk/contoso-pg-kv/pg-cmk/a0b1c2d3e4f5061728394a5b6c7d8e9f/pg-f',
  summary: 'Key rotation failed for server pg-f: identity lacks get/wrapKey/unwrapKey on contoso-pg-kv',
  severity: 'error',
  source:
    '/subscriptions/b2e4c6a8-1f3d-4b5e-8c7a-9d0e1f2a3b4c/resourceGroups/rg-b/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-f',
  since: '2026-11-24T07:00:00.000Z',
  deadline: '2027-01-28T07:00:00.000Z',
  nextStep:
    'Grant the server identity the Key Vault Crypto Service Encryption User role on contoso-pg-kv, then re-run the rotation.',
  correlationId: 'rotation-contoso-pg-kv-pg-cmk',
  facts: { vault: 'contoso-pg-kv', key: 'pg-cmk', reasonCode: 'AzureKeyVaultMissingPermissions' },
};

describe('pager adapters against the PagerDuty and webhook stand-ins', () => {
  let h: Harness;
  const opts = () => ({ ca: h.azure.caCertPem, attempts: 3, baseDelayMs: 10 });

  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });
  beforeEach(async () => {
    await h.admin('faults', { method: 'DELETE' });
  });

  it('PagerDuty: triggers once per dedup key and resolves the same incident', async () => {
    const pd = new PagerDutyChannel(ROUTING_KEY, `${h.azure.url}/v2/enqueue`, opts());
    expect(await pd.trigger(incident)).toEqual({ channel: 'pagerduty', ok: true });
    expect(await pd.trigger(incident)).toEqual({ channel: 'pagerduty', ok: true });
    let pages = await h.admin<{
      events: { eventAction: string; payload?: Record<string, unknown> }[];
      incidents: Record<string, { status: string; severity: string }>;
    }>('pages');
    expect(Object.keys(pages.incidents)).toEqual([incident.dedupKey]);
    expect(pages.incidents[incident.dedupKey]).toMatchObject({ status: 'triggered', severity: 'error' });
    expect(pages.events[0]?.payload).toMatchObject({
      summary: incident.summary,
      source: incident.source,
      custom_details: expect.objectContaining({
        'Next step': incident.nextStep,
        'Deadline (key expiry)': incident.deadline,
      }),
    });
    expect(await pd.resolve(incident.dedupKey)).toEqual({ channel: 'pagerduty', ok: true });
    pages = await h.admin('pages');
    expect(pages.incidents[incident.dedupKey]?.status).toBe('resolved');
  });

  it('PagerDuty: retries a 5xx and succeeds; a 400 is final and reported without the routing key', async () => {
    await h.admin('faults', { method: 'POST', body: { service: 'pagerduty', status: 503, count: 2 } });
    const pd = new PagerDutyChannel(ROUTING_KEY, `${h.azure.url}/v2/enqueue`, opts());
    expect(await pd.trigger({ ...incident, dedupKey: 'retry-me' })).toEqual({
      channel: 'pagerduty',
      ok: true,
    });
    const bad = new PagerDutyChannel('short', `${h.azure.url}/v2/enqueue`, opts());
    const result = await bad.trigger(incident);
    expect(result).toEqual({ channel: 'pagerduty', ok: false, reason: 'HTTP 400' });
  });

  it('Teams: posts an Adaptive Card with the facts an operator needs', async () => {
    const teams = new TeamsChannel(`${h.azure.url}/hooks/teams`, opts());
    expect((await teams.trigger(incident)).ok).toBe(true);
    const hooks = await h.admin<
      {
        name: string;
        body: {
          attachments: {
            contentType: string;
            content: {
              body: { type: string; text?: string; facts?: { title: string; value: string }[] }[];
            };
          }[];
        };
      }[]
    >('webhooks');
    const card = hooks.find((x) => x.name === 'teams')?.body.attachments[0];
    expect(card?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(card?.content.body[0]?.text).toBe(`[ERROR] ${incident.summary}`);
    expect(card?.content.body[1]?.facts?.map((f) => f.title)).toEqual(
      expect.arrayContaining([
        'What',
        'Where',
        'Since',
        'Deadline (key expiry)',
        'Next step',
        'Correlation id',
      ]),
    );
  });

  it('generic webhook: signs the body with HMAC-SHA256 over timestamp and body', async () => {
    const hook = new SignedWebhookChannel(`${h.azure.url}/hooks/generic`, SECRET, opts());
    expect((await hook.trigger(incident)).ok).toBe(true);
    const hooks =
      await h.admin<{ name: string; headers: Record<string, string>; body: unknown }[]>('webhooks');
    const got = hooks.find((x) => x.name === 'generic');
    const body = JSON.stringify(got?.body);
    expect(got?.body).toMatchObject({ action: 'trigger', dedupKey: incident.dedupKey });
    expect(
      verifyWebhookSignature(
        SECRET,
        got?.headers['x-cmk-timestamp'] ?? '',
        body,
        got?.headers['x-cmk-signature'] ?? '',
      ),
    ).toBe(true);
    expect(
      verifyWebhookSignature(
        'wrong',
        got?.headers['x-cmk-timestamp'] ?? '',
        body,
        got?.headers['x-cmk-signature'] ?? '',
      ),
    ).toBe(false);
  });

  it('every channel is tried: one failing does not stop the others', async () => {
    await h.admin('faults', { method: 'POST', body: { service: 'pagerduty', status: 500 } });
    const pager = new MultiChannelPager([
      new PagerDutyChannel(ROUTING_KEY, `${h.azure.url}/v2/enqueue`, opts()),
      new TeamsChannel(`${h.azure.url}/hooks/teams`, opts()),
    ]);
    expect(await pager.trigger(incident)).toEqual([
      { channel: 'pagerduty', ok: false, reason: 'HTTP 500 after 3 attempts' },
      { channel: 'teams', ok: true },
    ]);
  });
});

describe('pages that link: the runbook section for the incident class and the status page', () => {
  let h: Harness;
  const opts = () => ({ ca: h.azure.caCertPem, attempts: 3, baseDelayMs: 10 });
  const RUNBOOK = 'https://github.com/contoso/pg-cmk-rotator/blob/main/docs/runbook.md';
  const STATUS = 'https://func-cmk.azurewebsites.net/api/status';
  beforeAll(async () => {
    h = await startHarness(testFleet().fleet);
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it.each([
    [
      'a health watch page',
      { dedupKey: 'cmk-health:pg-f:0123456789ab', facts: { reasonCode: 'IdentityGrantMissing' } },
      'a-server-lost-its-key-health-watch',
    ],
    [
      'an expired key',
      { dedupKey: 'cmk:kv:k:v:expiry:critical', facts: { reasonCode: 'KeyExpired' } },
      'recovering-an-inaccessible-server',
    ],
    [
      'a server Inaccessible in a rollover',
      { dedupKey: 'cmk:kv:k:v:server:x', facts: { reasonCode: 'ServerInaccessible' } },
      'recovering-an-inaccessible-server',
    ],
    [
      'a key near expiry',
      { dedupKey: 'cmk:kv:k:v:expiry:warning', facts: { reasonCode: 'KeyNearExpiry' } },
      'a-key-version-expires-soon',
    ],
    [
      'any other failure',
      { dedupKey: 'cmk:kv:k:v:server:y', facts: { reasonCode: 'AzureKeyVaultMissingPermissions' } },
      'what-each-page-means-and-the-next-step',
    ],
  ])(
    '%s: PagerDuty links + client_url, a Teams card action, the webhook body',
    async (_name, over, section) => {
      const i: Incident = { ...incident, ...over };
      const pager = new MultiChannelPager(
        [
          new PagerDutyChannel(ROUTING_KEY, `${h.azure.url}/v2/enqueue`, opts()),
          new TeamsChannel(`${h.azure.url}/hooks/teams`, opts()),
          new SignedWebhookChannel(`${h.azure.url}/hooks/generic`, SECRET, opts()),
        ],
        { statusPageUrl: STATUS, runbookBaseUrl: RUNBOOK },
      );
      expect((await pager.trigger(i)).every((o) => o.ok)).toBe(true);
      const expected = [
        { href: `${RUNBOOK}#${section}`, text: expect.stringContaining('Runbook') as unknown },
        { href: STATUS, text: 'CMK rotation status page' },
      ];
      const pages = await h.admin<{ events: { dedupKey: string; links?: unknown; clientUrl?: string }[] }>(
        'pages',
      );
      const pd = pages.events.filter((e) => e.dedupKey === i.dedupKey).pop();
      expect(pd).toMatchObject({ links: expected, clientUrl: STATUS });
      const hooks = await h.admin<{ name: string; body: unknown }[]>('webhooks');
      const card = (
        hooks.filter((x) => x.name === 'teams').pop()?.body as {
          attachments: { content: { actions?: { type: string; url: string }[] } }[];
        }
      ).attachments[0]?.content;
      expect(card?.actions?.map((a) => [a.type, a.url])).toEqual([
        ['Action.OpenUrl', `${RUNBOOK}#${section}`],
        ['Action.OpenUrl', STATUS],
      ]);
      const generic = hooks.filter((x) => x.name === 'generic').pop()?.body as {
        dedupKey: string;
        links: unknown;
      };
      expect(generic).toMatchObject({ dedupKey: i.dedupKey, links: expected });
    },
  );

  it('without the settings a page carries no links (nothing made up)', async () => {
    const pager = new MultiChannelPager([
      new PagerDutyChannel(ROUTING_KEY, `${h.azure.url}/v2/enqueue`, opts()),
    ]);
    const i = { ...incident, dedupKey: 'cmk:no-links' };
    await pager.trigger(i);
    const pages = await h.admin<{ events: { dedupKey: string; links?: unknown; clientUrl?: string }[] }>(
      'pages',
    );
    const pd = pages.events.find((e) => e.dedupKey === i.dedupKey);
    expect(pd?.links).toBeUndefined();
    expect(pd?.clientUrl).toBeUndefined();
  });
});
