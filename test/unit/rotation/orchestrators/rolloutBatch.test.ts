import type { Incident } from '../../../../shared/domain/incident';
import {
  ROTATION_SCHEMA_VERSION,
  type RolloutBatchInput,
  type RolloutBatchOutput,
  type ServerOutcome,
  type ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { totalOf } from '../../../../shared/rotation/outcomes';
import type { ArmQuota } from '../../../../shared/rotation/pacing';
import { rolloutBatchOrchestrator } from '../../../../shared/rotation/orchestrators/rolloutBatch';
import {
  LATER,
  runOrchestration,
  stepOk,
  type HistoryEvent,
  type Responder,
  type Run,
} from '../../../support/orchestration';
import { NOW, SETTINGS, outcome, serverId, rolloutBatchInput, serverNames } from './fixtures';

const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';
const names = serverNames;

const batch = (servers: string[], maxInFlight: number) => rolloutBatchInput(servers, maxInFlight, SUB);

const nameOf = (input: unknown) => (input as ServerRolloverInput).server.serverName;

/** Every server updated, each reporting `quota` (by name), slow ones answering LATER a number of times. */
function servers(
  opts: {
    quota?: (name: string) => ArmQuota | undefined;
    /** How long ARM's operation of each server ran, by name. */
    seconds?: (name: string) => number | undefined;
    slow?: Record<string, number>;
    crash?: string[];
  } = {},
): Responder {
  const asked = new Map<string, number>();
  return (call) => {
    // These tests are about the batch pacing itself (no governor answer): see rolloutBatchGoverned.test.ts.
    if (call.kind === 'entity') return { error: 'the quota governor is down (test)' };
    if (call.name === 'pageOperator')
      return stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] });
    if (call.name !== 'serverRollover') return stepOk(null);
    const name = nameOf(call.input);
    const n = (asked.get(name) ?? 0) + 1;
    asked.set(name, n);
    if (n <= (opts.slow?.[name] ?? 0)) return LATER;
    if (opts.crash?.includes(name)) return { error: `serverRollover of ${name} failed: replay fault` };
    const armQuota = opts.quota?.(name);
    const operationSeconds = opts.seconds?.(name);
    return {
      result: {
        ...outcome(name, 'updated'),
        ...(armQuota !== undefined ? { armQuota } : {}),
        ...(operationSeconds !== undefined ? { operationSeconds } : {}),
      },
    };
  };
}

const run = (input: RolloutBatchInput, respond: Responder): Promise<Run> =>
  runOrchestration(rolloutBatchOrchestrator, input, respond, {
    instanceId: 'cmk-batch:0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b',
    start: NOW,
  });

/** Sub-orchestrations in flight over the history: created, not yet completed or failed. */
function inFlightCurve(history: readonly HistoryEvent[]): number[] {
  const curve: number[] = [];
  let n = 0;
  for (const e of history) {
    if (e.EventType === 7) n++;
    if (e.EventType === 8 || e.EventType === 9) n--;
    if (e.EventType === 13) curve.push(n);
  }
  return curve;
}
/** Sub-orchestrations created in each episode. */
function startedPerEpisode(history: readonly HistoryEvent[]): number[] {
  const out: number[] = [];
  let n = 0;
  for (const e of history) {
    if (e.EventType === 7) n++;
    if (e.EventType === 13) {
      out.push(n);
      n = 0;
    }
  }
  return out;
}
/** The servers in the order their sub-orchestrations completed (or failed) in the history. */
function completionOrder(history: readonly HistoryEvent[]): string[] {
  const created = new Map<number, string>();
  for (const e of history)
    if (e.EventType === 7) created.set(e.EventId, nameOf(JSON.parse(String(e['Input']))));
  return history
    .filter((e) => e.EventType === 8 || e.EventType === 9)
    .map((e) => created.get(Number(e['TaskScheduledId'])) ?? '?');
}
const total = (o: RolloutBatchOutput): number => totalOf(o.counts);
const createdAfterCompletionOf = (r: Run, finished: string, started: string): boolean => {
  const id = r.history.find(
    (e) => e.EventType === 7 && nameOf(JSON.parse(String(e['Input']))) === finished,
  )?.EventId;
  const completedAt = r.history.findIndex((e) => e.EventType === 8 && e['TaskScheduledId'] === id);
  const createdAt = r.history.findIndex(
    (e) => e.EventType === 7 && nameOf(JSON.parse(String(e['Input']))) === started,
  );
  return createdAt > completedAt;
};

describe('rolloutBatch: a sliding window of server rollovers governed by ARM quota', () => {
  it.each<[string, boolean]>([
    ['a canary batch (the main ring waits for its end) waits for them together, without a timer', true],
    ['another batch looks each poll interval', false],
  ])('with all its servers started at once, %s', async (_, canary) => {
    const input: RolloutBatchInput = { ...batch(names(4), 10), ...(canary ? { canary: true as const } : {}) };
    const r = await run(input, servers({ slow: { 'pg-0001': 1, 'pg-0003': 2 } }));
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(4);
    const firstCreated = r.history.findIndex((e) => e.EventType === 7);
    const timers = r.history.slice(firstCreated).filter((e) => e.EventType === 10).length;
    if (canary) expect(timers).toBe(0);
    else expect(timers).toBeGreaterThan(0);
  });

  it('a slow server holds only its own slot: the others keep starting as slots free up, not after the slowest', async () => {
    const list = names(6);
    const r = await run(batch(list, 2), servers({ slow: { 'pg-0000': 12 } }));
    const out = r.output as RolloutBatchOutput;
    expect(completionOrder(r.history)).toEqual([...list.slice(1), 'pg-0000']);
    expect(out.counts.updated).toBe(6);
    // Waves gated by the slowest would start pg-0002 only after pg-0000 finished.
    for (const later of list.slice(2)) expect(createdAfterCompletionOf(r, 'pg-0000', later)).toBe(false);
    expect(Math.max(...inFlightCurve(r.history))).toBeLessThanOrEqual(2);
  });

  it('keeps as many servers in flight as the quota the finished ones report allows: many with a full bucket, few with an empty one', async () => {
    const full = await run(batch(names(200), 500), servers({ quota: () => ({ reads: 250, writes: 200 }) }));
    const empty = await run(batch(names(200), 500), servers({ quota: () => ({ reads: 9, writes: 150 }) }));
    // Both start with the initial window (50). A full bucket lets it grow past that (about
    // (250 reads - 1 per server in flight) / 2 more); an empty one never lets it grow, and once the
    // first servers are done it starts at most 9 / 2 = 4 at a time.
    const [fullOut, emptyOut] = [full.output, empty.output] as RolloutBatchOutput[];
    // Episode 1 asked the governor (down): the first servers start in episode 2.
    expect(startedPerEpisode(full.history)[1]).toBe(50);
    expect(startedPerEpisode(empty.history)[1]).toBe(50);
    expect(fullOut?.peakInFlight).toBeGreaterThan(80);
    expect(emptyOut?.peakInFlight).toBe(50);
    expect(Math.max(...startedPerEpisode(empty.history).slice(3))).toBeLessThanOrEqual(4);
    expect(fullOut?.counts.updated).toBe(200);
    expect(emptyOut?.counts.updated).toBe(200);
    // The full bucket is done in far fewer episodes.
    expect(full.episodes * 3).toBeLessThan(empty.episodes);
  });

  it.each<[string, number | undefined, number]>([
    // name, the rotation's typical duration so far, the first servers' first poll
    [
      'a first batch: the first servers poll after the poll interval',
      undefined,
      SETTINGS.pollIntervalSeconds,
    ],
    ['a later batch: the first servers poll after what the batches before saw', 42, 42],
  ])(
    'paces first polls by the operations that finished: %s; the rest by the median of this batch',
    async (_, seed, first) => {
      // pg-0000..0003 take 30 s by ARM's clock, the rest 90 s: the median moves as they finish.
      const seconds = (name: string) => (Number(name.slice(3)) < 4 ? 30 : 90);
      const r = await run(
        { ...batch(names(12), 4), ...(seed !== undefined ? { operationSeconds: seed } : {}) },
        servers({ seconds }),
      );
      const waits = r.calls
        .filter((c) => c.name === 'serverRollover')
        .map((c) => (c.input as ServerRolloverInput).firstPollSeconds);
      expect(waits.slice(0, 4)).toEqual([first, first, first, first]);
      expect(waits.slice(4, 8)).toEqual([30, 30, 30, 30]);
      expect(waits[waits.length - 1]).toBe(90);
      const out = r.output as RolloutBatchOutput;
      expect(out.operationSeconds).toBe(90);
      // The durations pace the rollout; the rotation keeps counts of the servers that went well (and
      // the listed ones without their durations: see "counts the servers that went well").
      expect(out.counts.updated).toBe(12);
      expect(out.servers).toEqual([]);
    },
  );

  it('never more in flight than its share of CMK_MAX_PARALLEL_UPDATES, whatever the quota', async () => {
    const r = await run(batch(names(40), 5), servers({ quota: () => ({ reads: 250, writes: 200 }) }));
    expect(Math.max(...inFlightCurve(r.history))).toBe(5);
    expect(total(r.output as RolloutBatchOutput)).toBe(40);
  });

  it("on a 429 halves the window and starts nothing new before ARM's Retry-After has passed", async () => {
    const r = await run(
      batch(names(12), 4),
      servers({
        quota: (name) => (name === 'pg-0000' ? { reads: 100, retryAfterSeconds: 45 } : { reads: 250 }),
      }),
    );
    const out = r.output as RolloutBatchOutput;
    expect(out.throttled).toBe(1);
    expect(total(out)).toBe(12);
    // The first 4 finish together (one throttled): the next ones are created only once the hold passed.
    const firstDone = r.history.find((e) => e.EventType === 8);
    const next = r.history.filter((e) => e.EventType === 7)[4];
    expect(
      Date.parse(String(next?.Timestamp)) - Date.parse(String(firstDone?.Timestamp)),
    ).toBeGreaterThanOrEqual(45_000);
    const created = r.history.filter((e) => e.EventType === 7);
    // After the hold it starts again with the halved window, and grows back as readings allow.
    const afterHold = startedPerEpisode(r.history)
      .slice(2)
      .filter((n) => n > 0);
    expect(afterHold[0]).toBe(2);
    expect(created).toHaveLength(12);
  });

  it('a server whose sub-orchestration fails (a host fault) is recorded and paged; the others keep their outcomes', async () => {
    const r = await run(batch(names(4), 4), servers({ crash: ['pg-0002'] }));
    const out = r.output as RolloutBatchOutput;
    expect(out.servers.map((o) => [o.serverName, o.outcome, o.reasonCode])).toEqual([
      ['pg-0002', 'failed', 'SubOrchestrationFailed'],
    ]);
    expect(out.counts).toEqual({ updated: 3, verified: 0, failed: 1, skipped: 0, skippedBy: {} });
    const pages = r.calls
      .filter((c) => c.name === 'pageOperator')
      .map((c) => (c.input as { incident: Incident }).incident);
    expect(pages.map((p) => p.source)).toEqual([serverId('pg-0002')]);
  });

  it('gives each server its own compact input: the server by reference and the slice of settings it uses', async () => {
    const r = await run(batch(names(2), 2), servers());
    const child = r.calls.find((c) => c.name === 'serverRollover')?.input as ServerRolloverInput;
    expect(child.server).toEqual({
      serverId: serverId('pg-0000'),
      serverName: 'pg-0000',
      subscriptionId: SUB,
    });
    expect(Object.keys(child.settings).sort()).toEqual([
      'maxWriteAttempts',
      'operationTimeoutMinutes',
      'optOutTag',
      'pollIntervalSeconds',
    ]);
    const ids = r.calls.filter((c) => c.name === 'serverRollover').map((c) => c.instanceId ?? '');
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(100);
  });

  it('counts the servers that went well and lists only the others, with their details', async () => {
    const kinds: Record<string, ServerOutcome['outcome']> = {
      'pg-0000': 'updated',
      'pg-0001': 'verified',
      'pg-0002': 'failed',
      'pg-0003': 'skipped',
      'pg-0004': 'updated',
    };
    const r = await run(batch(Object.keys(kinds), 5), (call) => {
      if (call.name !== 'serverRollover') return stepOk(null);
      const name = nameOf(call.input);
      const kind = kinds[name] ?? 'updated';
      return {
        result: {
          ...outcome(name, kind),
          ...(kind === 'skipped' ? { reasonCode: 'ServerBusy', reason: 'another operation runs' } : {}),
          // A server that went well whose audit records the trail refused: counted, not listed.
          ...(name === 'pg-0004' ? { auditUndelivered: 2 } : {}),
          ...(name === 'pg-0002' ? { auditUndelivered: 1 } : {}),
          armQuota: { reads: 250 },
          operationSeconds: 30,
        },
      };
    });
    const out = r.output as RolloutBatchOutput;
    expect(out.counts).toEqual({
      updated: 2,
      verified: 1,
      failed: 1,
      skipped: 1,
      skippedBy: { ServerBusy: 1 },
    });
    expect(out.servers).toEqual([
      { ...outcome('pg-0002', 'failed'), auditUndelivered: 1 },
      { ...outcome('pg-0003', 'skipped'), reasonCode: 'ServerBusy', reason: 'another operation runs' },
    ]);
    expect(out.auditUndelivered).toBe(3);
  });

  it("its output (in the rotation's history) does not grow with its servers when they all go well", async () => {
    const size = async (n: number): Promise<number> =>
      JSON.stringify((await run(batch(names(n), 10), servers())).output).length;
    // The counts get one digit longer (10 -> 200 updated); nothing else grows.
    expect((await size(200)) - (await size(10))).toBeLessThanOrEqual(1);
  });

  it('started by another deployment (an older input, servers with their names): skips each, counted and listed', async () => {
    const old = {
      ...batch([], 2),
      schemaVersion: ROTATION_SCHEMA_VERSION - 1,
      servers: names(2).map((name) => ({ serverId: serverId(name), serverName: name, subscriptionId: SUB })),
    };
    const r = await run(old, servers());
    const out = r.output as RolloutBatchOutput;
    expect(r.calls.filter((c) => c.name === 'serverRollover')).toEqual([]);
    expect(out.counts).toEqual({
      updated: 0,
      verified: 0,
      failed: 0,
      skipped: 2,
      skippedBy: { SchemaVersionChanged: 2 },
    });
    expect(out.servers.map((s) => [s.serverName, s.subscriptionId, s.reasonCode])).toEqual([
      ['pg-0000', SUB, 'SchemaVersionChanged'],
      ['pg-0001', SUB, 'SchemaVersionChanged'],
    ]);
  });

  it('schedules every server exactly once (a task is never yielded into a second Task.any)', async () => {
    const list = names(30);
    const r = await run(batch(list, 7), servers({ slow: { 'pg-0003': 5, 'pg-0011': 3 } }));
    const scheduled = r.calls.filter((c) => c.name === 'serverRollover').map((c) => nameOf(c.input));
    expect(scheduled.sort()).toEqual(list);
    expect(completionOrder(r.history).sort()).toEqual(list);
    expect((r.output as RolloutBatchOutput).counts.updated).toBe(30);
  });
});
