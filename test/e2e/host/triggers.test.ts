import { waitFor } from '../../support/localAzure';
import { call, startHost, type HostProcess } from '../../support/hostProcess';

const event = (id: string, subject = 'pg-cmk') => ({
  id,
  topic:
    '/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/contoso-pg-kv',
  subject,
  eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
  eventTime: '2026-11-24T00:00:00Z',
  data: { Id: 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/a0b1c2d3e4f5061728394a5b6c7d8e9f' },
  dataVersion: '1',
  metadataVersion: '1',
});

describe('the local Functions host serves the app as Azure would', () => {
  let host: HostProcess;
  const eg = (query: string) => `${host.url}/runtime/webhooks/eventgrid?functionName=onEvent${query}`;

  beforeAll(async () => {
    host = await startHost();
  });
  afterAll(async () => {
    await host.stop();
  });

  describe('Event Grid trigger webhook', () => {
    it.each([
      ['no key', ''],
      ['a wrong key', '&code=not-the-key'],
      ['a function key instead of the system key', 'FUNCTION_KEY'],
    ])('refuses %s with 401 and invokes nothing', async (_name, query) => {
      const before = host.records('event').length;
      const q = query === 'FUNCTION_KEY' ? `&code=${host.functionKey}` : query;
      const res = await call('POST', eg(q), [event('e-unauth')], { 'aeg-event-type': 'Notification' });
      expect(res.status).toBe(401);
      expect(host.records('event')).toHaveLength(before);
    });

    it('answers the subscription validation handshake', async () => {
      const res = await call(
        'POST',
        eg(`&code=${host.eventGridSystemKey}`),
        [
          {
            id: 'v',
            eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
            data: { validationCode: 'ABC-123' },
          },
        ],
        {
          'aeg-event-type': 'SubscriptionValidation',
        },
      );
      expect(res.status).toBe(200);
      expect(res.json()).toEqual({ validationResponse: 'ABC-123' });
    });

    it('answers the CloudEvents OPTIONS handshake', async () => {
      const res = await fetch(eg(`&code=${host.eventGridSystemKey}`), {
        method: 'OPTIONS',
        headers: { 'webhook-request-origin': 'eventgrid.azure.net' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
    });

    it('invokes the function once per event of a batch of 3, then answers 200', async () => {
      const res = await call(
        'POST',
        eg(`&code=${host.eventGridSystemKey}`),
        [event('b1'), event('b2'), event('b3')],
        { 'aeg-event-type': 'Notification' },
      );
      expect(res.status).toBe(200);
      expect(
        host
          .records('event')
          .map((r) => (r.value as { id: string }).id)
          .filter((id) => id.startsWith('b')),
      ).toEqual(['b1', 'b2', 'b3']);
    });

    it('accepts a key in the x-functions-key header and a single CloudEvent', async () => {
      const cloudEvent = {
        specversion: '1.0',
        id: 'ce1',
        source: '/subscriptions/x',
        type: 'Microsoft.KeyVault.KeyExpired',
        subject: 'pg-cmk',
        data: {},
      };
      const res = await call('POST', eg(''), cloudEvent, { 'x-functions-key': host.eventGridSystemKey });
      expect(res.status).toBe(200);
      expect(host.records('event').some((r) => (r.value as { id: string }).id === 'ce1')).toBe(true);
    });

    it('answers malformed JSON with 400 and invokes nothing', async () => {
      const before = host.records('event').length;
      const res = await call('POST', eg(`&code=${host.eventGridSystemKey}`), '[{"id": "broken"', {
        'aeg-event-type': 'Notification',
      });
      expect(res.status).toBe(400);
      expect(host.records('event')).toHaveLength(before);
    });

    it('answers 5xx when the handler throws, so Event Grid retries', async () => {
      const res = await call('POST', eg(`&code=${host.eventGridSystemKey}`), [event('f1', 'fail')], {
        'aeg-event-type': 'Notification',
      });
      expect(res.status).toBeGreaterThanOrEqual(500);
    });

    it('answers 404 for a function that is not an Event Grid trigger', async () => {
      const res = await call(
        'POST',
        `${host.url}/runtime/webhooks/eventgrid?functionName=ping&code=${host.eventGridSystemKey}`,
        [event('x')],
      );
      expect(res.status).toBe(404);
    });
  });

  describe('HTTP triggers', () => {
    it.each([
      ['anonymous', 'GET', '/api/ping?q=7', {}, 200],
      ['function level without a key', 'POST', '/api/orchestrators/fanOut', {}, 401],
      ['function level with the function key as code', 'POST', '/api/orchestrators/fanOut?code=FK', {}, 202],
      [
        'function level with the master key in the header',
        'POST',
        '/api/orchestrators/fanOut',
        { 'x-functions-key': 'MK' },
        202,
      ],
      ['admin level with the function key', 'GET', '/api/admin-only?code=FK', {}, 401],
      ['admin level with the master key', 'GET', '/api/admin-only?code=MK', {}, 200],
      ['a method the route does not allow', 'DELETE', '/api/ping', {}, 405],
      ['an unknown route', 'GET', '/api/nope', {}, 404],
    ])('%s: %s %s -> %s', async (_name, method, path, headers, status) => {
      // One pass: a random key (40 base64url characters) may itself contain "MK" (about 1 run in 100),
      // and a second replace would corrupt it (a 401 in CI).
      const fill = (s: string) =>
        s.replace(/FK|MK/g, (token) => (token === 'FK' ? host.functionKey : host.masterKey));
      const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, fill(v)]));
      const res = await call(method, `${host.url}${fill(path)}`, method === 'POST' ? 1 : undefined, h);
      expect(res.status).toBe(status);
    });

    it('passes route params, query and body, and returns the handler response', async () => {
      const res = await call('GET', `${host.url}/api/ping?q=hello`);
      expect(res.json()).toEqual({ pong: 'hello' });
    });
  });

  describe('timer trigger', () => {
    it('runs on startup, then on its six-field NCRONTAB schedule', async () => {
      const ticks = await waitFor('3 ticks', () => {
        const t = host.records('tick');
        return t.length >= 3 ? t : undefined;
      });
      expect(ticks[0]?.value).toEqual({ isPastDue: false });
    });

    it('never fires a timer its app setting AzureWebJobs.<name>.Disabled turns off; the master key still runs it', async () => {
      const off = await startHost({ env: { 'AzureWebJobs.tick.Disabled': 'True' } });
      try {
        // The schedule fires every 2 s and on startup: 5 s without a tick is 3 missed occurrences.
        await new Promise((r) => setTimeout(r, 5_000));
        expect(off.records('tick')).toEqual([]);
        expect(off.logs()).toContain("timer 'tick' is disabled (AzureWebJobs.tick.Disabled): not scheduled");
        expect((await call('POST', `${off.url}/admin/functions/tick`, {})).status).toBe(401);
        const run = await call('POST', `${off.url}/admin/functions/tick?code=${off.masterKey}`, {});
        expect(run.status).toBe(202);
        await waitFor('the tick the admin API ran', () => off.records('tick')[0]);
      } finally {
        await off.stop();
      }
    });
  });

  it('logs one timestamped line per invocation with the function name', () => {
    expect(host.logs()).toMatch(
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[host\] Executed 'Functions\.startOrchestration' \(Succeeded, Id=[0-9a-f-]+, Duration=\d+ms\)$/m,
    );
    expect(host.logs()).toMatch(/Executed 'Functions\.onEvent' \(Failed/);
    // Every host line carries its time.
    expect(
      host
        .logs()
        .split('\n')
        .filter((l) => l.includes('[host]') && !/^\[\d{4}-/.test(l)),
    ).toEqual([]);
  });

  it('does not log reads (a status page or CLI polling) as executions, only when they fail', () => {
    expect(host.logs()).not.toMatch(/Execut\w+ 'Functions\.ping'/);
  });

  it('prints the routes with their URLs before the READY line', () => {
    const logs = host.logs();
    const routes = logs.indexOf('Routes (the HTTP triggers take the function key');
    expect(routes).toBeGreaterThanOrEqual(0);
    expect(routes).toBeLessThan(logs.indexOf('READY '));
    expect(logs).toMatch(
      new RegExp(`^  POST +${host.url}/api/orchestrators/\\{name\\}/\\{id\\?\\} +startOrchestration$`, 'm'),
    );
    expect(logs).toMatch(new RegExp(`^  GET +${host.url}/api/ping +ping$`, 'm'));
  });
});
