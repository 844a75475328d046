import type { AuditRecord } from '../../../../shared/domain/audit';
import { RETRY_POLICIES } from '../../../../shared/rotation/policy';
import type { ServerOutcome } from '../../../../shared/rotation/contract';
import type { VerifyServerInput, VerifyServerOutput } from '../../../../shared/rotation/activityIo';
import { STARTED_RECORD_MAX_WAIT_SECONDS } from '../../../../shared/rotation/orchestrators/rolloverRun';
import { serverRolloverOrchestrator } from '../../../../shared/rotation/orchestrators/serverRollover';
import { runOrchestration, stepFailed, stepOk } from '../../../support/orchestration';
import { NOW, SETTINGS, V1, V2 } from './fixtures';
import {
  TARGET,
  FROM,
  input,
  accepted,
  refused,
  busy,
  onTarget,
  updating,
  valid,
  run,
  throttledUpdate,
  timerWaits,
  called,
  pageOf,
  audits,
  steps,
} from './rolloverHarness';

/**
 * One server (serverRollover.ts): read, PATCH, its retries and refusals, and every failure becoming
 * this server's outcome. Waiting for ARM's operation and the verification: rolloverVerify.test.ts.
 */
describe('serverRollover orchestrator, driven by durable histories', () => {
  it("on the happy path reads and PATCHes in one step, then looks at the server on durable timers until it is no longer Updating, and that read is the verification: ARM's operation status is never read", async () => {
    const r = await run({ verify: [updating, updating, valid] });
    const out = r.output as ServerOutcome;
    expect(out).toMatchObject({ outcome: 'updated', slots: [{ slot: 'primary', from: V1, to: V2 }] });
    expect(called(r, 'updateServer').map((c) => c.input)).toEqual([
      {
        serverId: input.server.serverId,
        key: input.key,
        targetVersion: V2,
        optOutTag: SETTINGS.optOutTag,
      },
    ]);
    const look = {
      serverId: input.server.serverId,
      expected: { primary: TARGET },
      audit: {
        record: expect.objectContaining({ step: 'ServerVerified', details: { outcome: 'updated' } }),
        startedAt: Date.parse(NOW),
      },
    };
    // ServerUpdateStarted is the rollover's own, once the write step's answer is in its history (a
    // second after the start, on this harness's clock), and goes with the first look at the server,
    // whatever that look finds; ServerVerified goes with the read that proved the server (issue 22).
    const started = expect.objectContaining({
      step: 'ServerUpdateStarted',
      details: expect.objectContaining({ acceptedAt: new Date(Date.parse(NOW) + 1000).toISOString() }),
    });
    expect(called(r, 'verifyServer').map((c) => c.input)).toEqual([
      { ...look, along: [started] },
      look,
      look,
    ]);
    expect(called(r, 'pollServerUpdate')).toHaveLength(0);
    expect(timerWaits(r)).toEqual([10, 10, 10]);
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
    // No audit activity of its own on the happy path: one activity and one episode fewer per server.
    expect(called(r, 'recordAudit')).toHaveLength(0);
  });

  it('a look whose records the trail refused: the next look carries ServerUpdateStarted again, and the trail has it once, before the proof', async () => {
    const r = await run({ verify: [updating, valid], audit: [stepFailed('IngestionRefused', false), null] });
    expect(
      called(r, 'verifyServer').map((c) => (c.input as VerifyServerInput).along?.map((a) => a.step)),
    ).toEqual([['ServerUpdateStarted'], ['ServerUpdateStarted']]);
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
    expect(called(r, 'recordAudit')).toHaveLength(0);
    expect((r.output as ServerOutcome).auditUndelivered).toBeUndefined();
  });

  it('a look that proves the server but whose records the trail refused: the rollover records ServerUpdateStarted and ServerVerified itself, and only what the trail finally refused counts as undelivered', async () => {
    // The trail refuses the proving read's write, then the rollover's own for good.
    const r = await run({ audit: [stepFailed('IngestionRefused', false), stepFailed('Nope', false)] });
    expect(called(r, 'recordAudit').map((c) => (c.input as AuditRecord[]).map((a) => a.step))).toEqual([
      ['ServerUpdateStarted', 'ServerVerified'],
    ]);
    expect(r.output).toMatchObject({ outcome: 'updated', auditUndelivered: 2 });
  });

  it("a look that fails after its retries: ServerUpdateStarted is recorded in the failure's write, before ServerFailed", async () => {
    const r = await run({ verify: [stepFailed('ReadFailed', false)] });
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'ReadFailed' });
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerFailed', 'OperatorPaged']);
    expect((called(r, 'recordAudit')[0]?.input as AuditRecord[]).map((a) => a.step)).toEqual([
      'ServerUpdateStarted',
      'ServerFailed',
    ]);
  });

  it("a look retried after a failed read: ServerUpdateStarted goes ahead of the retry's record, and the retried look carries nothing more", async () => {
    const r = await run({ verify: [stepFailed('ReadFailed', true), valid] });
    expect(r.output).toMatchObject({ outcome: 'updated' });
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerUpdateRetried', 'ServerVerified']);
    expect(called(r, 'verifyServer').map((c) => (c.input as VerifyServerInput).along?.length ?? 0)).toEqual([
      1, 0,
    ]);
  });

  it("a retry record the trail refused: ServerUpdateStarted keeps waiting and goes with the retried look; only the retry's record counts as undelivered", async () => {
    const r = await run({
      verify: [stepFailed('ReadFailed', true), valid],
      audit: [stepFailed('IngestionRefused', false), null],
    });
    // The retry's write (ServerUpdateStarted first) refused; the retried look carries it again.
    expect(called(r, 'recordAudit').map((c) => (c.input as AuditRecord[]).map((a) => a.step))).toEqual([
      ['ServerUpdateStarted', 'ServerUpdateRetried'],
    ]);
    expect(called(r, 'verifyServer').map((c) => (c.input as VerifyServerInput).along?.length ?? 0)).toEqual([
      1, 1,
    ]);
    expect(r.output).toMatchObject({ outcome: 'updated', auditUndelivered: 1 });
  });

  it('a look answered by a worker that ignores `along` (a deploy under way): ServerUpdateStarted stays waiting and the rollover records it', async () => {
    const r = await run({ ignoresAlong: true });
    expect(steps(r)).toEqual(['ServerVerified', 'ServerUpdateStarted']);
    expect(called(r, 'recordAudit').map((c) => (c.input as AuditRecord[]).map((a) => a.step))).toEqual([
      ['ServerUpdateStarted'],
    ]);
    expect((r.output as ServerOutcome).auditUndelivered).toBeUndefined();
  });

  it('a first look far off (past STARTED_RECORD_MAX_WAIT_SECONDS): ServerUpdateStarted is recorded at once, not left waiting for it', async () => {
    const r = await run({}, {}, { firstPollSeconds: STARTED_RECORD_MAX_WAIT_SECONDS + 1 });
    expect(called(r, 'recordAudit').map((c) => (c.input as AuditRecord[]).map((a) => a.step))).toEqual([
      ['ServerUpdateStarted'],
    ]);
    expect(called(r, 'verifyServer').every((c) => (c.input as VerifyServerInput).along === undefined)).toBe(
      true,
    );
    expect(
      r.calls.findIndex((c) => c.name === 'recordAudit') <
        r.calls.findIndex((c) => c.name === 'verifyServer'),
    ).toBe(true);
    expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
  });

  it("says when ARM accepted the PATCH by the write step's clock, not the episode that read its answer", async () => {
    const acceptedAt = Date.parse(NOW) + 300;
    const r = await run({ update: [{ ...accepted, acceptedAt }] });
    expect(audits(r)[0]?.details?.['acceptedAt']).toBe(new Date(acceptedAt).toISOString());
  });

  it('records ServerUpdateStarted with the last-known-good the write step read, once however many attempts the PATCH takes', async () => {
    const r = await run({
      update: [refused('ServerBusy', true, 1), refused('ServerBusy', true, 1), accepted],
    });
    expect(steps(r)).toEqual([
      'ServerUpdateStarted',
      'ServerUpdateRetried',
      'ServerUpdateRetried',
      'ServerVerified',
    ]);
    const started = audits(r)[0];
    expect(started).toMatchObject({
      fromVersion: V1,
      toVersion: V2,
      reason: `moving primary ${V1} -> ${V2}`,
    });
    expect(JSON.parse(started?.details?.['lastKnownGood'] ?? '{}')).toMatchObject({
      dataEncryption: { primaryKeyURI: FROM },
    });
  });

  it('hands back the latest ARM quota its steps saw, for the parent to pace the rollout', async () => {
    const r = await run({
      update: [{ ...accepted, quota: { reads: 240, writes: 150 } }],
      verify: [{ ...valid, quota: { reads: 180 } }],
    });
    expect((r.output as ServerOutcome).armQuota).toEqual({ reads: 180, writes: 150 });
  });

  it('honours Retry-After when ARM throttles the PATCH, backs off exponentially without one, and audits each retry with its code and wait', async () => {
    const r = await run({
      update: [
        refused('TooManyRequests', true, 7),
        refused('TooManyRequests', true),
        refused('TooManyRequests', true),
        accepted,
      ],
    });
    expect(called(r, 'updateServer')).toHaveLength(4);
    expect(timerWaits(r).slice(0, 3)).toEqual([7, 10, 20]);
    expect((r.output as ServerOutcome).outcome).toBe('updated');
    const retried = audits(r).filter((a) => a.step === 'ServerUpdateRetried');
    expect(
      retried.map((a) => [
        a.reasonCode,
        a.details?.['step'],
        a.details?.['waitSeconds'],
        a.details?.['attempt'],
      ]),
    ).toEqual([
      ['TooManyRequests', 'updateServer', '7', '1'],
      ['TooManyRequests', 'updateServer', '10', '2'],
      ['TooManyRequests', 'updateServer', '20', '3'],
    ]);
  });

  it('waits out consecutive 429s (Retry-After 2 s, then 5 s) past maxWriteAttempts without spending the write budget: updated, never paged', async () => {
    const throttled = (retryAfterSeconds: number) => throttledUpdate(retryAfterSeconds);
    const storm = [
      ...Array.from({ length: 4 }, () => throttled(2)),
      ...Array.from({ length: 5 }, () => throttled(5)),
    ];
    expect(storm.length).toBeGreaterThan(2 * SETTINGS.maxWriteAttempts);
    const r = await run({ update: [...storm, accepted] });
    expect(r.output).toMatchObject({ outcome: 'updated' });
    expect(called(r, 'updateServer')).toHaveLength(storm.length + 1);
    expect(timerWaits(r).slice(0, storm.length)).toEqual([2, 2, 2, 2, 5, 5, 5, 5, 5]);
    expect(pageOf(r)).toEqual([]);
    const retried = audits(r).filter((a) => a.step === 'ServerUpdateRetried');
    expect(retried.map((a) => a.details?.['attempt'])).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // A busy refusal still counts: a 429 between them does not reset or spend the budget.
    const mixed = await run({
      update: [
        refused('ServerBusy', true, 1),
        throttled(2),
        refused('ServerBusy', true, 1),
        throttled(2),
        accepted,
      ],
    });
    expect(mixed.output).toMatchObject({ outcome: 'updated' });
  });

  it('pages a server throttled until the operation deadline would pass (ThrottledPastDeadline), once, without waiting past it', async () => {
    const throttled = throttledUpdate(300);
    const r = await run({ update: [throttled] }, { operationTimeoutMinutes: 30 });
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'ThrottledPastDeadline' });
    const waits = timerWaits(r);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30 * 60);
    expect(waits.length).toBeGreaterThan(SETTINGS.maxWriteAttempts);
    expect(pageOf(r)).toHaveLength(1);
    expect(audits(r).find((a) => a.step === 'ServerFailed')?.reason).toContain('throttling');
  });

  it('gives up after maxWriteAttempts of retryable refusals and pages RetriesExhausted once', async () => {
    const r = await run({ update: [refused('ServerBusy', true, 1)] });
    expect(called(r, 'updateServer')).toHaveLength(SETTINGS.maxWriteAttempts);
    expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'RetriesExhausted' });
    expect(pageOf(r)).toHaveLength(1);
  });

  it.each([
    ['AuthorizationFailed', 'custom role'],
    ['AzureKeyVaultKeyDisabled', 'Enable the version'],
  ])('stops at once on the permanent error %s and pages what to do (%s)', async (code, words) => {
    const r = await run({ update: [refused(code, false)] });
    expect(called(r, 'updateServer')).toHaveLength(1);
    expect(called(r, 'verifyServer')).toHaveLength(0);
    const [page] = pageOf(r);
    expect(page?.nextStep).toContain(words);
    expect(audits(r).find((a) => a.step === 'ServerFailed')).toMatchObject({
      reasonCode: code,
      outcome: 'failure',
    });
  });

  it('only verifies a server that is already on the target, from the same read (idempotent: no PATCH, one activity)', async () => {
    const r = await run({ update: [onTarget] });
    expect(r.calls.map((c) => c.name)).toEqual(['updateServer', 'recordAudit']);
    expect(r.output).toMatchObject({ outcome: 'verified', slots: [{ from: V2, to: V2 }] });
  });

  it('a server behind at discovery that is found on the target (its own PATCH re-run after a crash lost the answer) counts as updated', async () => {
    const r = await runOrchestration(
      serverRolloverOrchestrator,
      { ...input, server: { ...input.server, behind: true } },
      (call) => stepOk(call.name === 'updateServer' ? onTarget : null),
      { start: NOW },
    );
    expect(r.output).toMatchObject({ outcome: 'updated' });
  });

  it('skips a server that no longer needs or allows the change, without touching it', async () => {
    const r = await run({ update: [{ kind: 'skip', code: 'excluded', reason: 'opted out by tag' }] });
    expect(r.calls.map((c) => c.name)).toEqual(['updateServer', 'recordAudit']);
    expect(r.output).toMatchObject({ outcome: 'skipped', reasonCode: 'excluded' });
  });

  describe("failure paths: every failure becomes this server's outcome, never a throw to the parent", () => {
    it('servers.get failing forever: retried on durable timers within the read budget, each retry audited, then failed, recorded first and paged once', async () => {
      const r = await run({ update: [stepFailed('InternalServerError', true)] });
      expect(r.failed).toBeUndefined();
      expect(called(r, 'updateServer')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(timerWaits(r)).toEqual([5, 10, 20, 40, 80, 120, 120]);
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'InternalServerError' });
      expect(pageOf(r)).toHaveLength(1);
      expect(pageOf(r)[0]?.summary).toContain('Azure kept failing');
      const retried = audits(r).filter((a) => a.step === 'ServerUpdateRetried');
      expect(retried).toHaveLength(7);
      expect(new Set(retried.map((a) => a.details?.['step']))).toEqual(new Set(['updateServer']));
      // The step's own record goes before the page; the page's outcome after.
      const names = r.calls.map((c) => c.name);
      expect(names.lastIndexOf('recordAudit')).toBeGreaterThan(names.indexOf('pageOperator'));
      expect(steps(r).slice(-2)).toEqual(['ServerFailed', 'OperatorPaged']);
    });

    it('an activity that fails without an answer (worker died) is retried like a transient error', async () => {
      const r = await run({ update: [{ error: 'host: activity timed out' }, accepted] });
      expect(called(r, 'updateServer')).toHaveLength(2);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
      expect(audits(r).find((a) => a.step === 'ServerUpdateRetried')?.reasonCode).toBe('ActivityFailed');
    });

    it('a permanent (validation) error is never retried', async () => {
      const r = await run({ update: [stepFailed('InvalidPlanInput', false)] });
      expect(called(r, 'updateServer')).toHaveLength(1);
      expect(timerWaits(r)).toEqual([]);
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'InvalidPlanInput' });
      expect(pageOf(r)).toHaveLength(1);
    });

    it("an unexpected exception inside the rollover becomes the server's failure (UnexpectedError), paged once", async () => {
      // A look answer without the shape the code expects: the generator throws a TypeError.
      const r = await run({ verify: [null as unknown as VerifyServerOutput] });
      expect(r.failed).toBeUndefined();
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'UnexpectedError' });
      expect(pageOf(r)).toHaveLength(1);
      // The ServerUpdateStarted still waiting goes first, in the failure's write.
      expect(steps(r).slice(0, 2)).toEqual(['ServerUpdateStarted', 'ServerFailed']);
    });

    it('a refused PATCH (5xx) that ARM had in fact accepted: the retry reads first, finds it Updating, waits, finds it on the target, and never PATCHes again', async () => {
      const r = await run({ update: [refused('InternalServerError', true), busy, busy, onTarget] });
      expect(called(r, 'updateServer')).toHaveLength(4);
      expect(called(r, 'pollServerUpdate')).toHaveLength(0);
      expect(r.output).toMatchObject({ outcome: 'updated', slots: [{ from: V1, to: V2 }] });
    });

    it('a server busy with another operation is waited for on durable timers and PATCHed only once it is free', async () => {
      const r = await run({ update: [busy, busy, accepted] });
      expect(called(r, 'updateServer')).toHaveLength(3);
      expect(timerWaits(r).slice(0, 2)).toEqual([10, 10]);
      expect((r.output as ServerOutcome).outcome).toBe('updated');
    });

    it('a server that stays busy past the operation timeout fails as ServerBusy', async () => {
      const r = await run({ update: [busy] }, { operationTimeoutMinutes: 1 });
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'ServerBusy' });
    });

    it('a pager that keeps refusing: ServerFailed is recorded before paging, then PageFailed with the error code', async () => {
      const r = await run({
        update: [refused('AuthorizationFailed', false)],
        page: [stepFailed('PagingFailed', true)],
      });
      expect(called(r, 'pageOperator')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(steps(r)).toEqual(['ServerUpdateStarted', 'ServerFailed', 'PageFailed']);
      expect(audits(r).at(-1)).toMatchObject({ step: 'PageFailed', reasonCode: 'PagingFailed' });
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'AuthorizationFailed' });
    });

    it('an audit trail that refuses a record: retried, never claimed sent, and the rollover goes on', async () => {
      // The look's write refused; the rollover's recordAudit refused once, then taken on its retry.
      const r = await run({
        audit: [stepFailed('IngestionRefused', false), stepFailed('IngestionRefused', true), null],
      });
      expect(r.output).toMatchObject({ outcome: 'updated' });
      expect((r.output as ServerOutcome).auditUndelivered).toBeUndefined();
      const written = called(r, 'recordAudit').map((c) => (c.input as AuditRecord[]).map((a) => a.step));
      expect(written).toEqual([
        ['ServerUpdateStarted', 'ServerVerified'],
        ['ServerUpdateStarted', 'ServerVerified'],
      ]);
    });

    it('an Inaccessible server is not PATCHed: it fails with ServerInaccessible and a critical page naming the documented recovery', async () => {
      const r = await run({
        update: [{ kind: 'inaccessible', from: { primary: FROM }, reason: 'server is Inaccessible' }],
      });
      expect(called(r, 'pollServerUpdate')).toHaveLength(0);
      expect(r.output).toMatchObject({ outcome: 'failed', reasonCode: 'ServerInaccessible' });
      const [page] = pageOf(r);
      expect(page?.severity).toBe('critical');
      expect(page?.nextStep).toContain(`Restore access to version ${V1}`);
      expect(page?.nextStep).toMatch(/re-enable it, extend its expiry, recover it/);
      expect(page?.nextStep).toContain('Ready again');
    });
  });

  it('a rollover started by an older deployment (no schema version) ends at once, touching nothing', async () => {
    const { schemaVersion: _old, ...old } = input;
    const r = await runOrchestration(serverRolloverOrchestrator, old, () => stepOk(null), { start: NOW });
    expect(r.calls).toEqual([]);
    expect(r.output).toMatchObject({ outcome: 'skipped', reasonCode: 'SchemaVersionChanged' });
  });

  it("its input carries the server by reference and the settings it uses, not the rotation's plan or settings", () => {
    expect(Object.keys(input.server).sort()).toEqual([
      'expiresOn',
      'serverId',
      'serverName',
      'subscriptionId',
    ]);
    expect(Object.keys(input.settings).sort()).toEqual([
      'maxWriteAttempts',
      'operationTimeoutMinutes',
      'optOutTag',
      'pollIntervalSeconds',
    ]);
  });

  it('reports the audit records the trail still refused after the retries in its outcome (not claimed sent)', async () => {
    const r = await run({ audit: [stepFailed('AuditDeliveryFailed', false)] });
    const refused = called(r, 'recordAudit').reduce((n, c) => n + (c.input as AuditRecord[]).length, 0);
    expect(refused).toBeGreaterThan(0);
    expect(r.output).toMatchObject({ outcome: 'updated', auditUndelivered: refused });
    const clean = await run({});
    expect((clean.output as { auditUndelivered?: number }).auditUndelivered).toBeUndefined();
  });
});

describe("serverRollover under its subscription's quota governor", () => {
  it('waits for the start time the governor gave it before its first read, and its deadline counts from there', async () => {
    const notBefore = Date.parse(NOW) + 42_000;
    const r = await run({}, {}, { notBefore });
    expect(r.calls[0]).toMatchObject({ kind: 'timer', fireAt: new Date(notBefore).toISOString() });
    expect(r.calls[1]).toMatchObject({ name: 'updateServer' });
    expect(r.output).toMatchObject({ outcome: 'updated' });
  });

  it('a start time already passed costs no wait', async () => {
    const r = await run({}, {}, { notBefore: Date.parse(NOW) - 1 });
    expect(r.calls[0]).toMatchObject({ name: 'updateServer' });
  });

  it("reports a 429 to its subscription's governor as soon as it sees it (a signal), then waits it out as before", async () => {
    const throttled = throttledUpdate(7, { retryAfterSeconds: 7, writes: 0 });
    const governedRun = await run({ update: [throttled, accepted] }, {}, { notBefore: Date.parse(NOW) });
    const signals = governedRun.calls.filter((c) => c.kind === 'signal');
    expect(signals).toEqual([
      {
        kind: 'signal',
        name: 'observe',
        // When its answer was taken in (the driver lands it a second after the call).
        input: { at: Date.parse(NOW) + 1000, retryAfterSeconds: 7 },
        instanceId: `@armquotagovernor@${input.server.subscriptionId}`,
      },
    ]);
    expect(governedRun.output).toMatchObject({ outcome: 'updated' });
    // A server paced by its batch alone (no governor) signals nobody.
    const alone = await run({ update: [throttled, accepted] });
    expect(alone.calls.filter((c) => c.kind === 'signal')).toEqual([]);
  });

  it('reports when its PATCH reached ARM when the governor asked (the first start of a burst), once', async () => {
    const slot = Date.parse(NOW) - 2_000;
    const governor = `@armquotagovernor@${input.server.subscriptionId}`;
    const signalsOf = (r: Awaited<ReturnType<typeof run>>) => r.calls.filter((c) => c.kind === 'signal');
    // Accepted: when ARM accepted it.
    const acceptedAt = Date.parse(NOW) + 300;
    const asked = await run(
      { update: [{ ...accepted, acceptedAt }] },
      {},
      { notBefore: slot, reportArrival: true },
    );
    expect(signalsOf(asked)).toEqual([
      { kind: 'signal', name: 'observe', input: { at: acceptedAt, slot }, instanceId: governor },
    ]);
    // Throttled first: when that answer was taken in (its requests reached ARM), and not again.
    const throttled = throttledUpdate(7, { retryAfterSeconds: 7, writes: 0 });
    const retried = await run(
      { update: [throttled, accepted] },
      {},
      { notBefore: slot, reportArrival: true },
    );
    expect(signalsOf(retried).map((c) => c.input)).toEqual([
      { at: Date.parse(NOW) + 1000, retryAfterSeconds: 7 },
      { at: Date.parse(NOW) + 1000, slot },
    ]);
    expect(retried.output).toMatchObject({ outcome: 'updated' });
    // Not asked: no report.
    expect(signalsOf(await run({}, {}, { notBefore: slot }))).toEqual([]);
  });
});
