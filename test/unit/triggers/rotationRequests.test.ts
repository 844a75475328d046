import type { InstanceInfo } from '../../../shared/ports/rotations';
import { coveredByEndedRun, type RotationRequest } from '../../../shared/triggers/rotationRequests';

const V3 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';

const request = (reason: RotationRequest['reason'], version: string | undefined): RotationRequest => ({
  vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
  vaultName: 'contoso-pg-kv',
  keyName: 'pg-cmk',
  trigger: 't',
  reason,
  version,
});
const terminated: InstanceInfo = { runtimeStatus: 'Terminated', output: { targetVersion: V3 } };
const completed = (targetVersion: string | undefined): InstanceInfo => ({
  runtimeStatus: 'Completed',
  output: { status: 'completed', targetVersion },
});

describe('is a request raised to an instance that then ended covered by that run?', () => {
  it.each([
    ['an event for the version the run handled', request('KeyNewVersionCreated', V3), completed(V3), true],
    ['the same, version in other case', request('KeyNearExpiry', V3.toUpperCase()), completed(V3), true],
    ['an event for another version', request('KeyNewVersionCreated', V3), completed(V2), false],
    [
      'an event when the run handled no version',
      request('KeyNewVersionCreated', V3),
      completed(undefined),
      false,
    ],
    [
      'a request naming no version (the run re-examined everything)',
      request('Sweep', undefined),
      completed(V2),
      true,
    ],
    ['a sweep naming a newer version than the run handled', request('Sweep', V3), completed(V2), false],
    [
      'an operator request (asks for a run whatever happened)',
      request('Operator', undefined),
      completed(V3),
      false,
    ],
    [
      'any request when the run Failed or was Terminated',
      request('KeyNewVersionCreated', V3),
      terminated,
      false,
    ],
    ['any request when the instance is gone', request('Sweep', undefined), undefined, false],
  ])('%s', (_, req, ended, covered) => {
    expect(coveredByEndedRun(req, ended)).toBe(covered);
  });
});
