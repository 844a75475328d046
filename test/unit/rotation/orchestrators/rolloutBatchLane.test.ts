import type {
  RolloutBatchInput,
  RolloutBatchOutput,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import {
  NEW_GOVERNOR,
  reserve,
  type GovernorState,
  type ReserveRequest,
} from '../../../../shared/rotation/governor';
import {
  acquire,
  close,
  report,
  type AcquireRequest,
  type LaneState,
} from '../../../../shared/rotation/lane';
import { GOVERNOR_ANSWER_SECONDS } from '../../../../shared/rotation/orchestrators/governed';
import {
  LANE_ATTEMPTS,
  rolloutBatchOrchestrator,
} from '../../../../shared/rotation/orchestrators/rolloutBatch';
import {
  LATER,
  runOrchestration,
  stepOk,
  type Responder,
  type Run,
  type ScheduledCall,
} from '../../../support/orchestration';
import { NOW, SETTINGS, outcome, rolloutBatchInput, serverNames } from './fixtures';

/**
 * A governed batch that shares its subscription's `CMK_MAX_PARALLEL_UPDATES` with the other batches
 * of the phase through a lane (shared/rotation/lane.ts, the `rolloutLane` entity), answered here by
 * the real models, as the entities would.
 */
const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
const BATCH_ID = 'cmk-batch:0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b';
const LANE_KEY = `${SUB}:7a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d`;
const withLane = (servers: number, maxInFlight: number, limit: number): RolloutBatchInput => ({
  ...rolloutBatchInput(serverNames(servers), maxInFlight, SUB),
  lane: { key: LANE_KEY, limit },
});

interface World {
  governor: GovernorState;
  lane: LaneState;
  acquired: AcquireRequest[];
  /** What the lane granted, answer by answer. */
  granted: number[];
}

/**
 * The governor and the lane answered by their models; each server answers after `later` LATERs (in
 * flight for that many more looks). `lane`: how the lane answers an acquire.
 */
function world(
  w: World,
  lane: 'model' | 'fails' | 'silent' | 'failsSecond' | 'failsTwiceTwice' = 'model',
  later: number | ((server: string) => number) = 1,
): Responder {
  const asked = new Map<string, number>();
  let acquires = 0;
  return (call, now) => {
    if (call.kind === 'entity' && call.name === 'reserve') {
      const r = reserve(w.governor, call.input as ReserveRequest, now);
      w.governor = r.state;
      return { result: r.reservation };
    }
    if (call.kind === 'entity' && call.name === 'acquire') {
      acquires++;
      if (
        lane === 'fails' ||
        (lane === 'failsSecond' && acquires === 2) ||
        (lane === 'failsTwiceTwice' && [2, 3, 5, 6].includes(acquires))
      )
        return { error: 'LaneInputError: holder must be a batch instance id' };
      if (lane === 'silent') return LATER;
      const request = call.input as AcquireRequest;
      w.acquired.push(request);
      const r = acquire(w.lane, request);
      w.lane = r.state;
      w.granted.push(r.granted);
      return { result: r.granted };
    }
    if (call.name !== 'serverRollover') return stepOk(null);
    const name = (call.input as ServerRolloverInput).server.serverName;
    const n = (asked.get(name) ?? 0) + 1;
    asked.set(name, n);
    return n <= (typeof later === 'number' ? later : later(name))
      ? LATER
      : { result: outcome(name, 'updated') };
  };
}

/** The lane takes the batch's signals as they are sent. */
const laneSignal =
  (w: World) =>
  (call: ScheduledCall): void => {
    if (call.name === 'report') w.lane = report(w.lane, call.input as { holder: string; inFlight: number });
    if (call.name === 'close') w.lane = close(w.lane, (call.input as { holder: string }).holder);
  };
const run = (input: RolloutBatchInput, respond: Responder, w?: World): Promise<Run> =>
  runOrchestration(rolloutBatchOrchestrator, input, respond, {
    instanceId: BATCH_ID,
    start: NOW,
    ...(w !== undefined ? { onSignal: laneSignal(w) } : {}),
  });
const newWorld = (held: Record<string, number> = {}): World => ({
  governor: NEW_GOVERNOR,
  lane: { held, closed: [] },
  acquired: [],
  granted: [],
});
/** How many servers the batch started at each of its first looks. */
const startedPerLook = (r: Run): number[] => {
  const created = r.history.filter((e) => e.EventType === 7).map((e) => e.Timestamp);
  return [...new Set(created)].map((t) => created.filter((x) => x === t).length);
};

describe('rolloutBatch sharing its subscription’s in-flight budget through a lane', () => {
  it('uses what the other batches leave of the setting, more than its even share', async () => {
    const w = newWorld();
    const r = await run(withLane(30, 3, 10), world(w), w);
    const out = r.output as RolloutBatchOutput;
    expect(out.counts.updated).toBe(30);
    expect(out.peakInFlight).toBe(10);
    expect(startedPerLook(r)[0]).toBe(10);
  });

  it('starts only what the lane grants: the other batches hold the rest', async () => {
    const w = newWorld({ 'cmk-batch:other': 8 });
    const r = await run(withLane(12, 3, 10), world(w), w);
    expect(w.acquired[0]).toEqual({ holder: BATCH_ID, inFlight: 0, want: 10, limit: 10 });
    expect(startedPerLook(r)[0]).toBe(2);
    expect((r.output as RolloutBatchOutput).peakInFlight).toBe(2);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(12);
  });

  it('asks before every start and starts exactly what it was granted, look by look', async () => {
    // Another batch holds 2 of the 6: this one is granted 4 at most, and less as its own are in flight.
    const w = newWorld({ 'cmk-batch:other': 2 });
    const r = await run(withLane(25, 3, 6), world(w, 'model', 2), w);
    expect(startedPerLook(r)).toEqual(w.granted.filter((g) => g > 0));
    expect(w.granted.reduce((n, g) => n + g, 0)).toBe(25);
    expect((r.output as RolloutBatchOutput).peakInFlight).toBe(4);
  });

  it('gives back what finished while it had nothing to start, and all it holds when it ends', async () => {
    const w = newWorld();
    // Servers that take one to three looks: some finish while the last ones start, then the tail.
    const r = await run(
      withLane(14, 3, 10),
      world(w, 'model', (name) => (Number(name.slice(-1)) % 3) + 1),
      w,
    );
    const signals = r.calls.filter((c) => c.kind === 'signal' && c.instanceId?.startsWith('@rolloutlane@'));
    expect(signals.at(-1)).toMatchObject({ name: 'close', input: { holder: BATCH_ID } });
    expect(w.lane.held).toEqual({});
    // Asked while starts were due; after the last start, every lower count came as a report.
    expect(w.acquired.length).toBeGreaterThan(1);
    const reports = signals
      .filter((s) => s.name === 'report')
      .map((s) => (s.input as { inFlight: number }).inFlight);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports).toEqual([...reports].sort((a, b) => b - a));
    expect(signals[0]?.instanceId).toBe(`@rolloutlane@${LANE_KEY}`);
  });

  it.each<[string, 'fails' | 'silent']>([
    ['fails (its operation threw)', 'fails'],
    [`does not answer in ${GOVERNOR_ANSWER_SECONDS} s`, 'silent'],
  ])(
    `when the lane %s ${LANE_ATTEMPTS} looks in a row, keeps to its even share and still rolls every server out`,
    async (_, answer) => {
      const w = newWorld();
      const r = await run(withLane(20, 3, 10), world(w, answer), w);
      const out = r.output as RolloutBatchOutput;
      expect(out.counts.updated).toBe(20);
      expect(out.peakInFlight).toBe(3);
      // Asked at each look until it gives up; nothing started before (the lane counted nothing for
      // it). What it may hold still goes back.
      expect(r.calls.filter((c) => c.kind === 'entity' && c.name === 'acquire')).toHaveLength(LANE_ATTEMPTS);
      const firstStart = r.calls.findIndex((c) => c.name === 'serverRollover');
      expect(r.calls.slice(0, firstStart).filter((c) => c.name === 'acquire')).toHaveLength(LANE_ATTEMPTS);
      expect(r.calls.at(-1)).toMatchObject({ kind: 'signal', name: 'close' });
    },
  );

  it('when the lane fails once, starts nothing beyond what the lane counts for it and asks again', async () => {
    // Another batch holds 6 of the 10: this one may have 4 in flight, and its even share would be 5.
    const w = newWorld({ 'cmk-batch:other': 6 });
    const r = await run(withLane(20, 5, 10), world(w, 'failsSecond', 2), w);
    const out = r.output as RolloutBatchOutput;
    expect(out.counts.updated).toBe(20);
    expect(out.peakInFlight).toBe(4);
    // Still in its lane after the failure: every later look asked it again.
    expect(w.acquired.length).toBeGreaterThan(2);
  });

  it('starts nothing at a look whose ask failed, even with servers finished since it last asked', async () => {
    // Its answer may still reach the lane later, with the count the batch had when it asked.
    const w = newWorld({ 'cmk-batch:other': 6 });
    // Servers that finish at once: by its second look the four it started have.
    const r = await run(withLane(20, 5, 10), world(w, 'failsSecond', 0), w);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(20);
    const asks = r.calls.flatMap((c, i) => (c.kind === 'entity' && c.name === 'acquire' ? [i] : []));
    const afterFailed = r.calls.slice(asks[1], asks[2]).filter((c) => c.name === 'serverRollover');
    expect(afterFailed).toEqual([]);
    // Its first ask was granted four; its third (the second answered) said none were in flight.
    expect(w.granted[0]).toBe(4);
    expect(w.acquired[1]?.inFlight).toBe(0);
  });

  it(`counts only failures in a row: failing twice, answering, failing twice, it never gives up (${LANE_ATTEMPTS} needed)`, async () => {
    const w = newWorld({ 'cmk-batch:other': 6 });
    const r = await run(withLane(20, 5, 10), world(w, 'failsTwiceTwice', 2), w);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(20);
    // Given up, it would keep to its even share of 5; in its lane it has 4 at most.
    expect((r.output as RolloutBatchOutput).peakInFlight).toBe(4);
    expect(r.calls.filter((c) => c.kind === 'entity' && c.name === 'acquire').length).toBeGreaterThan(6);
  });

  it('paced by itself and refused with nothing in flight, asks again a poll interval later, not in a loop', async () => {
    // The other batch holds the whole lane for three asks, then finishes.
    const w = newWorld({ 'cmk-batch:other': 10 });
    const base = world(w, 'model', 1);
    const askedAt: number[] = [];
    const respond: Responder = (call, now) => {
      if (call.kind === 'entity' && call.name === 'reserve') return { error: 'GovernorInputError: down' };
      if (call.kind === 'entity' && call.name === 'acquire' && askedAt.push(now) === 4)
        w.lane = report(w.lane, { holder: 'cmk-batch:other', inFlight: 0 });
      return base(call, now);
    };
    const r = await run(withLane(6, 3, 10), respond, w);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(6);
    // Refused three times, each ask a poll interval (10 s here) or more after the one before.
    const refusals = askedAt.slice(0, 4);
    for (const [i, t] of refusals.slice(1).entries())
      expect(t - (refusals[i] ?? 0)).toBeGreaterThanOrEqual(SETTINGS.pollIntervalSeconds * 1000);
    // Every timer it sets fires later than the episode that set it: no look at once, again and again.
    let episodeAt = 0;
    const soonest: number[] = [];
    for (const e of r.history) {
      if (e.EventType === 12) episodeAt = Date.parse(e.Timestamp);
      if (e.EventType === 10) soonest.push(Date.parse(String(e['FireAt'])) - episodeAt);
    }
    expect(soonest.length).toBeGreaterThan(0);
    expect(Math.min(...soonest)).toBeGreaterThan(0);
    // Paced by itself, it still gives its lane back at its end.
    expect(r.calls.at(-1)).toMatchObject({ kind: 'signal', name: 'close', input: { holder: BATCH_ID } });
  });

  it('paced by itself (its governor failed), still starts only what the lane grants', async () => {
    const w = newWorld({ 'cmk-batch:other': 6 });
    const base = world(w, 'model', 2);
    const noGovernor: Responder = (call, now) =>
      call.kind === 'entity' && call.name === 'reserve'
        ? { error: 'GovernorInputError: servers must be an integer' }
        : base(call, now);
    const r = await run(withLane(20, 5, 10), noGovernor, w);
    const out = r.output as RolloutBatchOutput;
    expect(out.counts.updated).toBe(20);
    // Its own window would allow its even share, 5; the lane leaves 4.
    expect(out.peakInFlight).toBe(4);
    expect(w.acquired.length).toBeGreaterThan(1);
  });

  it('without a lane (it runs alone) keeps to its share and asks no lane', async () => {
    const w = newWorld();
    const r = await run(rolloutBatchInput(serverNames(20), 4, SUB), world(w), w);
    expect((r.output as RolloutBatchOutput).peakInFlight).toBe(4);
    expect(r.calls.filter((c) => c.instanceId?.startsWith('@rolloutlane@'))).toEqual([]);
  });

  it('replays its lane answers from history: a restarted batch asks nothing again and starts the same servers', async () => {
    const w = newWorld({ 'cmk-batch:other': 4 });
    const r = await run(withLane(15, 3, 10), world(w), w);
    const asked = w.acquired.length;
    const replay = await r.replay();
    expect(replay.failed).toBeUndefined();
    expect(replay.actions).toEqual(r.actions);
    expect(w.acquired).toHaveLength(asked);
  });
});
