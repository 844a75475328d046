import type { KeyInfo, KeyVersionInfo, ServerSnapshot } from '../../../shared/domain/model';
import type { KeyVaultKeys } from '../../../shared/ports/keyVaultKeys';
import type { InstanceInfo } from '../../../shared/ports/rotations';
import type {
  KeyLocator,
  OperationHandle,
  OperationStatus,
  ServerFleet,
  ServerPage,
} from '../../../shared/ports/serverFleet';
import { ForbiddenError } from '../../../shared/ports/errors';
import { runSweep } from '../../../shared/triggers/sweep';
import { loadConfig } from '../../../shared/config';
import { keyInfo, keyVersion } from '../../support/keys';
import { serverSnapshot } from '../../support/servers';
import { FakeInstances, MemoryAudit, SUB, config } from './fakes';

const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
const NOW = new Date('2026-11-24T10:00:00Z');
const day = (d: number) => new Date(NOW.getTime() + d * 86_400_000).toISOString();
const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';

const version = (v: string, created: number, expires: number): KeyVersionInfo =>
  keyVersion(v, day(created), { expiresOn: day(expires) });

function server(name: string, uri: string, status = 'Valid', state = 'Ready'): ServerSnapshot {
  return serverSnapshot(name, {
    subscriptionId: SUB,
    state,
    dataEncryption: {
      primaryKeyURI: uri,
      primaryUserAssignedIdentityId: 'id',
      primaryEncryptionKeyStatus: status,
    },
  });
}

class Keys implements KeyVaultKeys {
  /** `key`, or as many keys as `more` names, each with the versions of `key`. */
  constructor(
    private readonly key: KeyInfo | Error,
    private readonly more: readonly string[] = [],
  ) {}
  listKeys(_vaultUrl?: string): Promise<string[]> {
    return this.key instanceof Error
      ? Promise.reject(this.key)
      : Promise.resolve([this.key.name, ...this.more]);
  }
  readKey(_vaultUrl: string, name: string): Promise<KeyInfo> {
    if (this.key instanceof Error) return Promise.reject(this.key);
    const versions = this.key.versions.map((v) => ({ ...v, kid: v.kid.replace('/pg-cmk/', `/${name}/`) }));
    return Promise.resolve({ ...this.key, name, versions });
  }
  readKeyVersion(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('not used'));
  }
  rotateKey(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('the sweep never rotates'));
  }
}

class Fleet implements ServerFleet {
  discoveries = 0;
  constructor(
    private readonly servers: ServerSnapshot[],
    private readonly failure?: Error,
  ) {}
  findServersReferencingKey(_key: KeyLocator): Promise<ServerPage> {
    return Promise.reject(new Error('the sweep discovers once for all keys, never per key'));
  }
  findServersWithCustomerManagedKeys(token?: string): Promise<ServerPage> {
    this.discoveries++;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Two pages, to prove the sweep follows continuation tokens.
    const half = Math.ceil(this.servers.length / 2);
    return Promise.resolve(
      token === undefined
        ? {
            servers: this.servers.slice(0, half),
            continuationToken: half < this.servers.length ? 'p2' : undefined,
          }
        : { servers: this.servers.slice(half), continuationToken: undefined },
    );
  }
  // The sweep only discovers: it never reads, writes or polls a single server.
  getServerForUpdate(): Promise<ServerSnapshot> {
    return Promise.reject(new Error('not used by the sweep'));
  }
  getServer(): Promise<ServerSnapshot> {
    return Promise.reject(new Error('not used by the sweep'));
  }
  beginEncryptionUpdate(): Promise<OperationHandle> {
    return Promise.reject(new Error('the sweep never writes'));
  }
  pollOperation(): Promise<OperationStatus> {
    return Promise.reject(new Error('the sweep never writes'));
  }
}

async function sweep(
  key: KeyInfo | Error,
  servers: ServerSnapshot[],
  previous?: InstanceInfo,
  options: { moreKeys?: string[]; discoveryFailure?: Error } = {},
) {
  const instances = new FakeInstances(previous);
  const audit = new MemoryAudit();
  const fleet = new Fleet(servers, options.discoveryFailure);
  const result = await runSweep(
    instances,
    {
      config,
      keys: new Keys(key, options.moreKeys),
      fleet,
      audit,
    },
    NOW,
  );
  return {
    result,
    started: instances.started.map((s) => s.input),
    records: audit.records,
    discoveries: fleet.discoveries,
  };
}

const key = (...versions: KeyVersionInfo[]): KeyInfo => keyInfo(versions);
const healthy = key(version(V1, -300, 65), version(V2, -30, 335));

describe('the reconcile sweep', () => {
  it('sweeps a Managed HSM at its own URL (Managed HSM publishes no events: the sweep is its trigger)', async () => {
    const HSM = 'https://contoso-hsm.managedhsm.azure.net';
    const asked: string[] = [];
    const hsmKey: KeyInfo = {
      vaultUrl: HSM,
      vaultName: 'contoso-hsm',
      name: 'pg-cmk',
      versions: [version(V1, -300, 65), version(V2, -30, 335)].map((v) => ({
        ...v,
        kid: v.kid.replace(VAULT_URL, HSM),
      })),
    };
    const keys = new (class extends Keys {
      override listKeys(vaultUrl: string): Promise<string[]> {
        asked.push(vaultUrl);
        return super.listKeys();
      }
    })(hsmKey);
    const instances = new FakeInstances();
    const result = await runSweep(
      instances,
      {
        config: loadConfig({
          CMK_SUBSCRIPTIONS: SUB,
          CMK_ALLOWED_VAULTS: `${HSM}/`,
          APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
        }),
        keys,
        fleet: new Fleet([server('a', `${HSM}/keys/pg-cmk/${V1}`)]),
        audit: new MemoryAudit(),
      },
      NOW,
    );
    expect(asked).toEqual([HSM]);
    expect(result.requested).toEqual([
      expect.objectContaining({ key: 'contoso-hsm/pg-cmk', outcome: 'started' }),
    ]);
    expect(instances.started[0]?.input.vaultUrl).toBe(HSM);
    expect(instances.started[0]?.id).toMatch(/^cmk-rotation:contoso-hsm~[0-9a-f]{6}:pg-cmk$/);
  });

  it('requests nothing when every server is on the newest version, healthy and far from expiry', async () => {
    const { result, started, records } = await sweep(healthy, [
      server('a', `${VAULT_URL}/keys/pg-cmk/${V2}`),
      server('b', `${VAULT_URL}/keys/pg-cmk`),
    ]);
    expect(result).toEqual({ keysChecked: 1, requested: [], errors: [] });
    expect(started).toEqual([]);
    expect(records).toEqual([expect.objectContaining({ step: 'SweepCompleted', outcome: 'success' })]);
  });

  it.each([
    [
      'a server missed an event and is behind',
      healthy,
      [server('a', `${VAULT_URL}/keys/pg-cmk/${V1}`)],
      undefined,
      /1 server\(s\) behind/,
    ],
    [
      'an old version still in use expires soon',
      key(version(V1, -360, 5), version(V2, -1, 365)),
      [server('a', `${VAULT_URL}/keys/pg-cmk/${V1}`, 'Valid', 'Updating')],
      undefined,
      /version 5f1e.* in use expires in 5 day/,
    ],
    [
      'a key status is Invalid',
      healthy,
      [server('a', `${VAULT_URL}/keys/pg-cmk/${V2}`, 'Invalid')],
      undefined,
      /Invalid key status/,
    ],
    [
      'the last run left incidents open',
      healthy,
      [server('a', `${VAULT_URL}/keys/pg-cmk/${V2}`)],
      { runtimeStatus: 'Completed' as const, output: { openIncidents: [{ dedupKey: 'k', kind: 'server' }] } },
      /open incidents/,
    ],
  ])('requests the key’s rotation when %s', async (_why, k, servers, previous, reason) => {
    const { result, started } = await sweep(k, servers, previous);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ reason: 'Sweep', trigger: `sweep:${NOW.toISOString()}` });
    expect(result.requested[0]?.why).toMatch(reason);
  });

  describe('retry backoff for servers that failed for the newest version', () => {
    const failedRun = (hoursAgo: number, extra: Record<string, unknown> = {}): InstanceInfo => ({
      runtimeStatus: 'Completed',
      output: {
        status: 'completedWithFailures',
        targetVersion: V2,
        completedAt: new Date(NOW.getTime() - hoursAgo * 3_600_000).toISOString(),
        openIncidents: [{ dedupKey: 'k', kind: 'server' }],
        ...extra,
      },
    });
    const behind = [server('a', `${VAULT_URL}/keys/pg-cmk/${V1}`)];

    it('holds the key back while the last failed run is younger than the backoff (no PATCH and page every sweep)', async () => {
      const { result, started } = await sweep(
        healthy,
        behind,
        failedRun(6, { failedRuns: { version: V2, count: 4 } }),
      );
      expect(started).toEqual([]);
      expect(result.deferred?.[0]?.why).toMatch(/ended with failures .*\(4 such run\(s\) in a row\)/);
    });

    it('retries once the backoff has passed', async () => {
      const { started } = await sweep(
        healthy,
        behind,
        failedRun(25, { failedRuns: { version: V2, count: 9 } }),
      );
      expect(started).toHaveLength(1);
    });

    // The backoff doubles with each run that failed in a row for the version: 1, 2, 4, 8, 16, 24 h.
    it.each([
      [undefined, 0.5, 'held'],
      [undefined, 1.5, 'retried'],
      [{ version: V2, count: 1 }, 0.9, 'held'],
      [{ version: V2, count: 1 }, 1, 'retried'],
      [{ version: V2, count: 2 }, 1.5, 'held'],
      [{ version: V2, count: 2 }, 2, 'retried'],
      [{ version: V2, count: 3 }, 3.9, 'held'],
      [{ version: V2, count: 4 }, 7.9, 'held'],
      [{ version: V2, count: 5 }, 15.9, 'held'],
      [{ version: V2, count: 5 }, 16, 'retried'],
      [{ version: V2, count: 6 }, 23.9, 'held'],
      [{ version: V2, count: 30 }, 24, 'retried'],
      // A count for another version (an older chain) starts over at 1 h.
      [{ version: V1, count: 5 }, 1.5, 'retried'],
    ])('failed runs %j, last one %s h ago: %s', async (failedRuns, hoursAgo, expected) => {
      const { started } = await sweep(
        healthy,
        behind,
        failedRun(hoursAgo, failedRuns === undefined ? {} : { failedRuns }),
      );
      expect(started.length === 1 ? 'retried' : 'held').toBe(expected);
    });

    // The last run (2 of 3 in a row, 30 min ago: held for 4 h) found server `a` Inaccessible; its
    // output in the format of an older deployment (every server listed, here a name-less entry) or
    // of this one (counts, and only the servers that need attention).
    const inaccessible = { serverId: behind[0]?.id, outcome: 'failed', reasonCode: 'ServerInaccessible' };
    const formats = [
      ['format 1', { servers: [inaccessible, { ...inaccessible, serverId: 'other', outcome: 'updated' }] }],
      [
        'format 2',
        {
          outputVersion: 2,
          counts: { updated: 1, verified: 0, failed: 1, skipped: 0, skippedBy: {} },
          servers: [{ ...inaccessible, serverName: 'a', subscriptionId: 's', slots: [] }],
        },
      ],
    ] as const;
    it.each(formats)(
      '%s: retries at once when a server the last run found Inaccessible is Ready again (roll it forward)',
      async (_, output) => {
        const last = failedRun(0.5, { failedRuns: { version: V2, count: 3 }, ...output });
        expect((await sweep(healthy, behind, last)).started).toHaveLength(1);
        // Still Inaccessible: held back like any failed run.
        const dark = [server('a', `${VAULT_URL}/keys/pg-cmk/${V1}`, 'Invalid', 'Inaccessible')];
        expect((await sweep(healthy, dark, last)).started).toEqual([]);
      },
    );
  });

  it('discovers servers once per sweep for many keys and hands each key only its own servers', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `pg-cmk-${i}`);
    const servers = [
      // key 7: one server behind the newest version; key 8: on the newest; the rest: no servers.
      server('pg-seven', `${VAULT_URL}/keys/pg-cmk-7/${V1}`),
      server('pg-eight', `${VAULT_URL}/keys/PG-CMK-8/${V2}`),
    ];
    const { result, started, discoveries } = await sweep(healthy, servers, undefined, { moreKeys: names });
    // Two pages of one discovery, not a query per key.
    expect(discoveries).toBe(2);
    expect(result.keysChecked).toBe(41);
    expect(started.map((s) => s.keyName)).toEqual(['pg-cmk-7']);
    expect(result.requested[0]?.why).toMatch(/1 server\(s\) behind/);
  });

  it('stops and reports when the one discovery fails, starting nothing', async () => {
    const { result, started, records } = await sweep(healthy, [], undefined, {
      discoveryFailure: new ForbiddenError('Forbidden: Resource Graph', 'AuthorizationFailed', 403),
    });
    expect(started).toEqual([]);
    expect(result.errors).toEqual(['server discovery: AuthorizationFailed']);
    expect(records.at(-1)).toMatchObject({ step: 'SweepCompleted', outcome: 'failure' });
  });

  it('records an unreadable vault by name and Azure code, and carries on', async () => {
    const { result, records } = await sweep(
      new ForbiddenError('Forbidden: listing keys', 'ForbiddenByRbac', 403),
      [],
    );
    expect(result.errors).toEqual(['contoso-pg-kv: ForbiddenByRbac']);
    expect(records.at(-1)).toMatchObject({ step: 'SweepCompleted', outcome: 'failure' });
  });
});
