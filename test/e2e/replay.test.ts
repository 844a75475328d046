import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/localAzure';
import { KEY, startProduct, type Product } from '../support/product';

/**
 * Replaying dead-lettered events: a second Event Grid subscription whose endpoint is down (it answers
 * the validation handshake, then 503) with one delivery attempt dead-letters the key event in the
 * stand-in; the CLI re-sends the dead-letter blob as Azure stores it, and the app reads it with the
 * events adapter's readDelivery and hands each event to the intake.
 */
jest.setTimeout(150_000);

const BIN = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '' }, cwd: '/' },
      (e, stdout, stderr) =>
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, stdout, stderr }),
    );
  });
}

describe('dead-letter replay', () => {
  let p: Product | undefined;
  let down: Server | undefined;
  afterAll(async () => {
    down?.close();
    await p?.stop();
  });

  it('re-sends the stand-in’s dead-letter blob through readDelivery and the intake: a handled version is a duplicate, a poison event is rejected (exit 1)', async () => {
    p = await startProduct();
    down = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
          const [ev] = JSON.parse(body) as { data: { validationCode: string } }[];
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ validationResponse: ev?.data.validationCode }));
        } else res.writeHead(503).end();
      });
    });
    await new Promise<void>((r) => down?.listen(0, '127.0.0.1', () => r()));
    const endpoint = `http://127.0.0.1:${(down.address() as AddressInfo).port}/api/events`;
    await p.admin('eventgrid/subscriptions', {
      method: 'POST',
      body: { name: 'app-down', endpoint, deadLetter: true, maxDeliveryAttempts: 1 },
    });

    const v3 = (await p.keys.rotateKey(KEY)).properties.version ?? '';
    await p.completed(v3); // the app's own subscription delivered it
    const product = p;
    const blobs = await waitFor(
      'a dead-letter blob',
      async () => {
        const b = await product.admin<{ name: string; content: string }[]>('eventgrid/deadletters');
        return b.length > 0 ? b : undefined;
      },
      30_000,
    );
    expect(blobs).toHaveLength(1);
    const stored = JSON.parse(blobs[0]?.content ?? '[]') as Record<string, unknown>[];
    expect(stored[0]).toMatchObject({
      eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
      deadLetterReason: 'MaxDeliveryAttemptsExceeded',
      deliveryAttempts: 1,
      lastHttpStatusCode: 503,
    });
    expect(blobs[0]?.name).toMatch(
      /^keyvault-system-topic\/APP-DOWN\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/[0-9a-f-]+\.json$/,
    );

    const dir = mkdtempSync(join(tmpdir(), 'deadletter-'));
    const file = join(dir, 'blob-1.json');
    writeFileSync(file, blobs[0]?.content ?? '');
    const poison = join(dir, 'blob-2.json');
    writeFileSync(poison, JSON.stringify([{ ...stored[0], id: 'poison-1', eventTime: 'not a time' }]));
    const ready = ['--ready', join(p.dir, 'host', 'ready.json')];
    const patchesBefore = (await p.patches()).length;

    const replayed = await cli(['replay', file, poison, '--json', ...ready]);
    expect(replayed.code).toBe(1); // one event rejected
    const [first, second] = JSON.parse(replayed.stdout) as {
      source: string;
      events: { eventId: string; outcome: { kind: string; code?: string } }[];
    }[];
    expect(first).toMatchObject({
      source: 'blob-1.json',
      events: [{ eventId: stored[0]?.['id'], outcome: { kind: 'duplicate' } }],
    });
    expect(second).toMatchObject({
      source: 'blob-2.json',
      events: [{ eventId: 'poison-1', outcome: { kind: 'rejected' } }],
    });
    // Nothing written again for the duplicate.
    expect((await p.patches()).length).toBe(patchesBefore);
    const audit = await p.audit();
    expect(
      audit.filter(
        (e) => e.name === 'CmkRotation.EventRejected' && e.properties['trigger'] === 'event:poison-1',
      ),
    ).toHaveLength(1);

    // Only the blob replay: the clean blob alone exits 0.
    expect((await cli(['replay', file, ...ready])).code).toBe(0);
  });
});
