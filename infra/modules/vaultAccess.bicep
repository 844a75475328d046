// Data-plane access to one key vault (RBAC permission model). Key Vault Reader reads key metadata
// (versions, attributes, public key: what preflight needs) and no secret or private key material.
// Key Vault Crypto Officer (rotate) only when auto-rotation is enabled. The posture reader (a custom role:
// vaults/read and roleAssignments/read) lets GET /api/posture and the sweep's snapshot check the vault.
param vaultName string
param principalId string
param autoRotate bool
param postureRoleDefinitionId string

var keyVaultReader = '21090545-7ca7-4776-b22c-e363652d74d2'
var keyVaultCryptoOfficer = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603'

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' existing = {
  name: vaultName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultReader)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource rotator 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (autoRotate) {
  name: guid(vault.id, principalId, keyVaultCryptoOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource postureReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, postureRoleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: postureRoleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
