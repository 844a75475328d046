import { fuzzedBodies, validKeyEvent } from '../support/eventFuzz';
import { waitFor } from '../support/localAzure';
import {
  demoFleet,
  INSTANCE_ID,
  KEY,
  VAULT,
  startProduct,
  type AuditEvent,
  type Product,
} from '../support/product';

/**
 * Issue 23 through the Event Grid webhook of local/host (functions/ as deployed): version-less and
 * repeated events never start a finished rollout again (the broken server is PATCHed once), an event
 * for a key the vault does not have starts nothing and pages nobody, an event over Event Grid's 1 MB
 * is refused, and a junk delivery of 5,000 events is one audit record.
 */
jest.setTimeout(300_000);

/** The demo fleet's server whose identity lacks key grants: its PATCH is accepted, its operation fails. */
const BROKEN = 'pg-reporting';

async function webhook(p: Product): Promise<string> {
  const subs = await p.admin<{ endpoint: string }[]>('eventgrid/subscriptions');
  const endpoint = subs[0]?.endpoint;
  if (endpoint === undefined) throw new Error('the product subscribed no Event Grid trigger');
  return endpoint;
}

async function post(endpoint: string, body: unknown): Promise<number> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

const records = async (p: Product, step: string): Promise<AuditEvent[]> =>
  (await p.audit()).filter((e) => e.name === `CmkRotation.${step}`);

describe('the intake end to end (issue 23)', () => {
  let p: Product;
  let endpoint: string;
  const subscriptionId = demoFleet().vaults?.find((v) => v.name === VAULT)?.subscriptionId ?? '';
  const opts = { vault: VAULT, key: KEY, version: 'ffffffffffffffffffffffffffffffff', subscriptionId };
  beforeAll(async () => {
    p = await startProduct();
    endpoint = await webhook(p);
  });
  afterAll(async () => {
    await p.stop();
  });

  it('summarises a junk delivery of 5,000 events in one EventRejected record (counts per reason, sample ids); nothing starts', async () => {
    const before = (await records(p, 'EventRejected')).length;
    const junk = Array.from({ length: 5_000 }, (_, i) => ({
      ...validKeyEvent('EventGrid', opts),
      id: `junk-${i}`,
      ...(i % 2 === 0 ? { eventTime: 'not a date' } : { eventType: 'Microsoft.Storage.BlobCreated' }),
    }));
    expect(await post(endpoint, junk)).toBe(200);
    const rejected = (await records(p, 'EventRejected')).slice(before);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.properties).toMatchObject({
      'detail.rejected': '5000',
      'detail.byReason': JSON.stringify({ Malformed: 2500, NotAKeyEvent: 2500 }),
      reasonCode: 'Several',
    });
    expect(rejected[0]?.properties['detail.sampleEventIds']?.split(',')).toHaveLength(5);
    expect(await p.instanceIds()).toEqual([]);
  });

  it('refuses an event over Event Grid’s 1 MB (a 3 MB one): audited TooLarge, acknowledged, nothing started', async () => {
    const big = { ...validKeyEvent('EventGrid', opts), id: 'big-1', padding: 'x'.repeat(3 * 1024 * 1024) };
    expect(await post(endpoint, [big])).toBe(200);
    const record = await waitFor('the TooLarge record', async () =>
      (await records(p, 'EventRejected')).find((e) => e.properties['trigger'] === 'event:big-1'),
    );
    expect(record.properties).toMatchObject({ reasonCode: 'TooLarge' });
    expect(record.properties['reason']).toContain('1 MB');
    expect(await p.instanceIds()).toEqual([]);
  });

  it('refuses an event for a key the vault does not have, as the operator API does (404): KeyNotFound, no run, no page', async () => {
    const e = validKeyEvent('EventGrid', { ...opts, key: 'no-such-key' });
    expect(await post(endpoint, [{ ...e, id: 'missing-key-1' }])).toBe(200);
    const record = await waitFor('the KeyNotFound record', async () =>
      (await records(p, 'EventRejected')).find((r) => r.properties['trigger'] === 'event:missing-key-1'),
    );
    expect(record.properties).toMatchObject({
      reasonCode: 'KeyNotFound',
      key: 'no-such-key',
      outcome: 'failure',
    });
    expect(await p.instanceIds()).toEqual([]);
    expect(await p.incidents()).toEqual({});
  });

  it('after a rollout, version-less events, redeliveries of its event and fuzzed variants start nothing: the broken server is PATCHed once', async () => {
    const version = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    await p.completed(version, 120_000);
    const started = await records(p, 'EventReceived');
    expect(started.filter((e) => e.properties['reason'] === 'rotation started')).toHaveLength(1);
    const eventId = started[0]?.properties['trigger']?.slice('event:'.length) ?? '';
    expect((await p.patches(BROKEN)).filter((r) => r.status < 300)).toHaveLength(1);

    const versionless = (id: string) => {
      const e = validKeyEvent(Number(id.slice(-1)) % 2 === 0 ? 'EventGrid' : 'CloudEvents', opts);
      const data = e['data'] as Record<string, unknown>;
      data['Id'] = `https://${VAULT}.vault.azure.net/keys/${KEY}`;
      delete data['Version'];
      return { ...e, id };
    };
    const redelivery = { ...validKeyEvent('EventGrid', { ...opts, version }), id: eventId };
    const bodies: unknown[] = [
      ...Array.from({ length: 30 }, (_, i) => [versionless(`versionless-${i}`)]),
      ...Array.from({ length: 10 }, () => [versionless('versionless-same')]),
      ...Array.from({ length: 5 }, () => [redelivery]),
      ...fuzzedBodies(23, 300, { ...opts, poisoned: false }),
    ];
    // The fuzzed events name a version the vault does not list while the run covers the newest listed
    // one: neither a duplicate nor a new rollout, their deliveries fail (500) for Event Grid to redeliver.
    for (const body of bodies) expect([200, 400, 500]).toContain(await post(endpoint, body));

    const instance = await p.instance();
    expect(instance?.runtimeStatus).toBe('Completed');
    const received = await records(p, 'EventReceived');
    expect(received.filter((e) => e.properties['reason'] === 'rotation started')).toHaveLength(1);
    expect(
      received.filter((e) => e.properties['trigger'] === 'event:versionless-0')[0]?.properties,
    ).toMatchObject({
      outcome: 'skipped',
      toVersion: version,
      'detail.versionFrom': 'KeyVault',
    });
    expect(await p.instanceIds()).toEqual(expect.arrayContaining([INSTANCE_ID]));
    expect((await p.patches(BROKEN)).filter((r) => r.status < 300)).toHaveLength(1);
    const pages = await p.admin<{ events: { eventAction: string; dedupKey: string }[] }>('pages');
    const brokenTriggers = pages.events.filter(
      (e) => e.eventAction === 'trigger' && e.dedupKey.includes(`:server:${BROKEN}:`),
    );
    expect(new Set(brokenTriggers.map((e) => e.dedupKey)).size).toBe(1);
  });
  it('a redelivery of a finished rollout’s event, and a new event naming its version, read nothing from Key Vault: each acknowledged with a skipped record, a burst with one', async () => {
    const version = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    await p.completed(version, 120_000);
    const eventId =
      (await records(p, 'EventReceived'))
        .find((e) => e.properties['reason'] === 'rotation started' && e.properties['toVersion'] === version)
        ?.properties['trigger']?.slice('event:'.length) ?? '';
    expect(eventId).not.toBe('');
    const vaultRequests = async () =>
      (await p.admin<{ service: string }[]>('requests')).filter((r) => r.service === 'keyvault').length;
    const before = await vaultRequests();

    const event = validKeyEvent('EventGrid', { ...opts, version });
    for (let i = 0; i < 5; i++) expect(await post(endpoint, [{ ...event, id: eventId }])).toBe(200);
    for (let i = 0; i < 5; i++)
      expect(await post(endpoint, [{ ...event, id: `same-version-${i}` }])).toBe(200);

    // Before, each delivery listed the key's versions and read the key: 20 requests.
    expect(await vaultRequests()).toBe(before);
    const received = await records(p, 'EventReceived');
    expect(
      received.filter(
        (e) => e.properties['trigger'] === `event:${eventId}` && e.properties['outcome'] === 'skipped',
      ),
    ).toHaveLength(5);
    const sameVersion = received.filter((e) => e.properties['trigger']?.startsWith('event:same-version-'));
    expect(
      sameVersion.map((e) => [e.properties['outcome'], e.properties['toVersion'], e.properties['reason']]),
    ).toEqual(
      Array.from({ length: 5 }, () => [
        'skipped',
        version,
        'the last rotation already handled this version: duplicate ignored',
      ]),
    );
    expect((await p.instance())?.runtimeStatus).toBe('Completed');

    // A burst (Event Grid redelivers several at once): deliveries judged duplicates while the write of
    // the same record is under way (ingestion answering slowly here) join it: one record, not 20.
    await p.admin('faults', { method: 'POST', body: { service: 'ingestion', latencyMs: 1_500 } });
    const burst = [{ ...event, id: 'burst-1' }];
    const statuses = await Promise.all(Array.from({ length: 20 }, () => post(endpoint, burst)));
    await p.admin('faults', { method: 'DELETE' });
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    expect(
      (await records(p, 'EventReceived')).filter((e) => e.properties['trigger'] === 'event:burst-1'),
    ).toEqual([
      expect.objectContaining({
        properties: expect.objectContaining({ outcome: 'skipped', toVersion: version }),
      }),
    ]);
  });
});
