// Network isolation (optional, main.bicep `privateNetwork`): a virtual network for the app, Flex Consumption
// VNet integration on a subnet delegated to Microsoft.App/environments (Learn, "Azure Functions Flex
// Consumption plan hosting", Considerations: "The subnet delegation required by Flex Consumption apps is
// Microsoft.App/environments"), and private endpoints with their private DNS zones for the key stores the app
// reads (CMK vaults, Managed HSMs, the pager secrets vault) and, when asked, for its own storage.
// Zone names come from the cloud the deployment runs in: privatelink.vaultcore.azure.net in Azure,
// privatelink.vaultcore.azure.cn, privatelink.vaultcore.usgovcloudapi.net (Learn, "Azure Private Endpoint
// private DNS zone values").
param prefix string
param location string
param tags object
param addressPrefix string
param appSubnetPrefix string
param privateEndpointSubnetPrefix string
@description('Key stores reached through a private endpoint here: { id, groupId (vault | managedhsm), name }.')
param keyStores array
@description('Give the app\'s storage account private endpoints (blob, queue, table) too.')
param privateStorage bool
@description('The app\'s storage account (used when privateStorage).')
param storageAccountId string
@description('Resource id of an existing privatelink.vaultcore zone (a hub\'s). Set: no vault zone is created here; the app VNet is linked to that zone and the vault endpoints register in it.')
param vaultDnsZoneId string = ''

// Every count below depends on parameters only, so the deployment (and `bicep snapshot`) can expand the loops
// before it starts; zone names are looked up per kind.
var zoneNames = {
  vault: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  managedhsm: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.managedhsm.')}'
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
}
var storageServices = privateStorage ? ['blob', 'queue', 'table'] : []
// A virtual network resolves one zone per name: linked to a zone of its own named privatelink.vaultcore...,
// the app VNet would never see the hub zone's records for a vault reached by peering (NXDOMAIN), and Azure
// refuses a second link to a zone of the same name (Learn, "What is an Azure Private DNS zone?", Restrictions;
// not re-read offline). With vaultDnsZoneId the hub zone serves every vault, peered or not.
var ownVaultZone = empty(vaultDnsZoneId)
var zoneKinds = concat(
  ownVaultZone && contains(map(keyStores, k => k.groupId), 'vault') ? ['vault'] : [],
  contains(map(keyStores, k => k.groupId), 'managedhsm') ? ['managedhsm'] : [],
  storageServices
)

resource vnet 'Microsoft.Network/virtualNetworks@2025-05-01' = {
  name: 'vnet-${prefix}-cmk-rotator'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }]
        }
      }
      {
        name: 'private-endpoints'
        properties: { addressPrefix: privateEndpointSubnetPrefix, privateEndpointNetworkPolicies: 'Disabled' }
      }
    ]
  }
}

resource appSubnet 'Microsoft.Network/virtualNetworks/subnets@2025-05-01' existing = {
  parent: vnet
  name: 'app'
}

resource endpointSubnet 'Microsoft.Network/virtualNetworks/subnets@2025-05-01' existing = {
  parent: vnet
  name: 'private-endpoints'
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for kind in zoneKinds: {
    name: zoneNames[kind]
    location: 'global'
    tags: tags
  }
]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (kind, i) in zoneKinds: {
    parent: dnsZones[i]
    name: 'vnet-${prefix}-cmk-rotator'
    location: 'global'
    tags: tags
    properties: { registrationEnabled: false, virtualNetwork: { id: vnet.id } }
  }
]

// /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/privateDnsZones/<name>
var hubZone = split(vaultDnsZoneId, '/')

module hubVaultZoneLink 'privateDnsZoneLink.bicep' = if (!ownVaultZone) {
  name: 'vault-zone-link-${prefix}'
  // Safe indexing: ARM evaluates a skipped module's scope too; without vaultDnsZoneId it is never deployed.
  scope: resourceGroup(hubZone[?2] ?? subscription().subscriptionId, hubZone[?4] ?? resourceGroup().name)
  params: {
    zoneName: hubZone[?8] ?? ''
    linkName: 'vnet-${prefix}-cmk-rotator'
    virtualNetworkId: vnet.id
    tags: tags
  }
}

var targets = concat(keyStores, map(storageServices, s => { id: storageAccountId, groupId: s, name: 'storage' }))

resource endpoints 'Microsoft.Network/privateEndpoints@2025-05-01' = [
  for t in targets: {
    name: 'pe-${prefix}-${t.groupId}-${t.name}'
    location: location
    tags: tags
    properties: {
      subnet: { id: endpointSubnet.id }
      // An automatic connection: the deployer needs .../privateEndpointConnectionsApproval/action on the target;
      // without it, the connection waits for the vault owner's approval (README "Network-isolated deployment").
      privateLinkServiceConnections: [
        { name: t.groupId, properties: { privateLinkServiceId: t.id, groupIds: [t.groupId] } }
      ]
    }
  }
]

resource dnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-05-01' = [
  for (t, i) in targets: {
    parent: endpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: t.groupId
          properties: {
            privateDnsZoneId: t.groupId == 'vault' && !ownVaultZone
              ? vaultDnsZoneId
              : resourceId('Microsoft.Network/privateDnsZones', zoneNames[t.groupId])
          }
        }
      ]
    }
    dependsOn: [dnsZones]
  }
]

output appSubnetId string = appSubnet.id
