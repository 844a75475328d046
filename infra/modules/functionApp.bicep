// Function App on Flex Consumption (Linux, Node 22), run-from-package from a blob container, with the
// user-assigned identity for storage, Application Insights and everything the code calls.
param prefix string
param location string
param tags object
param identityId string
param identityClientId string
param identityPrincipalId string
param storageAccountName string
param applicationInsightsName string
@description('The app settings shared/config.ts reads (see README "Configuration").')
param appSettings object
@description('Optional Easy Auth for the operator API: { clientId, tenantId?, allowedAudiences? }; {} leaves it off.')
param operatorApiAuthentication object = {}
@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; \'\' leaves the app on public outbound.')
param virtualNetworkSubnetId string = ''

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: 'plan-${prefix}-cmk-rotator'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

var baseSettings = {
  // Service URIs, not __accountName: the account name alone "doesn't work when the storage account is in a
  // sovereign cloud" (Learn, Azure Functions reference: connecting to host storage with an identity).
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: 'func-${prefix}-cmk-rotator'
  location: location
  tags: union(tags, { 'azd-service-name': 'rotator' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    // VNet integration (network-isolated deployment). The api version this file uses (2025-03-01) has no
    // vnetRouteAllEnabled site property any more (the compiler refuses it, BCP037): its successor is
    // outboundVnetRouting: applicationTraffic is the one "previously called VnetRouteAllEnabled", and allTraffic
    // "enables all other routing options" (application, content share, image pull, backup traffic; the API spec's
    // OutboundVnetRouting, as the Bicep CLI's built-in types carry it). Learn, "Use Key Vault references",
    // network-restricted vaults: "Linux applications attempting to use private endpoints additionally require that
    // the app be explicitly configured to have all traffic route through the virtual network".
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    outboundVnetRouting: empty(virtualNetworkSubnetId) ? null : { allTraffic: true }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}app-package'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '22' }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  properties: union(baseSettings, appSettings)
}

// App Service Authentication (Easy Auth) with Microsoft Entra ID in front of the operator API, when asked for:
// callers need a token for the given app registration (401 otherwise), and the platform, not the caller, sets
// x-ms-client-principal-*. The Event Grid webhook stays on its system key. Flex Consumption: see the README
// ("Operator API authentication") — Learn's Flex Consumption considerations have said Easy Auth isn't supported
// there and that unauthenticated callers aren't blocked; check with an unauthenticated call before relying on it.
var easyAuthTenant = operatorApiAuthentication.?tenantId ?? subscription().tenantId
resource easyAuth 'Microsoft.Web/sites/config@2025-03-01' = if (!empty(operatorApiAuthentication)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: ['/runtime/webhooks/eventgrid']
    }
    httpSettings: { requireHttps: true }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: operatorApiAuthentication.?clientId ?? ''
          openIdIssuer: '${environment().authentication.loginEndpoint}${easyAuthTenant}/v2.0'
        }
        validation: {
          allowedAudiences: operatorApiAuthentication.?allowedAudiences ?? ['api://${operatorApiAuthentication.?clientId ?? ''}']
        }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

// Built-in roles the Functions runtime and the durable task hub need on their storage account.
var storageRoles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(storageRoles): {
    name: guid(storage.id, identityPrincipalId, role.value)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Monitoring Metrics Publisher: send telemetry with Entra ID (local auth is off).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = site.id
output name string = site.name
