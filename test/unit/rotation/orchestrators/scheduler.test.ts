import type { OrchestrationContext, Task } from 'durable-functions';
import { slidingWindow, type InFlight } from '../../../../shared/rotation/orchestrators/scheduler';
import { LATER, runOrchestration, type Responder } from '../../../support/orchestration';

/**
 * The one sliding window (the rotation's batches and a batch's servers both run on it), driven by a
 * tiny orchestrator: `jobs` items, at most `size` in flight, each a `job` sub-orchestration; a job
 * whose answer says `again` is followed by one more, started from `settle` in its place.
 */
interface Plan {
  readonly jobs: number;
  readonly size: number;
  /** `drainTogether`: wait for the last jobs at once (the canary ring). */
  readonly together?: boolean;
  /** `admit`: ask an `allowance` activity at each look how many may start (a batch asking its lane). */
  readonly admitted?: boolean;
}
interface Out {
  readonly settled: string[];
  readonly peak: number;
  readonly looks: number;
}

function* windowed(context: OrchestrationContext): Generator<Task, Out, unknown> {
  const { jobs, size, together, admitted } = context.df.getInput<Plan>();
  let allowed = Number.POSITIVE_INFINITY;
  let next = 0;
  let peak = 0;
  let looks = 0;
  const settled: string[] = [];
  const start = (item: string): InFlight<string> => ({
    item,
    task: context.df.callSubOrchestrator('job', item, `job:${item}`),
  });
  yield* slidingWindow<string>(context, {
    pending: () => next < jobs,
    drainTogether: together === true,
    ...(admitted === true
      ? {
          *admit(inFlight: readonly InFlight<string>[]): Generator<Task, void, unknown> {
            allowed = (yield context.df.callActivity('allowance', inFlight.length)) as number;
          },
        }
      : {}),
    fill(inFlight) {
      const started: InFlight<string>[] = [];
      while (next < jobs && inFlight.length + started.length < size && started.length < allowed)
        started.push(start(String(next++)));
      peak = Math.max(peak, inFlight.length + started.length);
      return started;
    },
    *settle(done) {
      settled.push(done.item);
      return (done.task.result as { again?: boolean }).again === true ? [start(`${done.item}+`)] : [];
    },
    looked: () => {
      looks++;
    },
    wakeAt: (now) => now + 1000,
  });
  return { settled, peak, looks };
}

/** Each job answers after `slow[item]` LATERs (0 by default); a job in `fail` fails then instead. */
function jobs(
  slow: Record<string, number> = {},
  again: readonly string[] = [],
  fail: readonly string[] = [],
): Responder {
  const asked = new Map<string, number>();
  return (call) => {
    if (call.kind !== 'subOrchestration') return { result: null };
    const item = call.input as string;
    const n = (asked.get(item) ?? 0) + 1;
    asked.set(item, n);
    if (n <= (slow[item] ?? 0)) return LATER;
    if (fail.includes(item)) return { error: `job ${item} failed` };
    return { result: { again: again.includes(item) } };
  };
}

const timers = (calls: readonly { kind: string }[]) => calls.filter((c) => c.kind === 'timer').length;

const started = (calls: readonly { kind: string; input: unknown }[]) =>
  calls.filter((c) => c.kind === 'subOrchestration').map((c) => c.input as string);

describe('the sliding-window scheduler', () => {
  it('keeps at most the window in flight and settles every job once', async () => {
    const run = await runOrchestration(windowed, { jobs: 7, size: 3 }, jobs({ '0': 3, '4': 2 }));
    const out = run.output as Out;
    expect(out.peak).toBe(3);
    expect([...out.settled].sort()).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    // A slow job holds only its own slot: the others finish and are replaced around it.
    expect(out.settled.indexOf('0')).toBeGreaterThan(out.settled.indexOf('3'));
  });

  it('never schedules a job it already waits on a second time (a task goes into Task.any once)', async () => {
    const run = await runOrchestration(windowed, { jobs: 5, size: 2 }, jobs({ '0': 4, '1': 1, '3': 2 }));
    expect(started(run.calls)).toEqual(['0', '1', '2', '3', '4']);
  });

  it('waits for the jobs settle starts in place of a finished one', async () => {
    const run = await runOrchestration(windowed, { jobs: 2, size: 2 }, jobs({}, ['1']));
    expect(started(run.calls)).toEqual(['0', '1', '1+']);
    expect((run.output as Out).settled).toEqual(['0', '1', '1+']);
  });

  it('draining together, with nothing left to start waits for all it just started at once: no timer, one look at the end', async () => {
    const run = await runOrchestration(
      windowed,
      { jobs: 3, size: 3, together: true },
      jobs({ '0': 1, '2': 2 }),
    );
    expect(timers(run.calls)).toBe(0);
    expect(run.output).toEqual({ settled: ['0', '1', '2'], peak: 3, looks: 2 });
  });

  it('not draining together, keeps looking by timer with nothing left to start (its looks report progress)', async () => {
    const run = await runOrchestration(windowed, { jobs: 3, size: 3 }, jobs({ '0': 1, '2': 2 }));
    expect(timers(run.calls)).toBeGreaterThan(0);
    expect((run.output as Out).looks).toBeGreaterThan(2);
  });

  it('draining together, waits by timer for jobs started at an earlier look, since they cannot be waited on again', async () => {
    // Job 3 starts at the look that settles job 0; jobs 1 and 2 went out at the first look.
    const run = await runOrchestration(
      windowed,
      { jobs: 4, size: 3, together: true },
      jobs({ '1': 4, '2': 4, '3': 1 }),
    );
    const episodeOfJob3 = run.episodeActions.find((actions) => actions.some((a) => a['input'] === '3'));
    expect(episodeOfJob3?.some((a) => a['actionType'] === 5)).toBe(true);
    expect([...(run.output as Out).settled].sort()).toEqual(['0', '1', '2', '3']);
    expect(started(run.calls)).toEqual(['0', '1', '2', '3']);
  });

  it('draining together, settles a job that fails while all are waited on, and waits for the others by timer', async () => {
    const run = await runOrchestration(
      windowed,
      { jobs: 3, size: 3, together: true },
      jobs({ '1': 3, '2': 4 }, [], ['0']),
    );
    expect(run.failed).toBeUndefined();
    expect([...(run.output as Out).settled].sort()).toEqual(['0', '1', '2']);
    expect(started(run.calls)).toEqual(['0', '1', '2']);
    expect(timers(run.calls)).toBeGreaterThan(0);
  });

  it('replays its own history to the same actions when it waited for all at once', async () => {
    const run = await runOrchestration(
      windowed,
      { jobs: 3, size: 3, together: true },
      jobs({ '0': 2 }, [], ['1']),
    );
    const replay = await run.replay();
    expect(replay.actions).toEqual(run.actions);
    expect(replay.output).toEqual(run.output);
  });

  it('asks admit once per look, before fill, with what is in flight, and fill starts what it allowed', async () => {
    const base = jobs({ '0': 1, '1': 1 });
    // One job may start per look, whatever the window.
    const oneALook: Responder = (call, now) =>
      call.kind === 'activity' && call.name === 'allowance' ? { result: 1 } : base(call, now);
    const run = await runOrchestration(windowed, { jobs: 3, size: 3, admitted: true }, oneALook);
    const order = run.calls.filter((c) => c.kind !== 'timer').map((c) => `${c.name}:${String(c.input)}`);
    expect(order.slice(0, 4)).toEqual(['allowance:0', 'job:0', 'allowance:1', 'job:1']);
    expect((run.output as Out).peak).toBeLessThanOrEqual(2);
    expect([...(run.output as Out).settled].sort()).toEqual(['0', '1', '2']);
  });

  it('with nothing to do starts nothing and ends at its first look', async () => {
    const run = await runOrchestration(windowed, { jobs: 0, size: 2 }, jobs());
    expect(run.calls).toEqual([]);
    expect(run.output).toEqual({ settled: [], peak: 0, looks: 1 });
  });
});
