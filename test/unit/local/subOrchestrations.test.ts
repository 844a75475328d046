import { EventType, ev } from '../../../local/host/durable/history';
import type { InstanceState } from '../../../local/host/durable/store';
import { childStart } from '../../../local/host/durable/suborchestrations';

/** The child a SubOrchestrationInstanceCreated event names: create it, leave it (ours), or refuse. */
describe('a sub-orchestration child after a restart or a new execution of its parent', () => {
  const instance = (id: string, extra: Partial<InstanceState>): InstanceState => ({
    instanceId: id,
    name: 'rolloutBatch',
    status: 'Running',
    input: undefined,
    output: undefined,
    customStatus: undefined,
    createdTime: '2026-12-05T10:00:00.000Z',
    lastUpdatedTime: '2026-12-05T10:00:00.000Z',
    parentInstanceId: undefined,
    parentTaskId: undefined,
    history: [],
    inboxGeneration: 0,
    ...extra,
  });
  const parent = instance('cmk-rotation:v:k', { executionId: 'e2' });
  const created = ev(
    EventType.SubOrchestrationInstanceCreated,
    '2026-12-05T10:00:00.000Z',
    { InstanceId: 'cmk-batch:1' },
    3,
  );
  const child = (extra: Partial<InstanceState>) =>
    instance('cmk-batch:1', { parentInstanceId: parent.instanceId, parentTaskId: 3, ...extra });

  it.each([
    ['created by this execution of the parent: ours (re-linked)', child({ parentExecutionId: 'e2' }), 'ours'],
    ['from a log without execution ids: ours', child({}), 'ours'],
    [
      'finished, created by an earlier execution under the same task id: started again',
      child({ parentExecutionId: 'e1', status: 'Completed' }),
      'start',
    ],
    [
      'running, created by an earlier execution under the same task id: refused',
      child({ parentExecutionId: 'e1' }),
      'refuse',
    ],
  ])('a child %s', (_what, existing, kind) => {
    expect(childStart(parent, created, () => existing).kind).toBe(kind);
  });
});
