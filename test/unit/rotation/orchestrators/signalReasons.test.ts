import { durableOrchestrator } from '../../../../shared/durable/activityBoundary';
import type { RotationOutput } from '../../../../shared/rotation/contract';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { runOrchestration } from '../../../support/orchestration';
import { NOW, V2, V3, planned, rotationInput, version } from './fixtures';
import { responder, run, twoVersions } from './harness';

/**
 * A keyEvent signal carries its reason into the next generation's input (continue-as-new), which the
 * durable boundary checks against the contract's schema. A reason outside the contract (a keyEvent
 * raised by hand) is not a signal: before, it was taken in, and the next generation was refused at
 * /reason — a Failed instance with no page, no audit and no output for its open incidents.
 */
const scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
const raisedDuringRollout = (reason: string) => [
  {
    name: 'keyEvent',
    // A version Key Vault does not list: a signal the run cannot cover, so it needs a run of its own.
    input: { trigger: 'manual:ops', reason, version: V3 },
    when: (calls: readonly { kind: string }[]) => calls.some((c) => c.kind === 'subOrchestration'),
  },
];

describe('a keyEvent signal whose reason the contract does not know', () => {
  it('is read and ignored: the run completes without continuing into a generation the boundary would refuse', async () => {
    const r = await run(rotationInput(), scenario, raisedDuringRollout('Manual'));
    expect(r.failed).toBeUndefined();
    expect(r.raised).toHaveLength(1);
    expect(r.continuedAsNewWith).toBeUndefined();
    expect((r.output as RotationOutput).status).toBe('completed');
  });

  it("a contract reason continues as new, and the boundary accepts the next generation's input", async () => {
    const first = await run(rotationInput(), scenario, raisedDuringRollout('Operator'));
    expect(first.continuedAsNewWith).toMatchObject({ reason: 'Operator', hintVersion: V3 });
    const next = await runOrchestration(
      durableOrchestrator('keyRotation', keyRotationOrchestrator),
      first.continuedAsNewWith,
      responder(scenario, []),
      { instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk', start: NOW },
    );
    expect(next.failed).toBeUndefined();
  });
});
