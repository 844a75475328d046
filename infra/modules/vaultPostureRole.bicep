// A custom role with only what the posture checks read of a key vault: its properties (soft delete,
// purge protection, retention, tenant, region, network rules, permission model, access policies) and the
// role assignments at or above it (who holds "Key Vault Crypto Service Encryption User"). Assigned at each
// vault's scope (vaultAccess.bicep). Nothing here reads keys or secrets.
targetScope = 'subscription'

@description('The azd environment: one role per environment, so two environments in a subscription never replace each other\'s assignable scopes (RoleScopeBeingRemovedContainsAssignments).')
param environmentName string
@description('Subscriptions where the role may be assigned (the deployment\'s own is always one: the definition lives there).')
param assignableSubscriptionIds array

var actions = [
  'Microsoft.KeyVault/vaults/read'
  'Microsoft.Authorization/roleAssignments/read'
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'pg-cmk-rotator-vault-posture-reader', toLower(environmentName))
  properties: {
    roleName: 'PostgreSQL CMK Posture Reader (${environmentName}, ${subscription().subscriptionId})'
    description: 'Read key vault properties and the role assignments on them; nothing else.'
    type: 'CustomRole'
    permissions: [{ actions: actions, notActions: [] }]
    assignableScopes: [for sub in union([subscription().subscriptionId], assignableSubscriptionIds): '/subscriptions/${sub}']
  }
}

output roleDefinitionId string = role.id
