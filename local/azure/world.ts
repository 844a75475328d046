import type { KeyVaultRoleAssignment } from './keyvault-rbac';
import { EventEmitter } from 'node:events';
import type { RoleAssignment } from './arm-authz';
import type { Clock } from './clock';
import type { FleetFile, FleetIdentity } from './fleet';
import { isObject } from './http';
import { NO_APP_NETWORK, type AppNetwork } from './keyvault-firewall';
import { armIdOfType, FLEXIBLE_SERVER_TYPE } from './ids';
import { vaultHost, type KeyVersion, type RotationPolicy, type Vault, type VaultKey } from './keyvault-model';
import { addServer, loadWorld } from './world-fleet';
import { checkKeyAccess, grant, principalOf, revoke } from './world-grants';
import { addVersion, rotate, setRotationPolicy, type NewVersionSpec } from './world-keys';
import { evaluate, evaluateServers, ServerHealth } from './world-time';

export type KeyEventType = 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired';

export interface KeyEvent {
  readonly type: KeyEventType;
  readonly vault: Vault;
  readonly keyName: string;
  readonly version: KeyVersion;
}

export interface Operation {
  readonly id: string;
  readonly serverId: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly startTime: number;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  endTime: number | undefined;
  error: { code: string; message: string } | undefined;
}

export interface ServerRecord {
  /** ARM `Server` JSON exactly as GET returns it; the stand-in edits it in place. */
  json: Record<string, unknown>;
  operation: Operation | undefined;
  invalidSince: Partial<Record<'primary' | 'geoBackup', number>>;
}

export interface Behaviour {
  updateDurationMs: number;
  inaccessibleAfterMs: number;
  armPageSize: number;
  keyVaultPageSize: number;
  eventGridRetryScale: number;
  eventGridDeliveryTimeoutMs: number;
  armWrites: { burst: number; perSecond: number };
  armReads: { burst: number; perSecond: number };
  resourceGraphQuota: { requests: number; windowMs: number };
}

export const REQUIRED_SERVER_PERMISSIONS = ['get', 'wrapKey', 'unwrapKey'];

export class FleetError extends Error {}

export function props(json: Record<string, unknown>): Record<string, unknown> {
  if (!isObject(json['properties'])) json['properties'] = {};
  return json['properties'] as Record<string, unknown>;
}

export function dataEncryptionOf(json: Record<string, unknown>): Record<string, unknown> | undefined {
  const de = props(json)['dataEncryption'];
  return isObject(de) ? de : undefined;
}

/**
 * Everything the local Azure knows, and the rules by which it changes over (clock) time. The rules live
 * in modules by concern: fleet loading (world-fleet), grants and the RP's key check (world-grants), key
 * lifecycle (world-keys), time-driven evaluation (world-time).
 */
export class World {
  readonly vaults = new Map<string, Vault>();
  readonly identities = new Map<string, FleetIdentity>();
  readonly servers = new Map<string, ServerRecord>();
  /** Servers by subscription, and by `<subscription>/<resource group>` (lower-case): kept by addServer. */
  readonly serversBySubscription = new Map<string, ServerRecord[]>();
  readonly serversByResourceGroup = new Map<string, ServerRecord[]>();
  /** Which servers the key status check must look at (world-time). */
  readonly health = new ServerHealth();
  readonly operations = new Map<string, Operation>();
  readonly events = new EventEmitter<{ key: [KeyEvent] }>();
  /** ARM role assignments from the fleet file; undefined: the infra defaults (arm-authz.ts). */
  roleAssignments: readonly RoleAssignment[] | undefined = undefined;
  /** Clock time of the last key status check of the servers (world-time). */
  lastStatusCheck = 0;
  /** Fleet role assignments that name Key Vault data-plane roles (local/azure/keyvault-rbac.ts). */
  readonly keyVaultRoleAssignments: KeyVaultRoleAssignment[] = [];
  /**
   * Where the app's data-plane calls come from (fleet `appNetwork`): Key Vault's firewall judges them by
   * it (local/azure/keyvault-firewall.ts). The servers' own key access is the RP's, a trusted service.
   */
  appNetwork: AppNetwork = NO_APP_NETWORK;

  constructor(
    readonly clock: Clock,
    readonly behaviour: Behaviour,
    readonly tenantId: string,
  ) {}

  static load(fleet: FleetFile, behaviourOverride: Partial<Behaviour> = {}): Promise<World> {
    return loadWorld(fleet, behaviourOverride);
  }

  /** Resolves an identity id or principal id to a principal id. */
  principalOf(identityOrPrincipal: string): string {
    return principalOf(this, identityOrPrincipal);
  }

  grant(vault: Vault, identityOrPrincipal: string, permissions: readonly string[]): void {
    grant(this, vault, identityOrPrincipal, permissions);
  }

  revoke(vault: Vault, identityOrPrincipal: string, permissions: readonly string[]): void {
    revoke(this, vault, identityOrPrincipal, permissions);
  }

  addServer(raw: unknown): ServerRecord {
    return addServer(this, raw);
  }

  /** A server's JSON changed outside the key status check (a PATCH started or ended): look at it again. */
  serverChanged(record: ServerRecord): void {
    this.health.changed(record);
  }

  findServer(id: string): ServerRecord | undefined {
    const ref = armIdOfType(id, FLEXIBLE_SERVER_TYPE);
    return ref === undefined ? undefined : this.servers.get(ref.id.toLowerCase());
  }

  vaultByName(name: string): Vault | undefined {
    return this.vaults.get(name.toLowerCase());
  }

  /** The vault (or Managed HSM) a data-plane host names, when it is the right kind. */
  vaultByHost(host: string): Vault | undefined {
    const name = host.toLowerCase().split('.')[0] ?? '';
    const vault = this.vaults.get(name);
    return vault !== undefined && vaultHost(vault) === host.toLowerCase() ? vault : undefined;
  }

  vaultUrl(vault: Vault): string {
    return `https://${vaultHost(vault)}`;
  }

  setRotationPolicy(vault: Vault, key: VaultKey, raw: unknown): RotationPolicy {
    return setRotationPolicy(this, vault, key, raw);
  }

  /** Creates a new version (create, import or rotate). Emits KeyNewVersionCreated. */
  addVersion(
    vault: Vault,
    keyName: string,
    spec: NewVersionSpec,
  ): Promise<{ key: VaultKey; version: KeyVersion }> {
    return addVersion(this, vault, keyName, spec);
  }

  /** Key Vault's Rotate: same type, size and operations; expiry from the rotation policy. */
  rotate(vault: Vault, key: VaultKey): Promise<KeyVersion> {
    return rotate(this, vault, key);
  }

  /** The RP's check that an identity can use a key URI for a server (see world-grants). */
  checkKeyAccess(
    uri: string,
    identityId: string | undefined,
    prove: boolean,
  ): { ok: true; version: KeyVersion } | { ok: false; code: string; message: string } {
    return checkKeyAccess(this, uri, identityId, prove);
  }

  /** Time-driven changes: key notifications, policy rotations, servers losing (or regaining) their keys. */
  evaluate(): Promise<void> {
    return evaluate(this);
  }

  evaluateServers(now = this.clock.now()): void {
    evaluateServers(this, now);
  }
}
