import type { TokenCredential } from '@azure/core-auth';
import { ResourceGraphClient, type ResourceGraphClientOptionalParams } from '@azure/arm-resourcegraph';
import type { ServerSnapshot } from '../domain/model';
import { matchesHealthFilter, type FleetHealth } from '../ports/fleetHealth';
import type { InvalidServerRow } from '../ports/serverFleet';
import { mapAzureError } from './azureErrors';
import { resourceGraphQuotaPolicy } from './resourceGraphQuota';
import { serverFromArmJson } from './serverProjection';

/** KQL string literal: single-quoted, with backslash and quote escaped. */
function kql(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The health watch's one query: flexible servers with customer-managed keys that are Inaccessible or
 * have a primary or geo-backup key status Invalid, plus the watched servers by id (so a page resolves
 * only on a read that shows the server Ready and Valid). Resource Graph returns `properties` as ARM's
 * GET does (`properties.state`, `properties.dataEncryption.primaryEncryptionKeyStatus`).
 */
export function unhealthyServersQuery(watch: readonly string[]): string {
  const watched = watch.map((id) => ` or id =~ ${kql(id)}`).join('');
  return [
    'resources',
    "| where type =~ 'microsoft.dbforpostgresql/flexibleservers'",
    "| where properties.dataEncryption.type =~ 'AzureKeyVault'",
    "| where properties.state =~ 'Inaccessible'" +
      " or properties.dataEncryption.primaryEncryptionKeyStatus =~ 'Invalid'" +
      " or properties.dataEncryption.geoBackupEncryptionKeyStatus =~ 'Invalid'" +
      watched,
    '| project id, name, type, location, resourceGroup, subscriptionId, tags, identity, properties',
    '| order by id asc',
  ].join('\n');
}

export interface ResourceGraphFleetHealthOptions {
  readonly credential: TokenCredential;
  readonly subscriptions: readonly string[];
  readonly clientOptions?: ResourceGraphClientOptionalParams;
}

/** `FleetHealth` over Azure Resource Graph: one query across all subscriptions (its quota, not ARM's). */
export class ResourceGraphFleetHealth implements FleetHealth {
  private readonly client: ResourceGraphClient;

  constructor(private readonly options: ResourceGraphFleetHealthOptions) {
    this.client = new ResourceGraphClient(options.credential, {
      ...options.clientOptions,
      additionalPolicies: [
        ...(options.clientOptions?.additionalPolicies ?? []),
        { policy: resourceGraphQuotaPolicy(), position: 'perCall' },
      ],
    });
  }

  async findUnhealthyServers(
    watch: readonly string[],
  ): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
    const ids = new Set(watch.map((w) => w.toLowerCase()));
    const query = unhealthyServersQuery(watch);
    const servers: ServerSnapshot[] = [];
    const invalid: InvalidServerRow[] = [];
    let skipToken: string | undefined;
    do {
      let response;
      try {
        response = await this.client.resources({
          subscriptions: [...this.options.subscriptions],
          query,
          options: {
            top: 1000,
            resultFormat: 'objectArray',
            ...(skipToken !== undefined ? { skipToken } : {}),
          },
        });
      } catch (e) {
        throw mapAzureError(e, 'querying Resource Graph for unhealthy servers');
      }
      for (const row of Array.isArray(response.data) ? (response.data as unknown[]) : []) {
        try {
          const s = serverFromArmJson(row);
          // Re-checked here: the query is the filter, the domain's reading is the truth.
          if (matchesHealthFilter(s, ids)) servers.push(s);
        } catch (e) {
          const r = (typeof row === 'object' && row !== null ? row : {}) as { id?: unknown; name?: unknown };
          invalid.push({
            id: typeof r.id === 'string' ? r.id : undefined,
            name: typeof r.name === 'string' ? r.name : undefined,
            reason: e instanceof Error ? e.message : String(e),
          });
        }
      }
      skipToken = response.skipToken === '' ? undefined : response.skipToken;
    } while (skipToken !== undefined);
    return { servers, invalid };
  }
}
