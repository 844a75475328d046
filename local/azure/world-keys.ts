import type { KeyObject } from 'node:crypto';
import { parseIsoDuration } from './clock';
import { isObject } from './http';
import {
  currentVersion,
  generateKeyMaterial,
  newVersionId,
  type KeyVersion,
  type RotationPolicy,
  type Vault,
  type VaultKey,
} from './keyvault-model';
import { FleetError, type WorldState } from './world-state';

const DEFAULT_NOTIFY_BEFORE_EXPIRY = 'P30D';

export function normalizePolicy(
  world: WorldState,
  vault: Vault,
  keyName: string,
  raw: unknown,
  now: number,
): RotationPolicy {
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
    id: `${world.vaultUrl(vault)}/keys/${keyName}/rotationpolicy`,
    lifetimeActions,
    attributes: {
      ...(expiryTime !== undefined ? { expiryTime } : {}),
      created: Math.floor(now / 1000),
      updated: Math.floor(now / 1000),
    },
  };
}

export function setRotationPolicy(
  world: WorldState,
  vault: Vault,
  key: VaultKey,
  raw: unknown,
): RotationPolicy {
  key.rotationPolicy = normalizePolicy(world, vault, key.name, raw, world.clock.now());
  return key.rotationPolicy;
}

export function notifyBeforeExpiryMs(key: VaultKey): number {
  const notify = key.rotationPolicy?.lifetimeActions.find(
    (a) => a.action.type === 'Notify' && a.trigger.timeBeforeExpiry !== undefined,
  );
  return parseIsoDuration(notify?.trigger.timeBeforeExpiry ?? DEFAULT_NOTIFY_BEFORE_EXPIRY);
}

export function markPastNotifications(key: VaultKey, now: number): void {
  for (const v of key.versions) {
    if (v.exp === undefined) continue;
    if (v.exp - notifyBeforeExpiryMs(key) <= now) key.notified.add(`near:${v.version}`);
    if (v.exp <= now) key.notified.add(`expired:${v.version}`);
  }
}

/** What a new key version is made of (create, import or rotate). */
export interface NewVersionSpec {
  kty: string;
  size: number;
  ops: string[];
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  tags?: Record<string, string>;
  /** Imported key material; generated when absent. */
  material?: { privateKey?: KeyObject; publicKey?: KeyObject };
}

/** Creates a new version (create, import or rotate). Emits KeyNewVersionCreated. */
export async function addVersion(
  world: WorldState,
  vault: Vault,
  keyName: string,
  spec: NewVersionSpec,
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
  const now = Math.max(world.clock.now(), (latest?.created ?? 0) + 1);
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
  world.events.emit('key', { type: 'KeyNewVersionCreated', vault, keyName: key.name, version });
  return { key, version };
}

/** Key Vault's Rotate: same type, size and operations; expiry from the rotation policy. */
export async function rotate(world: WorldState, vault: Vault, key: VaultKey): Promise<KeyVersion> {
  const latest = currentVersion(key);
  if (latest === undefined) throw new FleetError(`key ${key.name} has no version to rotate`);
  const expiry = key.rotationPolicy?.attributes.expiryTime;
  const { version } = await addVersion(world, vault, key.name, {
    kty: latest.kty,
    size: latest.size,
    ops: [...latest.ops],
    ...(expiry !== undefined ? { exp: world.clock.now() + parseIsoDuration(expiry) } : {}),
    tags: { ...latest.tags },
  });
  return version;
}
