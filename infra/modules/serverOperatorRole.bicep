// A custom role with only what a key rotation does to a flexible server: read it, PATCH its
// dataEncryption (with the identities it already has), and follow the long-running operation.
targetScope = 'subscription'

param assignableSubscriptionIds array

var actions = [
  'Microsoft.DBforPostgreSQL/flexibleServers/read'
  'Microsoft.DBforPostgreSQL/flexibleServers/write'
  'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read'
  'Microsoft.DBforPostgreSQL/locations/operationResults/read'
  // The PATCH names the server's user-assigned identities; ARM checks the caller may assign them.
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'pg-cmk-rotator-server-operator')
  properties: {
    roleName: 'PostgreSQL CMK Rotation Operator (${subscription().subscriptionId})'
    description: 'Read flexible servers and update their customer-managed key; nothing else.'
    type: 'CustomRole'
    permissions: [{ actions: actions, notActions: [] }]
    assignableScopes: [for sub in union([subscription().subscriptionId], assignableSubscriptionIds): '/subscriptions/${sub}']
  }
}

output roleDefinitionId string = role.id
