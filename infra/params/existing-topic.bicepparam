// A vault that already has its Event Grid system topic, in another resource group than the vault; Easy Auth
// in front of the operator API; servers limited to two resource groups; pager secrets in a vault of their own;
// auto-rotation on. Compiled and evaluated offline by test/infra/snapshot.test.ts (bicep snapshot).
using '../main.bicep'

param environmentName = 'prod'
param location = 'westeurope'
param targetSubscriptionIds = ['11111111-1111-1111-1111-111111111111']
param targetResourceGroups = [
  { subscriptionId: '11111111-1111-1111-1111-111111111111', resourceGroup: 'rg-pg-billing' }
  { subscriptionId: '33333333-3333-3333-3333-333333333333', resourceGroup: 'rg-pg-crm' }
]
param keyVaults = [
  {
    name: 'kv-sec'
    resourceGroup: 'rg-sec'
    subscriptionId: '22222222-2222-2222-2222-222222222222'
    systemTopicName: 'kv-sec-events'
    systemTopicResourceGroup: 'rg-events'
  }
]
param autoRotateOnNearExpiry = true
param deployEventSubscriptionsText = 'true'
param pagerDutyRoutingKeySecretUri = 'https://kv-pager.vault.azure.net/secrets/pagerduty-routing-key'
param pagerSecretsVault = { name: 'kv-pager', resourceGroup: 'rg-ops' }
param alertEmail = 'dba-oncall@example.com'
param heartbeatMinutes = 1441
param operatorApiAuthentication = { clientId: '44444444-4444-4444-4444-444444444444' }
