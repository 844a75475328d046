import type { FleetFile } from './fleet';
import type { KeyVersion, RotationPolicy, Vault, VaultKey } from './keyvault-model';
import { addServer, loadWorld } from './world-fleet';
import { checkKeyAccess, grant, principalOf, revoke } from './world-grants';
import { addVersion, rotate, setRotationPolicy, type NewVersionSpec } from './world-keys';
import type { KeyAccessCheck, ServerRecord } from './world-records';
import { WorldState, type Behaviour } from './world-state';
import { evaluate, evaluateServers } from './world-time';

/**
 * Everything the local Azure knows, and the rules by which it changes over (clock) time: the facade the
 * routes and tests use. The state lives in world-state (the records in world-records, the key status
 * watch in world-health); the rules live in modules by concern: fleet loading (world-fleet), grants and
 * the RP's key check (world-grants), key lifecycle (world-keys), time-driven evaluation (world-time).
 * Those modules take the state and never import this file: the world modules import in one direction.
 */
export class World extends WorldState {
  static load(fleet: FleetFile, behaviourOverride: Partial<Behaviour> = {}): Promise<World> {
    return loadWorld(
      fleet,
      behaviourOverride,
      (clock, behaviour, tenantId) => new World(clock, behaviour, tenantId),
    );
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
  checkKeyAccess(uri: string, identityId: string | undefined, prove: boolean): KeyAccessCheck {
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
