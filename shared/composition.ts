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
 * Two retry layers for reads, on purpose (writes have none below our code: `writeOnce.ts`).
 * - The SDK's: `@azure/core-rest-pipeline` 1.24's `defaultRetryPolicy`
 *   (node_modules/@typespec/ts-http-runtime/dist/commonjs/policies/retryPolicy.js, with
 *   `retryStrategies/exponentialRetryStrategy.js` and `throttlingRetryStrategy.js`) resends a read on
 *   408, 429, 5xx but 501/505 and dropped connections, 3 times, within about 7 s: a blip costs nothing
 *   in the durable history. The triggers (HTTP, Event Grid, the sweep) have no other retry.
 * - The orchestrator's: `callStep` retries a retryable failure on durable timers (`RETRY_POLICIES.read`:
 *   8 attempts over ~6.5 min, Retry-After honoured, each wait audited): outages of minutes.
 * A failed read under the orchestrator is thus at most 4 requests per attempt, 32 in all
 * (test/integration/adapters/readRetries.test.ts counts them). Turning the SDK's layer off was tried
 * and measured: every blip then costs a durable timer of 5 s or more and an attempt of the 8, so a
 * burst of 8 failed requests fails a server the SDK layer rode out (the chaos scenario's `servers.get`
 * bursts did exactly that and the run did not finish in its 300 s).
 */
export function createServices(config: Config): Services {
  const transport = azureTransport();
  const credential = transport?.credential ?? createAzureCredential(config.managedIdentityClientId);
  const clientOptions = transport?.clientOptions ?? {};
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
