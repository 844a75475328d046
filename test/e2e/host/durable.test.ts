import { waitFor } from '../../support/localAzure';
import { call, startHost, type HostProcess } from '../../support/hostProcess';

interface Status {
  runtimeStatus: string;
  output: unknown;
  customStatus: unknown;
  input: unknown;
  historyEvents?: { EventType: string; Name?: string }[];
}

describe.each([
  ['activities in the host', [] as string[]],
  ['activities in a worker process', ['--workers', '1']],
])('Durable Functions on the local host (%s)', (_mode, args) => {
  let host: HostProcess;
  const api = (path: string) =>
    `${host.url}/runtime/webhooks/durabletask/${path}${path.includes('?') ? '&' : '?'}code=${host.durableTaskSystemKey}`;
  const start = (name: string, id: string, input?: unknown) =>
    call('POST', `${host.url}/api/orchestrators/${name}/${id}?code=${host.functionKey}`, input);
  const status = async (id: string, query = '') =>
    (await call('GET', api(`instances/${id}${query}`))).json<Status>();
  const finished = (id: string) =>
    waitFor(
      `${id} to finish`,
      async () => {
        const s = await status(id, '?showHistory=true');
        return ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus) ? s : undefined;
      },
      30_000,
    );

  beforeAll(async () => {
    host = await startHost({ args });
    // The worker mode is what it says: the host started a worker (else these tests prove nothing new).
    if (args.length > 0) expect(host.logs()).toMatch(/worker 0 ready \(pid \d+\)/);
  });
  afterAll(async () => {
    await host.stop();
  });

  it('runs activities, retries, timers, external events, sub-orchestrations, failures, custom status and continue-as-new', async () => {
    const res = await start('everything', 'ev-1');
    expect(res.status).toBe(202);
    expect(res.json<{ id: string; statusQueryGetUri: string }>()).toMatchObject({
      id: 'ev-1',
      statusQueryGetUri: expect.stringContaining('/runtime/webhooks/durabletask/instances/ev-1'),
    });
    for (const round of [1, 2]) {
      await waitFor(
        `round ${round} waiting for approval`,
        async () => {
          const s = await status('ev-1', '?showHistory=true');
          return s.historyEvents?.filter((e) => e.EventType === 'TimerFired').length === 3 &&
            (s.customStatus as { round: number }).round === round
            ? s
            : undefined;
        },
        20_000,
      );
      expect(
        (
          await call(
            'POST',
            `${host.url}/api/instances/ev-1/events/approve?code=${host.functionKey}`,
            JSON.stringify(`yes-${round}`),
          )
        ).status,
      ).toBe(202);
    }
    const done = await finished('ev-1');
    expect(done).toMatchObject({
      runtimeStatus: 'Completed',
      customStatus: { stage: 'done', round: 2 },
      input: { round: 2 },
      output: {
        sq: 9,
        retried: 'ok after 3',
        approved: 'yes-2',
        child: 17,
        failed: 'boom: activity failed on purpose ',
        round: 2,
      },
    });
    expect(host.records('flaky')).toHaveLength(6); // two rounds, third attempt succeeds in each
  });

  it('refuses to start an instance id that is running (NonRunningStates), and allows it once finished', async () => {
    expect((await start('waitsForever', 'dup-1')).status).toBe(202);
    await waitFor('running', async () =>
      (await status('dup-1')).runtimeStatus === 'Running' ? true : undefined,
    );
    const again = await call('POST', api('orchestrators/waitsForever/dup-1'));
    expect(again.status).toBe(409);
    expect((await call('POST', api('instances/dup-1/terminate?reason=test'))).status).toBe(202);
    expect((await finished('dup-1')).runtimeStatus).toBe('Terminated');
    expect((await call('POST', api('instances/dup-1/raiseEvent/never'), 1)).status).toBe(410);
    expect((await call('POST', api('orchestrators/waitsForever/dup-1'))).status).toBe(202);
    await call('POST', api('instances/dup-1/terminate?reason=cleanup'));
  });

  it.each([
    ['an activity', 'activity', (out: unknown) => expect(out).toBe(9)],
    ['a timer', 'timer', (out: unknown) => expect(out).toBeGreaterThanOrEqual(1500)],
  ])(
    "drops %s's answer to an execution that continued as new: the next execution's task of the same id gets its own",
    async (_what, kind, check) => {
      const id = `stale-${kind}`;
      await start('staleAnswers', id, { kind, round: 1 });
      const s = await finished(id);
      expect(s.runtimeStatus).toBe('Completed');
      check(s.output);
      // The earlier execution's answer came, and was dropped rather than taken as the new one's.
      await waitFor('the earlier answer to be dropped', () =>
        host.logs().includes(`staleAnswers (${id}): dropped 1 event(s) of an earlier execution`)
          ? true
          : undefined,
      );
    },
  );

  it("drops an activity's answer to an execution that finished, once the instance was started again", async () => {
    const id = 'stale-restart';
    await start('staleAnswers', id, { kind: 'restart', round: 1 });
    expect((await finished(id)).output).toBe('first');
    expect(
      (await call('POST', api(`orchestrators/staleAnswers/${id}`), { kind: 'restart', round: 2 })).status,
    ).toBe(202);
    const again = await waitFor(`${id} to finish again`, async () => {
      const s = await status(id);
      return s.runtimeStatus === 'Completed' && s.output !== 'first' ? s : undefined;
    });
    expect(again.output).toBe(9);
    await waitFor('the earlier answer to be dropped', () =>
      host.logs().includes(`staleAnswers (${id}): dropped 1 event(s) of an earlier execution`)
        ? true
        : undefined,
    );
  });

  it('lists, reads with history, and purges instances; unknown ids are 404', async () => {
    await start('fanOut', 'list-1', 3);
    const s = await finished('list-1');
    expect(s.output).toBe(5);
    expect(s.historyEvents?.map((e) => e.EventType)).toEqual(
      expect.arrayContaining(['ExecutionStarted', 'TaskScheduled', 'TaskCompleted', 'ExecutionCompleted']),
    );
    const list = (await call('GET', api('instances?runtimeStatus=Completed'))).json<
      { instanceId: string }[]
    >();
    expect(list.map((i) => i.instanceId)).toContain('list-1');
    expect((await call('DELETE', api('instances/list-1'))).json()).toEqual({ instancesDeleted: 1 });
    expect((await call('GET', api('instances/list-1'))).status).toBe(404);
    expect((await call('POST', api('instances/nope/raiseEvent/x'), 1)).status).toBe(404);
  });

  it('requires the durable task system key on the public API', async () => {
    expect((await call('GET', `${host.url}/runtime/webhooks/durabletask/instances/x`)).status).toBe(401);
    expect(
      (await call('GET', `${host.url}/runtime/webhooks/durabletask/instances/x?code=${host.functionKey}`))
        .status,
    ).toBe(401);
  });

  it('fails an orchestrator whose activity input cannot become JSON, once (no worker dies on it)', async () => {
    await start('unserializableInput', 'unser-1');
    const s = await finished('unser-1');
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(/circular/i);
    expect(host.logs()).not.toMatch(/worker \d+ \(pid \d+\) exited/);
  });

  it('fails a non-deterministic orchestrator with the documented error instead of mixing up results', async () => {
    await start('nondeterministic', 'nd-1');
    const s = await finished('nd-1');
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toContain('Non-Deterministic workflow detected');
  });

  it.each([
    ['longer than 100 characters', 'x'.repeat(101)],
    ['with a #', encodeURIComponent('a#b')],
    ['with a /', encodeURIComponent('a/b')],
    ['with a control character', encodeURIComponent('a\u0001b')],
    ['starting with @', encodeURIComponent('@a')],
  ])('refuses to start an instance with an id %s, as Azure does', async (_what, id) => {
    const res = await call('POST', api(`orchestrators/child/${id}`), 1);
    expect(res.status).toBe(400);
    expect((await call('GET', api(`instances/${id}`))).status).toBe(404);
  });

  it('accepts an id of exactly 100 characters', async () => {
    expect((await call('POST', api(`orchestrators/child/${'y'.repeat(100)}`), 1)).status).toBe(202);
  });

  it('fails the sub-orchestration task of a parent that names an invalid child id', async () => {
    await start('childWithId', 'cw-1', { childId: 'z'.repeat(101) });
    const s = await finished('cw-1');
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toContain('Invalid sub-orchestration instance id');
  });
});
