import { UnexpectedError } from '../../../shared/domain/errors';
import type { ServerOutcome, ServerRolloverInput, StepHandlers } from '../../../shared/rotation/contract';
import {
  checkedHealthActivity,
  describeForLog,
  durableActivity,
  durableOrchestrator,
  MAX_STEP_MESSAGE,
  type BoundaryLog,
} from '../../../shared/durable/activityBoundary';
import { mapAzureError } from '../../../shared/adapters/azureErrors';
import { TransientError } from '../../../shared/ports/errors';
import { serverRolloverOrchestrator } from '../../../shared/rotation/orchestrators/serverRollover';
import { runOrchestration, stepOk } from '../../support/orchestration';
import { NOW, VAULT_URL } from '../rotation/orchestrators/fixtures';
import { input } from '../rotation/orchestrators/rolloverHarness';

/** The Functions context's log, as the boundary uses it: what was written at which level. */
class RecordingLog implements BoundaryLog {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  error(...args: unknown[]): void {
    this.errors.push(args.map(String).join(' '));
  }
  warn(...args: unknown[]): void {
    this.warnings.push(args.map(String).join(' '));
  }
}

const READ = { vaultUrl: VAULT_URL, keyName: 'pg-cmk' };
const reading = (handler: StepHandlers['readKey']) => durableActivity('readKey', handler);

describe('the activity boundary: the story in the log, a small answer in the history', () => {
  it('logs a bug with its class name and stack, and answers only code, retryability and message', async () => {
    const log = new RecordingLog();
    const result = await reading(() => {
      // A record missing a field the code assumed: a bug, the TypeError as it would come.
      const record = JSON.parse('{}') as { id: { name: string } };
      return Promise.resolve({
        key: { ...READ, vaultName: 'v', name: record.id.name, versions: [] },
        latest: undefined,
      });
    })(READ, log);

    expect(result).toEqual({
      ok: false,
      error: {
        code: 'UnexpectedError',
        retryable: false,
        message: expect.stringContaining('TypeError') as string,
      },
    });
    expect(JSON.stringify(result)).not.toMatch(/\n\s+at /);
    expect(log.errors).toHaveLength(1);
    expect(log.errors[0]).toMatch(/^activity readKey failed \(UnexpectedError, permanent\): TypeError: /);
    expect(log.errors[0]).toMatch(/\n\s+at .*activityBoundary\.test\.ts/);
  });

  it('logs an error mapped at an Azure call with its cause chain: UnexpectedError, caused by the TypeError', async () => {
    const log = new RecordingLog();
    const bug = new TypeError("Cannot read properties of undefined (reading 'properties')");
    const result = await reading(() => Promise.reject(mapAzureError(bug, 'reading key pg-cmk')))(READ, log);
    expect(result).toMatchObject({ ok: false, error: { code: 'UnexpectedError', retryable: false } });
    expect(log.errors[0]).toContain('UnexpectedError: Unexpected failure of reading key pg-cmk');
    expect(log.errors[0]).toContain('[code UnexpectedError, retryable false]');
    expect(log.errors[0]).toMatch(/Caused by: TypeError: Cannot read properties[^\n]*\n\s+at /);
  });

  it('logs a retryable failure as a warning (the orchestrator tries again), with its stack too', async () => {
    const log = new RecordingLog();
    const result = await reading(() =>
      Promise.reject(new TransientError('Failed: HTTP 503', 'ServiceUnavailable', 503)),
    )(READ, log);
    expect(result).toMatchObject({ ok: false, error: { code: 'ServiceUnavailable', retryable: true } });
    expect(log.errors).toEqual([]);
    expect(log.warnings[0]).toMatch(/TransientError: Failed: HTTP 503[^\n]*\n\s+at /);
  });

  it('keeps the durable message short however long the error', async () => {
    const result = await reading(() => Promise.reject(new TransientError('x'.repeat(5000), undefined, 500)))(
      READ,
      new RecordingLog(),
    );
    expect(result.ok ? 0 : result.error.message.length).toBeLessThanOrEqual(MAX_STEP_MESSAGE + 3);
  });

  it('refuses a malformed input before the handler runs, permanently, and never logs the value', async () => {
    const log = new RecordingLog();
    let ran = false;
    const result = await reading(() => {
      ran = true;
      return Promise.reject(new Error('not reached'));
    })({ vaultUrl: VAULT_URL, keyName: { token: 'eyJhbGciOi-secret' } }, log);
    expect(ran).toBe(false);
    expect(result).toMatchObject({ ok: false, error: { code: 'InvalidDurableInput', retryable: false } });
    expect(log.errors[0]).toContain('activity readKey: input refused at /keyName: must be string');
    expect([...log.errors, JSON.stringify(result)].join()).not.toContain('secret');
  });

  it('names a thrown non-Error by its type only', () => {
    expect(describeForLog('token=abc')).toBe('a thrown string (not an Error)');
    expect(describeForLog(new UnexpectedError('x', { cause: null }))).toContain('Caused by: a thrown null');
  });
});

/** A valid serverRollover input: the one the rollover's own tests drive. */
const rollover: ServerRolloverInput = input;

describe('the orchestration boundary', () => {
  const checked = durableOrchestrator('serverRollover', serverRolloverOrchestrator);

  it('fails an orchestration whose input the contract refuses before its first step', async () => {
    const run = await runOrchestration(checked, { correlationId: 'c' }, () => stepOk(null), { start: NOW });
    expect(run.calls).toEqual([]);
    expect(run.failed).toContain('orchestration serverRollover: input refused at /trigger: is required');
  });

  it('an activity answer the contract refuses is permanent: the rollover does not call it again', async () => {
    const log = new RecordingLog();
    // updateServer's handler answers "accepted" without the snapshot, handle or expected slots.
    const update = durableActivity('updateServer', () =>
      Promise.resolve({ kind: 'accepted' } as unknown as Awaited<ReturnType<StepHandlers['updateServer']>>),
    );
    const run = await runOrchestration(
      checked,
      rollover,
      async (call) =>
        call.name === 'updateServer'
          ? { result: await update(call.input, log) }
          : stepOk(
              call.name === 'pageOperator'
                ? { delivered: true, channels: [{ channel: 'pagerduty', ok: true }] }
                : null,
            ),
      { start: NOW },
    );
    expect(run.calls.filter((c) => c.name === 'updateServer')).toHaveLength(1);
    expect((run.output as ServerOutcome).outcome).toBe('failed');
    expect(run.output).toMatchObject({ reasonCode: 'InvalidDurableOutput' });
    expect(log.errors[0]).toMatch(/activity updateServer: output refused at \//);
  });
});

describe("the health watch's activity behind the boundary", () => {
  it('answers a malformed input as its contract answers a failure (the watch records it), never running the check', async () => {
    const log = new RecordingLog();
    let ran = false;
    const check = checkedHealthActivity(() => {
      ran = true;
      return Promise.resolve({ ok: true, servers: [], causes: {}, invalid: [] });
    });
    await expect(check({ watch: 'not-a-list' }, log)).resolves.toMatchObject({
      ok: false,
      code: 'InvalidDurableInput',
      message: 'healthWatch checkFleetHealth: input refused at /watch: must be array',
    });
    expect(ran).toBe(false);
    expect(log.errors).toHaveLength(1);
  });

  it('logs a thrown error with its stack and throws it on (the watch records ActivityFailed)', async () => {
    const log = new RecordingLog();
    const bug = new TypeError('x is undefined');
    await expect(checkedHealthActivity(() => Promise.reject(bug))({ watch: [] }, log)).rejects.toBe(bug);
    expect(log.errors[0]).toMatch(/^activity checkFleetHealth failed: TypeError: x is undefined\n\s+at /);
  });
});
