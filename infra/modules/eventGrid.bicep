// The key vault's Event Grid system topic (new or existing) and a subscription delivering the three key
// events to the app's Event Grid trigger, with retries and dead-lettering to blob storage.
param vaultName string
param systemTopicName string
param useExistingSystemTopic bool
param tags object
param functionAppId string
@description('User-assigned identity the topic uses to write dead-lettered events.')
param identityId string
param deadLetterStorageAccountId string

@description('The Event Grid trigger function (FUNCTION_NAMES.keyVaultEvents in shared/domain/names.ts).')
param functionName string = 'keyVaultEvents'

// Exactly the events the trigger handles (KEY_EVENT_TYPES in shared/domain/events.ts).
var includedEventTypes = [
  'Microsoft.KeyVault.KeyNewVersionCreated'
  'Microsoft.KeyVault.KeyNearExpiry'
  'Microsoft.KeyVault.KeyExpired'
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource newTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = if (!useExistingSystemTopic) {
  name: systemTopicName
  location: vault.location
  tags: tags
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identityId}': {} } }
  properties: { source: vault.id, topicType: 'Microsoft.KeyVault.vaults' }
}

resource existingTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = if (useExistingSystemTopic) {
  name: systemTopicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = {
  // A parent cannot be chosen by a condition, so the topic is named in the child's name.
  name: '${systemTopicName}/pg-cmk-rotator'
  dependsOn: [newTopic, existingTopic]
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: includedEventTypes
      // Keys only: secret and certificate events never reach the app, whatever the type list says.
      advancedFilters: [
        { operatorType: 'StringIn', key: 'data.ObjectType', values: ['Key'] }
        { operatorType: 'StringBeginsWith', key: 'data.Id', values: ['https://${vaultName}.vault.azure.net/keys/'] }
      ]
    }
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
    deadLetterWithResourceIdentity: {
      identity: { type: 'UserAssigned', userAssignedIdentity: identityId }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: { resourceId: deadLetterStorageAccountId, blobContainerName: 'eventgrid-deadletter' }
      }
    }
  }
}

output systemTopicId string = useExistingSystemTopic ? existingTopic.id : newTopic.id
