// Storage for the Functions runtime, the durable task hub, the deployment package and dead-lettered
// events. Identity only: shared key access is off.
param name string
param location string
param tags object
@description('Refuse public network access but for trusted Azure services (the app reaches it through private endpoints).')
param denyPublicNetworkAccess bool = false

resource account 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    // Deny with the trusted-services bypass rather than publicNetworkAccess Disabled: Event Grid dead-letters
    // here with a managed identity as a trusted service, which Disabled would refuse.
    networkAcls: denyPublicNetworkAccess
      ? { defaultAction: 'Deny', bypass: 'AzureServices' }
      : { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = {
  parent: blobs
  name: 'app-package'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = {
  parent: blobs
  name: 'eventgrid-deadletter'
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output deploymentContainerName string = deploymentContainer.name
output deadLetterContainerName string = deadLetterContainer.name
