import { appendFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityRequest } from '../../../local/host/durable/entities';
import { EntityStore, type EntityRecord } from '../../../local/host/durable/entities-store';

const ID = '@counter@c1';
const request = (id: string, op = 'add'): EntityRequest => ({
  id,
  op,
  signal: true,
  input: '1',
  timestamp: '2026-12-05T03:00:00.000Z',
});
const record = (processed: number, state: string): EntityRecord => ({
  exists: true,
  state,
  processed,
  lastModifiedTime: '2026-12-05T03:00:00.000Z',
  outbox: { responses: [{ instanceId: 'o1', requestId: 'r1', response: '{"result":"1"}' }], signals: [] },
});

describe('EntityStore (durable entity queue and state on disk)', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'entity-store-'));

  it('keeps queued requests in arrival order across a reopen, however many arrive at once', async () => {
    const d = dir();
    const store = new EntityStore(d);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.enqueue(ID, request(`r${i}`))));
    const reopened = new EntityStore(d);
    expect(reopened.pending(ID).map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
  });

  it.each([
    ['twice at once', true],
    ['again after a reopen (a request re-sent after a crash)', false],
  ])('drops a request whose id the entity already has: %s', async (_what, sameProcess) => {
    const d = dir();
    const store = new EntityStore(d);
    const first = store.enqueue(ID, request('dup'));
    const second = sameProcess ? store.enqueue(ID, request('dup')) : undefined;
    expect(await first).toBe(true);
    if (second !== undefined) expect(await second).toBe(false);
    else expect(await new EntityStore(d).enqueue(ID, request('dup'))).toBe(false);
    expect(new EntityStore(d).pending(ID)).toHaveLength(1);
  });

  it('cuts a torn last request line (a crash mid-append) and keeps what came before it', async () => {
    const d = dir();
    await new EntityStore(d).enqueue(ID, request('whole'));
    const journal = join(d, 'entities', `${encodeURIComponent(ID)}.requests.jsonl`);
    appendFileSync(journal, '{"id":"torn","op":"ad');
    const store = new EntityStore(d);
    expect(store.pending(ID).map((r) => r.id)).toEqual(['whole']);
    await store.enqueue(ID, request('next'));
    expect(new EntityStore(d).pending(ID).map((r) => r.id)).toEqual(['whole', 'next']);
    expect(readFileSync(journal, 'utf8')).not.toContain('torn');
  });

  it('a committed batch consumes its requests and survives a reopen; an uncommitted one stays pending', async () => {
    const d = dir();
    const store = new EntityStore(d);
    for (const id of ['a', 'b', 'c']) await store.enqueue(ID, request(id));
    await store.commit(ID, record(2, '2'));
    // A crash while writing the next record leaves its temporary file, never the record.
    writeFileSync(join(d, 'entities', `${encodeURIComponent(ID)}.entity.json.tmp`), '{"exists":tr');
    const reopened = new EntityStore(d);
    expect(reopened.record(ID)).toEqual(record(2, '2'));
    expect(reopened.pending(ID).map((r) => r.id)).toEqual(['c']);
    expect(readdirSync(join(d, 'entities')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
