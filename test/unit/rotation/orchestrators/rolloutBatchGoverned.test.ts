import {
  type RolloutBatchInput,
  type RolloutBatchOutput,
  type ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import {
  ARM_SUBSCRIPTION_BUCKETS,
  HEADROOM,
  NEW_GOVERNOR,
  observe,
  reserve,
  type GovernorState,
  type ReserveRequest,
} from '../../../../shared/rotation/governor';
import {
  UNTIMED_READS_PER_SERVER,
  GOVERNOR_ANSWER_SECONDS,
} from '../../../../shared/rotation/orchestrators/governed';
import {
  rolloutBatchOrchestrator,
  START_LOOK_MS,
} from '../../../../shared/rotation/orchestrators/rolloutBatch';
import { ARM_REQUESTS_PER_SERVER } from '../../../../shared/rotation/pacing';
import { LATER, runOrchestration, stepOk, type Responder, type Run } from '../../../support/orchestration';
import { NOW, SETTINGS, outcome, rolloutBatchInput, serverNames } from './fixtures';

const SUB = '6F1C2B9E-3D4A-4E8B-9A1F-0C2D3E4F5A6B';
/** What the model hands out at once of each of ARM's bursts: the burst less the headroom (225 and 180). */
const READ_BURST = ARM_SUBSCRIPTION_BUCKETS.reads.burst * (1 - HEADROOM);
const WRITE_BURST = ARM_SUBSCRIPTION_BUCKETS.writes.burst * (1 - HEADROOM);
const names = serverNames;

const batch = (servers: string[], maxInFlight: number) => rolloutBatchInput(servers, maxInFlight, SUB);

/** The governor answered by the real model (as the entity would), every server updated. */
function governed(
  governor: { state: GovernorState; asked: ReserveRequest[]; entity: string[] },
  answer: 'model' | 'fails' | 'silent' | 'garbled' = 'model',
): Responder {
  return (call, now) => {
    if (call.kind === 'entity') {
      governor.entity.push(`${call.instanceId ?? ''} ${call.name}`);
      if (answer === 'fails') return { error: 'GovernorInputError: servers must be an integer' };
      if (answer === 'silent') return LATER;
      if (answer === 'garbled') return { result: { slots: [1] } };
      const request = call.input as ReserveRequest;
      governor.asked.push(request);
      const r = reserve(governor.state, request, now);
      governor.state = r.state;
      return { result: r.reservation };
    }
    if (call.name !== 'serverRollover') return stepOk(null);
    return {
      result: {
        ...outcome((call.input as ServerRolloverInput).server.serverName, 'updated'),
        operationSeconds: 3.5,
      },
    };
  };
}

const run = (input: RolloutBatchInput, respond: Responder): Promise<Run> =>
  runOrchestration(rolloutBatchOrchestrator, input, respond, {
    instanceId: 'cmk-batch:0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b',
    start: NOW,
  });
const starts = (r: Run) =>
  r.calls.filter((c) => c.name === 'serverRollover').map((c) => (c.input as ServerRolloverInput).notBefore);

describe("rolloutBatch under its subscription's quota governor", () => {
  it('asks the governor once, before any server starts, for all its servers at their ARM cost', async () => {
    const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const r = await run(batch(names(120), 500), governed(governor));
    expect(r.calls[0]).toMatchObject({ kind: 'entity', name: 'reserve' });
    // One governor per subscription for the app: the id is the subscription, in one case.
    expect(governor.entity).toEqual([`@armquotagovernor@${SUB.toLowerCase()} reserve`]);
    expect(governor.asked).toEqual([
      {
        servers: 120,
        readsPerServer: ARM_REQUESTS_PER_SERVER.reads,
        untimedReadsPerServer: ARM_REQUESTS_PER_SERVER.reads + 1,
        writesPerServer: ARM_REQUESTS_PER_SERVER.writes,
        requester: 'cmk-batch:0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b',
      },
    ]);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(120);
  });

  it.each<[string, number | undefined, number]>([
    [
      'a batch that knows no operation durations three reads a server (its first looks come at a guess)',
      undefined,
      3,
    ],
    [
      'a batch timing its first looks by durations its rotation measured (its canaries) two reads a server',
      4,
      2,
    ],
  ])('charges %s', async (_, operationSeconds, reads) => {
    const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const input = {
      ...batch(names(150), 500),
      ...(operationSeconds !== undefined ? { operationSeconds } : {}),
    };
    const r = await run(input, governed(governor));
    expect(governor.asked[0]?.untimedReadsPerServer).toBe(reads === 3 ? UNTIMED_READS_PER_SERVER : undefined);
    // What both buckets hold at once (less the headroom) starts together: the reads bound it.
    const given = starts(r);
    expect(given.filter((t) => t === given[0])).toHaveLength(Math.floor(READ_BURST / reads));
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(150);
  });

  it('asks the servers the governor named to report when they reached ARM, and no other', async () => {
    const reported = (r: Run) =>
      r.calls
        .filter((c) => c.name === 'serverRollover')
        .map((c) => (c.input as ServerRolloverInput).reportArrival);
    // A new governor: the batch's first start takes from full buckets.
    const fresh = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const first = await run(batch(names(5), 500), governed(fresh));
    expect(reported(first)).toEqual([true, undefined, undefined, undefined, undefined]);
    // A governor whose buckets another batch is drawing down: nobody reports.
    const busy = { state: fresh.state, asked: [] as ReserveRequest[], entity: [] as string[] };
    expect(reported(await run(batch(names(5), 500), governed(busy)))).toEqual(Array(5).fill(undefined));
    // The servers named, by index; a list naming a server the batch does not have names nobody.
    const answering =
      (reportArrival: number[]): Responder =>
      (call, now) =>
        call.kind === 'entity'
          ? { result: { slots: Array<number>(5).fill(Date.parse(NOW)), reportArrival } }
          : governed(busy)(call, now);
    expect(reported(await run(batch(names(5), 500), answering([1, 3])))).toEqual([
      undefined,
      true,
      undefined,
      true,
      undefined,
    ]);
    expect(reported(await run(batch(names(5), 500), answering([1, 5])))).toEqual(Array(5).fill(undefined));
  });

  it('hands each server its own start time, in order, and starts each at the first look after it (none waits on a timer of its own)', async () => {
    const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const r = await run(batch(names(300), 500), governed(governor));
    const given = starts(r);
    expect(given).toHaveLength(300);
    expect(given.every((t) => typeof t === 'number')).toBe(true);
    expect([...given].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(given);
    // What both buckets hold at once (less the headroom) starts together, the rest with the refill.
    const atOnce = Math.floor(
      // A new governor knows no operation durations yet: the untimed charge.
      Math.min(READ_BURST / UNTIMED_READS_PER_SERVER, WRITE_BURST / ARM_REQUESTS_PER_SERVER.writes),
    );
    expect(given.filter((t) => t === given[0])).toHaveLength(atOnce);
    expect(given[299]).toBeGreaterThan((given[0] ?? 0) + 15_000);
    // Created once its start time has come and at most START_LOOK_MS after it, though the poll interval
    // is 10 s here (15 s by default), so those started later time their first look by what finished
    // meanwhile; many per look, not one look per start time.
    expect(SETTINGS.pollIntervalSeconds * 1000).toBeGreaterThan(START_LOOK_MS);
    const created = r.history.filter((e) => e.EventType === 7);
    created.forEach((e, i) => {
      expect(Date.parse(e.Timestamp)).toBeGreaterThanOrEqual(given[i] ?? 0);
      expect(Date.parse(e.Timestamp)).toBeLessThanOrEqual((given[i] ?? 0) + START_LOOK_MS);
    });
    expect(new Set(created.map((e) => e.Timestamp)).size).toBeLessThan(given.length / 5);
  });

  it('behind a hold (its first start a minute off), sleeps on one timer until that start and then starts its servers', async () => {
    const held = Date.parse(NOW) + 60_000;
    const governor = {
      state: { ...NEW_GOVERNOR, holdUntil: held },
      asked: [] as ReserveRequest[],
      entity: [] as string[],
    };
    const r = await run(batch(names(5), 500), governed(governor));
    const given = starts(r);
    expect(given[0]).toBe(held);
    const firstCreated = r.history.findIndex((e) => e.EventType === 7);
    const timersBefore = r.history.slice(0, firstCreated).filter((e) => e.EventType === 10);
    expect(timersBefore.map((e) => Date.parse(String(e['FireAt'])))).toEqual([held]);
    expect(Date.parse(r.history[firstCreated]?.Timestamp ?? '')).toBe(held);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(5);
  });

  it.each<[string, 'fails' | 'silent' | 'garbled']>([
    ['fails (its operation threw)', 'fails'],
    [`does not answer in ${GOVERNOR_ANSWER_SECONDS} s`, 'silent'],
    ['answers no usable start times', 'garbled'],
  ])(
    'when the governor %s, paces itself from the quota readings and still rolls every server out',
    async (_, answer) => {
      const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
      const r = await run(batch(names(60), 500), governed(governor, answer));
      expect(starts(r).every((t) => t === undefined)).toBe(true);
      expect((r.output as RolloutBatchOutput).counts.updated).toBe(60);
      // Its own window: 50 at first, not all 60.
      const firstCreated = r.history.filter((e) => e.EventType === 7).map((e) => e.Timestamp);
      expect(firstCreated.filter((t) => t === firstCreated[0])).toHaveLength(50);
    },
  );

  it("times its first servers' first look by the subscription's typical operation as other rotations reported it, and reports its own first durations", async () => {
    const seen = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    seen.state = observe(observe(NEW_GOVERNOR, { at: 0, operationSeconds: 25 }), {
      at: 0,
      operationSeconds: 25,
    });
    const r = await run(batch(names(10), 500), governed(seen));
    const firstLooks = r.calls
      .filter((c) => c.name === 'serverRollover')
      .map((c) => (c.input as ServerRolloverInput).firstPollSeconds);
    expect(firstLooks).toEqual(Array.from({ length: 10 }, () => 25));
    // Its first three durations go to the governor, for the rotations that start next.
    const reported = r.calls
      .filter((c) => c.kind === 'signal')
      .map((c) => c.input as { operationSeconds?: number });
    expect(reported.map((x) => x.operationSeconds)).toEqual([3.5, 3.5, 3.5]);
  });

  it.each<[string, boolean]>([
    ['another batch reports its first durations as its servers settle, before its slow one ends', false],
    [
      'a canary batch whose servers all start at once reports them at its end (it waits for all together)',
      true,
    ],
  ])('%s', async (_, canary) => {
    const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const base = governed(governor);
    let slowAsked = 0;
    // pg-0001 ends two looks after the others.
    const respond: Responder = (call, now) =>
      call.name === 'serverRollover' &&
      (call.input as ServerRolloverInput).server.serverName === 'pg-0001' &&
      ++slowAsked <= 2
        ? LATER
        : base(call, now);
    const input: RolloutBatchInput = {
      ...batch(names(4), 500),
      ...(canary ? { canary: true as const } : {}),
    };
    const r = await run(input, respond);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(4);
    const last = r.episodeActions.length - 1;
    const reportedIn = r.episodeActions
      .map((actions, episode) => (actions.some((a) => a['actionType'] === 9) ? episode : -1))
      .filter((e) => e >= 0);
    expect(reportedIn.length).toBeGreaterThan(0);
    if (canary) expect(reportedIn).toEqual([last]);
    else expect(Math.min(...reportedIn)).toBeLessThan(last);
  });

  it('replays its reservation from history: a restarted batch asks nothing again and gives the same start times', async () => {
    const governor = { state: NEW_GOVERNOR, asked: [] as ReserveRequest[], entity: [] as string[] };
    const r = await run(batch(names(30), 500), governed(governor));
    const replay = await r.replay();
    expect(replay.failed).toBeUndefined();
    expect(replay.actions).toEqual(r.actions);
    expect(governor.asked).toHaveLength(1);
  });
});
