// A custom role with only what a key rotation does to a flexible server: read it, PATCH its
// dataEncryption, and follow the long-running operation. The PATCH names no identity (see
// buildPatchBody in shared/domain/plan.ts), so no userAssignedIdentities/assign/action is needed:
// servers whose identities live in another resource group or subscription rotate as well.
// local/azure/arm-authz.ts (ROTATION_OPERATOR_ACTIONS) grants the same actions by default.
targetScope = 'subscription'

@description('The azd environment: one role per environment, so two environments in a subscription never replace each other\'s assignable scopes (RoleScopeBeingRemovedContainsAssignments).')
param environmentName string
@description('Subscriptions where the role may be assigned (the deployment\'s own is always one: the definition lives there).')
param assignableSubscriptionIds array

var actions = [
  'Microsoft.DBforPostgreSQL/flexibleServers/read'
  'Microsoft.DBforPostgreSQL/flexibleServers/write'
  'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read'
  'Microsoft.DBforPostgreSQL/locations/operationResults/read'
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'pg-cmk-rotator-server-operator', toLower(environmentName))
  properties: {
    roleName: 'PostgreSQL CMK Rotation Operator (${environmentName}, ${subscription().subscriptionId})'
    description: 'Read flexible servers and update their customer-managed key; nothing else.'
    type: 'CustomRole'
    permissions: [{ actions: actions, notActions: [] }]
    assignableScopes: [for sub in union([subscription().subscriptionId], assignableSubscriptionIds): '/subscriptions/${sub}']
  }
}

output roleDefinitionId string = role.id
