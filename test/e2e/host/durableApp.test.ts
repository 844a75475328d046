import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installFixtureApp } from '../../support/durableApp';
import { call, startHost, type HostProcess } from '../../support/hostProcess';
import { waitFor } from '../../support/localAzure';

interface Status {
  instanceId: string;
  runtimeStatus: string;
  output: unknown;
  input: unknown;
  historyEvents?: { EventType: string }[];
}
const FINISHED = ['Completed', 'Failed', 'Terminated'];

/**
 * An ordinary Durable Functions app (test/fixtures/durable-app) installed with its own
 * node_modules/durable-functions, run on the local host unchanged: the patterns of Microsoft Learn's
 * "Durable Functions patterns", sub-orchestration inputs and retries, the Durable HTTP API's management
 * operations (Learn, "HTTP API reference"; the extension's HttpApiHandler.cs), and what the host refuses.
 */
describe('an app with its own durable-functions on the local host', () => {
  let host: HostProcess;
  const api = (path: string) =>
    `${host.url}/runtime/webhooks/durabletask/${path}${path.includes('?') ? '&' : '?'}code=${host.durableTaskSystemKey}`;
  const start = async (name: string, id: string, input?: unknown) => {
    const res = await call('POST', `${host.url}/api/start/${name}/${id}`, input);
    expect(res.status).toBe(202);
  };
  const manage = (op: string, id = '') => call('POST', `${host.url}/api/manage/${op}/${id}`);
  const status = async (id: string) =>
    (await call('GET', api(`instances/${encodeURIComponent(id)}?showHistory=true`))).json<Status>();
  const until = (id: string, what: string, ok: (s: Status) => boolean) =>
    waitFor(`${id}: ${what}`, async () => {
      const s = await status(id);
      return ok(s) ? s : undefined;
    });
  const finished = (id: string) => until(id, 'finished', (s) => FINISHED.includes(s.runtimeStatus));

  beforeAll(async () => {
    host = await startHost({ app: installFixtureApp('durable-app') });
  });
  afterAll(async () => {
    await host.stop();
  });

  it("observes the app's own durable-functions copy, resolved from the app's folder", () => {
    expect(host.logs()).toMatch(
      /durable-functions 3\.\d+\.\d+ at .*df-app-[^/]+\/node_modules\/durable-functions/,
    );
  });

  it('runs a chain of activities', async () => {
    await start('chain', 'chain-1');
    expect(await finished('chain-1')).toMatchObject({
      runtimeStatus: 'Completed',
      output: ['Hello Tokyo', 'Hello Seattle', 'Hello Cairo'],
    });
  });

  it('fans out and in', async () => {
    await start('fanOutIn', 'fan-1', 10);
    expect(await finished('fan-1')).toMatchObject({ runtimeStatus: 'Completed', output: 90 });
  });

  it('takes an external event before its timeout, and times out without one', async () => {
    await start('approval', 'appr-yes', { timeoutSeconds: 60 });
    await until('appr-yes', 'running', (s) => s.runtimeStatus === 'Running');
    expect((await call('POST', api('instances/appr-yes/raiseEvent/approve'), '"ok by ops"')).status).toBe(
      202,
    );
    expect((await finished('appr-yes')).output).toEqual({ approved: 'ok by ops' });

    await start('approval', 'appr-late', { timeoutSeconds: 1 });
    expect((await finished('appr-late')).output).toEqual({ approved: null, timedOut: true });
  });

  it('monitors with a durable timer and continue-as-new until the condition holds', async () => {
    await start('monitor', 'mon-1', { key: 'mon-1', round: 1 });
    await until('mon-1', 'continued as new', (s) => (s.input as { round: number }).round >= 2);
    appendFileSync(host.outFile, `${JSON.stringify({ kind: 'open', value: 'mon-1' })}\n`);
    const done = await finished('mon-1');
    expect(done.runtimeStatus).toBe('Completed');
    expect((done.output as { rounds: number }).rounds).toBeGreaterThanOrEqual(2);
  });

  it('hands sub-orchestrations and activities their string and object inputs unchanged', async () => {
    await start('parentInputs', 'inputs-1');
    const s = await finished('inputs-1');
    expect(s.runtimeStatus).toBe('Completed');
    const str = (value: string) => ({
      childGot: { type: 'string', value },
      activityGot: { type: 'string', value },
    });
    expect(s.output).toEqual({
      fromString: str('plain text, not JSON'),
      fromJsonLooking: str('{"a":1}'),
      fromObject: {
        childGot: { type: 'object', value: { a: [1, 'two'] } },
        activityGot: { type: 'object', value: { a: [1, 'two'] } },
      },
      retried: str('retried text'),
      activityString: { type: 'string', value: 'activity text' },
    });
    // The list of instances stays readable with string inputs in it.
    expect((await call('GET', api('instances'))).status).toBe(200);
  });

  it('retries a failed sub-orchestration under the same explicit instance id', async () => {
    await start('retryChildWithId', 'retry-ok', { failures: 2, attempts: 3 });
    expect(await finished('retry-ok')).toMatchObject({
      runtimeStatus: 'Completed',
      output: 'retry-ok ok after 3',
    });
    // The child id now names the last, successful execution.
    expect(await status('retry-ok:child')).toMatchObject({ runtimeStatus: 'Completed' });

    await start('retryChildWithId', 'retry-out', { failures: 5, attempts: 2 });
    const failed = await finished('retry-out');
    expect(failed.runtimeStatus).toBe('Failed');
    expect(String(failed.output)).toContain('attempt 2 of retry-out fails');
  });

  it('fails a sub-orchestration whose explicit id names an instance that is still running', async () => {
    await start('childIdInUse', 'busy-1');
    const s = await finished('busy-1');
    expect(s.runtimeStatus).toBe('Completed');
    expect(String(s.output)).toMatch(/^refused: /);
  });

  it('fails usesCallHttp at once, naming the unsupported action', async () => {
    await start('usesCallHttp', 'unsupported-usesCallHttp');
    const s = await finished('unsupported-usesCallHttp');
    expect(s.runtimeStatus).toBe('Failed');
    expect(String(s.output)).toContain('The local host does not support CallHttp (durable HTTP calls)');
  });

  it("runs the app's entity: callEntity and signalEntity from orchestrations, the client's signalEntity and readEntityState", async () => {
    await start('usesCallEntity', 'entity-call');
    expect((await finished('entity-call')).runtimeStatus).toBe('Completed');
    await start('usesSignalEntity', 'entity-signal');
    expect(await finished('entity-signal')).toMatchObject({
      runtimeStatus: 'Completed',
      output: 'Hello after signal',
    });
    expect((await manage('signalEntity')).status).toBe(202);
    // Every operation of the fixture's counter adds one: the call, the orchestration's signal, the client's.
    const state = await waitFor('three operations applied', async () => {
      const r = (await manage('readEntityState')).json<{ entityExists: boolean; entityState: unknown }>();
      return r.entityState === 3 ? r : undefined;
    });
    expect(state).toEqual({ entityExists: true, entityState: 3 });
  });

  it('suspends an instance so it does not progress, and resumes it', async () => {
    await start('steps', 'sus-1');
    await until('sus-1', 'running', (s) => s.runtimeStatus === 'Running');
    expect((await manage('suspend', 'sus-1')).status).toBe(202);
    expect((await status('sus-1')).runtimeStatus).toBe('Suspended');
    expect((await call('GET', api('instances/sus-1'))).status).toBe(202);
    // An event that arrives while suspended is accepted and waits.
    expect((await call('POST', api('instances/sus-1/raiseEvent/go'), '"Oslo"')).status).toBe(202);
    for (let i = 0; i < 3; i++) {
      const s = await status('sus-1');
      expect(s.runtimeStatus).toBe('Suspended');
      expect(s.historyEvents?.map((e) => e.EventType)).not.toContain('TaskScheduled');
    }
    expect((await manage('resume', 'sus-1')).status).toBe(202);
    expect(await finished('sus-1')).toMatchObject({ runtimeStatus: 'Completed', output: 'Hello Oslo' });
    expect((await call('POST', api('instances/sus-1/suspend'))).status).toBe(410);
    expect((await call('POST', api('instances/nope/resume'))).status).toBe(404);
  });

  it('terminates a suspended instance', async () => {
    await start('waitForever', 'term-1');
    await until('term-1', 'running', (s) => s.runtimeStatus === 'Running');
    expect((await call('POST', api('instances/term-1/suspend?reason=stuck'))).status).toBe(202);
    expect((await manage('terminate', 'term-1')).status).toBe(202);
    expect((await finished('term-1')).runtimeStatus).toBe('Terminated');
    expect((await call('POST', api('instances/term-1/terminate'))).status).toBe(410);
  });

  it('restarts an instance with its input, under a new id by default or the same one', async () => {
    await start('fanOutIn', 'restart-1', 4);
    await finished('restart-1');
    const res = await call('POST', api('instances/restart-1/restart'));
    expect(res.status).toBe(202);
    const newId = res.json<{ id: string }>().id;
    expect(newId).not.toBe('restart-1');
    expect(await finished(newId)).toMatchObject({ runtimeStatus: 'Completed', output: 12, input: 4 });
    const same = await call('POST', api('instances/restart-1/restart?restartWithNewInstanceId=false'));
    expect(same.json<{ id: string }>().id).toBe('restart-1');
    expect(await finished('restart-1')).toMatchObject({ runtimeStatus: 'Completed', output: 12 });
    // bool.TryParse, as the extension reads it: `False` is false (the same id), `TRUE` true (a new one).
    const capital = await call('POST', api('instances/restart-1/restart?restartWithNewInstanceId=False'));
    expect(capital.status).toBe(202);
    expect(capital.json<{ id: string }>().id).toBe('restart-1');
    expect(await finished('restart-1')).toMatchObject({ runtimeStatus: 'Completed', output: 12 });
    const upper = await call('POST', api('instances/restart-1/restart?restartWithNewInstanceId=TRUE'));
    expect(upper.status).toBe(202);
    expect(upper.json<{ id: string }>().id).not.toBe('restart-1');
    expect((await call('POST', api('instances/restart-1/restart?restartWithNewInstanceId=yes'))).status).toBe(
      400,
    );
    expect((await call('POST', api('instances/nope/restart'))).status).toBe(400);
  });

  it('answers rewind with 501 and the reason (404 unknown, 410 completed)', async () => {
    await start('usesCallHttp', 'rewind-1');
    await finished('rewind-1');
    const res = await call('POST', api('instances/rewind-1/rewind?reason=fixed'));
    expect(res.status).toBe(501);
    expect(res.text).toContain('Rewind is not supported by the local host');
    expect((await manage('rewind', 'rewind-1')).status).toBe(500);
    expect((await call('POST', api('instances/chain-1/rewind'))).status).toBe(410);
    expect((await call('POST', api('instances/nope/rewind'))).status).toBe(404);
  });

  it('purges finished instances by creation time and status, never running ones; typos are refused', async () => {
    await start('chain', 'purge-done');
    await finished('purge-done');
    await start('waitForever', 'purge-running');
    await until('purge-running', 'running', (s) => s.runtimeStatus === 'Running');
    const from = encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString());

    expect((await call('DELETE', api('instances?runtimeStatus=Completed'))).status).toBe(400);
    const typo = await call('DELETE', api(`instances?createdTimeFrom=${from}&runtimeStatus=Complete`));
    expect(typo.status).toBe(400);
    expect(typo.text).toContain('accepted: Pending, Running, Suspended, Completed, Failed, Terminated');
    // Miscased: Azure's case-sensitive parse would drop it and purge with no status filter; refused here.
    const miscased = await call('DELETE', api(`instances?createdTimeFrom=${from}&runtimeStatus=completed`));
    expect(miscased.status).toBe(400);
    expect(miscased.text).toContain('spelt exactly');
    expect((await call('GET', api('instances/purge-done'))).status).toBe(200);

    const purged = await call(
      'DELETE',
      api(`instances?createdTimeFrom=${from}&runtimeStatus=Completed,Running`),
    );
    expect(purged.status).toBe(200);
    expect(purged.json<{ instancesDeleted: number }>().instancesDeleted).toBeGreaterThanOrEqual(1);
    expect((await call('GET', api('instances/purge-done'))).status).toBe(404);
    expect((await status('purge-running')).runtimeStatus).toBe('Running');
    expect(
      (await call('DELETE', api(`instances?createdTimeFrom=${from}&runtimeStatus=Completed`))).status,
    ).toBe(404);

    // The durable client's purgeInstanceHistoryBy goes through the same API.
    await start('chain', 'purge-client');
    await finished('purge-client');
    const byClient = await manage('purgeBy');
    expect(byClient.status).toBe(200);
    expect(byClient.json<{ instancesDeleted: number }>().instancesDeleted).toBeGreaterThanOrEqual(1);
    expect((await call('GET', api('instances/purge-client'))).status).toBe(404);
  });
});

describe('a suspended instance across a host crash', () => {
  let first: HostProcess | undefined;
  let second: HostProcess | undefined;
  afterAll(async () => {
    await first?.stop('SIGKILL');
    await second?.stop();
  });

  it('keeps an activity result that arrived while suspended, stays suspended after SIGKILL, and uses the result on resume', async () => {
    const app = installFixtureApp('durable-app');
    first = await startHost({ app });
    const host = first;
    const api = (h: HostProcess, path: string) =>
      `${h.url}/runtime/webhooks/durabletask/${path}${path.includes('?') ? '&' : '?'}code=${h.durableTaskSystemKey}`;
    const read = async (h: HostProcess) =>
      (await call('GET', api(h, 'instances/gate-1?showHistory=true'))).json<Status>();
    expect((await call('POST', `${host.url}/api/start/gated/gate-1`)).status).toBe(202);
    await waitFor('the activity to start', () => (host.records('gateStarted').length > 0 ? true : undefined));
    expect((await call('POST', api(host, 'instances/gate-1/suspend?reason=hold'))).status).toBe(202);
    appendFileSync(host.outFile, `${JSON.stringify({ kind: 'open', value: 'gate-1' })}\n`);
    // Its result is journaled (fsync'd) in the instance's inbox, where it waits for the resume.
    const instances = join(host.dataDir, 'instances');
    await waitFor('the activity result to be journaled', () =>
      readdirSync(instances).some(
        (f) =>
          /^gate-1\.inbox\.\d+\.jsonl$/.test(f) &&
          readFileSync(join(instances, f), 'utf8').includes('"EventType":5,'),
      )
        ? true
        : undefined,
    );
    const held = await read(host);
    expect(held.runtimeStatus).toBe('Suspended');
    expect(held.historyEvents?.map((e) => e.EventType)).not.toContain('TaskCompleted');

    await host.stop('SIGKILL');
    second = await startHost({ app, dataDir: host.dataDir, outFile: host.outFile });
    const restarted = second;
    expect((await read(restarted)).runtimeStatus).toBe('Suspended');
    expect((await call('POST', api(restarted, 'instances/gate-1/resume?reason=go'))).status).toBe(202);
    const done = await waitFor('completion after resume', async () => {
      const s = await read(restarted);
      return FINISHED.includes(s.runtimeStatus) ? s : undefined;
    });
    expect(done).toMatchObject({ runtimeStatus: 'Completed', output: 'gate-1 passed' });
    // The activity ran once: its result waited in the journal through the suspension and the crash.
    expect(restarted.records('gateStarted')).toHaveLength(1);
  });
});

describe('apps the local host refuses to load, in one line', () => {
  it.each([
    [
      'an output binding it cannot serve',
      () => join(__dirname, '..', '..', 'fixtures', 'output-binding-app'),
      /the local host cannot run this app: function 'copyToBlob': binding '[^']+' \(type blob, direction out\): output bindings are not supported/,
    ],
    [
      'a durable-functions outside the supported range',
      () => installFixtureApp('durable-app', { durableFunctionsVersion: '2.1.3' }),
      /durable-functions 2\.1\.3 \(.*\) is outside the range the local host supports \(>=3\.0\.0 <4\.0\.0\)/,
    ],
  ])('%s', async (_what, app, message) => {
    const refused = await startHost({ app: app() }).then(
      async (h) => {
        await h.stop();
        return 'started';
      },
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    expect(refused).toMatch(/^host exited with 1:/);
    const output = refused.split('\n').slice(1).join('\n').trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toMatch(message);
  });
});
