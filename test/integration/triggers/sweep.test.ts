import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import { ResourceGraphServerFleet } from '../../../shared/adapters/resourceGraphServerFleet';
import { loadConfig } from '../../../shared/config';
import type { AuditRecord } from '../../../shared/domain/audit';
import type { RotationInput } from '../../../shared/rotation/contract';
import type { InstanceInfo, ListedInstance, RotationInstances } from '../../../shared/ports/rotations';
import { runSweep } from '../../../shared/triggers/sweep';
import { SUB_A, SUB_B, VAULT, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

/** A vault with many keys against the real Resource Graph and Key Vault clients and the stand-ins. */
const EXTRA_KEYS = 30;

class Instances implements RotationInstances {
  readonly started: RotationInput[] = [];
  status(): Promise<InstanceInfo | undefined> {
    return Promise.resolve(undefined);
  }
  start(_id: string, input: RotationInput): Promise<'started'> {
    this.started.push(input);
    return Promise.resolve('started');
  }
  raise(): Promise<void> {
    return Promise.resolve();
  }
  list(): Promise<ListedInstance[]> {
    return Promise.resolve([]);
  }
}

describe('the sweep over a vault with many keys', () => {
  let h: Harness;

  beforeAll(async () => {
    const { fleet } = testFleet();
    const vaults = (fleet.vaults ?? []).map((v) =>
      v.name === VAULT
        ? {
            ...v,
            keys: [
              ...(v.keys ?? []),
              ...Array.from({ length: EXTRA_KEYS }, (_, i) => ({
                name: `unused-${i}`,
                versions: [{ created: 'now-10d' }],
              })),
            ],
          }
        : v,
    );
    h = await startHarness({ ...fleet, vaults });
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('queries Resource Graph once, within its quota, and still finds the key whose servers are behind', async () => {
    const before = h.azure.requests.length;
    const config = loadConfig({
      CMK_SUBSCRIPTIONS: `${SUB_A},${SUB_B}`,
      CMK_ALLOWED_VAULTS: VAULT,
      APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
    });
    const arm = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    const fleet = new ResourceGraphServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      arm,
      clientOptions: h.clientOptions,
    });
    const keys = new KeyVaultKeysAdapter({ credential: h.credential, clientOptions: h.clientOptions });
    const records: AuditRecord[] = [];
    const instances = new Instances();

    const result = await runSweep(
      instances,
      { config, keys, fleet, audit: { record: (r) => (records.push(...r), Promise.resolve()) } },
      new Date(),
    );

    const queries = h.azure.requests.slice(before).filter((r) => r.operation === 'resources.query');
    expect(result.errors).toEqual([]);
    expect(result.keysChecked).toBe(2 + EXTRA_KEYS);
    expect(queries.map((q) => q.status)).toEqual([200]);
    expect(instances.started.map((s) => s.keyName)).toEqual(['pg-cmk']);
  });
});
