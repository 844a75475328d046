import { createHealthActivities } from '../../../shared/activities/healthActivities';
import type { KeyInfo, KeyVersionInfo, ServerSnapshot } from '../../../shared/domain/model';
import type { RoleAssignmentInfo, RotationPolicySummary, VaultListing } from '../../../shared/domain/posture';
import { NotFoundError, ThrottledError } from '../../../shared/ports/errors';
import type { FleetHealth } from '../../../shared/ports/fleetHealth';
import type { KeyVaultKeys } from '../../../shared/ports/keyVaultKeys';
import type { InvalidServerRow, ServerFleet, ServerPage } from '../../../shared/ports/serverFleet';
import type {
  KeyRotationPolicies,
  KeyVaultManagement,
  RoleAssignments,
} from '../../../shared/ports/vaultPosture';
import { serverSnapshot } from '../../support/servers';
import { SUB, config } from '../triggers/fakes';

const URI = 'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const server = (
  name: string,
  state: string,
  status: string,
  tags: Record<string, string> = {},
): ServerSnapshot =>
  serverSnapshot(name, {
    subscriptionId: SUB,
    state,
    tags,
    dataEncryption: { primaryKeyURI: URI, primaryEncryptionKeyStatus: status },
  });

class Health implements FleetHealth {
  asked: (readonly string[])[] = [];
  constructor(private readonly answer: ServerSnapshot[] | Error) {}
  findUnhealthyServers(
    watch: readonly string[],
  ): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
    this.asked.push(watch);
    return this.answer instanceof Error
      ? Promise.reject(this.answer)
      : Promise.resolve({ servers: this.answer, invalid: [] });
  }
}
/** Every posture read fails (discovery throttled, nothing else readable): the report names errors only. */
const failing = new ThrottledError('throttled (test)', 'TooManyRequests', 429, 5);
const fleet: ServerFleet = {
  findServersReferencingKey: (): Promise<ServerPage> => Promise.reject(failing),
  findServersWithCustomerManagedKeys: (): Promise<ServerPage> => Promise.reject(failing),
  getServer: (): Promise<ServerSnapshot> => Promise.reject(failing),
  getServerForUpdate: (): Promise<ServerSnapshot> => Promise.reject(failing),
  beginEncryptionUpdate: () => Promise.reject(failing),
  pollOperation: () => Promise.reject(failing),
};
const keys: KeyVaultKeys = {
  listKeys: (): Promise<string[]> => Promise.reject(failing),
  readKey: (): Promise<KeyInfo> => Promise.reject(failing),
  readKeyVersion: (): Promise<KeyVersionInfo> => Promise.reject(failing),
  rotateKey: (): Promise<KeyVersionInfo> => Promise.reject(failing),
};
const vaults: KeyVaultManagement = { listVaults: (): Promise<VaultListing> => Promise.reject(failing) };
const roleAssignments: RoleAssignments = {
  listAtScope: (): Promise<RoleAssignmentInfo[]> => Promise.reject(failing),
};
const rotationPolicies: KeyRotationPolicies = {
  readRotationPolicy: (): Promise<RotationPolicySummary> => Promise.reject(failing),
};
const deps = (fleetHealth: FleetHealth, armFleet: ServerFleet = fleet) => ({
  config,
  keys,
  fleet: armFleet,
  vaults,
  roleAssignments,
  rotationPolicies,
  fleetHealth,
  now: () => new Date('2026-12-04T10:00:00Z'),
});

describe('checkFleetHealth activity', () => {
  it('a posture that cannot be read leaves every new server a cause ("not determined", with why): none is dropped', async () => {
    const h = new Health([server('pg-a', 'Inaccessible', 'Invalid'), server('pg-b', 'Ready', 'Invalid')]);
    const r = await createHealthActivities(deps(h)).checkFleetHealth({ watch: [] });
    if (!r.ok) throw new Error('expected ok');
    expect(r.servers.map((s) => s.serverName)).toEqual(['pg-a', 'pg-b']);
    expect(Object.values(r.causes).map((c) => c.map((x) => x.code))).toEqual([
      ['Undetermined'],
      ['Undetermined'],
    ]);
    expect(Object.values(r.causes)[0]?.[0]?.what).toMatch(/not in the posture report|could not be read/);
  });

  it('diagnoses only servers not watched yet; reads the watched ones whatever their state; marks opted-out and held', async () => {
    const a = server('pg-a', 'Inaccessible', 'Invalid', { 'cmk-rotation-optout': 'true' });
    const b = server('pg-b', 'Ready', 'Valid', { 'cmk-rotation-hold': 'CHG-1' });
    const h = new Health([a, b]);
    const r = await createHealthActivities(deps(h)).checkFleetHealth({ watch: [a.id.toUpperCase(), b.id] });
    if (!r.ok) throw new Error('expected ok');
    expect(r.causes).toEqual({});
    expect(r.servers.map((s) => [s.serverName, s.leftAlone])).toEqual([
      ['pg-a', 'optedOut'],
      ['pg-b', 'held'],
    ]);
    expect(h.asked).toEqual([[a.id.toUpperCase(), b.id]]);
  });

  it('a fleet query that fails is a tagged answer (the next tick tries again), never a throw', async () => {
    const r = await createHealthActivities(deps(new Health(failing))).checkFleetHealth({ watch: [] });
    expect(r).toMatchObject({ ok: false, code: 'TooManyRequests' });
  });

  it.each([
    ['ARM answers 404 ResourceNotFound', new NotFoundError('gone (test)', 'ResourceNotFound', 404), true],
    ['its resource group is gone', new NotFoundError('gone (test)', 'ResourceGroupNotFound', 404), true],
    [
      'its subscription is not visible',
      new NotFoundError('no sub (test)', 'SubscriptionNotFound', 404),
      false,
    ],
    ['ARM is throttling', failing, false],
    ['ARM still has it (Resource Graph lags)', undefined, false],
  ])(
    'a watched server the query no longer returns is deleted only when %s',
    async (_name, armAnswer, isDeleted) => {
      const gone = server('pg-gone', 'Ready', 'Valid');
      const here = server('pg-here', 'Inaccessible', 'Invalid');
      const gets: string[] = [];
      const arm: ServerFleet = {
        ...fleet,
        getServer: (id) => {
          gets.push(id);
          return armAnswer === undefined ? Promise.resolve(gone) : Promise.reject(armAnswer);
        },
      };
      const r = await createHealthActivities(deps(new Health([here]), arm)).checkFleetHealth({
        watch: [gone.id, here.id],
      });
      if (!r.ok) throw new Error('expected ok');
      expect(gets).toEqual([gone.id]);
      expect(r.deleted).toEqual(isDeleted ? [gone.id.toLowerCase()] : []);
    },
  );
});
