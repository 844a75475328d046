import { ActionType, INPUT_ENCODED } from '../../../local/host/durable/actions';
import type { ExecutorTask, ExecutorView } from '../../../local/host/durable/executor';
import { snapshotEpisode } from '../../../local/host/durable/snapshot';
import { EventType, ev, played } from '../../../local/host/durable/history';
import { newWork } from '../../../local/host/durable/scheduling';
import type { HistoryEvent, InstanceState } from '../../../local/host/durable/store';

/**
 * A worker process sends the host a snapshot of its executor instead of the executor (worker/main.ts).
 * The host must schedule exactly what it would have scheduled from the executor itself.
 */
describe("an orchestrator replay's executor, as a worker process sends it", () => {
  const NOW = '2026-12-06T01:00:00.000Z';
  const retry = { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 3, backoffCoefficient: 2 };
  const activity = (id: number, name: string): ExecutorTask => ({
    id,
    actionObj: { actionType: ActionType.CallActivity, functionName: name, input: JSON.stringify({ id }) },
  });
  // The history the host committed: task 0 scheduled (played) in an earlier episode.
  const history: HistoryEvent[] = [
    played(ev(EventType.OrchestratorStarted, NOW)),
    played(ev(EventType.TaskScheduled, NOW, { Name: 'readServer' }, 0)),
    played(ev(EventType.OrchestratorCompleted, NOW)),
  ];
  const state: InstanceState = {
    instanceId: 'cmk-rollover:1',
    name: 'serverRollover',
    status: 'Running',
    input: undefined,
    output: undefined,
    customStatus: undefined,
    createdTime: NOW,
    lastUpdatedTime: NOW,
    parentInstanceId: undefined,
    parentTaskId: undefined,
    history,
    inboxGeneration: 1,
  };
  // What the replay saw: the committed history, then this episode's events (not played).
  const replayed = [...history, ev(EventType.OrchestratorStarted, NOW), ev(EventType.TaskCompleted, NOW)];

  const retryParent: ExecutorTask = {
    id: false,
    actionObj: undefined,
    retryOptions: retry,
    attemptNumber: 3,
    isWaitingOnTimer: true,
  };
  const cases: [string, Record<string, ExecutorTask>][] = [
    [
      'an activity not scheduled yet, beside one already in history',
      { 0: activity(0, 'readServer'), 1: activity(1, 'updateServer') },
    ],
    [
      'a timer (its fireAt a Date in the executor, an ISO string in the snapshot)',
      {
        1: {
          id: 1,
          actionObj: {
            actionType: ActionType.CreateTimer,
            fireAt: new Date('2026-12-06T01:00:30.000Z'),
            isCanceled: false,
          },
        },
      },
    ],
    [
      "a retry's timer (the parent waiting on it, at its third attempt)",
      { 1: { id: 1, actionObj: 'noOp', parent: retryParent } },
    ],
    [
      "a retry's new attempt (the parent's inner task scheduled again)",
      {
        1: {
          id: 1,
          actionObj: 'noOp',
          parent: { ...retryParent, isWaitingOnTimer: false, innerTask: activity(-1, 'updateServer') },
        },
      },
    ],
    [
      "a Date as an activity's whole input (encoded as the host encodes it, quotes included)",
      {
        1: {
          id: 1,
          actionObj: { actionType: ActionType.CallActivity, functionName: 'purge', input: new Date(NOW) },
        },
      },
    ],
    [
      'an input whose toJSON gives a string (a URL)',
      {
        1: {
          id: 1,
          actionObj: {
            actionType: ActionType.CallSubOrchestrator,
            functionName: 'child',
            input: new URL('https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/v3'),
          },
        },
      },
    ],
    [
      'a sub-orchestration with its own instance id',
      {
        1: {
          id: 1,
          actionObj: {
            actionType: ActionType.CallSubOrchestrator,
            functionName: 'serverRollover',
            instanceId: 'cmk-rollover:2',
            input: { server: 2 },
          },
        },
      },
    ],
  ];

  it.each(cases)('schedules the same work from the snapshot as from the executor: %s', (_what, openTasks) => {
    const view: ExecutorView = { openTasks };
    const snapshot = snapshotEpisode(view, [], replayed);
    expect(newWork(state, snapshot.executor, NOW)).toEqual(newWork(state, view, NOW));
    expect(newWork(state, view, NOW).length).toBeGreaterThan(0);
  });

  it('leaves out the tasks the committed history already schedules, and their signals', () => {
    const view: ExecutorView = {
      openTasks: { 0: activity(0, 'readServer'), 1: activity(1, 'updateServer') },
    };
    const signals = [
      { id: 0, action: { actionType: ActionType.SignalEntity, instanceId: '@g@s1', operation: 'observe' } },
      { id: 2, action: { actionType: ActionType.SignalEntity, instanceId: '@g@s1', operation: 'observe' } },
    ];
    const snapshot = snapshotEpisode(view, signals, replayed);
    expect(Object.keys(snapshot.executor.openTasks)).toEqual(['1']);
    expect(snapshot.fireAndForget.map((f) => f.id)).toEqual([2]);
  });

  it("counts only played events as known: an episode's own events never hide a task", () => {
    const view: ExecutorView = { openTasks: { 1: activity(1, 'updateServer') } };
    const unplayed = [...replayed, ev(EventType.TaskScheduled, NOW, { Name: 'updateServer' }, 1)];
    expect(Object.keys(snapshotEpisode(view, [], unplayed).executor.openTasks)).toEqual(['1']);
  });

  it('is plain JSON: no Date, no shared objects with the executor', () => {
    const fireAt = new Date('2026-12-06T01:00:30.000Z');
    const task: ExecutorTask = { id: 1, actionObj: { actionType: ActionType.CreateTimer, fireAt } };
    const snapshot = snapshotEpisode({ openTasks: { 1: task } }, [], replayed);
    const copied = snapshot.executor.openTasks['1'];
    expect(copied?.actionObj).toEqual({
      actionType: ActionType.CreateTimer,
      fireAt: fireAt.toISOString(),
      [INPUT_ENCODED]: true,
    });
    expect(copied?.actionObj).not.toBe(task.actionObj);
  });

  /** An entity request's id is random: compared without it. */
  const withoutRequestIds = (events: HistoryEvent[]) =>
    events.map((e) => {
      const input =
        typeof e['Input'] === 'string' ? (JSON.parse(e['Input']) as Record<string, unknown>) : undefined;
      if (input !== undefined) delete input['id'];
      return { ...e, Input: input };
    });

  it('schedules the same entity calls and signals from the snapshot, inputs encoded alike', () => {
    const call = {
      actionType: ActionType.CallEntity,
      instanceId: '@armquotagovernor@s1',
      operation: 'reserve',
      input: { servers: 100, at: new Date(NOW) },
    };
    const signal = {
      actionType: ActionType.SignalEntity,
      instanceId: '@armquotagovernor@s1',
      operation: 'observe',
      input: { reads: 240 },
    };
    const view: ExecutorView = { openTasks: { 1: { id: 1, actionObj: call } } };
    const signals = [{ id: 2, action: signal }];
    const snapshot = snapshotEpisode(view, signals, replayed);
    expect(withoutRequestIds(newWork(state, snapshot.executor, NOW, snapshot.fireAndForget))).toEqual(
      withoutRequestIds(newWork(state, view, NOW, signals)),
    );
  });

  it("copies no sibling of a Task.all: a fan-out's snapshot grows with the new tasks, not their square", () => {
    const siblings = Array.from({ length: 1000 }, (_, i) => ({
      actionType: ActionType.CallActivity,
      functionName: 'updateServer',
      input: 'x'.repeat(1000) + String(i),
    }));
    const all: ExecutorTask = {
      id: false,
      actionObj: { actionType: 'WhenAll', compoundActions: siblings },
    };
    const openTasks: Record<string, ExecutorTask> = {};
    for (let i = 1; i <= 1000; i++) openTasks[i] = { id: i, actionObj: siblings[i - 1], parent: all };
    const snapshot = snapshotEpisode({ openTasks }, [], replayed);
    expect(JSON.stringify(snapshot).length).toBeLessThan(1100 * 1000 * 1.2);
    expect(newWork(state, snapshot.executor, NOW)).toEqual(newWork(state, { openTasks }, NOW));
  });

  it('throws for an invalid timer date, as scheduling it in the host throws', () => {
    const view: ExecutorView = {
      openTasks: {
        1: { id: 1, actionObj: { actionType: ActionType.CreateTimer, fireAt: new Date(Number.NaN) } },
      },
    };
    expect(() => newWork(state, view, NOW)).toThrow(RangeError);
    expect(() => snapshotEpisode(view, [], replayed)).toThrow(RangeError);
  });
});
