import type { AuditRecord } from '../../../shared/domain/audit';
import type { RotationInput } from '../../../shared/rotation/contract';
import { loadConfig } from '../../../shared/config';
import type { KeyInfo, KeyVersionInfo } from '../../../shared/domain/model';
import type { AuditTrail } from '../../../shared/ports/auditTrail';
import { NotFoundError } from '../../../shared/ports/errors';
import type { KeyVaultKeys } from '../../../shared/ports/keyVaultKeys';
import type { ServerFleet } from '../../../shared/ports/serverFleet';
import type { InstanceInfo, ListedInstance, RotationInstances } from '../../../shared/ports/rotations';
import { keyVersion } from '../../support/keys';
import { SUBSCRIPTION } from '../../support/servers';

/** Typed fakes and the configuration the trigger tests share. */
export const SUB = SUBSCRIPTION;

export const config = loadConfig({
  CMK_SUBSCRIPTIONS: SUB,
  CMK_ALLOWED_VAULTS: 'contoso-pg-kv',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
});

/** A task hub in memory: what the durable client would see. */
export class FakeInstances implements RotationInstances {
  readonly started: { id: string; input: RotationInput }[] = [];
  readonly raised: { id: string; name: string; payload: unknown }[] = [];
  /** When set, the instance moves to this state right after the first event is raised to it. */
  afterRaise?: InstanceInfo;
  constructor(
    public current?: InstanceInfo,
    private readonly startAnswer: 'started' | 'alreadyRunning' | Error = 'started',
  ) {}
  /** How many times the instance's status was read. */
  statusReads = 0;
  status(): Promise<InstanceInfo | undefined> {
    this.statusReads++;
    return Promise.resolve(this.current);
  }
  start(id: string, input: RotationInput): Promise<'started' | 'alreadyRunning'> {
    if (this.startAnswer instanceof Error) return Promise.reject(this.startAnswer);
    this.started.push({ id, input });
    return Promise.resolve(this.startAnswer);
  }
  raise(id: string, name: string, payload: unknown): Promise<void> {
    this.raised.push({ id, name, payload });
    if (this.afterRaise !== undefined) {
      this.current = this.afterRaise;
      this.afterRaise = undefined;
    }
    return Promise.resolve();
  }
  /** Other instances in the hub, for listings (the `current` one is listed as `listedAs`). */
  others: ListedInstance[] = [];
  listedAs = 'cmk-rotation:contoso-pg-kv:pg-cmk';
  list(): Promise<ListedInstance[]> {
    const mine: ListedInstance[] =
      this.current === undefined ? [] : [{ ...this.current, instanceId: this.listedAs, name: 'keyRotation' }];
    return Promise.resolve([...mine, ...this.others]);
  }
}

export class MemoryAudit implements AuditTrail {
  readonly records: AuditRecord[] = [];
  /** How many writes (calls of `record`) brought them. */
  writes = 0;
  record(records: readonly AuditRecord[]): Promise<void> {
    this.writes++;
    this.records.push(...records);
    return Promise.resolve();
  }
}

/** The version the fake vault serves as pg-cmk's current one. */
export const CURRENT_VERSION = '0123456789abcdef0123456789abcdef';

/**
 * Key Vault as the intake reads it: the keys it has (`<vault url>/keys/<name>` → current version), or
 * failing every read with `error`. Records every read.
 */
export class FakeKeys implements KeyVaultKeys {
  readonly reads: string[] = [];
  constructor(
    private readonly has: Readonly<Record<string, string>> = {
      'https://contoso-pg-kv.vault.azure.net/keys/pg-cmk': CURRENT_VERSION,
    },
    public error?: Error,
  ) {}
  listKeys(): Promise<string[]> {
    return Promise.resolve(Object.keys(this.has).map((k) => k.split('/').pop() ?? k));
  }
  readKey(vaultUrl: string, keyName: string): Promise<KeyInfo> {
    const id = `${vaultUrl}/keys/${keyName}`;
    this.reads.push(id);
    if (this.error !== undefined) return Promise.reject(this.error);
    const current = this.has[id];
    if (current === undefined)
      return Promise.reject(new NotFoundError(`Not found: key ${keyName}`, 'KeyNotFound', 404));
    const version: KeyVersionInfo = keyVersion(current, '2026-11-20T10:00:00.000Z', {
      kid: `${id}/${current}`,
    });
    return Promise.resolve({
      vaultUrl,
      vaultName: new URL(vaultUrl).hostname.split('.')[0] ?? '',
      name: keyName,
      versions: [version],
      currentVersion: current,
    });
  }
  readKeyVersion(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('not used by the intake'));
  }
  rotateKey(): Promise<KeyVersionInfo> {
    return Promise.reject(new Error('not used by the intake'));
  }
}

/** A fleet for a trigger that reads no server: every call is a bug, refused naming who must not call it. */
export function unusedFleet(caller: string): ServerFleet {
  const refuse = (): Promise<never> => Promise.reject(new Error(`not used by ${caller}`));
  return {
    findServersReferencingKey: refuse,
    findServersWithCustomerManagedKeys: refuse,
    getServerForUpdate: refuse,
    getServer: refuse,
    beginEncryptionUpdate: refuse,
    pollOperation: refuse,
  };
}
