import type { InstanceInfo } from '../../../shared/ports/rotations';
import { postRotation } from '../../../shared/triggers/operatorApi';
import { FakeInstances, FakeKeys, MemoryAudit, config, unusedFleet } from './fakes';

const running = (closing: boolean): InstanceInfo => ({
  runtimeStatus: 'Running',
  output: undefined,
  customStatus: { phase: 'finishing', trigger: 'event:e0', ...(closing ? { closing: true } : {}) },
});

describe('POST /api/rotations while the key’s run is finishing', () => {
  it('the run is still closing when the wait runs out: 503 with Retry-After, code RunClosing, never "signalled", nothing started', async () => {
    const instances = new FakeInstances(running(false));
    instances.afterRaise = running(true); // closing for every read after the raise
    const audit = new MemoryAudit();
    const pauses: number[] = [];
    const answer = await postRotation(
      instances,
      {
        config,
        keys: new FakeKeys(),
        fleet: unusedFleet('a manual rotation request'),
        audit,
        now: () => new Date('2026-12-04T12:00:00Z'),
        closingWait: { polls: 2, pause: (ms) => (pauses.push(ms), Promise.resolve()) },
      },
      'contoso-pg-kv',
      'pg-cmk',
      'alice',
      false,
      '',
    );
    expect(answer).toMatchObject({
      status: 503,
      headers: { 'retry-after': expect.stringMatching(/^\d+$/) as unknown },
      jsonBody: { code: 'RunClosing', error: expect.stringContaining('try again') as unknown },
    });
    expect(instances.raised).toHaveLength(1);
    expect(pauses).toHaveLength(2);
    expect(instances.started).toEqual([]);
    expect(audit.records.filter((r) => r.reason === 'rotation already running: signalled')).toEqual([]);
  });
});
