import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { triggerJson } from '../../../local/host/durable/functions';
import { InstanceStore, type HistoryEvent, type InstanceState } from '../../../local/host/durable/store';

const ID = 'rolloutBatch:contoso-pg-kv:pg-cmk:3';

function event(type: number, id: number, extra: Record<string, unknown> = {}): HistoryEvent {
  return { EventType: type, EventId: id, IsPlayed: true, Timestamp: '2026-12-05T06:00:00.000Z', ...extra };
}

/** Events whose text needs care: escapes, non-ASCII, a lone surrogate, nested values, undefined fields. */
const awkward = (i: number): HistoryEvent[] => [
  event(4, i, {
    Name: 'patchServer',
    Input: JSON.stringify({ server: `pg-${i}`, note: 'naïve "quoted" \\ \n' }),
  }),
  event(5, -1, {
    TaskScheduledId: i,
    Result: '\ud800 ✓ 日本',
    Extra: { nested: [1, 2.5, null] },
    Gone: undefined,
  }),
];

function fresh(): InstanceState {
  return {
    instanceId: ID,
    name: 'rolloutBatch',
    status: 'Running',
    input: '{"servers":3}',
    output: undefined,
    customStatus: undefined,
    createdTime: '2026-12-05T06:00:00.000Z',
    lastUpdatedTime: '2026-12-05T06:00:00.000Z',
    parentInstanceId: 'keyRotation',
    parentTaskId: 2,
    history: [],
    inboxGeneration: 0,
  };
}

/** Commits one episode as the engine does and returns the state the store now holds. */
async function episode(
  store: InstanceStore,
  state: InstanceState,
  events: HistoryEvent[],
): Promise<InstanceState> {
  await store.commit(
    { ...state, history: [...state.history, ...events], inboxGeneration: state.inboxGeneration + 1 },
    events,
  );
  const committed = store.load(ID);
  if (committed === undefined) throw new Error('not committed');
  return committed;
}

const text = (history: readonly HistoryEvent[]) => JSON.stringify(history).slice(1, -1);

describe("the orchestration trigger's JSON", () => {
  const binding = (history: HistoryEvent[], input: unknown) => ({
    history,
    input,
    instanceId: ID,
    isReplaying: true,
    parentInstanceId: '',
    upperSchemaVersion: 3,
  });
  const committed = [event(12, -1), ...awkward(0), ...awkward(1), event(13, -1)];
  const episodeEvents = [
    event(12, -1),
    { ...event(5, -1, { TaskScheduledId: 2, Result: '"✓"' }), IsPlayed: false },
  ];

  it.each([
    ['committed and new events', [...committed, ...episodeEvents], { a: 1 }],
    ['committed events only', committed, 'text'],
    ['no input', [...committed, ...episodeEvents], undefined],
  ])(
    'is the text JSON.stringify makes of the binding, assembled from the kept text: %s',
    (_case, history, input) => {
      const b = binding(history, input);
      expect(triggerJson(b, committed.length, text(committed))).toBe(JSON.stringify(b));
    },
  );

  it('serializes the whole binding when no text is kept', () => {
    const b = binding([...committed, ...episodeEvents], 1);
    expect(triggerJson(b, committed.length, undefined)).toBe(JSON.stringify(b));
    expect(triggerJson(b, 0, '')).toBe(JSON.stringify(b));
  });
});

describe("the store's text of a long history", () => {
  afterEach(() => jest.restoreAllMocks());

  async function long(): Promise<{ dir: string; store: InstanceStore; state: InstanceState }> {
    const dir = mkdtempSync(join(tmpdir(), 'history-json-'));
    const store = new InstanceStore(dir);
    await store.commit(fresh(), [], true);
    let state = store.load(ID);
    if (state === undefined) throw new Error('not started');
    for (let i = 0; i < 60; i++) state = await episode(store, state, awkward(i));
    return { dir, store, state };
  }

  it('is kept only from 100 events on, for the committed state of a live instance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'history-json-'));
    const store = new InstanceStore(dir);
    await store.commit(fresh(), [], true);
    let state = store.load(ID);
    if (state === undefined) throw new Error('not started');
    state = await episode(store, state, awkward(0));
    expect(store.historyJson(state)).toBeUndefined();
    const { store: other, state: longer } = await long();
    expect(other.historyJson(longer)).toBe(text(longer.history));
    // A state the store does not hold (a copy, an older one) gets none.
    expect(other.historyJson({ ...longer })).toBeUndefined();
  });

  it('follows every commit without serializing the kept events again, and after a restart', async () => {
    const { dir, store, state } = await long();
    expect(store.historyJson(state)).toBe(text(state.history));
    const more = [60, 61, 62, 63, 64].map(awkward);
    const stringify = jest.spyOn(JSON, 'stringify');
    let s = state;
    for (const events of more) s = await episode(store, s, events);
    // Each commit: its two events and its commit record, nothing of what was kept.
    expect(stringify).toHaveBeenCalledTimes(5 * 3);
    const kept = store.historyJson(s);
    expect(stringify).toHaveBeenCalledTimes(5 * 3);
    stringify.mockRestore();
    expect(kept).toBe(text(s.history));
    const reopened = new InstanceStore(dir);
    const loaded = reopened.load(ID);
    if (loaded === undefined) throw new Error('not loaded');
    expect(reopened.historyJson(loaded)).toBe(text(s.history));
  });

  it('starts again with a new execution, and is dropped when the instance finishes', async () => {
    const { store, state } = await long();
    expect(store.historyJson(state)).toBe(text(state.history));
    await store.commit({ ...state, history: [], input: '{"round":2}' }, [], true);
    let next = store.load(ID);
    if (next === undefined) throw new Error('not continued');
    for (let i = 0; i < 55; i++) next = await episode(store, next, awkward(i));
    expect(store.historyJson(next)).toBe(text(next.history));
    const done = event(1, -1, { Result: '"ok"' });
    await store.commit({ ...next, status: 'Completed', history: [...next.history, done] }, [done]);
    const finished = store.load(ID);
    if (finished === undefined) throw new Error('not found');
    expect(store.historyJson(finished)).toBeUndefined();
  });
});
