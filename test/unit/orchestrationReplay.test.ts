import type { OrchestrationContext, Task } from 'durable-functions';
import { runOrchestration, stepOk } from '../support/orchestration';

/**
 * The orchestrator-history driver's replay check (test/support/orchestration.ts): a run records the
 * actions each episode produced; `run.replay()` hands the whole recorded history to the orchestrator from
 * the start and returns the actions it produces then; and every episode of every driven run checks that
 * its replay of the earlier history produced the earlier episodes' actions (`checkReplays`, on unless a
 * test turns it off). durable-functions 3 itself does not compare a replay's inputs with the history (it
 * matches tasks by order), so these comparisons are what catch an orchestrator that decides from
 * something other than its history.
 */
type Orchestrator = (context: OrchestrationContext) => Generator<Task, unknown, unknown>;

/** Two activities and a timer; `pick` decides the second activity's input. */
const orchestratorPicking = (pick: (context: OrchestrationContext) => unknown): Orchestrator =>
  function* (context) {
    const first = yield context.df.callActivity('readKey', { vault: 'contoso-pg-kv' });
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
    const second = yield context.df.callActivity('rollover', {
      after: first,
      pick: pick(context),
    });
    return second;
  };

const cases: [string, Orchestrator, boolean][] = [
  [
    'an orchestrator deciding only from its history and context.df replays the first run’s actions',
    orchestratorPicking((c) => c.df.currentUtcDateTime.toISOString()),
    true,
  ],
  [
    'an orchestrator reading Math.random() is caught: its replay’s actions differ',
    orchestratorPicking(() => Math.random()),
    false,
  ],
  [
    'an orchestrator reading Date.now() is caught: its replay’s actions differ',
    orchestratorPicking(() => Date.now()),
    false,
  ],
];

describe('deterministic replay: the replay’s actions against the first run’s', () => {
  // The machine's clock moves between the first run and the replay, as between a host's episodes (by a
  // whole second per read here, so the check never depends on how fast the test runs).
  let clock = Date.parse('2026-11-24T10:00:00Z');
  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => (clock += 1000)));
  afterEach(() => jest.restoreAllMocks());

  it.each(cases)('%s', async (_name, orchestrator, deterministic) => {
    const first = await runOrchestration(orchestrator, { run: 1 }, (call) => stepOk(call.name), {
      checkReplays: false,
    });
    expect(first.failed).toBeUndefined();
    expect(first.actions.map((a) => a['functionName'] ?? 'timer')).toEqual(['readKey', 'timer', 'rollover']);
    const replay = await first.replay();
    expect(replay.isDone).toBe(true);
    if (deterministic) expect(replay.actions).toEqual(first.actions);
    else expect(replay.actions).not.toEqual(first.actions);
  });

  it.each(cases)(
    'checked as the run goes too (each episode replays the history before it): %s',
    async (_name, orchestrator, deterministic) => {
      const run = await runOrchestration(orchestrator, { run: 1 }, (call) => stepOk(call.name));
      if (deterministic) expect(run.failed).toBeUndefined();
      else
        expect(run.failed).toMatch(
          /^replay of episode 4: non-deterministic orchestrator: action 2 was .*"pick"/,
        );
    },
  );
});
