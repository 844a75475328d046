import { HEALTH_WATCH_SCHEMA_VERSION, type HealthWatchInput } from '../../../shared/domain/healthWatch';
import type { InstanceInfo } from '../../../shared/ports/rotations';
import {
  healthWatchState,
  healthWatchTick,
  type HealthWatchInstances,
} from '../../../shared/triggers/healthWatch';
import { healthIncident } from '../../support/healthIncidents';

class FakeWatch implements HealthWatchInstances {
  readonly started: HealthWatchInput[] = [];
  constructor(
    private info: (InstanceInfo & { input?: unknown }) | undefined,
    private readonly refuse = false,
  ) {}
  status(): Promise<(InstanceInfo & { input?: unknown }) | undefined> {
    return Promise.resolve(this.info);
  }
  start(input: HealthWatchInput): Promise<'started' | 'alreadyRunning'> {
    if (this.refuse) return Promise.resolve('alreadyRunning');
    this.started.push(input);
    this.info = { runtimeStatus: 'Running', output: null };
    return Promise.resolve('started');
  }
}
const open = healthIncident();
const done = (output: unknown): InstanceInfo => ({ runtimeStatus: 'Completed', output });
const NOW = new Date('2026-12-04T10:01:00Z');

describe('health watch timer', () => {
  it('starts a pass carrying the incidents the last one left open', async () => {
    const w = new FakeWatch(
      done({ schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, checkedAt: 'x', open: [open] }),
    );
    expect(await healthWatchTick(w, NOW)).toEqual({ kind: 'started', open: 1 });
    expect(w.started).toEqual([
      {
        schemaVersion: HEALTH_WATCH_SCHEMA_VERSION,
        trigger: 'health:2026-12-04T10:01:00.000Z',
        open: [open],
      },
    ]);
  });

  it('an incident whose resolve the pager refused is carried to the next pass still marked resolving', async () => {
    const resolving = { ...open, resolving: true };
    const w = new FakeWatch(
      done({ schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, checkedAt: 'x', open: [resolving] }),
    );
    await healthWatchTick(w, NOW);
    expect(w.started[0]?.open).toEqual([resolving]);
  });

  it.each(['Running', 'Pending'] as const)(
    'a tick while a pass is %s (redelivered or overlapping) starts nothing',
    async (runtimeStatus) => {
      const w = new FakeWatch({ runtimeStatus, output: null });
      expect(await healthWatchTick(w, NOW)).toEqual({ kind: 'running' });
      expect(w.started).toEqual([]);
    },
  );

  it('a start the task hub refuses (a pass began meanwhile) is "running", not an error', async () => {
    expect(await healthWatchTick(new FakeWatch(undefined, true), NOW)).toEqual({ kind: 'running' });
  });

  it.each(['Failed', 'Terminated'] as const)(
    "after a pass that %s (no output), the next starts from that pass's input: nothing open is forgotten",
    async (runtimeStatus) => {
      const w = new FakeWatch({ runtimeStatus, output: null, input: { open: [open] } });
      await healthWatchTick(w, NOW);
      expect(w.started[0]?.open).toEqual([open]);
    },
  );

  it('an output of another schema or malformed entries carries nothing over', async () => {
    const w = new FakeWatch(done({ schemaVersion: 99, open: [open] }));
    await healthWatchTick(w, NOW);
    const v = new FakeWatch(
      done({ schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, open: [{ dedupKey: 1 }, open] }),
    );
    await healthWatchTick(v, NOW);
    expect([w.started[0]?.open, v.started[0]?.open]).toEqual([[], [open]]);
  });

  it('the status page is told "not run" until a pass completed, and the error of a pass that could not read the fleet', () => {
    expect(healthWatchState(undefined)).toEqual({ ran: false, running: false });
    expect(healthWatchState({ runtimeStatus: 'Running', output: null })).toEqual({
      ran: false,
      running: true,
    });
    expect(
      healthWatchState(
        done({ schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, checkedAt: 'T', open: [], error: 'Throttled: q' }),
      ),
    ).toEqual({ ran: true, running: false, checkedAt: 'T', open: [], error: 'Throttled: q' });
  });
});
