/**
 * Servers configured for cross-tenant customer-managed keys are never PATCHed by the rotator.
 *
 * Why skip instead of carrying the ids through the PATCH: Learn ("Data encryption with customer-managed
 * keys", cross-tenant CMK, preview) says a PATCH without `primaryFederatedIdentityClientId` "is treated
 * as a non-cross-tenant CMK configuration", i.e. the server is silently converted and can no longer
 * reach the vault in the other tenant. The field exists only in the preview api-version
 * (Microsoft.DBforPostgreSQL 2026-04-01-preview; the .NET SDK's PostgreSqlFlexibleServerDataEncryption
 * .PrimaryFederatedIdentityClientId, "Client id of multi-tenant Microsoft Entra application"); the
 * stable 2025-08-01 the product writes with (`@azure/arm-postgresql-flexible` 9.0.0) has no such field.
 * Writing through a preview api-version would tie every rotation to a preview contract, so the safe
 * choice with the stable client is: detect (the read right before the PATCH uses the preview
 * api-version, a read only; Resource Graph rows carry the stored ids too), skip the server with a clear
 * reason, page once. An operator rotates it with a cross-tenant-aware
 * tool until the field is in a stable api-version.
 *
 * Fail closed: when the preview read is refused (400 InvalidApiVersionParameter /
 * NoRegisteredProviderFound: the preview api-version retired, or not served in the server's region),
 * the rotator cannot tell, and a stable read never shows the federated ids. Such a server is NOT
 * PATCHed: it fails with `CrossTenantUndetermined` (permanent, paged once), the other servers go on.
 */
import { RotatorError } from './errors';
import type { DataEncryptionInfo } from './model';

/** Stable reason code of a server left alone because it uses cross-tenant CMK. */
export const CROSS_TENANT_CODE = 'CrossTenantCmk';

/** Stable reason code of a server left alone because the read could not tell whether it is cross-tenant. */
export const CROSS_TENANT_UNDETERMINED_CODE = 'CrossTenantUndetermined';

/**
 * The read before a PATCH could not tell whether the server uses cross-tenant CMK (the preview
 * api-version that shows the federated ids was refused). Permanent: the server is never PATCHed blind.
 */
export class CrossTenantUndeterminedError extends RotatorError {
  readonly code = CROSS_TENANT_UNDETERMINED_CODE;
  readonly retryable = false;
}

export interface FederatedIdentityClientIds {
  readonly primary?: string | undefined;
  readonly geoBackup?: string | undefined;
}

/** The federated client ids a server's `dataEncryption` carries; undefined when it carries none. */
export function federatedIdsOf(de: DataEncryptionInfo | undefined): FederatedIdentityClientIds | undefined {
  const primary = de?.primaryFederatedIdentityClientId?.trim();
  const geoBackup = de?.geoBackupFederatedIdentityClientId?.trim();
  if ((primary === undefined || primary === '') && (geoBackup === undefined || geoBackup === ''))
    return undefined;
  return {
    ...(primary !== undefined && primary !== '' ? { primary } : {}),
    ...(geoBackup !== undefined && geoBackup !== '' ? { geoBackup } : {}),
  };
}

export function isCrossTenant(
  ids: FederatedIdentityClientIds | undefined,
): ids is FederatedIdentityClientIds {
  return ids !== undefined && (ids.primary !== undefined || ids.geoBackup !== undefined);
}

/** Why the server is left alone, for the audit record and the page. */
export function crossTenantReason(ids: FederatedIdentityClientIds): string {
  const slots = [
    ids.primary !== undefined ? `primary (federated client ${ids.primary})` : undefined,
    ids.geoBackup !== undefined ? `geo-backup (federated client ${ids.geoBackup})` : undefined,
  ].filter((s): s is string => s !== undefined);
  return `cross-tenant CMK on ${slots.join(' and ')}: a PATCH with the stable api-version 2025-08-01 carries no federated client id and would convert the server to a same-tenant configuration, cutting it off from its key; left alone, never PATCHed`;
}
