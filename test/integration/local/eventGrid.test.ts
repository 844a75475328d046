import { EventGridDeserializer, isSystemEvent } from '@azure/eventgrid';
import { KeyClient } from '@azure/keyvault-keys';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WIRE_NAMES } from '../../../local/azure/eventgrid';
import { KEY, VAULT, VAULT_URL, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';
import { expectValid, readSpec, validatorFor } from '../../support/specs';

// The local Event Grid builds its events as @azure/eventgrid's EventGridEvent<T> / CloudEvent<T> with
// the SDK's Key Vault data types (a shape drift is a compile error there). Here: what it puts on the
// wire is what Azure sends — an envelope the SDK's own deserializer accepts, PascalCase data valid
// against both published Key Vault event schemas.

const SCHEMAS = ['2018-01-01', '2024-01-01'].map((v) => `eventgrid-keyvault-events/${v}/KeyVault.json`);
const sdk = new EventGridDeserializer();

interface Received {
  readonly subscription: string;
  readonly contentType: string;
  readonly text: string;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A webhook that passes Event Grid's validation handshake and records every notification. */
async function receiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    void read(req).then((text) => {
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        const [event] = JSON.parse(text) as { data: { validationCode: string } }[];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ validationResponse: event?.data.validationCode }));
        return;
      }
      received.push({
        subscription: String(req.headers['aeg-subscription-name']),
        contentType: String(req.headers['content-type']),
        text,
      });
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

function definitionOf(type: string): string {
  const short = type.replace(/^Microsoft\.KeyVault\./, '');
  return `KeyVault${short}EventData`;
}

describe('the local Event Grid delivers Key Vault events as Azure does', () => {
  let h: Harness;
  let hook: Awaited<ReturnType<typeof receiver>>;

  beforeEach(async () => {
    h = await startHarness(testFleet().fleet);
    hook = await receiver();
  });
  afterEach(async () => {
    await close(hook.server);
    await h.azure.close();
  });

  it('in both delivery schemas: the SDK reads the envelope, the data is PascalCase and valid against both Key Vault schemas', async () => {
    await h.azure.eventGrid.subscribe({ name: 'eg-schema', endpoint: hook.url, vaults: [VAULT] });
    await h.azure.eventGrid.subscribe({
      name: 'ce-schema',
      endpoint: hook.url,
      vaults: [VAULT],
      eventDeliverySchema: 'CloudEventSchemaV1_0',
    });
    // Past the current version's expiry (near-expiry and expired events), then a new version.
    await h.admin('clock/advance', { method: 'POST', body: { days: 400 } });
    const keys = new KeyClient(VAULT_URL, h.credential, h.clientOptions);
    const rotated = await keys.rotateKey(KEY);
    await waitFor('deliveries in both schemas of three event types', () => {
      const types = new Set(
        hook.received.map((r) => `${r.subscription}:${/"(?:eventType|type)":"([^"]+)"/.exec(r.text)?.[1]}`),
      );
      return types.size >= 6 ? true : undefined;
    });

    const validators = new Map<string, ReturnType<typeof validatorFor>>();
    for (const r of hook.received) {
      const cloud = r.subscription === 'CE-SCHEMA';
      expect(r.contentType).toBe(
        cloud ? 'application/cloudevents+json; charset=utf-8' : 'application/json; charset=utf-8',
      );
      const sent = JSON.parse(r.text) as unknown;
      // Event Grid schema: always an array; CloudEvents structured mode: one event.
      expect(Array.isArray(sent)).toBe(!cloud);
      const [event, ...more] = cloud
        ? await sdk.deserializeCloudEvents(r.text)
        : await sdk.deserializeEventGridEvents(r.text);
      expect(more).toEqual([]);
      if (event === undefined) throw new Error('no event');
      const type = 'eventType' in event ? event.eventType : event.type;
      const keyEvent = (t: 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired') =>
        'eventType' in event
          ? isSystemEvent(`Microsoft.KeyVault.${t}`, event)
          : isSystemEvent(`Microsoft.KeyVault.${t}`, event);
      expect(keyEvent('KeyNewVersionCreated') || keyEvent('KeyNearExpiry') || keyEvent('KeyExpired')).toBe(
        true,
      );

      const data = event.data as Record<string, unknown>;
      for (const spec of SCHEMAS) {
        const key = `${spec}#${type}`;
        const validate = validators.get(key) ?? validatorFor(spec, definitionOf(type));
        validators.set(key, validate);
        expectValid(validate, data);
        const properties = (readSpec(spec) as { definitions: Record<string, { properties: object }> })
          .definitions[definitionOf(type)]?.properties;
        // Nothing beyond the schema's properties (the schema itself does not forbid extras).
        expect(Object.keys(properties ?? {})).toEqual(expect.arrayContaining(Object.keys(data)));
      }
      expect(data).toMatchObject({ VaultName: VAULT, ObjectType: 'Key', ObjectName: KEY });
      expect(String(data['Id'])).toBe(`${VAULT_URL}/keys/${KEY}/${String(data['Version'])}`);
    }

    const created = hook.received
      .map((r) => JSON.parse(r.text) as unknown)
      .map((b) => (Array.isArray(b) ? (b[0] as Record<string, unknown>) : (b as Record<string, unknown>)))
      .filter((e) => String(e['eventType'] ?? e['type']).endsWith('KeyNewVersionCreated'));
    expect(created.map((e) => (e['data'] as Record<string, unknown>)['Id'])).toEqual([
      rotated.id,
      rotated.id,
    ]);
    // One published event fans out to both subscriptions under one id.
    expect(new Set(created.map((e) => e['id'])).size).toBe(1);
    const expires = rotated.properties.expiresOn;
    if (expires !== undefined)
      expect((created[0]?.['data'] as Record<string, unknown>)['EXP']).toBe(
        Math.floor(expires.getTime() / 1000),
      );
  });

  it('names the data fields as both published schemas do', () => {
    for (const spec of SCHEMAS) {
      const { definitions } = readSpec(spec) as { definitions: Record<string, { properties: object }> };
      for (const type of ['KeyNewVersionCreated', 'KeyNearExpiry', 'KeyExpired'])
        expect(Object.keys(definitions[`KeyVault${type}EventData`]?.properties ?? {}).sort()).toEqual(
          Object.values(WIRE_NAMES).sort(),
        );
    }
  });
});
