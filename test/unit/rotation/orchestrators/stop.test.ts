import { stepFailed } from '../../../support/orchestration';
import { V2, rotationInput, version } from './fixtures';
import { type Scenario, responder, run, twoVersions, completionSent } from './harness';

/**
 * A run that stops before the rollout (stop.ts): a signal that arrived meanwhile still gets its run.
 */
describe('keyRotation: a run that stops before the rollout (stop.ts)', () => {
  describe('failure paths that hold', () => {
    it('a signal waiting when the run stops early (key unreadable) still gets its run', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:bob', reason: 'Operator', version: undefined },
            when: () => true,
          },
        ],
        (call) => (call.name === 'readKey' ? stepFailed('Forbidden', false) : responder(s)(call, 0)),
      );
      expect(r.output).toMatchObject({ status: 'stopped' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:bob' });
    });

    it('a signal raised while a stopped run sends its last record is consumed: continue as new with it', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:dave', reason: 'Operator', version: undefined },
            when: completionSent,
          },
        ],
        (call) => (call.name === 'readKey' ? stepFailed('Forbidden', false) : responder(s)(call, 0)),
      );
      expect(r.raised).toHaveLength(1);
      expect(r.output).toMatchObject({ status: 'stopped' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:dave', generation: 1 });
      expect(r.customStatuses.at(-1)).toMatchObject({ phase: 'reading', closing: true });
    });
  });
});
