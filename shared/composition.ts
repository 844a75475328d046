import { ApplicationInsightsAuditTrail } from './adapters/applicationInsightsAuditTrail';
import { ArmServerFleet } from './adapters/armServerFleet';
import { createAzureCredential } from './adapters/credential';
import { EventGridKeyVaultEvents } from './adapters/eventGridKeyVaultEvents';
import { KeyVaultKeysAdapter } from './adapters/keyVaultKeysAdapter';
import { KeyVaultManagementAdapter } from './adapters/keyVaultManagementAdapter';
import { RoleAssignmentsAdapter } from './adapters/roleAssignmentsAdapter';
import { MultiChannelPager, PagerDutyChannel, SignedWebhookChannel, TeamsChannel } from './adapters/pagers';
import { ResourceGraphFleetHealth } from './adapters/resourceGraphFleetHealth';
import { ResourceGraphServerFleet } from './adapters/resourceGraphServerFleet';
import { azureTransport } from './adapters/transport';
import { writeOnceOptions } from './adapters/writeOnce';
import type { Config } from './config';
import type { AuditTrail } from './ports/auditTrail';
import type { KeyVaultEventReader } from './ports/keyVaultEvents';
import type { KeyVaultKeys } from './ports/keyVaultKeys';
import { ListedFleetHealth, type FleetHealth } from './ports/fleetHealth';
import type { Pager } from './ports/pager';
import type { ServerFleet } from './ports/serverFleet';
import type { KeyRotationPolicies, KeyVaultManagement, RoleAssignments } from './ports/vaultPosture';

/** Everything the activities and triggers use, built once per process from the configuration. */
export interface Services {
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  /** The health watch's one query per tick (Resource Graph; or the ARM list with `armList`). */
  readonly fleetHealth: FleetHealth;
  readonly pager: Pager;
  readonly audit: AuditTrail;
  /** Reads Key Vault events as Event Grid delivers them (the intake; a dead-letter replay). */
  readonly events: KeyVaultEventReader;
  /** Vault properties and access policies (posture checks). */
  readonly vaults: KeyVaultManagement;
  /** Azure RBAC role assignments at vault scopes (posture checks). */
  readonly roleAssignments: RoleAssignments;
  readonly rotationPolicies: KeyRotationPolicies;
  /** The services' clock (the sweep's and the status page's "now"): the wall clock in Azure. */
  readonly now: () => Date;
}

/**
 * Who retries a failed Azure call the services make (writes are never resent by the SDK:
 * `writeOnceOptions`, whatever this says).
 * - `sdk`: the SDK's retry policy, for callers with no retry of their own: the HTTP operator API,
 *   the Event Grid intake and the sweep, and the health watch's activity (its orchestrator does not
 *   retry a failed check; the next pass, minutes later, does).
 * - `orchestrator`: none below the caller. The rotation's activities run under `callStep`, which
 *   retries a retryable failure on durable timers (`RETRY_POLICIES.read`: 8 attempts over ~6.5 min,
 *   each wait in the history, Retry-After honoured). With the SDK's retries underneath, each of those
 *   attempts would be up to 4 requests: `@azure/core-rest-pipeline` 1.24's `defaultRetryPolicy`
 *   (node_modules/@typespec/ts-http-runtime/dist/commonjs/policies/retryPolicy.js with
 *   `retryStrategies/exponentialRetryStrategy.js` and `throttlingRetryStrategy.js`) resends on 408,
 *   429, 5xx but 501/505 and dropped connections, `maxRetries` 3 by default; 32 requests per failed
 *   read, and minutes the orchestrator cannot see. One layer: the orchestrator's.
 *   (Resource Graph's own quota policy, shared/adapters/resourceGraphQuota.ts, still waits out a 429
 *   within the call: it paces by the quota headers, which a durable timer would only do later.)
 */
export type ReadRetries = 'sdk' | 'orchestrator';

export function createServices(config: Config, options: { readRetries?: ReadRetries } = {}): Services {
  const transport = azureTransport();
  const credential = transport?.credential ?? createAzureCredential(config.managedIdentityClientId);
  const base = transport?.clientOptions ?? {};
  const clientOptions = options.readRetries === 'orchestrator' ? writeOnceOptions(base) : base;
  const arm = new ArmServerFleet({ credential, subscriptions: config.subscriptions, clientOptions });
  const fleet =
    config.discovery === 'resourceGraph'
      ? new ResourceGraphServerFleet({ credential, subscriptions: config.subscriptions, arm, clientOptions })
      : arm;
  const { pagerDuty, teams, webhook } = config.pagers;
  const pager = new MultiChannelPager(
    [
      ...(pagerDuty !== undefined ? [new PagerDutyChannel(pagerDuty.routingKey, pagerDuty.eventsUrl)] : []),
      ...(teams !== undefined ? [new TeamsChannel(teams.webhookUrl)] : []),
      ...(webhook !== undefined ? [new SignedWebhookChannel(webhook.url, webhook.secret)] : []),
    ],
    { statusPageUrl: config.statusPageUrl, runbookBaseUrl: config.runbookBaseUrl },
  );
  const keys = new KeyVaultKeysAdapter({ credential, clientOptions });
  return {
    keys,
    rotationPolicies: keys,
    // Vaults may live outside the server subscriptions (CMK_VAULT_SUBSCRIPTIONS names theirs).
    vaults: new KeyVaultManagementAdapter({
      credential,
      subscriptions: [...new Set([...config.subscriptions, ...(config.vaultSubscriptions ?? [])])],
      clientOptions,
    }),
    roleAssignments: new RoleAssignmentsAdapter({ credential, clientOptions }),
    fleet,
    fleetHealth:
      config.discovery === 'resourceGraph'
        ? new ResourceGraphFleetHealth({ credential, subscriptions: config.subscriptions, clientOptions })
        : new ListedFleetHealth(arm),
    pager,
    audit: new ApplicationInsightsAuditTrail({
      connectionString: config.applicationInsightsConnectionString,
      credential,
      clientOptions,
    }),
    events: new EventGridKeyVaultEvents(),
    now: transport?.now ?? (() => new Date()),
  };
}
