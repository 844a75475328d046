import type { OrchestrationContext } from 'durable-functions';
import {
  createRotationActivities,
  registerableSteps,
} from '../../../shared/rotation/activities/rotationActivities';
import { ACTIVITY_NAMES, STEP_NAMES, type StepHandlers } from '../../../shared/rotation/contract';
import { callStep } from '../../../shared/workflows/activityCalls';

/**
 * The durable contract is one map (`StepContract` in shared/rotation/contract.ts): the names, the inputs `callStep` accepts,
 * the outputs it returns and the handlers all follow from it. The `@ts-expect-error` lines are the
 * test: ts-jest type-checks this file, so a contract that stopped catching them fails to compile.
 */
function* typeChecks(context: OrchestrationContext) {
  // @ts-expect-error an activity that is not in the contract
  yield* callStep(context, 'readKeys', { vaultUrl: 'v', keyName: 'k' });
  // @ts-expect-error the wrong input for readKey
  yield* callStep(context, 'readKey', { vault: 'v' });
  const r = yield* callStep(context, 'readKey', { vaultUrl: 'v', keyName: 'k' });
  // @ts-expect-error a field readKey's output does not have
  const servers: unknown = r.ok ? r.value.servers : undefined;
  if (servers !== undefined) return;
  const b = yield* callStep(context, 'updateServer', {
    serverId: 's',
    key: { vaultUrl: 'v', vaultName: 'v', name: 'k', versions: [] },
    targetVersion: 't',
    optOutTag: 'o',
  });
  // @ts-expect-error updateServer answers accepted / refused / verify / updating / inaccessible / skip
  if (b.ok && b.value.kind === 'done') return;
}

describe('the durable contract', () => {
  it('names every activity once, as registered', () => {
    expect(Object.values(ACTIVITY_NAMES)).toEqual(STEP_NAMES);
    expect(new Set(STEP_NAMES).size).toBe(STEP_NAMES.length);
  });

  it('has a handler per activity, each wrapped to answer a StepResult', async () => {
    const never = () => Promise.reject(new Error('not called'));
    const handlers: StepHandlers = createRotationActivities({
      keys: { listKeys: never, readKey: never, readKeyVersion: never, rotateKey: never },
      fleet: {
        findServersReferencingKey: never,
        findServersWithCustomerManagedKeys: never,
        getServer: never,
        getServerForUpdate: never,
        beginEncryptionUpdate: never,
        pollOperation: never,
      },
      pager: { trigger: never, resolve: never },
      audit: { record: () => Promise.resolve() },
    });
    const steps = registerableSteps(handlers);
    expect(Object.keys(steps).sort()).toEqual([...STEP_NAMES].sort());
    await expect(steps.recordAudit([])).resolves.toEqual({ ok: true, value: null });
    await expect(steps.readKey({ vaultUrl: 'v', keyName: 'k' })).resolves.toMatchObject({
      ok: false,
      error: { code: 'UnexpectedError', retryable: false },
    });
    expect(typeof typeChecks).toBe('function');
  });
});
