import { ActionType } from '../../../local/host/durable/actions';
import { snapshotEpisode, type ExecutorTask, type ExecutorView } from '../../../local/host/durable/executor';
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
    expect(copied?.actionObj).toEqual({ actionType: ActionType.CreateTimer, fireAt: fireAt.toISOString() });
    expect(copied?.actionObj).not.toBe(task.actionObj);
  });
});
