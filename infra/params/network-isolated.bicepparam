// Vaults that refuse public network access (Learn's advice for CMK vaults): the app joins a virtual network
// (Flex Consumption VNet integration) and reaches the vaults, a Managed HSM, the pager secrets vault and its own
// storage through private endpoints; one vault is reached through a peered network instead, so the vault
// endpoints use the hub's privatelink.vaultcore zone (vaultDnsZoneId).
// Compiled and evaluated offline by test/infra/snapshot.test.ts (bicep snapshot).
using '../main.bicep'

param environmentName = 'prod'
param location = 'westeurope'
param targetSubscriptionIds = ['11111111-1111-1111-1111-111111111111']
param keyVaults = [
  { name: 'kv-sec', resourceGroup: 'rg-sec', subscriptionId: '22222222-2222-2222-2222-222222222222' }
  { name: 'kv-hub', resourceGroup: 'rg-hub', subscriptionId: '22222222-2222-2222-2222-222222222222' }
  { name: 'hsm-sec', resourceGroup: 'rg-sec', subscriptionId: '22222222-2222-2222-2222-222222222222', kind: 'managedHsm' }
]
param deployEventSubscriptionsText = 'true'
param pagerDutyRoutingKeySecretUri = 'https://kv-pager.vault.azure.net/secrets/pagerduty-routing-key'
param pagerSecretsVault = { name: 'kv-pager', resourceGroup: 'rg-ops' }
param alertEmail = 'dba-oncall@example.com'
param heartbeatMinutes = 360
param privateNetwork = {
  addressPrefix: '10.20.0.0/24'
  appSubnetPrefix: '10.20.0.0/26'
  privateEndpointSubnetPrefix: '10.20.0.64/27'
  privateStorage: true
  peeredVaults: ['kv-hub']
  // The hub's zone, which holds kv-hub's record: the app VNet is linked to it and kv-sec / kv-pager register there.
  vaultDnsZoneId: '/subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-hub-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net'
}
