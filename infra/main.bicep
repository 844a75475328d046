// pg-cmk-rotator: everything the app needs, deployed at subscription scope (azd up, or
// az deployment sub create -l <location> -f infra/main.bicep -p infra/main.parameters.json).
targetScope = 'subscription'

@minLength(1)
@maxLength(16)
@description('Prefix of every resource name (azd passes the environment name).')
param environmentName string

@description('Region of the Function App and its resources.')
param location string

@description('Subscriptions whose flexible servers the app may read and update.')
param targetSubscriptionIds array

@description('Optional: limit the app to these resource groups ({ subscriptionId, resourceGroup }); empty means whole subscriptions.')
param targetResourceGroups array = []

// Required, at least one, and deliberately absent from main.parameters.json: `azd provision` prompts for a
// required parameter that has no value (a JSON array here; Azure/azure-dev cli/azd/pkg/infra/provisioning/bicep/
// prompt.go) and stores the answer in the azd environment; `--no-prompt` and `az deployment` fail naming it. An
// empty list is refused by @minLength(1) before anything is deployed: an app without vaults cannot start.
@minLength(1)
@description('Key stores holding the CMK keys, as a JSON array of { name, resourceGroup, subscriptionId, kind?, systemTopicName? }: kind is "vault" (default) or "managedHsm"; systemTopicName reuses the vault\'s existing Event Grid system topic (a vault has at most one). Example: [{"name":"kv-sec","resourceGroup":"rg-sec","subscriptionId":"<uuid>"}]')
param keyVaults array

@description('Rotate keys in Key Vault on KeyNearExpiry when no newer version exists (grants Key Vault Crypto Officer).')
param autoRotateOnNearExpiry bool = false

@description('Create the Event Grid subscriptions ("true"/"false": azd passes environment values as text). Azure checks that the target function exists, so the first `azd up` provisions with false, deploys the code, then provisions with true (azure.yaml postdeploy hook).')
@allowed(['true', 'false'])
param deployEventSubscriptionsText string = 'false'

@description('Upper bound on servers in flight per subscription; below it the rollout follows the remaining ARM request quota.')
@minValue(1)
@maxValue(500)
param maxParallelUpdates int = 100

param canaryTag string = 'cmk-rotation-ring'
param optOutTag string = 'cmk-rotation-optout'

@description('Tag that puts a server on operator hold: the plan leaves it alone while the tag is set (the value says why).')
param holdTag string = 'cmk-rotation-hold'
param nearExpiryWarningDays int = 30
param nearExpiryCriticalDays int = 7
param minKeyLifetimeDays int = 30
param sweepSchedule string = '0 17 */6 * * *'

@description('NCRONTAB of the health watch (pages a server that lost its key); at most 4 minutes between runs.')
param healthWatchSchedule string = '0 * * * * *'

@description('Base URL of docs/runbook.md as operators read it (pages link to its sections); empty: no runbook links.')
param runbookBaseUrl string = ''

@description('Seconds between polls of a server update operation, and minutes before a running update is diagnosed as stuck.')
param pollIntervalSeconds int = 15
param operationTimeoutMinutes int = 60

@allowed(['resourceGraph', 'armList'])
param discovery string = 'resourceGraph'

@description('PagerDuty Events API v2 endpoint (EU accounts: https://events.eu.pagerduty.com/v2/enqueue).')
param pagerDutyEventsUrl string = 'https://events.pagerduty.com/v2/enqueue'

@description('Key Vault secret URIs (versionless) of pager secrets; empty disables that pager.')
param pagerDutyRoutingKeySecretUri string = ''
param teamsWebhookSecretUri string = ''
param alertWebhookUrlSecretUri string = ''
param alertWebhookSigningSecretUri string = ''

@description('Key vault (name, resourceGroup) holding the pager secrets; the app gets Key Vault Secrets User on it.')
// A vault's name and resource group, not a secret: the linter goes by the word "Secrets" in the name, and
// @secure() would hide the vault from the deployment history.
#disable-next-line secure-secrets-in-params
param pagerSecretsVault object = {}

@description('Who gets alert e-mails.')
param alertEmail string

@description('Optional webhook (for example an ITSM) for the action group.')
param alertWebhookUri string = ''

@description('Minutes between expected RotationCompleted or SweepCompleted events before the "app silent" alert fires (at most 2 days: the longest log alert window).')
@minValue(60)
@maxValue(2880)
param heartbeatMinutes int = 420

@description('Optional App Service Authentication (Easy Auth, Microsoft Entra ID) in front of the operator API: { clientId, tenantId?, allowedAudiences? }. Empty: function keys only. Read "Operator API authentication" in the README before enabling it on Flex Consumption.')
param operatorApiAuthentication object = {}

@description('Network isolation for vaults that refuse public network access (README "Network-isolated deployment"). Absent (the default): the app uses public endpoints.')
param privateNetwork privateNetworkOptions?

// Sealed: a misspelt field is an error before anything is deployed, not a warning and an option silently off.
@sealed()
type privateNetworkOptions = {
  @description('Address space of the virtual network this deployment creates, e.g. 10.20.0.0/24.')
  addressPrefix: string
  @description('Subnet the Function App integrates with (delegated to Microsoft.App/environments), e.g. 10.20.0.0/26.')
  appSubnetPrefix: string
  @description('Subnet of the private endpoints, e.g. 10.20.0.64/27.')
  privateEndpointSubnetPrefix: string
  @description('Also reach the app\'s storage account through private endpoints (blob, queue, table) and deny its public network access (trusted Azure services such as Event Grid dead-lettering still pass).')
  privateStorage: bool?
  @description('Names (from keyVaults, or the pager secrets vault) of vaults the app reaches through a peered network that already has their private endpoints and DNS: no endpoint is created here for them.')
  peeredVaults: string[]?
  @description('Resource id of an existing privatelink.vaultcore.azure.net private DNS zone (a hub\'s, any subscription): no vault zone is created here, the app VNet is linked to it (the deployer needs Private DNS Zone Contributor on it) and the vault endpoints register in it. Required with peeredVaults when other vaults get endpoints here.')
  vaultDnsZoneId: string?
}

var prefix = toLower(environmentName)
var deployEventSubscriptions = deployEventSubscriptionsText == 'true'

// A key store is identified by its URL, never rebuilt from a name in the app: the DNS suffix comes from the
// cloud the deployment runs in (environment(): '.vault.azure.net' in Azure, '.vault.azure.cn', '.vault.usgovcloudapi.net').
// environment() has no Managed HSM suffix; in every cloud it is the vault suffix with 'managedhsm' for 'vault'
// (.managedhsm.azure.net / .azure.cn / .usgovcloudapi.net, as azure-cli's cloud definitions list them).
var vaultDnsSuffix = environment().suffixes.keyvaultDns
var managedHsmDnsSuffix = replace(vaultDnsSuffix, '.vault.', '.managedhsm.')
var keyStoreUrls = map(keyVaults, v => 'https://${toLower(v.name)}${(v.?kind ?? 'vault') == 'managedHsm' ? managedHsmDnsSuffix : vaultDnsSuffix}')
// Key vaults get Azure RBAC roles and an Event Grid subscription. Managed HSMs get neither here: their local
// RBAC is a data-plane role assignment Bicep cannot make (README "Managed HSM"), and the Key Vault system topic
// type is Microsoft.KeyVault.vaults, so the reconcile sweep is their trigger.
var vaults = filter(keyVaults, v => (v.?kind ?? 'vault') == 'vault')
var tags = { 'azd-env-name': environmentName, app: 'pg-cmk-rotator' }

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${prefix}-cmk-rotator'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: { name: 'id-${prefix}-cmk-rotator', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    name: take('st${replace(prefix, '-', '')}cmk${uniqueString(rg.id)}', 24)
    location: location
    tags: tags
    denyPublicNetworkAccess: privateNetwork.?privateStorage ?? false
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: { prefix: prefix, location: location, tags: tags }
}

// Key stores the app reads with a private endpoint in its network: every key vault and Managed HSM of keyVaults
// and the pager secrets vault (its Key Vault references are resolved through the VNet too), but those reached
// through a peered network.
var peeredVaults = map(privateNetwork.?peeredVaults ?? [], n => toLower(n))
var pagerVaultStores = empty(pagerSecretsVault)
  ? []
  : [
      {
        name: pagerSecretsVault.name
        resourceGroup: pagerSecretsVault.?resourceGroup ?? rg.name
        subscriptionId: pagerSecretsVault.?subscriptionId ?? subscription().subscriptionId
        kind: 'vault'
      }
    ]
// A name in peeredVaults that is no key store of this deployment is an operator typo: the deployment stops
// before it starts (every value here comes from parameters), naming it, instead of giving the vault an endpoint.
var unknownPeeredVaults = filter(
  peeredVaults,
  n => !contains(map(union(keyVaults, pagerVaultStores), v => toLower(v.name)), n)
)
// One entry per key store (union drops a pager vault that is also a CMK vault).
var keyStoreEndpoints = union(
  map(
    union(keyVaults, pagerVaultStores),
    v => (v.?kind ?? 'vault') == 'managedHsm'
      ? { id: resourceId(v.subscriptionId, v.resourceGroup, 'Microsoft.KeyVault/managedHSMs', v.name), groupId: 'managedhsm', name: toLower(v.name) }
      : { id: resourceId(v.subscriptionId, v.resourceGroup, 'Microsoft.KeyVault/vaults', v.name), groupId: 'vault', name: toLower(v.name) }
  ),
  []
)
var vaultDnsZoneId = privateNetwork.?vaultDnsZoneId ?? ''
var endpointKeyStores = filter(keyStoreEndpoints, k => !contains(peeredVaults, k.name))
// Peered vaults beside vaults with endpoints here need the hub's zone: a zone of this deployment's own
// named privatelink.vaultcore... would hide the hub's records from the app VNet (README "Vaults in other networks").
var privateKeyStores = !empty(unknownPeeredVaults)
  ? fail('privateNetwork.peeredVaults names ${join(unknownPeeredVaults, ', ')}, which is not in keyVaults or pagerSecretsVault')
  : !empty(peeredVaults) && empty(vaultDnsZoneId) && contains(map(endpointKeyStores, k => k.groupId), 'vault')
      ? fail('privateNetwork.peeredVaults needs privateNetwork.vaultDnsZoneId (the hub\'s privatelink.vaultcore zone) when other vaults get private endpoints here: a vault zone of this deployment would hide the peered vaults\' records')
      : !empty(vaultDnsZoneId) && length(split(vaultDnsZoneId, '/')) != 9
          ? fail('privateNetwork.vaultDnsZoneId must be a private DNS zone resource id (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/privateDnsZones/<name>): ${vaultDnsZoneId}')
          : endpointKeyStores

module network 'modules/network.bicep' = if (privateNetwork != null) {
  scope: rg
  name: 'network'
  params: {
    prefix: prefix
    location: location
    tags: tags
    addressPrefix: privateNetwork.?addressPrefix ?? ''
    appSubnetPrefix: privateNetwork.?appSubnetPrefix ?? ''
    privateEndpointSubnetPrefix: privateNetwork.?privateEndpointSubnetPrefix ?? ''
    keyStores: privateKeyStores
    privateStorage: privateNetwork.?privateStorage ?? false
    storageAccountId: storage.outputs.id
    vaultDnsZoneId: vaultDnsZoneId
  }
}

module functionApp 'modules/functionApp.bicep' = {
  scope: rg
  name: 'functionApp'
  params: {
    prefix: prefix
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    operatorApiAuthentication: operatorApiAuthentication
    virtualNetworkSubnetId: privateNetwork != null ? network!.outputs.appSubnetId : ''
    appSettings: {
      CMK_SUBSCRIPTIONS: join(targetSubscriptionIds, ',')
      // Vault URLs (https://kv-sec.vault.azure.net, https://hsm1.managedhsm.azure.net), comma-separated.
      CMK_ALLOWED_VAULTS: join(keyStoreUrls, ',')
      // Key stores usually live in a security subscription of their own: scoped apart from the servers.
      CMK_VAULT_SUBSCRIPTIONS: join(union(map(keyVaults, v => toLower(v.subscriptionId)), []), ',')
      CMK_DISCOVERY: discovery
      CMK_MAX_PARALLEL_UPDATES: string(maxParallelUpdates)
      CMK_CANARY_TAG: canaryTag
      CMK_OPT_OUT_TAG: optOutTag
      CMK_HOLD_TAG: holdTag
      CMK_MIN_KEY_LIFETIME_DAYS: string(minKeyLifetimeDays)
      CMK_NEAR_EXPIRY_WARNING_DAYS: string(nearExpiryWarningDays)
      CMK_NEAR_EXPIRY_CRITICAL_DAYS: string(nearExpiryCriticalDays)
      CMK_AUTO_ROTATE_ON_NEAR_EXPIRY: string(autoRotateOnNearExpiry)
      CMK_SWEEP_SCHEDULE: sweepSchedule
      CMK_HEALTH_WATCH_SCHEDULE: healthWatchSchedule
      // Empty: the app links pages to https://<WEBSITE_HOSTNAME>/api/status (the platform sets it).
      CMK_STATUS_PAGE_URL: ''
      CMK_RUNBOOK_BASE_URL: runbookBaseUrl
      CMK_POLL_INTERVAL_SECONDS: string(pollIntervalSeconds)
      CMK_OPERATION_TIMEOUT_MINUTES: string(operationTimeoutMinutes)
      PAGERDUTY_ROUTING_KEY: empty(pagerDutyRoutingKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${pagerDutyRoutingKeySecretUri})'
      PAGERDUTY_EVENTS_URL: pagerDutyEventsUrl
      TEAMS_WEBHOOK_URL: empty(teamsWebhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${teamsWebhookSecretUri})'
      ALERT_WEBHOOK_URL: empty(alertWebhookUrlSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${alertWebhookUrlSecretUri})'
      ALERT_WEBHOOK_SECRET: empty(alertWebhookSigningSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${alertWebhookSigningSecretUri})'
      AZURE_CLIENT_ID: identity.outputs.clientId
    }
  }
}

// Least privilege on the servers: a custom role with only what a rotation does.
var serverSubscriptionIds = union(targetSubscriptionIds, map(targetResourceGroups, t => t.subscriptionId))
module serverRole 'modules/serverOperatorRole.bicep' = {
  name: 'serverOperatorRole'
  // Where the role is assigned: the whole target subscriptions and the subscriptions of the target resource groups.
  params: { environmentName: environmentName, assignableSubscriptionIds: serverSubscriptionIds }
}

module subscriptionAccess 'modules/serverAccess.bicep' = [
  for sub in (empty(targetResourceGroups) ? targetSubscriptionIds : []): {
    name: 'serverAccess-${uniqueString(sub)}'
    scope: subscription(sub)
    params: { principalId: identity.outputs.principalId, roleDefinitionId: serverRole.outputs.roleDefinitionId }
  }
]

module resourceGroupAccess 'modules/serverAccessResourceGroup.bicep' = [
  for target in targetResourceGroups: {
    name: 'serverAccess-${uniqueString(target.subscriptionId, target.resourceGroup)}'
    scope: resourceGroup(target.subscriptionId, target.resourceGroup)
    params: { principalId: identity.outputs.principalId, roleDefinitionId: serverRole.outputs.roleDefinitionId }
  }
]

// Least privilege for the posture checks: read each vault's properties and the role assignments on it.
var vaultSubscriptionIds = map(vaults, v => v.subscriptionId)
module vaultPostureRole 'modules/vaultPostureRole.bicep' = {
  name: 'vaultPostureRole'
  params: { environmentName: environmentName, assignableSubscriptionIds: vaultSubscriptionIds }
}

module vaultAccess 'modules/vaultAccess.bicep' = [
  for vault in vaults: {
    name: 'vaultAccess-${vault.name}'
    scope: resourceGroup(vault.subscriptionId, vault.resourceGroup)
    params: {
      vaultName: vault.name
      principalId: identity.outputs.principalId
      autoRotate: autoRotateOnNearExpiry
      postureRoleDefinitionId: vaultPostureRole.outputs.roleDefinitionId
    }
  }
]

module pagerSecretsAccess 'modules/secretsAccess.bicep' = if (!empty(pagerSecretsVault)) {
  name: 'pagerSecretsAccess'
  scope: resourceGroup(pagerSecretsVault.?subscriptionId ?? subscription().subscriptionId, pagerSecretsVault.?resourceGroup ?? rg.name)
  params: { vaultName: pagerSecretsVault.?name ?? '', principalId: identity.outputs.principalId }
}

module eventGrid 'modules/eventGrid.bicep' = [
  for vault in vaults: if (deployEventSubscriptions) {
    name: 'eventGrid-${vault.name}'
    scope: resourceGroup(vault.subscriptionId, vault.?systemTopicResourceGroup ?? vault.resourceGroup)
    params: {
      vaultName: vault.name
      vaultResourceGroup: vault.resourceGroup
      systemTopicName: vault.?systemTopicName ?? 'evgt-${vault.name}'
      useExistingSystemTopic: contains(vault, 'systemTopicName')
      tags: tags
      functionAppName: functionApp.outputs.name
      functionAppResourceGroup: rg.name
      functionAppSubscriptionId: subscription().subscriptionId
      identityId: identity.outputs.id
      deadLetterStorageAccountId: storage.outputs.id
    }
  }
]

module alerts 'modules/alerts.bicep' = {
  scope: rg
  name: 'alerts'
  params: {
    prefix: prefix
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
    alertWebhookUri: alertWebhookUri
    heartbeatMinutes: heartbeatMinutes
  }
}

// One dead-letter alert per system topic, fed by the Event Grid module's output: the dependency makes ARM
// create the topic first (a resourceId() built here would not, and the first deployment would fail).
module deadLetterAlerts 'modules/deadLetterAlert.bicep' = [
  for (vault, i) in vaults: if (deployEventSubscriptions) {
    scope: rg
    name: 'deadLetterAlert-${vault.name}'
    params: {
      name: 'alert-${prefix}-cmk-deadletter-${toLower(vault.name)}'
      tags: tags
      // if() evaluates only the branch taken: no reference to a deployment that was skipped.
      systemTopicId: deployEventSubscriptions ? eventGrid[i]!.outputs.systemTopicId : ''
      actionGroupId: alerts.outputs.actionGroupId
    }
  }
]

module workbook 'modules/workbook.bicep' = {
  scope: rg
  name: 'workbook'
  params: { location: location, tags: tags, applicationInsightsId: monitoring.outputs.applicationInsightsId }
}

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output CMK_ALLOWED_VAULTS string = join(keyStoreUrls, ',')
