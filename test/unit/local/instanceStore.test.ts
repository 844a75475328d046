import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstanceStore, type HistoryEvent, type InstanceState } from '../../../local/host/durable/store';

const ID = 'cmk-rotation:contoso-pg-kv:pg-cmk';
const FILE = encodeURIComponent(ID);
/** The module object itself (what the store calls through), not an import's frozen namespace. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs') as {
  readdirSync: unknown;
  readFileSync: unknown;
  existsSync: unknown;
  rmSync: unknown;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsPromises = require('node:fs/promises') as { open: unknown };

function event(type: number, id = -1, extra: Record<string, unknown> = {}): HistoryEvent {
  return { EventType: type, EventId: id, IsPlayed: true, Timestamp: '2026-11-28T10:00:00.000Z', ...extra };
}

function fresh(): InstanceState {
  return {
    instanceId: ID,
    name: 'keyRotation',
    status: 'Pending',
    input: '{"vault":"contoso-pg-kv"}',
    output: undefined,
    customStatus: undefined,
    createdTime: '2026-11-28T10:00:00.000Z',
    lastUpdatedTime: '2026-11-28T10:00:00.000Z',
    parentInstanceId: undefined,
    parentTaskId: undefined,
    // Read back with the rest (the header line): what a restarted host drops stale answers by.
    executionId: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
    parentExecutionId: undefined,
    history: [],
    inboxGeneration: 0,
  };
}

/** Commits one episode the way the engine does: events appended, the next inbox generation. */
async function episode(
  store: InstanceStore,
  state: InstanceState,
  events: HistoryEvent[],
): Promise<InstanceState> {
  const next: InstanceState = {
    ...state,
    status: 'Running',
    history: [...state.history, ...events],
    inboxGeneration: state.inboxGeneration + 1,
  };
  await store.commit(next, events);
  return next;
}

async function setup(): Promise<{ dir: string; store: InstanceStore; state: InstanceState }> {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  const store = new InstanceStore(dir);
  let state = fresh();
  await store.commit(state, [], true);
  state = await episode(store, state, [event(12), event(0), event(4, 0, { Name: 'readKey' }), event(13)]);
  state = await episode(store, state, [
    event(12),
    event(5, -1, { TaskScheduledId: 0, Result: '"k"' }),
    event(13),
  ]);
  return { dir, store, state };
}

const log = (dir: string) => join(dir, 'instances', `${FILE}.log.jsonl`);

describe('the local durable instance store', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reads back after a restart exactly what was committed', async () => {
    const { dir, state } = await setup();
    const reopened = new InstanceStore(dir).load(ID);
    expect(reopened).toEqual(state);
    expect(reopened?.history).toHaveLength(7);
  });

  it.each([
    ['a torn last line', '{"EventType":4,"EventId":1,"IsPl'],
    [
      'whole events without their commit record',
      `${JSON.stringify(event(12))}\n${JSON.stringify(event(4, 1))}\n`,
    ],
    [
      'events and a torn commit record',
      `${JSON.stringify(event(12))}\n{"$commit":{"status":"Running","inboxGener`,
    ],
    ['zeros a crash left where the size grew before the data', '\0\0\0\0\0\0\0\0'],
  ])('ignores %s after the last commit, and the next commit cuts it off', async (_case, tail) => {
    const { dir, state } = await setup();
    appendFileSync(log(dir), tail);
    const store = new InstanceStore(dir);
    expect(store.load(ID)).toEqual(state);
    const next = await episode(store, state, [event(12), event(15, -1, { Name: 'keyEvent' }), event(13)]);
    expect(new InstanceStore(dir).load(ID)).toEqual(next);
    expect(readFileSync(log(dir), 'utf8').includes(tail)).toBe(false);
  });

  it('ignores a torn last line of an inbox journal, and an event appended after the restart is kept', async () => {
    const { dir, state } = await setup();
    const store = new InstanceStore(dir);
    await store.append(ID, state.inboxGeneration, [event(5, -1, { TaskScheduledId: 1, Result: '1' })]);
    // SIGKILL mid-append: half a line, never fsync'd whole.
    appendFileSync(
      join(dir, 'instances', `${FILE}.inbox.${state.inboxGeneration}.jsonl`),
      '{"EventType":5,"Ta',
    );
    const restarted = new InstanceStore(dir);
    expect(restarted.inbox(ID, state.inboxGeneration).map((e) => e['TaskScheduledId'])).toEqual([1]);
    await restarted.append(ID, state.inboxGeneration, [event(5, -1, { TaskScheduledId: 2, Result: '4' })]);
    expect(new InstanceStore(dir).inbox(ID, state.inboxGeneration).map((e) => e['TaskScheduledId'])).toEqual([
      1, 2,
    ]);
  });

  it('commits without listing the folder and without rewriting the history', async () => {
    const { dir, store, state } = await setup();
    const readdir = jest.spyOn(fs, 'readdirSync' as never);
    const before = readFileSync(log(dir));
    let s = state;
    for (let i = 0; i < 20; i++)
      s = await episode(store, s, [event(12), event(4, i + 1, { Name: 'x' }), event(13)]);
    expect(readdir).not.toHaveBeenCalled();
    store.bytes(ID);
    expect(readdir).toHaveBeenCalled();
    // The log only grew: what was committed before is still its first bytes.
    expect(readFileSync(log(dir)).subarray(0, before.length).equals(before)).toBe(true);
  });

  it('parses a live instance once, not on every load', async () => {
    const { store } = await setup();
    const read = jest.spyOn(fs, 'readFileSync' as never);
    for (let i = 0; i < 10; i++) store.load(ID);
    expect(read).not.toHaveBeenCalled();
  });

  it('delivers and commits episodes without looking at the disk or blocking on it for a journal', async () => {
    const { dir, store, state } = await setup();
    const exists = jest.spyOn(fs, 'existsSync' as never);
    const read = jest.spyOn(fs, 'readFileSync' as never);
    const remove = jest.spyOn(fs, 'rmSync' as never);
    let s = state;
    for (let i = 0; i < 5; i++) {
      await store.append(ID, s.inboxGeneration, [event(5, -1, { TaskScheduledId: i, Result: `${i}` })]);
      const inbox = store.inbox(ID, s.inboxGeneration);
      expect(inbox.map((e) => e['TaskScheduledId'])).toEqual([i]);
      s = await episode(store, s, [event(12), ...inbox, event(4, i + 1, { Name: 'x' }), event(13)]);
    }
    // The new generation's journal cannot exist yet (nothing is appended to it before its commit), and
    // the consumed one is unlinked asynchronously.
    expect(exists).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();
    expect(remove).not.toHaveBeenCalled();
    expect(readdirSync(join(dir, 'instances'))).toEqual([`${FILE}.log.jsonl`]);
    expect(new InstanceStore(dir).load(ID)).toEqual(s);
  });

  it("opens a live instance's log once for all its commits, and a new execution's log afresh", async () => {
    const { dir, store, state } = await setup();
    const open = jest.spyOn(fsPromises, 'open' as never);
    let s = state;
    for (let i = 0; i < 5; i++)
      s = await episode(store, s, [event(12), event(4, i + 1, { Name: 'x' }), event(13)]);
    // setup() committed through it already: these commits open nothing.
    expect(open).not.toHaveBeenCalled();
    // Continue-as-new renames a fresh log over the old one: the commits after it write to the new file.
    const continued: InstanceState = { ...s, history: [], input: '{"round":2}' };
    await store.commit(continued, [], true);
    const next = await episode(store, continued, [event(12), event(0), event(13)]);
    expect(new InstanceStore(dir).load(ID)).toEqual(next);
    const done: InstanceState = { ...next, status: 'Completed', output: 'ok' };
    await store.commit(done, []);
    expect(new InstanceStore(dir).load(ID)).toEqual(done);
  });

  it('keeps the events of a journal a commit did not consume (same generation, e.g. suspend) after a restart', async () => {
    const { dir, store, state } = await setup();
    await store.append(ID, state.inboxGeneration, [event(15, -1, { Name: 'keyEvent' })]);
    const restarted = new InstanceStore(dir);
    const loaded = restarted.load(ID);
    if (loaded === undefined) throw new Error('not loaded');
    const suspended: InstanceState = {
      ...loaded,
      status: 'Suspended',
      history: [...loaded.history, event(19)],
    };
    await restarted.commit(suspended, [event(19)]);
    expect(restarted.inbox(ID, suspended.inboxGeneration).map((e) => e['Name'])).toEqual(['keyEvent']);
    await restarted.append(ID, suspended.inboxGeneration, [event(15, -1, { Name: 'later' })]);
    expect(new InstanceStore(dir).inbox(ID, suspended.inboxGeneration).map((e) => e['Name'])).toEqual([
      'keyEvent',
      'later',
    ]);
  });

  it('removes the journal an episode consumed; a new execution keeps the journal not consumed yet', async () => {
    const { dir, store, state } = await setup();
    const journal = (g: number) => join(dir, 'instances', `${FILE}.inbox.${g}.jsonl`);
    await store.append(ID, state.inboxGeneration, [event(15, -1, { Name: 'keyEvent' })]);
    const next = await episode(store, state, [event(12), event(15, -1, { Name: 'keyEvent' }), event(13)]);
    expect(existsSync(journal(state.inboxGeneration))).toBe(false);
    await store.append(ID, next.inboxGeneration, [event(15, -1, { Name: 'later' })]);
    const continued: InstanceState = { ...next, history: [], input: '{"round":2}' };
    await store.commit(continued, [], true);
    const reopened = new InstanceStore(dir);
    expect(reopened.load(ID)).toEqual(continued);
    expect(reopened.inbox(ID, next.inboxGeneration).map((e) => e['Name'])).toEqual(['later']);
  });

  it('clears, when it opens, journals a crash left behind after their commit', async () => {
    const { dir, state } = await setup();
    const stale = join(dir, 'instances', `${FILE}.inbox.0.jsonl`);
    writeFileSync(stale, `${JSON.stringify(event(5, -1, { TaskScheduledId: 0 }))}\n`);
    const store = new InstanceStore(dir);
    expect(store.load(ID)?.inboxGeneration).toBe(state.inboxGeneration);
    expect(existsSync(stale)).toBe(false);
  });

  it('reads an instance in the layout before the log and rewrites it as a log on its next commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    mkdirSync(join(dir, 'instances'));
    const old: InstanceState = {
      ...fresh(),
      status: 'Running',
      history: [{ ...event(12), IsPlayed: false }, event(0), event(13)],
      inboxGeneration: 1,
    };
    writeFileSync(join(dir, 'instances', `${FILE}.json`), JSON.stringify(old));
    const store = new InstanceStore(dir);
    const loaded = store.load(ID);
    expect(loaded?.history.every((e) => e.IsPlayed)).toBe(true);
    if (loaded === undefined) throw new Error('not loaded');
    const next = await episode(store, loaded, [event(12), event(13)]);
    expect(readdirSync(join(dir, 'instances'))).toEqual([`${FILE}.log.jsonl`]);
    expect(new InstanceStore(dir).load(ID)).toEqual(next);
  });

  it('a finished instance started again reads as it was until the new execution is written, never as unknown', async () => {
    const { dir, store, state } = await setup();
    // Generation 0, the new execution's own: a journal left from the finished one would be its inbox.
    const done: InstanceState = { ...state, status: 'Completed', output: '"done"', inboxGeneration: 0 };
    await store.commit(done, []);
    // An event that reached the finished execution's inbox: never the new execution's.
    await store.append(ID, done.inboxGeneration, [event(15, -1, { Name: 'late' })]);
    store.clearForNewExecution(done);
    const again: InstanceState = { ...fresh(), input: '{"vault":"again"}' };
    const writing = store.commit(again, [], true);
    expect(store.load(ID)?.status).toBe('Completed');
    expect(new InstanceStore(dir, { readOnly: true }).load(ID)?.output).toBe('"done"');
    await writing;
    expect(store.load(ID)).toEqual(again);
    expect(new InstanceStore(dir).load(ID)).toEqual(again);
    expect(store.inbox(ID, again.inboxGeneration)).toEqual([]);
    expect(readdirSync(join(dir, 'instances'))).toEqual([`${FILE}.log.jsonl`]);
  });

  it('a crash after making way for a new execution leaves the finished one whole, with no journal', async () => {
    const { dir, store, state } = await setup();
    const done: InstanceState = { ...state, status: 'Terminated', inboxGeneration: 0 };
    await store.commit(done, []);
    await store.append(ID, 0, [event(15, -1, { Name: 'late' })]);
    store.clearForNewExecution(done);
    const reopened = new InstanceStore(dir);
    expect(reopened.load(ID)).toEqual(done);
    expect(reopened.inbox(ID, 0)).toEqual([]);
    expect(readdirSync(join(dir, 'instances'))).toEqual([`${FILE}.log.jsonl`]);
  });

  it('refuses to make way for a new execution of an instance that is not finished', async () => {
    const { store, state } = await setup();
    expect(() => store.clearForNewExecution(state)).toThrow(/is Running: only a finished instance/);
  });

  it('reads the log, not the old layout, when a crash left both (after the log replaced it)', async () => {
    const { dir, state } = await setup();
    const older: InstanceState = { ...fresh(), status: 'Completed', output: '"old"' };
    writeFileSync(join(dir, 'instances', `${FILE}.json`), JSON.stringify(older));
    expect(new InstanceStore(dir, { readOnly: true }).load(ID)).toEqual(state);
    expect(new InstanceStore(dir).load(ID)).toEqual(state);
    expect(readdirSync(join(dir, 'instances'))).toEqual([`${FILE}.log.jsonl`]);
  });

  it('forgets a purged instance: its log and journals are gone', async () => {
    const { dir, store, state } = await setup();
    await store.append(ID, state.inboxGeneration, [event(15)]);
    store.delete(ID);
    expect(store.load(ID)).toBeUndefined();
    expect(store.list()).toEqual([]);
    expect(readdirSync(join(dir, 'instances'))).toEqual([]);
  });
});
