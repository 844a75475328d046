import { contractProblem } from '../../../shared/durable/contractSchemas';
import { isOpenIncident, isRotationReason } from '../../../shared/rotation/contract';
import { rotationInput } from './orchestrators/fixtures';

/**
 * The guards that read values back from the task hub (a signal, a previous run's incidents) accept
 * exactly what the durable boundary's schema accepts: a value they let through is in the next run's
 * input, and a value the schema refuses there fails that run before it can page anyone.
 */
const KEY_ROTATION = { kind: 'orchestration', name: 'keyRotation' } as const;

describe('isOpenIncident accepts exactly the incidents the keyRotation input schema accepts', () => {
  it.each([
    [
      'a server incident',
      { dedupKey: 'k', kind: 'server', serverId: '/subscriptions/s/x/pg-a', version: 'v' },
      true,
    ],
    ['an expiry incident without server', { dedupKey: 'k', kind: 'expiry' }, true],
    ['each kind: preflight', { dedupKey: 'k', kind: 'preflight' }, true],
    ['each kind: rotation', { dedupKey: 'k', kind: 'rotation' }, true],
    ['a kind outside the contract', { dedupKey: 'k', kind: 'health' }, false],
    ['no kind', { dedupKey: 'k' }, false],
    ['no dedupKey', { kind: 'server' }, false],
    ['a serverId that is not a string', { dedupKey: 'k', kind: 'server', serverId: 42 }, false],
    ['a version that is null', { dedupKey: 'k', kind: 'server', version: null }, false],
    ['not an object', 'k', false],
    ['null', null, false],
  ])('%s: %p', (_, incident, accepted) => {
    expect(isOpenIncident(incident)).toBe(accepted);
    const refused = contractProblem(KEY_ROTATION, 'input', { ...rotationInput(), openIncidents: [incident] });
    expect(refused === undefined).toBe(accepted);
  });
});

describe('isRotationReason accepts exactly the reasons the keyRotation input schema accepts', () => {
  it.each([
    ['KeyNewVersionCreated', true],
    ['KeyNearExpiry', true],
    ['KeyExpired', true],
    ['Sweep', true],
    ['Operator', true],
    ['Manual', false],
    ['operator', false],
    [undefined, false],
    [3, false],
  ])('%p: %p', (reason, accepted) => {
    expect(isRotationReason(reason)).toBe(accepted);
    const refused = contractProblem(KEY_ROTATION, 'input', { ...rotationInput(), reason });
    expect(refused === undefined).toBe(accepted);
  });
});
