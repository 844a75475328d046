// The key vault's Event Grid system topic (new or existing) and a subscription delivering the three key
// events to the app's Event Grid trigger, with retries and dead-lettering to blob storage. Deployed in the
// topic's resource group: the vault's for a new topic, any of the vault's subscription for a reused one.
param vaultName string
@description('Resource group of the vault (the topic may live in another one of the same subscription).')
param vaultResourceGroup string
param systemTopicName string
param useExistingSystemTopic bool
param tags object
@description('The Function App (name, resource group, subscription) the events go to.')
param functionAppName string
param functionAppResourceGroup string
param functionAppSubscriptionId string
@description('User-assigned identity the topic uses to write dead-lettered events (it has Storage Blob Data Owner on the dead-letter account, from the Function App module).')
param identityId string
param deadLetterStorageAccountId string

@description('The Event Grid trigger function (FUNCTION_NAMES.keyVaultEvents in shared/domain/names.ts).')
param functionName string = 'keyVaultEvents'

// Exactly the events the trigger handles (KEY_EVENT_TYPES in shared/domain/events.ts). These types are raised
// for keys only (secrets and certificates have their own: SecretNewVersionCreated, ...), and the topic's
// source is this one vault, so no advanced filter on data.* is needed: one on data.ObjectType / data.Id
// could only drop events (test/infra/snapshotEvents.test.ts asserts there is none).
var includedEventTypes = [
  'Microsoft.KeyVault.KeyNewVersionCreated'
  'Microsoft.KeyVault.KeyNearExpiry'
  'Microsoft.KeyVault.KeyExpired'
]

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: vaultName
  scope: resourceGroup(vaultResourceGroup)
}

module newTopic 'systemTopic.bicep' = if (!useExistingSystemTopic) {
  name: 'systemTopic-${uniqueString(systemTopicName)}'
  params: {
    name: systemTopicName
    // A system topic lives in its source's region; read at run time, so passed to a module (BCP120).
    location: vault.location
    vaultId: vault.id
    tags: tags
    identityId: identityId
  }
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
    // if(): evaluated only when the topic exists and is reused; `!` says so to the compiler (BCP318).
    name: systemTopicName
    location: useExistingSystemTopic ? existingTopic!.location : ''
    source: useExistingSystemTopic ? existingTopic!.properties.source : ''
    topicType: useExistingSystemTopic ? existingTopic!.properties.topicType : ''
    tags: useExistingSystemTopic ? (existingTopic!.?tags ?? {}) : {}
    currentIdentity: useExistingSystemTopic ? (existingTopic!.?identity ?? {}) : {}
    identityId: identityId
  }
}

// The topic as this deployment leaves it (created or given our identity): the parent of the subscription.
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
  dependsOn: [newTopic, existingTopicIdentity]
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'pg-cmk-rotator'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: resourceId(functionAppSubscriptionId, functionAppResourceGroup, 'Microsoft.Web/sites/functions', functionAppName, functionName)
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: { includedEventTypes: includedEventTypes }
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

output systemTopicId string = topic.id
