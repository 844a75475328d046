import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { buildPatchBody } from '../../../shared/domain/plan';
import type { OperationHandle, OperationStatus } from '../../../shared/ports/serverFleet';
import { KEY, SUB_A, SUB_B, V1, V2, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, waitFor, type Harness } from '../../support/localAzure';
import { operationDurationMs } from '../../../local/azure/arm-patch';

/**
 * What the rollover's look at a server after its PATCH relies on (rolloverVerify.ts), held against the
 * ARM stand-in: while ARM's operation runs the server's `state` is `Updating` (the flexible server
 * API's state for "undergoing some changes", Servers.json in test/fixtures/azure-specs), and once it
 * ended the server shows the result: Ready on the new key with a Valid status when it succeeded, Ready
 * on the key it had when it failed (the error only in ARM's operation status).
 */
/**
 * The ARM stand-in with the test fleet and `extra` servers more, behaving as `behaviour` says, and the
 * product's ARM adapter on it: started before the describe's tests, closed after them.
 */
function armStandIn(extra: number, behaviour: Parameters<typeof startHarness>[1]): () => ArmServerFleet {
  let h: Harness | undefined;
  let arm: ArmServerFleet | undefined;
  beforeAll(async () => {
    h = await startHarness(testFleet(extra).fleet, behaviour);
    arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
  });
  afterAll(async () => {
    await h?.azure.close();
  });
  return () => {
    if (arm === undefined) throw new Error('the ARM stand-in did not start');
    return arm;
  };
}

describe('a server while its encryption PATCH runs and after, at the ARM stand-in', () => {
  // Long enough for a read to land while the operation runs.
  const armOf = armStandIn(2, { updateDurationMs: 1500 });
  const settle = (handle: OperationHandle): Promise<OperationStatus> =>
    waitFor('operation', async () => {
      const s = await armOf().pollOperation(handle);
      return s.status === 'InProgress' ? undefined : s;
    });
  const uri = (v: string) => `${VAULT_URL}/keys/${KEY}/${v}`;

  it.each([
    ['succeeds: Ready on the new version, key status Valid', 'pg-x0', SUB_A, V2, 'Succeeded', V2],
    [
      'fails (a version the vault does not hold): Ready on the version it had',
      'pg-x1',
      SUB_B,
      'ffffffffffffffffffffffffffffffff',
      'Failed',
      V1,
    ],
  ])(
    'Updating while the operation runs; after an operation that %s',
    async (_, name, sub, target, status, after) => {
      const id = serverId(sub, 'rg-x', name);
      const before = await armOf().getServer(id);
      expect(before).toMatchObject({ state: 'Ready', dataEncryption: { primaryKeyURI: uri(V1) } });
      const handle = await armOf().beginEncryptionUpdate(
        id,
        buildPatchBody(before, { primary: uri(target) }),
      );
      expect((await armOf().getServer(id)).state).toBe('Updating');
      const done = await settle(handle);
      expect(done.status).toBe(status);
      const now = await armOf().getServer(id);
      expect(now).toMatchObject({
        state: 'Ready',
        dataEncryption: { primaryKeyURI: uri(after), primaryEncryptionKeyStatus: 'Valid' },
      });
      if (done.status === 'Failed') expect(done.errorCode).toBe('AzureKeyVaultKeyNotFound');
    },
  );
});

describe("the ARM stand-in's operation durations with a spread", () => {
  const spread = { updateDurationMs: 800, updateDurationSpreadMs: 500 };
  const armOf = armStandIn(6, spread);

  it("lets each server's operation last its own drawn time, as ARM's status reports it", async () => {
    const ids = [0, 1, 2, 3, 4, 5].map((i) => serverId(i % 2 === 0 ? SUB_A : SUB_B, 'rg-x', `pg-x${i}`));
    const expected = ids.map((id) => operationDurationMs(spread, id) / 1000);
    // The six draws are fixed by the ids: they must differ, or this test could not tell a spread from none.
    expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.2);
    const uri = `${VAULT_URL}/keys/${KEY}/${V2}`;
    const handles = await Promise.all(
      ids.map(async (id) =>
        armOf().beginEncryptionUpdate(id, buildPatchBody(await armOf().getServer(id), { primary: uri })),
      ),
    );
    const seconds = await Promise.all(
      handles.map((handle) =>
        waitFor('operation', async () => {
          const s = await armOf().pollOperation(handle);
          return s.status === 'Succeeded' ? (s.durationSeconds ?? -1) : undefined;
        }),
      ),
    );
    seconds.forEach((s, i) => {
      // The stand-in's timer fires at the drawn time or a little after (its clock ticks), never before.
      expect(s).toBeGreaterThanOrEqual((expected[i] ?? 0) - 0.01);
      expect(s).toBeLessThanOrEqual((expected[i] ?? 0) + 0.5);
    });
  });
});
