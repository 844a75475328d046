import type { TokenCredential } from '@azure/core-auth';
import type { ResourceGraphClient, ResourceGraphClientOptionalParams } from '@azure/arm-resourcegraph';
import { formatKeyUri, keyRef } from '../domain/keyId';
import type { EncryptionPatchBody, ServerSnapshot } from '../domain/model';
import type { ArmQuota } from '../rotation/pacing';
import type {
  InvalidServerRow,
  KeyLocator,
  OperationHandle,
  OperationStatus,
  ServerFleet,
  ServerPage,
} from '../ports/serverFleet';
import { mapAzureError } from './azureErrors';
import { referencesKey } from './armServerFleet';
import { quotaAwareResourceGraphClient } from './resourceGraphQuota';
import { serverFromArmJson } from './serverProjection';

export interface ResourceGraphServerFleetOptions {
  readonly credential: TokenCredential;
  readonly subscriptions: readonly string[];
  /** Get, PATCH and operation polling go to ARM; only discovery goes to Resource Graph. */
  readonly arm: ServerFleet;
  readonly pageSize?: number;
  readonly clientOptions?: ResourceGraphClientOptionalParams;
}

/** KQL string literal: single-quoted, with backslash and quote escaped. */
function kql(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The discovery query. `startswith` and `=~` are case-insensitive in KQL, as Key Vault URIs are.
 * It may over-match (a `:443` host is missed, never a different key matched): rows are re-checked
 * with the domain parser before anyone plans with them.
 */
export function discoveryQuery(key: KeyLocator): string {
  const ref = keyRef(key.vaultUrl, key.keyName);
  const versionless = formatKeyUri(ref);
  const prefix = `${versionless}/`;
  const slot = (field: string) =>
    `properties.dataEncryption.${field} =~ ${kql(versionless)} or properties.dataEncryption.${field} startswith ${kql(prefix)}`;
  return [
    'resources',
    "| where type =~ 'microsoft.dbforpostgresql/flexibleservers'",
    `| where ${slot('primaryKeyURI')} or ${slot('geoBackupKeyURI')}`,
    '| project id, name, type, location, resourceGroup, subscriptionId, tags, identity, properties',
    '| order by id asc',
  ].join('\n');
}

/** Every flexible server with customer-managed keys: one query for a whole sweep. */
export function customerManagedKeyQuery(): string {
  return [
    'resources',
    "| where type =~ 'microsoft.dbforpostgresql/flexibleservers'",
    "| where properties.dataEncryption.type =~ 'AzureKeyVault'",
    '| project id, name, type, location, resourceGroup, subscriptionId, tags, identity, properties',
    '| order by id asc',
  ].join('\n');
}

/** `ServerFleet` whose discovery uses Azure Resource Graph: one query across all subscriptions. */
export class ResourceGraphServerFleet implements ServerFleet {
  private readonly client: ResourceGraphClient;

  constructor(private readonly options: ResourceGraphServerFleetOptions) {
    // The per-principal quota is honoured here, not by the SDK's retry (see resourceGraphQuota.ts).
    this.client = quotaAwareResourceGraphClient(options.credential, options.clientOptions);
  }

  findServersReferencingKey(key: KeyLocator, continuationToken?: string): Promise<ServerPage> {
    return this.queryPage(
      discoveryQuery(key),
      (s) => referencesKey(s, key),
      `servers using key ${key.keyName}`,
      continuationToken,
    );
  }

  findServersWithCustomerManagedKeys(continuationToken?: string): Promise<ServerPage> {
    return this.queryPage(
      customerManagedKeyQuery(),
      (s) => s.dataEncryption?.type === 'AzureKeyVault',
      'servers with customer-managed keys',
      continuationToken,
    );
  }

  private async queryPage(
    query: string,
    keep: (server: ServerSnapshot) => boolean,
    what: string,
    continuationToken: string | undefined,
  ): Promise<ServerPage> {
    let response;
    try {
      response = await this.client.resources({
        subscriptions: [...this.options.subscriptions],
        query,
        options: {
          top: this.options.pageSize ?? 1000,
          resultFormat: 'objectArray',
          ...(continuationToken !== undefined ? { skipToken: continuationToken } : {}),
        },
      });
    } catch (e) {
      throw mapAzureError(e, `querying Resource Graph for ${what}`);
    }
    const rows: unknown[] = Array.isArray(response.data) ? (response.data as unknown[]) : [];
    const servers: ServerSnapshot[] = [];
    const invalid: InvalidServerRow[] = [];
    for (const row of rows) {
      // One malformed row must not hide the other servers: it is reported for its own page.
      let server: ServerSnapshot;
      try {
        server = serverFromArmJson(row);
      } catch (e) {
        invalid.push({ ...rowIdentity(row), reason: e instanceof Error ? e.message : String(e) });
        continue;
      }
      if (keep(server)) servers.push(server);
    }
    const next = response.skipToken;
    return {
      servers,
      continuationToken: next === undefined || next === '' ? undefined : next,
      ...(invalid.length > 0 ? { invalid } : {}),
    };
  }

  getServer(serverId: string): Promise<ServerSnapshot> {
    return this.options.arm.getServer(serverId);
  }

  getServerForUpdate(serverId: string): Promise<ServerSnapshot> {
    return this.options.arm.getServerForUpdate(serverId);
  }

  beginEncryptionUpdate(serverId: string, body: EncryptionPatchBody): Promise<OperationHandle> {
    return this.options.arm.beginEncryptionUpdate(serverId, body);
  }

  pollOperation(handle: OperationHandle): Promise<OperationStatus> {
    return this.options.arm.pollOperation(handle);
  }

  armQuota(subscriptionId: string, since: number): ArmQuota | undefined {
    return this.options.arm.armQuota?.(subscriptionId, since);
  }
}

/** What a malformed row still says about itself (its id and name, when they are strings). */
function rowIdentity(row: unknown): { id: string | undefined; name: string | undefined } {
  if (typeof row !== 'object' || row === null) return { id: undefined, name: undefined };
  const r = row as { id?: unknown; name?: unknown };
  return {
    id: typeof r.id === 'string' ? r.id : undefined,
    name: typeof r.name === 'string' ? r.name : undefined,
  };
}
