// A second azd environment in the same subscription as minimal.bicepparam, with a different set of target
// subscriptions: its custom roles must be its own (test/infra/snapshot.test.ts).
using '../main.bicep'

param environmentName = 'staging'
param location = 'westeurope'
param targetSubscriptionIds = ['55555555-5555-5555-5555-555555555555']
param keyVaults = [
  { name: 'kv-sec-stg', resourceGroup: 'rg-sec', subscriptionId: '22222222-2222-2222-2222-222222222222' }
]
param alertEmail = 'dba-oncall@example.com'
