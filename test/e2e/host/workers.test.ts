import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from '../../support/localAzure';
import { call, startHost, type HostProcess } from '../../support/hostProcess';

interface Status {
  runtimeStatus: string;
  output: unknown;
}

/**
 * Whether a process runs: it exists and is not a zombie (a killed host's orphaned worker is reaped by
 * whoever adopts it, which may take a while; signal 0 alone would count the zombie as running).
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true; // not Linux: signal 0 is all there is
  try {
    const text = readFileSync(stat, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two looks
  }
}

describe('the app in worker processes (--workers)', () => {
  const hosts: HostProcess[] = [];
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
  });

  async function host(args: string[] = ['--workers', '1']): Promise<HostProcess> {
    const h = await startHost({ args });
    hosts.push(h);
    return h;
  }
  const run = async (h: HostProcess, id: string, activity: string, input: unknown) => {
    const started = await call('POST', `${h.url}/api/orchestrators/callOne/${id}?code=${h.functionKey}`, {
      activity,
      input,
    });
    expect(started.status).toBe(202);
  };
  const finished = (h: HostProcess, id: string) =>
    waitFor(
      `${id} to finish`,
      async () => {
        const s = (
          await call(
            'GET',
            `${h.url}/runtime/webhooks/durabletask/instances/${id}?code=${h.durableTaskSystemKey}`,
          )
        ).json<Status>();
        return ['Completed', 'Failed'].includes(s.runtimeStatus) ? s : undefined;
      },
      30_000,
    );

  it('runs an activity in a worker process, not in the host, and fails its task with the error it threw', async () => {
    const h = await host();
    await run(h, 'where-1', 'whereAmI', null);
    const where = await finished(h, 'where-1');
    expect(where.runtimeStatus).toBe('Completed');
    expect(typeof where.output).toBe('number');
    expect(where.output).not.toBe(h.child.pid);
    expect(running(where.output as number)).toBe(true);

    await run(h, 'boom-1', 'boom', null);
    const failed = await finished(h, 'boom-1');
    expect(failed.runtimeStatus).toBe('Failed');
    expect(JSON.stringify(failed.output)).toContain('boom: activity failed on purpose');
  });

  it('replays the orchestrator in the worker process too, as the Node.js worker does beside the Functions host', async () => {
    const h = await host();
    const started = await call('POST', `${h.url}/api/orchestrators/whoReplays/who-1?code=${h.functionKey}`);
    expect(started.status).toBe(202);
    const done = await finished(h, 'who-1');
    const { replayedBy, activityPid } = done.output as { replayedBy: number; activityPid: number };
    expect(done.runtimeStatus).toBe('Completed');
    expect(replayedBy).toBe(activityPid);
    expect(replayedBy).not.toBe(h.child.pid);
  });

  it('runs the activity of a worker that died mid-activity again, on the worker started in its place', async () => {
    const h = await host();
    await run(h, 'died-1', 'sleepSquare', { n: 5, ms: 3000 });
    const first = await waitFor('the activity to start', () => h.records('sleepSquare')[0]);
    const pid = (first.value as { pid: number }).pid;
    process.kill(pid, 'SIGKILL');
    const done = await finished(h, 'died-1');
    expect(done).toMatchObject({ runtimeStatus: 'Completed', output: 25 });
    const pids = h.records('sleepSquare').map((r) => (r.value as { pid: number }).pid);
    expect(pids).toHaveLength(2);
    expect(pids[1]).not.toBe(pid);
    expect(pids[1]).not.toBe(h.child.pid);
    expect(h.logs()).toMatch(
      /worker 0 \(pid \d+\) exited \(SIGKILL\); 1 invocation\(s\) it was running run again/,
    );
  });

  it('ends its workers when the host is killed (SIGKILL): nothing of the app runs on without a host', async () => {
    const h = await host();
    await run(h, 'where-2', 'whereAmI', null);
    const pid = (await finished(h, 'where-2')).output as number;
    expect(running(pid)).toBe(true);
    await h.stop('SIGKILL');
    await waitFor('the worker to exit', () => (running(pid) ? undefined : true), 5_000);
  });

  it.each([['two'], ['9'], ['1.5']])(
    'refuses --workers %s with the accepted values, before it starts anything',
    async (value) => {
      await expect(startHost({ args: ['--workers', value] })).rejects.toThrow(
        `--workers must be a whole number from 0 to 8 (got "${value}")`,
      );
    },
  );

  it('refuses to start when a worker cannot load the app, saying why', async () => {
    await expect(
      startHost({ args: ['--workers', '1'], env: { FIXTURE_FAIL_IN_WORKER: '1' } }),
    ).rejects.toThrow('worker 0 could not load the app: this app refuses to load in a worker process');
  });
});
