// The key vault's Event Grid system topic (new or existing) and a subscription delivering the three key
// events to the app's Event Grid trigger, with retries and dead-lettering to blob storage.
param vaultName string
@description('The vault\'s URL as the app knows it (https://<name><environment().suffixes.keyvaultDns>).')
param vaultUrl string
param systemTopicName string
param useExistingSystemTopic bool
param tags object
param functionAppId string
@description('User-assigned identity the topic uses to write dead-lettered events (it has Storage Blob Data Owner on the dead-letter account, from the Function App module).')
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

resource newTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!useExistingSystemTopic) {
  name: systemTopicName
  location: vault.location
  tags: tags
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identityId}': {} } }
  properties: { source: vault.id, topicType: 'Microsoft.KeyVault.vaults' }
}

// deadLetterWithResourceIdentity uses an identity assigned to the topic (bicep-types-az
// generated/eventgrid/microsoft.eventgrid/2025-02-15/types.md: DeadLetterWithResourceIdentity "uses the managed
// identity setup on the parent resource"), so a reused topic gets the app's identity too. That is a PUT of the
// existing topic, which replaces its identity and tags: read them first and send them back with ours added, in
// a nested deployment (a resource cannot read itself in the template that deploys it).
resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (useExistingSystemTopic) {
  name: systemTopicName
}

module existingTopicIdentity 'systemTopicIdentity.bicep' = if (useExistingSystemTopic) {
  name: 'topicIdentity-${uniqueString(systemTopicName)}'
  params: {
    // if(): evaluated only when the topic exists and is reused.
    name: systemTopicName
    location: useExistingSystemTopic ? existingTopic.location : ''
    source: useExistingSystemTopic ? existingTopic.properties.source : ''
    topicType: useExistingSystemTopic ? existingTopic.properties.topicType : ''
    tags: useExistingSystemTopic ? (existingTopic.?tags ?? {}) : {}
    currentIdentity: useExistingSystemTopic ? (existingTopic.?identity ?? {}) : {}
    identityId: identityId
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  // A parent cannot be chosen by a condition, so the topic is named in the child's name.
  name: '${systemTopicName}/pg-cmk-rotator'
  dependsOn: [newTopic, existingTopicIdentity]
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
        { operatorType: 'StringBeginsWith', key: 'data.Id', values: ['${vaultUrl}/keys/'] }
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
