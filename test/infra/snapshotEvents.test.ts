import { KEY_EVENT_TYPES, KEY_EVENT_TYPE_PREFIX } from '../../shared/domain/events';
import { FUNCTION_NAMES } from '../../shared/domain/names';
import { at, ofType, snapshot, type PredictedResource, type Snapshot } from '../support/bicep';

/**
 * Event delivery, alerts and the network-isolated deployment as `bicep snapshot` predicts them
 * (infra/params/*.snapshot.json, kept current by test/infra/bicepCli.test.ts).
 */
const APP_SUB = '11111111-1111-1111-1111-111111111111';
const VAULT_SUB = '22222222-2222-2222-2222-222222222222';
const RG = `/subscriptions/${APP_SUB}/resourceGroups/rg-prod-cmk-rotator`;
const IDENTITY = `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-prod-cmk-rotator`;
const APP = `${RG}/providers/Microsoft.Web/sites/func-prod-cmk-rotator`;
/** infra/params/network-isolated.bicepparam's privateNetwork.vaultDnsZoneId: the hub's vault zone. */
const HUB_VAULT_ZONE =
  '/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-hub-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net';
const topicOf = (rg: string, name: string): string =>
  `/subscriptions/${VAULT_SUB}/resourceGroups/${rg}/providers/Microsoft.EventGrid/systemTopics/${name}`;

const storageId = (s: Snapshot): string => {
  const [account] = ofType(s, 'Microsoft.Storage/storageAccounts');
  if (account === undefined) throw new Error('no storage account');
  return account.id;
};

describe('Event Grid: the key events of each vault reach the intake function, or a dead-letter alert', () => {
  it.each([
    ['minimal', [topicOf('rg-sec', 'evgt-kv-sec')]],
    // A reused topic in another resource group than the vault (systemTopicResourceGroup).
    ['existing-topic', [topicOf('rg-events', 'kv-sec-events')]],
    // Managed HSMs get no subscription (no Key Vault system topic type for them): kv-sec and kv-hub only.
    ['network-isolated', [topicOf('rg-sec', 'evgt-kv-sec'), topicOf('rg-hub', 'evgt-kv-hub')]],
  ])(
    '%s: one subscription per vault topic, key types only, retry 30/1440, dead-letter with the identity',
    (name, topics) => {
      const s = snapshot(name);
      const subscriptions = ofType(s, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
      expect(subscriptions.map((e) => e.id).sort()).toEqual(
        topics.map((t) => `${t}/eventSubscriptions/pg-cmk-rotator`).sort(),
      );
      for (const e of subscriptions) {
        expect(at(e, 'properties.destination')).toEqual({
          endpointType: 'AzureFunction',
          properties: {
            resourceId: `${APP}/functions/${FUNCTION_NAMES.keyVaultEvents}`,
            maxEventsPerBatch: 1,
            preferredBatchSizeInKilobytes: 64,
          },
        });
        // Only the event types the trigger handles, and no advanced filter on data.* (the topic is one vault's and
        // these types are raised for keys only: a data.ObjectType / data.Id filter could only drop events).
        expect(at(e, 'properties.filter')).toEqual({
          includedEventTypes: KEY_EVENT_TYPES.map((t) => `${KEY_EVENT_TYPE_PREFIX}${t}`),
        });
        expect(at(e, 'properties.eventDeliverySchema')).toBe('EventGridSchema');
        expect(at(e, 'properties.retryPolicy')).toEqual({
          maxDeliveryAttempts: 30,
          eventTimeToLiveInMinutes: 1440,
        });
        expect(at(e, 'properties.deadLetterWithResourceIdentity')).toEqual({
          identity: { type: 'UserAssigned', userAssignedIdentity: IDENTITY },
          deadLetterDestination: {
            endpointType: 'StorageBlob',
            properties: { resourceId: storageId(s), blobContainerName: 'eventgrid-deadletter' },
          },
        });
      }
      // The topic dead-letters with the app's identity, so it must hold it: a new topic is created with it, a
      // reused one is sent back with the identities it had plus ours.
      for (const topic of topics) {
        const t = s.predictedResources.find((r) => r.id === topic) as PredictedResource;
        const assigned = JSON.stringify(at(t, 'identity.userAssignedIdentities'));
        expect(assigned.toLowerCase()).toContain(IDENTITY.toLowerCase());
      }
      // One dead-letter alert per topic, on its DeadLetteredCount.
      const deadLetter = ofType(s, 'Microsoft.Insights/metricAlerts');
      expect(deadLetter.map((a) => at(a, 'properties.scopes')).sort()).toEqual(topics.map((t) => [t]).sort());
      for (const a of deadLetter) {
        expect(at(a, 'properties.evaluationFrequency')).toBe('PT5M');
        expect(at(a, 'properties.windowSize')).toBe('PT15M');
        expect(at(a, 'properties.criteria.allOf')).toEqual([
          expect.objectContaining({ metricName: 'DeadLetteredCount', operator: 'GreaterThan', threshold: 0 }),
        ]);
      }
    },
  );

  it("creates a new topic in the vault's region and resource group, with the vault as source", () => {
    const t = ofType(snapshot('minimal'), 'Microsoft.EventGrid/systemTopics')[0];
    expect(t?.id).toBe(topicOf('rg-sec', 'evgt-kv-sec'));
    expect(String(t?.location)).toContain(
      `/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-sec`,
    );
    expect(at(t, 'properties')).toEqual({
      source: `/subscriptions/${VAULT_SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-sec`,
      topicType: 'Microsoft.KeyVault.vaults',
    });
  });

  it('creates no event subscription before the code is deployed (deployEventSubscriptionsText false)', () => {
    const s = snapshot('second-environment');
    expect(ofType(s, 'Microsoft.EventGrid/systemTopics/eventSubscriptions')).toEqual([]);
    expect(ofType(s, 'Microsoft.Insights/metricAlerts')).toEqual([]);
  });
});

/** Log alert windows Azure accepts (Azure/azure-rest-api-specs#21258: the service lists them when refusing one). */
const LOG_WINDOWS = [
  'PT1M',
  'PT5M',
  'PT10M',
  'PT15M',
  'PT30M',
  'PT45M',
  'PT1H',
  'PT2H',
  'PT3H',
  'PT4H',
  'PT5H',
  'PT6H',
  'P1D',
  'P2D',
];

describe('alerts: failures within 15 minutes, the app silent for heartbeatMinutes', () => {
  it.each([
    ['minimal', 420, 'P1D'],
    ['network-isolated', 360, 'PT6H'],
    ['existing-topic', 1441, 'P2D'],
  ])(
    '%s: heartbeat %i minutes gets the smallest allowed window that covers it (%s)',
    (name, minutes, window) => {
      const rules = Object.fromEntries(
        ofType(snapshot(name), 'Microsoft.Insights/scheduledQueryRules').map((r) => [
          r.name.replace('alert-prod-cmk-', ''),
          {
            severity: at(r, 'properties.severity'),
            frequency: at(r, 'properties.evaluationFrequency'),
            window: at(r, 'properties.windowSize'),
          },
        ]),
      );
      expect(rules).toEqual({
        'server-failed': { severity: 1, frequency: 'PT5M', window: 'PT15M' },
        'preflight-failed': { severity: 1, frequency: 'PT5M', window: 'PT15M' },
        'key-unreadable': { severity: 1, frequency: 'PT5M', window: 'PT15M' },
        'key-expired': { severity: 0, frequency: 'PT5M', window: 'PT15M' },
        'durable-value-refused': { severity: 1, frequency: 'PT5M', window: 'PT15M' },
        'app-silent': { severity: 1, frequency: 'PT1H', window },
      });
      expect(LOG_WINDOWS).toContain(window);
      const silent = ofType(snapshot(name), 'Microsoft.Insights/scheduledQueryRules').find((r) =>
        r.name.endsWith('app-silent'),
      );
      expect(JSON.stringify(at(silent, 'properties.criteria'))).toContain(`ago(${minutes}m)`);
    },
  );
});

describe('alerts: a value the durable boundary refused', () => {
  it.each(['minimal', 'network-isolated', 'existing-topic', 'second-environment'])(
    '%s: an alert reads the traces for both codes the boundary logs (InvalidDurableInput, InvalidDurableOutput)',
    (name) => {
      const rule = ofType(snapshot(name), 'Microsoft.Insights/scheduledQueryRules').find((r) =>
        r.name.endsWith('durable-value-refused'),
      );
      const criteria = JSON.stringify(at(rule, 'properties.criteria'));
      expect(criteria).toContain('traces');
      expect(criteria).toContain('InvalidDurableInput');
      expect(criteria).toContain('InvalidDurableOutput');
    },
  );
});

describe('network isolation (privateNetwork): vaults that refuse public network access', () => {
  const s = snapshot('network-isolated');

  it('is off by default: no virtual network, no private endpoint, the app on public outbound', () => {
    for (const name of ['minimal', 'existing-topic', 'second-environment']) {
      const other = snapshot(name);
      expect(other.predictedResources.filter((r) => r.type.startsWith('Microsoft.Network/'))).toEqual([]);
      const site = ofType(other, 'Microsoft.Web/sites')[0];
      expect([
        at(site, 'properties.virtualNetworkSubnetId'),
        at(site, 'properties.outboundVnetRouting'),
      ]).toEqual([null, null]);
    }
  });

  it('integrates the app with a subnet delegated to Microsoft.App/environments and routes all its outbound traffic there', () => {
    const vnet = ofType(s, 'Microsoft.Network/virtualNetworks')[0];
    expect(at(vnet, 'properties.subnets')).toEqual([
      {
        name: 'app',
        properties: {
          addressPrefix: '10.20.0.0/26',
          delegations: [
            { name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } },
          ],
        },
      },
      {
        name: 'private-endpoints',
        properties: { addressPrefix: '10.20.0.64/27', privateEndpointNetworkPolicies: 'Disabled' },
      },
    ]);
    const site = ofType(s, 'Microsoft.Web/sites')[0];
    expect(at(site, 'properties.virtualNetworkSubnetId')).toBe(`${vnet?.id}/subnets/app`);
    // allTraffic: the app's calls and the platform's (Key Vault references of the pager secrets) use the VNet.
    expect(at(site, 'properties.outboundVnetRouting')).toEqual({ allTraffic: true });
  });

  it('gives every key store the app reads a private endpoint with its DNS zone, but the vault reached by peering', () => {
    const endpoints = ofType(s, 'Microsoft.Network/privateEndpoints').map((e) => {
      const [connection] = at(e, 'properties.privateLinkServiceConnections') as {
        properties: { privateLinkServiceId: string; groupIds: string[] };
      }[];
      expect(at(e, 'properties.subnet.id')).toBe(
        `${RG}/providers/Microsoft.Network/virtualNetworks/vnet-prod-cmk-rotator/subnets/private-endpoints`,
      );
      return `${connection?.properties.groupIds.join(',')} ${connection?.properties.privateLinkServiceId}`;
    });
    const kv = (sub: string, rg: string, type: string, name: string): string =>
      `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/${type}/${name}`;
    expect(endpoints.sort()).toEqual(
      [
        `vault ${kv(VAULT_SUB, 'rg-sec', 'vaults', 'kv-sec')}`,
        `managedhsm ${kv(VAULT_SUB, 'rg-sec', 'managedHSMs', 'hsm-sec')}`,
        // The pager secrets vault: the platform resolves the app's Key Vault references through the VNet.
        `vault ${kv(APP_SUB, 'rg-ops', 'vaults', 'kv-pager')}`,
        `blob ${storageId(s)}`,
        `queue ${storageId(s)}`,
        `table ${storageId(s)}`,
      ].sort(),
    );
    // Zones named after the cloud deployed to (environment()), each linked to the VNet. No vault zone of its own:
    // vaultDnsZoneId names the hub's, which holds the peered kv-hub's record (a VNet resolves one zone per name).
    const zones = ofType(s, 'Microsoft.Network/privateDnsZones').map((z) => z.name);
    expect(zones).toEqual([
      "[format('privatelink{0}', replace(environment().suffixes.keyvaultDns, '.vault.', '.managedhsm.'))]",
      "[format('privatelink.blob.{0}', environment().suffixes.storage)]",
      "[format('privatelink.queue.{0}', environment().suffixes.storage)]",
      "[format('privatelink.table.{0}', environment().suffixes.storage)]",
    ]);
    const links = ofType(s, 'Microsoft.Network/privateDnsZones/virtualNetworkLinks');
    const vnet = `${RG}/providers/Microsoft.Network/virtualNetworks/vnet-prod-cmk-rotator`;
    for (const l of links) expect(at(l, 'properties.virtualNetwork.id')).toBe(vnet);
    // Its own four zones, and the hub's vault zone, linked in the hub's subscription and resource group.
    expect(links).toHaveLength(zones.length + 1);
    expect(links.map((l) => l.id)).toContain(`${HUB_VAULT_ZONE}/virtualNetworkLinks/vnet-prod-cmk-rotator`);
    // Each endpoint's zone group points at the zone of its own kind (groupId), not just at some zone.
    const zoneOfKind: Record<string, (id: string) => boolean> = {
      vault: (id) => id === HUB_VAULT_ZONE,
      managedhsm: (id) =>
        id.includes("'.vault.', '.managedhsm.'") && id.includes("'Microsoft.Network/privateDnsZones'"),
      blob: (id) => id.includes("format('privatelink.blob.{0}', environment().suffixes.storage)"),
      queue: (id) => id.includes("format('privatelink.queue.{0}', environment().suffixes.storage)"),
      table: (id) => id.includes("format('privatelink.table.{0}', environment().suffixes.storage)"),
    };
    const groups = ofType(s, 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups');
    expect(groups).toHaveLength(endpoints.length);
    for (const e of ofType(s, 'Microsoft.Network/privateEndpoints')) {
      const [connection] = at(e, 'properties.privateLinkServiceConnections') as {
        properties: { groupIds: string[] };
      }[];
      const kind = connection?.properties.groupIds[0] ?? '';
      const group = groups.find((g) => g.id === `${e.id}/privateDnsZoneGroups/default`);
      const [config] = at(group, 'properties.privateDnsZoneConfigs') as {
        name: string;
        properties: { privateDnsZoneId: string };
      }[];
      expect(config?.name).toBe(kind);
      expect([kind, zoneOfKind[kind]?.(config?.properties.privateDnsZoneId ?? '')]).toEqual([kind, true]);
    }
  });

  it('denies public access to the app storage but for trusted services (Event Grid dead-lettering with its identity)', () => {
    const account = ofType(s, 'Microsoft.Storage/storageAccounts')[0];
    expect(at(account, 'properties.networkAcls')).toEqual({ defaultAction: 'Deny', bypass: 'AzureServices' });
    expect(at(account, 'properties.publicNetworkAccess')).toBe('Enabled');
    expect(
      at(ofType(snapshot('minimal'), 'Microsoft.Storage/storageAccounts')[0], 'properties.networkAcls'),
    ).toEqual({
      defaultAction: 'Allow',
      bypass: 'AzureServices',
    });
  });
});
