/**
 * Posture rules for a key vault: protection (soft delete, purge protection, retention), tenant and
 * region, permission model and network access, each a named check with its reason, and the vault's risk.
 */
import { APP_REACHABILITY_CHECK } from './vaultReachability';
import type { Slot } from './model';
import {
  RECOMMENDED_RETENTION_DAYS,
  type Risk,
  type VaultCheck,
  type VaultCheckName,
  type VaultProperties,
} from './posture';
import { worst } from './postureRisk';
import { resourceNameOf as nameOf } from './resourceId';

/**
 * Azure's region pairs (Learn, "Azure cross-region replication pairings for all geographies"):
 * geo-redundant backups of a flexible server go to the paired region, so its geo-backup key must be in a
 * vault there. Regions not listed: only "not the server's own region" is checked.
 */
export const REGION_PAIRS: Readonly<Record<string, string>> = {
  eastus: 'westus',
  westus: 'eastus',
  eastus2: 'centralus',
  centralus: 'eastus2',
  northcentralus: 'southcentralus',
  southcentralus: 'northcentralus',
  westus2: 'westcentralus',
  westcentralus: 'westus2',
  westus3: 'eastus',
  canadacentral: 'canadaeast',
  canadaeast: 'canadacentral',
  brazilsouth: 'southcentralus',
  northeurope: 'westeurope',
  westeurope: 'northeurope',
  uksouth: 'ukwest',
  ukwest: 'uksouth',
  francecentral: 'francesouth',
  francesouth: 'francecentral',
  germanywestcentral: 'germanynorth',
  germanynorth: 'germanywestcentral',
  switzerlandnorth: 'switzerlandwest',
  switzerlandwest: 'switzerlandnorth',
  norwayeast: 'norwaywest',
  norwaywest: 'norwayeast',
  swedencentral: 'swedensouth',
  swedensouth: 'swedencentral',
  eastasia: 'southeastasia',
  southeastasia: 'eastasia',
  japaneast: 'japanwest',
  japanwest: 'japaneast',
  koreacentral: 'koreasouth',
  koreasouth: 'koreacentral',
  australiaeast: 'australiasoutheast',
  australiasoutheast: 'australiaeast',
  centralindia: 'southindia',
  southindia: 'centralindia',
  uaenorth: 'uaecentral',
  uaecentral: 'uaenorth',
  southafricanorth: 'southafricawest',
  southafricawest: 'southafricanorth',
};

const region = (s: string | undefined): string => (s ?? '').replace(/\s+/g, '').toLowerCase();

/** Who uses a vault, as its checks need to know: one row per server slot whose key is in it. */
export interface VaultUser {
  readonly serverId: string;
  readonly slot: Slot;
  readonly serverLocation: string;
  readonly tenantId: string | undefined;
}

/** The seeds' vault requirements and recommendations as named checks, each with its reason. */
/** Every vault check and its kind, in report order (what a vault that could not be read reports as `unknown`). */
export const VAULT_CHECKS: readonly (readonly [VaultCheckName, VaultCheck['kind']])[] = [
  ['softDelete', 'requirement'],
  ['purgeProtection', 'requirement'],
  ['retentionDays', 'recommendation'],
  ['sameTenant', 'requirement'],
  ['sameRegion', 'requirement'],
  ['permissionModel', 'recommendation'],
  ['networkAccess', 'requirement'],
  [APP_REACHABILITY_CHECK, 'requirement'],
];

export function vaultChecks(vault: VaultProperties, users: readonly VaultUser[]): VaultCheck[] {
  const checks: VaultCheck[] = [];
  const add = (c: VaultCheck): void => {
    checks.push(c);
  };
  add(
    vault.enableSoftDelete === false
      ? {
          name: 'softDelete',
          kind: 'requirement',
          status: 'failing',
          reason: 'soft delete is off: a deleted key or vault cannot be recovered',
        }
      : { name: 'softDelete', kind: 'requirement', status: 'ok', reason: 'soft delete is on' },
  );
  add(
    vault.enablePurgeProtection === true
      ? { name: 'purgeProtection', kind: 'requirement', status: 'ok', reason: 'purge protection is on' }
      : {
          name: 'purgeProtection',
          kind: 'requirement',
          status: 'failing',
          reason:
            'purge protection is off: a deleted key can be purged before its retention ends, and the servers lose their data',
        },
  );
  const days = vault.softDeleteRetentionInDays ?? 90;
  add(
    days >= RECOMMENDED_RETENTION_DAYS
      ? {
          name: 'retentionDays',
          kind: 'recommendation',
          status: 'ok',
          reason: `deleted vaults are kept ${days} days`,
        }
      : {
          name: 'retentionDays',
          kind: 'recommendation',
          status: 'failing',
          reason: `deleted vaults are kept ${days} days; ${RECOMMENDED_RETENTION_DAYS} are recommended (fixed at creation: a new vault is needed to change it)`,
        },
  );
  const tenants = [
    ...new Set(
      users.map((u) => u.tenantId?.toLowerCase()).filter((t): t is string => t !== undefined && t !== ''),
    ),
  ];
  const foreign = tenants.filter((t) => t !== vault.tenantId.toLowerCase());
  add(
    tenants.length === 0
      ? {
          name: 'sameTenant',
          kind: 'requirement',
          status: 'unknown',
          reason: 'no server using the vault reports its identity tenant',
        }
      : foreign.length > 0
        ? {
            name: 'sameTenant',
            kind: 'requirement',
            status: 'failing',
            reason: `vault tenant ${vault.tenantId} differs from server tenant ${foreign.join(', ')}: cross-tenant CMK is not supported`,
          }
        : {
            name: 'sameTenant',
            kind: 'requirement',
            status: 'ok',
            reason: `vault and servers in tenant ${vault.tenantId}`,
          },
  );
  const vaultRegion = region(vault.location);
  const wrong: string[] = [];
  for (const u of users) {
    const server = region(u.serverLocation);
    if (u.slot === 'primary') {
      if (server !== vaultRegion)
        wrong.push(`${nameOf(u.serverId)} (primary) is in ${server}, the vault in ${vaultRegion}`);
    } else {
      const pair = REGION_PAIRS[server];
      if (vaultRegion === server)
        wrong.push(
          `${nameOf(u.serverId)} (geo-backup) uses a vault in its own region ${server}, not the backup region${pair !== undefined ? ` ${pair}` : ''}`,
        );
      else if (pair !== undefined && pair !== vaultRegion)
        wrong.push(`${nameOf(u.serverId)} (geo-backup) backs up to ${pair}, the vault is in ${vaultRegion}`);
    }
  }
  add(
    users.length === 0
      ? {
          name: 'sameRegion',
          kind: 'requirement',
          status: 'unknown',
          reason: 'no server in scope uses the vault',
        }
      : wrong.length > 0
        ? { name: 'sameRegion', kind: 'requirement', status: 'failing', reason: wrong.join('; ') }
        : {
            name: 'sameRegion',
            kind: 'requirement',
            status: 'ok',
            reason: `in ${vaultRegion}, where its servers (or their backups) are`,
          },
  );
  add(networkCheck(vault));
  add(
    vault.enableRbacAuthorization === true
      ? {
          name: 'permissionModel',
          kind: 'recommendation',
          status: 'ok',
          reason: 'Azure RBAC permission model (preferred)',
        }
      : {
          name: 'permissionModel',
          kind: 'recommendation',
          status: 'failing',
          reason:
            'access-policy permission model (legacy): Azure RBAC with "Key Vault Crypto Service Encryption User" is preferred',
        },
  );
  return checks;
}

function networkCheck(vault: VaultProperties): VaultCheck {
  const publicOff = (vault.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled';
  const acls = vault.networkAcls;
  const deny = (acls?.defaultAction ?? 'Allow').toLowerCase() === 'deny';
  const trusted = (acls?.bypass ?? 'AzureServices').toLowerCase().includes('azureservices');
  if ((publicOff || deny) && !trusted)
    return {
      name: 'networkAccess',
      kind: 'requirement',
      status: 'failing',
      reason: `${publicOff ? 'public network access is disabled' : 'the firewall denies by default'} and trusted Microsoft services may not bypass it: servers cannot reach their keys`,
    };
  if (publicOff)
    return {
      name: 'networkAccess',
      kind: 'recommendation',
      status: 'ok',
      reason: 'public access disabled, trusted Microsoft services bypass the firewall',
    };
  if (deny)
    return {
      name: 'networkAccess',
      kind: 'recommendation',
      status: 'ok',
      reason: 'firewall denies by default, trusted Microsoft services bypass it',
    };
  return {
    name: 'networkAccess',
    kind: 'recommendation',
    status: 'failing',
    reason:
      'public network access is open to all networks: disable public access and allow trusted Microsoft services to bypass the firewall',
  };
}

/** Risk of a vault from its checks: a failing requirement is critical, a failing recommendation a warning. */
export function vaultRisk(checks: readonly VaultCheck[]): { risk: Risk; reasons: string[] } {
  let risk: Risk = 'ok';
  const reasons: string[] = [];
  for (const c of checks) {
    if (c.status !== 'failing') continue;
    risk = worst(risk, c.kind === 'requirement' ? 'critical' : 'warning');
    reasons.push(`${c.name}: ${c.reason}`);
  }
  return { risk, reasons };
}
