import { EventEmitter } from 'node:events';
import type { Clock } from './clock';
import type { FleetIdentity } from './fleet';
import { NO_APP_NETWORK, type AppNetwork } from './keyvault-firewall';
import { armIdOfType, FLEXIBLE_SERVER_TYPE } from './ids';
import { vaultHost, type KeyVersion, type Vault } from './keyvault-model';
import { ServerHealth } from './world-health';
import type { Operation, ServerRecord } from './world-records';

export type KeyEventType = 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired';

export interface KeyEvent {
  readonly type: KeyEventType;
  readonly vault: Vault;
  readonly keyName: string;
  readonly version: KeyVersion;
}

export interface Behaviour {
  updateDurationMs: number;
  updateDurationSpreadMs: number;
  inaccessibleAfterMs: number;
  armPageSize: number;
  keyVaultPageSize: number;
  eventGridRetryScale: number;
  eventGridDeliveryTimeoutMs: number;
  armWrites: { burst: number; perSecond: number };
  armReads: { burst: number; perSecond: number };
  resourceGraphQuota: { requests: number; windowMs: number };
}

/** An ARM role assignment as the stand-in's caller authorization checks it (arm-authz.ts). */
export interface RoleAssignment {
  /** `*` matches every caller. */
  readonly principalId: string;
  readonly scope: string;
  readonly actions: readonly string[];
}

/** A Key Vault data-plane role assignment (keyvault-rbac.ts). */
export interface KeyVaultRoleAssignment {
  readonly id: string;
  readonly scope: string;
  readonly roleDefinitionGuid: string;
  readonly principalId: string;
  /** As ARM reports it (`ServicePrincipal` unless the fleet says otherwise). */
  readonly principalType: string;
  /** A group's members (who hold the role through it); empty for other principals. */
  readonly members: readonly string[];
}

export const REQUIRED_SERVER_PERMISSIONS = ['get', 'wrapKey', 'unwrapKey'];

export class FleetError extends Error {}

/**
 * Everything the local Azure knows: the state the rule modules (world-fleet, world-grants, world-keys,
 * world-time) read and change. They import this module, never world.ts (the facade that puts state and
 * rules together), so the world modules import in one direction only.
 */
export class WorldState {
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
}
