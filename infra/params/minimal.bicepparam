// The smallest deployment: one vault, servers in one whole subscription, public endpoints, event
// subscriptions on. Compiled and evaluated offline by test/infra/snapshot.test.ts (bicep snapshot).
using '../main.bicep'

param environmentName = 'prod'
param location = 'westeurope'
param targetSubscriptionIds = ['11111111-1111-1111-1111-111111111111']
param keyVaults = [
  { name: 'kv-sec', resourceGroup: 'rg-sec', subscriptionId: '22222222-2222-2222-2222-222222222222' }
]
param deployEventSubscriptionsText = 'true'
param alertEmail = 'dba-oncall@example.com'
