// Links a virtual network to an existing private DNS zone (a hub's), deployed in the zone's resource group,
// which may be in another subscription: the link is a child of the zone. The deployer needs
// Microsoft.Network/privateDnsZones/virtualNetworkLinks/write there (Private DNS Zone Contributor).
@description('Name of the existing private DNS zone, e.g. privatelink.vaultcore.azure.net.')
param zoneName string
@description('Name of the link.')
param linkName string
@description('Resource id of the virtual network to link.')
param virtualNetworkId string
param tags object

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' existing = {
  name: zoneName
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: linkName
  location: 'global'
  tags: tags
  properties: { registrationEnabled: false, virtualNetwork: { id: virtualNetworkId } }
}
