import { ApplicationInsightsAuditTrail } from './adapters/applicationInsightsAuditTrail';
import { ArmServerFleet } from './adapters/armServerFleet';
import { createAzureCredential } from './adapters/credential';
import { EventGridKeyVaultEvents } from './adapters/eventGridKeyVaultEvents';
import { KeyVaultKeysAdapter } from './adapters/keyVaultKeysAdapter';
import { MultiChannelPager, PagerDutyChannel, SignedWebhookChannel, TeamsChannel } from './adapters/pagers';
import { ResourceGraphServerFleet } from './adapters/resourceGraphServerFleet';
import { azureTransport } from './adapters/transport';
import type { Config } from './config';
import type { AuditTrail } from './ports/auditTrail';
import type { KeyVaultEventReader } from './ports/keyVaultEvents';
import type { KeyVaultKeys } from './ports/keyVaultKeys';
import type { Pager } from './ports/pager';
import type { ServerFleet } from './ports/serverFleet';

/** Everything the activities and triggers use, built once per process from the configuration. */
export interface Services {
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly pager: Pager;
  readonly audit: AuditTrail;
  /** Reads Key Vault events as Event Grid delivers them (the intake; a dead-letter replay). */
  readonly events: KeyVaultEventReader;
}

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
  const pager = new MultiChannelPager([
    ...(pagerDuty !== undefined ? [new PagerDutyChannel(pagerDuty.routingKey, pagerDuty.eventsUrl)] : []),
    ...(teams !== undefined ? [new TeamsChannel(teams.webhookUrl)] : []),
    ...(webhook !== undefined ? [new SignedWebhookChannel(webhook.url, webhook.secret)] : []),
  ]);
  return {
    keys: new KeyVaultKeysAdapter({ credential, clientOptions }),
    fleet,
    pager,
    audit: new ApplicationInsightsAuditTrail({
      connectionString: config.applicationInsightsConnectionString,
      credential,
      clientOptions,
    }),
    events: new EventGridKeyVaultEvents(),
  };
}
