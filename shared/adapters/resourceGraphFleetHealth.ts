import type { TokenCredential } from '@azure/core-auth';
import type { ResourceGraphClient, ResourceGraphClientOptionalParams } from '@azure/arm-resourcegraph';
import type { ServerSnapshot } from '../domain/model';
import { matchesHealthFilter, type FleetHealth } from '../ports/fleetHealth';
import type { InvalidServerRow } from '../ports/serverFleet';
import { mapAzureError } from './azureErrors';
import { quotaAwareResourceGraphClient } from './resourceGraphQuota';
import { serverFromArmJson } from './serverProjection';

/** KQL string literal: single-quoted, with backslash and quote escaped. */
function kql(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Watched ids per query. A `where` clause that grew by one id per open incident could pass Resource
 * Graph's request limits after a whole-vault outage (thousands of servers) and fail every pass; chunks of
 * `id in~ (...)` keep each query bounded. Queries run one after the other through the quota policy
 * (15 per 5 s per principal by default), so a large watch costs a few more seconds, never a refusal.
 */
export const WATCH_IDS_PER_QUERY = 500;

const UNHEALTHY =
  "properties.state =~ 'Inaccessible'" +
  " or properties.dataEncryption.primaryEncryptionKeyStatus =~ 'Invalid'" +
  " or properties.dataEncryption.geoBackupEncryptionKeyStatus =~ 'Invalid'";

function query(filter: string): string {
  return [
    'resources',
    "| where type =~ 'microsoft.dbforpostgresql/flexibleservers'",
    "| where properties.dataEncryption.type =~ 'AzureKeyVault'",
    `| where ${filter}`,
    '| project id, name, type, location, resourceGroup, subscriptionId, tags, identity, properties',
    '| order by id asc',
  ].join('\n');
}

const within = (ids: readonly string[]): string => `id in~ (${ids.map(kql).join(', ')})`;

/**
 * The health watch's queries: flexible servers with customer-managed keys that are Inaccessible or have
 * a primary or geo-backup key status Invalid, plus the watched servers by id (so a page resolves only
 * on a read that shows the server Ready and Valid). One query while the watched ids fit in one chunk
 * (`WATCH_IDS_PER_QUERY`); then one more per further chunk, each by id only. Resource Graph returns
 * `properties` as ARM's GET does (`properties.state`,
 * `properties.dataEncryption.primaryEncryptionKeyStatus`).
 */
export function unhealthyServersQueries(watch: readonly string[]): string[] {
  const ids = [...new Map(watch.map((w) => [w.toLowerCase(), w])).values()];
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += WATCH_IDS_PER_QUERY)
    chunks.push(ids.slice(i, i + WATCH_IDS_PER_QUERY));
  const [first, ...rest] = chunks;
  return [
    query(first === undefined ? UNHEALTHY : `${UNHEALTHY} or ${within(first)}`),
    ...rest.map((c) => query(within(c))),
  ];
}

export interface ResourceGraphFleetHealthOptions {
  readonly credential: TokenCredential;
  readonly subscriptions: readonly string[];
  readonly clientOptions?: ResourceGraphClientOptionalParams;
}

/** `FleetHealth` over Azure Resource Graph: one query across all subscriptions (its quota, not ARM's), one more per further chunk of watched ids. */
export class ResourceGraphFleetHealth implements FleetHealth {
  private readonly client: ResourceGraphClient;

  constructor(private readonly options: ResourceGraphFleetHealthOptions) {
    this.client = quotaAwareResourceGraphClient(options.credential, options.clientOptions);
  }

  async findUnhealthyServers(
    watch: readonly string[],
  ): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
    const ids = new Set(watch.map((w) => w.toLowerCase()));
    const servers: ServerSnapshot[] = [];
    const invalid: InvalidServerRow[] = [];
    const seen = new Set<string>();
    for (const query of unhealthyServersQueries(watch)) {
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
            // A watched server that is also unhealthy is found by the first query and by its chunk's.
            if (seen.has(s.id.toLowerCase())) continue;
            // Re-checked here: the query is the filter, the domain's reading is the truth.
            if (matchesHealthFilter(s, ids)) {
              servers.push(s);
              seen.add(s.id.toLowerCase());
            }
          } catch (e) {
            const r = (typeof row === 'object' && row !== null ? row : {}) as {
              id?: unknown;
              name?: unknown;
            };
            if (typeof r.id === 'string') {
              if (seen.has(r.id.toLowerCase())) continue;
              seen.add(r.id.toLowerCase());
            }
            invalid.push({
              id: typeof r.id === 'string' ? r.id : undefined,
              name: typeof r.name === 'string' ? r.name : undefined,
              reason: e instanceof Error ? e.message : String(e),
            });
          }
        }
        skipToken = response.skipToken === '' ? undefined : response.skipToken;
      } while (skipToken !== undefined);
    }
    return { servers, invalid };
  }
}
