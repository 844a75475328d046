import { waitFor } from '../../support/localAzure';
import { call, startHost, type HostProcess } from '../../support/hostProcess';

const N = 60;
const EXPECTED = Array.from({ length: N }, (_, i) => i * i).reduce((a, b) => a + b, 0);

describe.each([
  ['activities in the host', [] as string[]],
  ['activities in a worker process', ['--workers', '1']],
])('a host killed with SIGKILL mid-orchestration (%s)', (_mode, args) => {
  let first: HostProcess | undefined;
  let second: HostProcess | undefined;

  afterAll(async () => {
    await first?.stop('SIGKILL');
    await second?.stop();
  });

  it('resumes after restart with the same output; completed activity results are kept, decisions unchanged', async () => {
    first = await startHost({ args });
    if (args.length > 0) expect(first.logs()).toMatch(/worker 0 ready \(pid \d+\)/);
    const started = await call(
      'POST',
      `${first.url}/api/orchestrators/fanOut/crash-1?code=${first.functionKey}`,
      N,
    );
    expect(started.status).toBe(202);
    const host = first;
    await waitFor('a part of the fan-out to run', () =>
      host.records('slowSquare').length >= 12 ? true : undefined,
    );
    await first.stop('SIGKILL');
    const beforeCrash = first.records('slowSquare').length;
    expect(beforeCrash).toBeLessThan(N);

    second = await startHost({ dataDir: first.dataDir, outFile: first.outFile, args });
    const api = `${second.url}/runtime/webhooks/durabletask/instances/crash-1?showHistory=true&showHistoryOutput=true&code=${second.durableTaskSystemKey}`;
    const status = await waitFor(
      'the resumed orchestration to complete',
      async () => {
        const s = (await call('GET', api)).json<{
          runtimeStatus: string;
          output: number;
          historyEvents: { EventType: string; EventId: number; TaskScheduledId?: number }[];
        }>();
        return s.runtimeStatus === 'Completed' ? s : undefined;
      },
      30_000,
    );
    expect(status.output).toBe(EXPECTED);

    // Every activity ran at least once; some may have run twice (at-least-once), none was lost.
    const runs = second.records('slowSquare').map((r) => r.value as number);
    expect(new Set(runs)).toEqual(new Set(Array.from({ length: N }, (_, i) => i)));
    expect(runs.length).toBeGreaterThanOrEqual(N);
    console.log(
      `crash-resume: ${beforeCrash} activity executions before SIGKILL, ${runs.length} in total for ${N} activities`,
    );

    // The history holds each decision once: ids 0..N-1 scheduled once and completed once.
    const scheduled = status.historyEvents
      .filter((e) => e.EventType === 'TaskScheduled')
      .map((e) => e.EventId);
    const completed = status.historyEvents
      .filter((e) => e.EventType === 'TaskCompleted')
      .map((e) => e.TaskScheduledId);
    expect(scheduled).toEqual(Array.from({ length: N }, (_, i) => i));
    expect([...completed].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: N }, (_, i) => i),
    );
  });
});
