// A new Event Grid system topic for one key vault, in the vault's region. The region comes in as a parameter:
// a module parameter may be a runtime value (the vault's location read by the caller), a resource's own
// location may not (BCP120: it must be known when the deployment starts).
param name string
param location string
param vaultId string
param tags object
@description('User-assigned identity the topic dead-letters with.')
param identityId string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identityId}': {} } }
  properties: { source: vaultId, topicType: 'Microsoft.KeyVault.vaults' }
}

output id string = topic.id
