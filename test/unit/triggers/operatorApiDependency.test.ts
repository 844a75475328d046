import { ForbiddenError, TransientError, VaultUnreachableError } from '../../../shared/ports/errors';
import { postRotation } from '../../../shared/triggers/operatorApi';
import { FakeInstances, FakeKeys, MemoryAudit, config, unusedFleet } from './fakes';

describe('POST /api/rotations when Key Vault cannot say whether the key exists', () => {
  it.each([
    ['an outage (503)', new TransientError('Failed: HTTP 503', 'ServiceUnavailable', 503), 503, true],
    [
      'the firewall refusing the app',
      new VaultUnreachableError('refused', 'ForbiddenByFirewall', 403),
      502,
      false,
    ],
    ['a missing role', new ForbiddenError('Forbidden', 'Forbidden', 403), 502, false],
  ] as const)(
    '%s: 503 or 502 as a retry can help or not, Retry-After only when it can, code KeyVaultUnavailable, nothing started',
    async (_, error, status, retryAfter) => {
      const instances = new FakeInstances(undefined);
      const answer = await postRotation(
        instances,
        {
          config,
          keys: new FakeKeys(undefined, error),
          fleet: unusedFleet('a manual rotation request'),
          audit: new MemoryAudit(),
          now: () => new Date('2026-12-04T12:00:00Z'),
        },
        'contoso-pg-kv',
        'pg-cmk',
        'alice',
        false,
        '',
      );
      expect(answer).toMatchObject({ status, jsonBody: { code: 'KeyVaultUnavailable' } });
      expect(answer.headers !== undefined && 'retry-after' in answer.headers).toBe(retryAfter);
      expect(instances.started).toEqual([]);
    },
  );
});
