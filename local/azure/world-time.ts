import { currentVersion, type KeyVersion, type VaultKey } from './keyvault-model';
import { parseIsoDuration } from './clock';
import { checkKeyAccess } from './world-grants';
import { notifyBeforeExpiryMs, rotate } from './world-keys';
import type { WorldState } from './world-state';

/** Time-driven changes: key notifications, policy rotations, servers losing (or regaining) their keys. */
export async function evaluate(world: WorldState): Promise<void> {
  const now = world.clock.now();
  for (const vault of world.vaults.values()) {
    for (const key of vault.keys.values()) {
      if (key.deleted !== undefined) continue;
      const current = currentVersion(key);
      if (current === undefined) continue;
      if (current.exp !== undefined && current.enabled) {
        if (now >= current.exp - notifyBeforeExpiryMs(key) && !key.notified.has(`near:${current.version}`)) {
          key.notified.add(`near:${current.version}`);
          world.events.emit('key', { type: 'KeyNearExpiry', vault, keyName: key.name, version: current });
        }
        if (now >= current.exp && !key.notified.has(`expired:${current.version}`)) {
          key.notified.add(`expired:${current.version}`);
          world.events.emit('key', { type: 'KeyExpired', vault, keyName: key.name, version: current });
        }
      }
      const due = rotationDue(key, current, now);
      if (due && !key.notified.has(`rotated:${current.version}`)) {
        key.notified.add(`rotated:${current.version}`);
        await rotate(world, vault, key);
      }
    }
  }
  // Key status checks are static (no crypto) and need not run on every tick.
  if (now - world.lastStatusCheck >= 200) {
    world.lastStatusCheck = now;
    evaluateServers(world, now);
  }
}

function rotationDue(key: VaultKey, current: KeyVersion, now: number): boolean {
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

export function evaluateServers(world: WorldState, now = world.clock.now()): void {
  world.health.pass(
    now,
    (uri, identity) => checkKeyAccess(world, uri, identity, false),
    world.behaviour.inaccessibleAfterMs,
  );
}
