import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installFixtureApp } from '../../support/durableApp';
import { call, startHost, type HostProcess } from '../../support/hostProcess';
import { waitFor } from '../../support/localAzure';

interface Status {
  instanceId: string;
  runtimeStatus: string;
  output: unknown;
  historyEvents?: { EventType: string; Name?: string }[];
}
const FINISHED = ['Completed', 'Failed', 'Terminated'];

/**
 * Durable entities on the local host, through an ordinary app (test/fixtures/entity-app) with its own
 * durable-functions: orchestrations call and signal entities, the durable client signals and reads
 * them, and the host runs each entity's operations one at a time, in batches of host.json's
 * maxEntityOperationBatchSize (3 in the fixture), surviving a restart.
 */
describe('durable entities on the local host', () => {
  let host: HostProcess;
  let app: string;
  const api = (path: string) =>
    `${host.url}/runtime/webhooks/durabletask/${path}${path.includes('?') ? '&' : '?'}code=${host.durableTaskSystemKey}`;
  const start = async (name: string, id: string, input?: unknown) => {
    const res = await call('POST', `${host.url}/api/start/${name}/${id}`, input);
    expect(res.status).toBe(202);
  };
  const status = async (id: string) =>
    (await call('GET', api(`instances/${encodeURIComponent(id)}?showHistory=true`))).json<Status>();
  const finished = (id: string) =>
    waitFor(`${id}: finished`, async () => {
      const s = await status(id);
      return FINISHED.includes(s.runtimeStatus) ? s : undefined;
    });
  const run = async (name: string, id: string, input?: unknown) => {
    await start(name, id, input);
    return finished(id);
  };
  const signal = async (name: string, key: string, op: string, input?: unknown) => {
    const body = input === undefined ? undefined : JSON.stringify(input);
    const res = await call('POST', `${host.url}/api/entity/${name}/${key}/${op}`, body);
    expect(res.status).toBe(202);
  };
  const read = async (name: string, key: string) =>
    (await call('GET', `${host.url}/api/entity/${name}/${key}`)).json<{
      entityExists: boolean;
      entityState: unknown;
    }>();
  /** Batch sizes the host logged for one entity, in order. */
  const batches = (id: string) =>
    [...host.logs().matchAll(new RegExp(`entity ${id}: batch of (\\d+)`, 'g'))].map((m) => Number(m[1]));

  beforeAll(async () => {
    app = installFixtureApp('entity-app');
    host = await startHost({ app });
  });
  afterAll(async () => {
    await host.stop();
  });

  it.each([
    ['add returns the new value', { key: 'ret-1', op: 'add', input: 5 }, { result: 5 }],
    ['get of a new entity returns its initial state', { key: 'ret-2', op: 'get' }, { result: 0 }],
    [
      'the entity sees its name (lowercased, as the extension passes it) and key',
      { name: 'Counter', key: 'Ret-3', op: 'whoami' },
      { result: { name: 'counter', key: 'Ret-3' } },
    ],
  ])('a call returns the operation result: %s', async (_what, input, output) => {
    const s = await run('callOne', `call-${input.key}`, input);
    expect(s).toMatchObject({ runtimeStatus: 'Completed', output });
  });

  it('puts the call and its answer in history as the library reads them (EventSent, EventRaised by request id)', async () => {
    const s = await run('callOne', 'call-history', { key: 'hist-1', op: 'add', input: 2 });
    const sent = s.historyEvents?.find((e) => e.EventType === 'EventSent');
    const raised = s.historyEvents?.find((e) => e.EventType === 'EventRaised');
    expect(sent).toMatchObject({ Name: 'op', InstanceId: '@counter@hist-1' });
    const request = JSON.parse((sent as unknown as { Input: string }).Input) as Record<string, unknown>;
    expect(request).toMatchObject({ op: 'add', input: '2', parent: 'call-history', signal: false });
    expect(raised?.Name).toBe(request['id']);
  });

  it('a signal from an orchestration, then a call, sees the state the signal made', async () => {
    const s = await run('signalThenCall', 'sig-call-1', { key: 'sig-1', amount: 7 });
    expect(s).toMatchObject({ runtimeStatus: 'Completed', output: 7 });
  });

  it('a signal sent just before the orchestration returns still reaches the entity', async () => {
    expect((await run('signalAndReturn', 'sig-ret-1', { key: 'sig-ret', amount: 4 })).output).toBe('sent');
    await waitFor('the signal applied', async () =>
      (await read('counter', 'sig-ret')).entityState === 4 ? true : undefined,
    );
  });

  it("the durable client's signalEntity is applied and readEntityState reads the state", async () => {
    expect(await read('counter', 'client-1')).toEqual({ entityExists: false, entityState: null });
    await signal('counter', 'client-1', 'add', 3);
    await signal('counter', 'client-1', 'add', 4);
    const s = await run('callOne', 'client-get', { key: 'client-1', op: 'get' });
    expect(s.output).toEqual({ result: 7 });
    expect(await read('counter', 'client-1')).toEqual({ entityExists: true, entityState: 7 });
    // deleted (destructOnExit): reads as not existing again
    const del = await call('DELETE', api('entities/counter/client-1'));
    expect(del.status).toBe(202);
    await waitFor('deleted', async () =>
      (await read('counter', 'client-1')).entityExists ? undefined : true,
    );
  });

  it('100 orchestrations adding to one counter at once lose no update', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id) => start('callOne', id, { key: 'many', op: 'add', input: 1 })));
    const results = await Promise.all(ids.map((id) => finished(id)));
    expect(results.every((s) => s.runtimeStatus === 'Completed')).toBe(true);
    // Each add saw a different state: the operations ran one at a time.
    const seen = results.map((s) => (s.output as { result: number }).result).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(await read('counter', 'many')).toEqual({ entityExists: true, entityState: 100 });
    expect(Math.max(...batches('@counter@many'))).toBeLessThanOrEqual(3);
  });

  it("an operation that throws makes the caller's callEntity throw, and the entity keeps serving", async () => {
    await run('callOne', 'fail-0', { key: 'fail', op: 'add', input: 1 });
    const failed = await run('callOne', 'fail-1', { key: 'fail', op: 'failAfterSet' });
    expect(failed).toMatchObject({ runtimeStatus: 'Completed', output: { threw: true } });
    const after = await run('callOne', 'fail-2', { key: 'fail', op: 'add', input: 1 });
    // An out-of-proc entity keeps what the failed operation set (TaskEntityShim.ExecuteOutOfProcBatch
    // takes the batch's state whole; rollback applies to in-process .NET entities only).
    expect(after).toMatchObject({ runtimeStatus: 'Completed', output: { result: 1002 } });
  });

  it('runs two entities side by side: one held in an operation does not hold the other', async () => {
    await signal('counter', 'held', 'gate', 'side');
    await waitFor('the gate runs', () =>
      host.records('gate').some((r) => r.value === 'side') ? true : undefined,
    );
    const other = await run('callOne', 'side-1', { key: 'free', op: 'add', input: 2 });
    expect(other.output).toEqual({ result: 2 });
    expect(batches('@counter@held')).toEqual([]); // still inside the gate
    appendFileSync(host.outFile, `${JSON.stringify({ kind: 'open', value: 'side' })}\n`);
    await waitFor('the gate committed', () => (batches('@counter@held').length > 0 ? true : undefined));
  });

  it('runs what queued behind a busy entity in batches of maxEntityOperationBatchSize, in arrival order', async () => {
    await signal('counter', 'batched', 'gate', 'batch');
    await waitFor('the gate runs', () =>
      host.records('gate').some((r) => r.value === 'batch') ? true : undefined,
    );
    for (let i = 1; i <= 7; i++) await signal('counter', 'batched', 'add', i);
    appendFileSync(host.outFile, `${JSON.stringify({ kind: 'open', value: 'batch' })}\n`);
    await waitFor('all applied', async () =>
      (await read('counter', 'batched')).entityState === 28 ? true : undefined,
    );
    expect(batches('@counter@batched')).toEqual([1, 3, 3, 1]);
  });

  it('an entity signals another entity', async () => {
    await signal('counter', 'fwd-from', 'forward', { key: 'fwd-to', amount: 9 });
    await waitFor('forwarded', async () =>
      (await read('counter', 'fwd-to')).entityState === 9 ? true : undefined,
    );
  });

  it.each([
    ['callUnknown', 'call-unknown'],
    ['signalUnknown', 'signal-unknown'],
  ])(
    '%s: an entity name with no entity function fails the orchestration, naming the known ones',
    async (name, id) => {
      const s = await run(name, id);
      expect(s.runtimeStatus).toBe('Failed');
      expect(String(s.output)).toContain(
        "The function 'nosuchentity' doesn't exist, is disabled, or is not an entity function. Additional info: The following are the known entity functions: 'counter', 'gauge'.",
      );
    },
  );

  it('fails a replay that schedules something else where history has the entity call (non-determinism)', async () => {
    await start('flipAfterCall', 'flip-1');
    await waitFor('the call answered', async () =>
      (await status('flip-1')).historyEvents?.some((e) => e.EventType === 'EventRaised') === true
        ? true
        : undefined,
    );
    appendFileSync(host.outFile, `${JSON.stringify({ kind: 'flip', value: true })}\n`);
    expect((await call('POST', api('instances/flip-1/raiseEvent/go'), '"now"')).status).toBe(202);
    const s = await finished('flip-1');
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toMatch(/^Non-Deterministic workflow detected: EventSent: 0/);
  });

  it.each([
    ['an entity with no entity function', 'entities/nosuchentity/k?op=add', /is not an entity function/],
    ['an empty operation name', 'entities/counter/k', /operation name must not be empty/],
  ])('the entity API refuses %s with 400', async (_what, path, message) => {
    const res = await call('POST', api(path), 1);
    expect(res.status).toBe(400);
    expect(res.text).toMatch(message);
  });

  it('keeps entity state and queued operations across a restart, and re-runs a batch that did not commit', async () => {
    await run('callOne', 'restart-0', { key: 'durable', op: 'add', input: 10 });
    // A call whose batch never ends: the host is killed under it.
    await start('callOne', 'restart-1', { key: 'crashy', op: 'hangOnce' });
    await waitFor('hangOnce ran', () => (host.records('hangOnce').length === 1 ? true : undefined));
    await signal('counter', 'crashy', 'add', 5); // queued behind it
    await host.stop('SIGKILL');
    host = await startHost({ app, dataDir: host.dataDir, outFile: host.outFile });

    const s = await finished('restart-1');
    expect(s).toMatchObject({ runtimeStatus: 'Completed', output: { result: 1 } });
    // At-least-once: the operation ran again; the call was answered once.
    expect(host.records('hangOnce')).toHaveLength(2);
    expect(s.historyEvents?.filter((e) => e.EventType === 'EventRaised')).toHaveLength(1);
    await waitFor('queued add applied', async () =>
      (await read('counter', 'crashy')).entityState === 6 ? true : undefined,
    );
    expect(await read('counter', 'durable')).toEqual({ entityExists: true, entityState: 10 });
    // The state lives in the data folder, one record and one request journal per entity.
    const files = readdirSync(join(host.dataDir, 'entities'));
    expect(files).toContain(`${encodeURIComponent('@counter@durable')}.entity.json`);
    expect(
      JSON.parse(
        readFileSync(
          join(host.dataDir, 'entities', `${encodeURIComponent('@counter@durable')}.entity.json`),
          'utf8',
        ),
      ),
    ).toMatchObject({ exists: true, state: '10' });
  });

  it.each([0, 2.5, 'ten'])(
    'refuses to start with maxEntityOperationBatchSize %p in host.json, naming the setting',
    async (value) => {
      const bad = installFixtureApp('entity-app');
      const hostJson = JSON.parse(readFileSync(join(bad, 'host.json'), 'utf8')) as {
        extensions: { durableTask: Record<string, unknown> };
      };
      hostJson.extensions.durableTask['maxEntityOperationBatchSize'] = value;
      writeFileSync(join(bad, 'host.json'), JSON.stringify(hostJson));
      const refused = await startHost({ app: bad }).then(
        async (h) => {
          await h.stop();
          return 'started';
        },
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      expect(refused).toMatch(/^host exited with 1:/);
      expect(refused).toContain(
        'host.json extensions.durableTask.maxEntityOperationBatchSize must be a positive integer',
      );
    },
  );
});
