import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { tryParseKeyUri } from '../../shared/domain/keyId';
import { parseFlexibleServerId, parseUserAssignedIdentityId } from '../../shared/domain/resourceId';
import { Clock, parseFleetTime, parseIsoDuration } from './clock';
import type { FleetFile, FleetIdentity } from './fleet';
import { isObject } from './http';
import {
  DEFAULT_KEY_OPS,
  currentVersion,
  findVersion,
  generateKeyMaterial,
  hasPermissions,
  newVersionId,
  roundTrip,
  unusableReason,
  vaultHost,
  type KeyVersion,
  type RotationPolicy,
  type Vault,
  type VaultKey,
} from './keyvault-model';

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
}

const DEFAULT_NOTIFY_BEFORE_EXPIRY = 'P30D';
export const REQUIRED_SERVER_PERMISSIONS = ['get', 'wrapKey', 'unwrapKey'];

export class FleetError extends Error {}

function props(json: Record<string, unknown>): Record<string, unknown> {
  if (!isObject(json['properties'])) json['properties'] = {};
  return json['properties'] as Record<string, unknown>;
}

export function dataEncryptionOf(json: Record<string, unknown>): Record<string, unknown> | undefined {
  const de = props(json)['dataEncryption'];
  return isObject(de) ? de : undefined;
}

/** Everything the local Azure knows, and the rules by which it changes over (clock) time. */
export class World {
  readonly vaults = new Map<string, Vault>();
  readonly identities = new Map<string, FleetIdentity>();
  readonly servers = new Map<string, ServerRecord>();
  readonly operations = new Map<string, Operation>();
  readonly events = new EventEmitter<{ key: [KeyEvent] }>();
  private lastStatusCheck = 0;

  constructor(
    readonly clock: Clock,
    readonly behaviour: Behaviour,
    readonly tenantId: string,
  ) {}

  static async load(fleet: FleetFile, behaviourOverride: Partial<Behaviour> = {}): Promise<World> {
    const start = fleet.clockStart !== undefined ? parseFleetTime(fleet.clockStart, Date.now()) : undefined;
    const clock = new Clock(start);
    const b = fleet.behaviour ?? {};
    const behaviour: Behaviour = {
      updateDurationMs: b.updateDurationMs ?? 2000,
      inaccessibleAfterMs: b.inaccessibleAfterMs ?? 600_000,
      armPageSize: b.armPageSize ?? 100,
      keyVaultPageSize: b.keyVaultPageSize ?? 25,
      eventGridRetryScale: b.eventGridRetryScale ?? 1,
      eventGridDeliveryTimeoutMs: b.eventGridDeliveryTimeoutMs ?? 30_000,
      armWrites: { burst: 200, perSecond: 10, ...b.armThrottling?.writes },
      armReads: { burst: 250, perSecond: 25, ...b.armThrottling?.reads },
      ...behaviourOverride,
    };
    const world = new World(clock, behaviour, fleet.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47');
    const now = clock.now();

    for (const id of fleet.identities ?? []) {
      parseUserAssignedIdentityId(id.id);
      world.identities.set(id.id.toLowerCase(), id);
    }
    for (const v of fleet.vaults ?? []) {
      const vault: Vault = {
        name: v.name.toLowerCase(),
        subscriptionId: v.subscriptionId,
        resourceGroup: v.resourceGroup,
        location: v.location ?? 'westeurope',
        keys: new Map(),
        access: [],
        enforceCallerAccess: v.enforceCallerAccess ?? false,
        kind: v.kind ?? 'vault',
      };
      if (world.vaults.has(vault.name))
        throw new FleetError(`two vaults or HSMs named ${vault.name}: the stand-in keys them by name`);
      for (const a of v.access ?? []) world.grant(vault, a.identity ?? a.principalId ?? '', a.permissions);
      for (const k of v.keys ?? []) {
        const key: VaultKey = {
          name: k.name,
          versions: [],
          deleted: undefined,
          rotationPolicy: undefined,
          notified: new Set(),
        };
        if (k.rotationPolicy !== undefined)
          key.rotationPolicy = world.normalizePolicy(vault, k.name, k.rotationPolicy, now);
        for (const fv of k.versions) {
          const kty = k.kty ?? 'RSA';
          const size = fv.size ?? k.size ?? 2048;
          const created = fv.created !== undefined ? parseFleetTime(fv.created, now) : now;
          const material = await generateKeyMaterial(kty, size);
          key.versions.push({
            version: (fv.version ?? newVersionId()).toLowerCase(),
            created,
            updated: created,
            enabled: fv.enabled ?? true,
            nbf: fv.nbf !== undefined ? parseFleetTime(fv.nbf, now) : undefined,
            exp: fv.exp !== undefined ? parseFleetTime(fv.exp, now) : undefined,
            kty,
            size,
            ops: [...(fv.ops ?? k.ops ?? DEFAULT_KEY_OPS)],
            tags: {},
            privateKey: material.privateKey,
            publicKey: material.publicKey,
          });
        }
        // Thresholds already behind us were notified before the stand-in started.
        world.markPastNotifications(key, now);
        vault.keys.set(k.name.toLowerCase(), key);
      }
      world.vaults.set(vault.name, vault);
    }
    for (const raw of fleet.servers ?? []) world.addServer(raw);
    // Key health is part of the state from the first request on, not from the first clock tick.
    world.evaluateServers();
    return world;
  }

  /** Resolves an identity id or principal id to a principal id. */
  principalOf(identityOrPrincipal: string): string {
    if (identityOrPrincipal.startsWith('/')) {
      const identity = this.identities.get(identityOrPrincipal.toLowerCase());
      if (identity === undefined) throw new FleetError(`unknown identity ${identityOrPrincipal}`);
      return identity.principalId;
    }
    return identityOrPrincipal;
  }

  grant(vault: Vault, identityOrPrincipal: string, permissions: readonly string[]): void {
    const principalId = this.principalOf(identityOrPrincipal);
    let entry = vault.access.find((a) => a.principalId.toLowerCase() === principalId.toLowerCase());
    if (entry === undefined) {
      entry = { principalId, permissions: new Set() };
      vault.access.push(entry);
    }
    for (const p of permissions) entry.permissions.add(p.toLowerCase());
  }

  revoke(vault: Vault, identityOrPrincipal: string, permissions: readonly string[]): void {
    const principalId = this.principalOf(identityOrPrincipal);
    for (const entry of vault.access) {
      if (entry.principalId.toLowerCase() === principalId.toLowerCase())
        for (const p of permissions) entry.permissions.delete(p.toLowerCase());
    }
  }

  addServer(raw: unknown): ServerRecord {
    if (!isObject(raw)) throw new FleetError('a server must be a JSON object');
    const json = structuredClone(raw);
    const ref = parseFlexibleServerId(String(json['id']));
    if (typeof json['name'] !== 'string') json['name'] = ref.name;
    json['type'] ??= 'Microsoft.DBforPostgreSQL/flexibleServers';
    if (typeof json['location'] !== 'string') throw new FleetError(`server ${ref.name} has no location`);
    const p = props(json);
    p['state'] ??= 'Ready';
    // Fill principal/client ids of user-assigned identities from the fleet's identities, as ARM does.
    const identity = json['identity'];
    if (isObject(identity) && isObject(identity['userAssignedIdentities'])) {
      const map = identity['userAssignedIdentities'];
      for (const id of Object.keys(map)) {
        const known = this.identities.get(id.toLowerCase());
        if (known !== undefined) map[id] = { principalId: known.principalId, clientId: known.clientId };
      }
    }
    const record: ServerRecord = { json, operation: undefined, invalidSince: {} };
    this.servers.set(ref.id.toLowerCase(), record);
    return record;
  }

  findServer(id: string): ServerRecord | undefined {
    try {
      return this.servers.get(parseFlexibleServerId(id).id.toLowerCase());
    } catch {
      return undefined;
    }
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

  private normalizePolicy(vault: Vault, keyName: string, raw: unknown, now: number): RotationPolicy {
    const src = isObject(raw) ? raw : {};
    const actions = Array.isArray(src['lifetimeActions']) ? src['lifetimeActions'] : [];
    const attrs = isObject(src['attributes']) ? src['attributes'] : {};
    const lifetimeActions = actions.filter(isObject).map((a) => {
      const trigger = isObject(a['trigger']) ? a['trigger'] : {};
      const action = isObject(a['action']) ? a['action'] : {};
      const t: { timeAfterCreate?: string; timeBeforeExpiry?: string } = {};
      if (typeof trigger['timeAfterCreate'] === 'string') t.timeAfterCreate = trigger['timeAfterCreate'];
      if (typeof trigger['timeBeforeExpiry'] === 'string') t.timeBeforeExpiry = trigger['timeBeforeExpiry'];
      for (const d of Object.values(t)) parseIsoDuration(d);
      const type = typeof action['type'] === 'string' ? action['type'] : '';
      if (!/^(rotate|notify)$/i.test(type))
        throw new FleetError(`rotation policy action type must be Rotate or Notify, got "${type}"`);
      return { trigger: t, action: { type: type.toLowerCase() === 'rotate' ? 'Rotate' : 'Notify' } };
    });
    const expiryTime = typeof attrs['expiryTime'] === 'string' ? attrs['expiryTime'] : undefined;
    if (expiryTime !== undefined) parseIsoDuration(expiryTime);
    return {
      id: `${this.vaultUrl(vault)}/keys/${keyName}/rotationpolicy`,
      lifetimeActions,
      attributes: {
        ...(expiryTime !== undefined ? { expiryTime } : {}),
        created: Math.floor(now / 1000),
        updated: Math.floor(now / 1000),
      },
    };
  }

  setRotationPolicy(vault: Vault, key: VaultKey, raw: unknown): RotationPolicy {
    key.rotationPolicy = this.normalizePolicy(vault, key.name, raw, this.clock.now());
    return key.rotationPolicy;
  }

  private notifyBeforeExpiryMs(key: VaultKey): number {
    const notify = key.rotationPolicy?.lifetimeActions.find(
      (a) => a.action.type === 'Notify' && a.trigger.timeBeforeExpiry !== undefined,
    );
    return parseIsoDuration(notify?.trigger.timeBeforeExpiry ?? DEFAULT_NOTIFY_BEFORE_EXPIRY);
  }

  private markPastNotifications(key: VaultKey, now: number): void {
    for (const v of key.versions) {
      if (v.exp === undefined) continue;
      if (v.exp - this.notifyBeforeExpiryMs(key) <= now) key.notified.add(`near:${v.version}`);
      if (v.exp <= now) key.notified.add(`expired:${v.version}`);
    }
  }

  /** Creates a new version (create, import or rotate). Emits KeyNewVersionCreated. */
  async addVersion(
    vault: Vault,
    keyName: string,
    spec: {
      kty: string;
      size: number;
      ops: string[];
      enabled?: boolean;
      nbf?: number;
      exp?: number;
      tags?: Record<string, string>;
      /** Imported key material; generated when absent. */
      material?: { privateKey?: KeyObject; publicKey?: KeyObject };
    },
  ): Promise<{ key: VaultKey; version: KeyVersion }> {
    let key = vault.keys.get(keyName.toLowerCase());
    if (key === undefined || key.deleted !== undefined) {
      key = {
        name: keyName,
        versions: [],
        deleted: undefined,
        rotationPolicy: undefined,
        notified: new Set(),
      };
      vault.keys.set(keyName.toLowerCase(), key);
    }
    const material = spec.material ?? (await generateKeyMaterial(spec.kty, spec.size));
    // Versions must order strictly by creation even when created within the same millisecond.
    const latest = currentVersion(key);
    const now = Math.max(this.clock.now(), (latest?.created ?? 0) + 1);
    const version: KeyVersion = {
      version: newVersionId(),
      created: now,
      updated: now,
      enabled: spec.enabled ?? true,
      nbf: spec.nbf,
      exp: spec.exp,
      kty: spec.kty,
      size: spec.size,
      ops: spec.ops,
      tags: spec.tags ?? {},
      privateKey: material.privateKey,
      publicKey: material.publicKey,
    };
    key.versions.push(version);
    this.events.emit('key', { type: 'KeyNewVersionCreated', vault, keyName: key.name, version });
    return { key, version };
  }

  /** Key Vault's Rotate: same type, size and operations; expiry from the rotation policy. */
  async rotate(vault: Vault, key: VaultKey): Promise<KeyVersion> {
    const latest = currentVersion(key);
    if (latest === undefined) throw new FleetError(`key ${key.name} has no version to rotate`);
    const expiry = key.rotationPolicy?.attributes.expiryTime;
    const { version } = await this.addVersion(vault, key.name, {
      kty: latest.kty,
      size: latest.size,
      ops: [...latest.ops],
      ...(expiry !== undefined ? { exp: this.clock.now() + parseIsoDuration(expiry) } : {}),
      tags: { ...latest.tags },
    });
    return version;
  }

  /**
   * Can this identity use this key URI for a server right now? Checks what the service checks: the key
   * exists, is usable, is RSA of a supported size, the identity holds get/wrapKey/unwrapKey, and a real
   * wrap/unwrap round trip works (when `prove` is set).
   */
  checkKeyAccess(
    uri: string,
    identityId: string | undefined,
    prove: boolean,
  ): { ok: true; version: KeyVersion } | { ok: false; code: string; message: string } {
    const ref = tryParseKeyUri(uri);
    if (ref === undefined)
      return {
        ok: false,
        code: 'AzureKeyVaultKeyNotFound',
        message: `The key ${uri} was not found in Azure Key Vault.`,
      };
    const vault = this.vaultByName(ref.vaultName);
    const key = vault?.keys.get(ref.name.toLowerCase());
    if (vault === undefined || key === undefined) {
      return {
        ok: false,
        code: 'AzureKeyVaultKeyNotFound',
        message: `The key ${uri} was not found in Azure Key Vault.`,
      };
    }
    const version = findVersion(key, ref.version);
    if (version === undefined)
      return {
        ok: false,
        code: 'AzureKeyVaultKeyNotFound',
        message: `The key ${uri} was not found in Azure Key Vault.`,
      };
    const reason = unusableReason(key, version, this.clock.now());
    if (reason !== undefined) return { ok: false, ...reason };
    const identity = identityId === undefined ? undefined : this.identities.get(identityId.toLowerCase());
    if (identity === undefined || !hasPermissions(vault, identity.principalId, REQUIRED_SERVER_PERMISSIONS)) {
      return {
        ok: false,
        code: 'AzureKeyVaultMissingPermissions',
        message: `The server's identity ${identityId ?? '(none)'} is missing get, wrapKey or unwrapKey permissions on key vault ${vault.name}.`,
      };
    }
    if (prove && !roundTrip(version))
      return { ok: false, code: 'AzureKeyVaultInvalidKey', message: `Wrap/unwrap with ${uri} failed.` };
    return { ok: true, version };
  }

  /** Time-driven changes: key notifications, policy rotations, servers losing (or regaining) their keys. */
  async evaluate(): Promise<void> {
    const now = this.clock.now();
    for (const vault of this.vaults.values()) {
      for (const key of vault.keys.values()) {
        if (key.deleted !== undefined) continue;
        const current = currentVersion(key);
        if (current === undefined) continue;
        if (current.exp !== undefined && current.enabled) {
          if (
            now >= current.exp - this.notifyBeforeExpiryMs(key) &&
            !key.notified.has(`near:${current.version}`)
          ) {
            key.notified.add(`near:${current.version}`);
            this.events.emit('key', { type: 'KeyNearExpiry', vault, keyName: key.name, version: current });
          }
          if (now >= current.exp && !key.notified.has(`expired:${current.version}`)) {
            key.notified.add(`expired:${current.version}`);
            this.events.emit('key', { type: 'KeyExpired', vault, keyName: key.name, version: current });
          }
        }
        const due = this.rotationDue(key, current, now);
        if (due && !key.notified.has(`rotated:${current.version}`)) {
          key.notified.add(`rotated:${current.version}`);
          await this.rotate(vault, key);
        }
      }
    }
    // Key status checks are static (no crypto) and need not run on every tick.
    if (now - this.lastStatusCheck >= 200) {
      this.lastStatusCheck = now;
      this.evaluateServers(now);
    }
  }

  private rotationDue(key: VaultKey, current: KeyVersion, now: number): boolean {
    for (const a of key.rotationPolicy?.lifetimeActions ?? []) {
      if (a.action.type !== 'Rotate') continue;
      if (
        a.trigger.timeAfterCreate !== undefined &&
        now >= current.created + parseIsoDuration(a.trigger.timeAfterCreate)
      )
        return true;
      if (
        a.trigger.timeBeforeExpiry !== undefined &&
        current.exp !== undefined &&
        now >= current.exp - parseIsoDuration(a.trigger.timeBeforeExpiry)
      ) {
        return true;
      }
    }
    return false;
  }

  evaluateServers(now = this.clock.now()): void {
    for (const record of this.servers.values()) {
      const p = props(record.json);
      const de = dataEncryptionOf(record.json);
      if (de?.['type'] !== 'AzureKeyVault' || p['state'] === 'Updating' || p['state'] === 'Stopped') continue;
      let anyInvalidLongEnough = false;
      let allValid = true;
      for (const slot of ['primary', 'geoBackup'] as const) {
        const uri = de[`${slot}KeyURI`];
        if (typeof uri !== 'string' || uri === '') continue;
        const identity = de[`${slot}UserAssignedIdentityId`];
        const check = this.checkKeyAccess(uri, typeof identity === 'string' ? identity : undefined, false);
        if (check.ok) {
          de[`${slot}EncryptionKeyStatus`] = 'Valid';
          record.invalidSince[slot] = undefined;
        } else {
          allValid = false;
          de[`${slot}EncryptionKeyStatus`] = 'Invalid';
          const since = (record.invalidSince[slot] ??= now);
          if (now - since >= this.behaviour.inaccessibleAfterMs) anyInvalidLongEnough = true;
        }
      }
      if (anyInvalidLongEnough && p['state'] === 'Ready') p['state'] = 'Inaccessible';
      if (allValid && p['state'] === 'Inaccessible') p['state'] = 'Ready';
    }
  }
}
