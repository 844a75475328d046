// Log Analytics + workspace-based Application Insights; local (key) auth off, so telemetry is sent
// with the managed identity (Monitoring Metrics Publisher).
param prefix string
param location string
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: 'log-${prefix}-cmk-rotator'
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 90 }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${prefix}-cmk-rotator'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    RetentionInDays: 90
  }
}

output applicationInsightsId string = appInsights.id
output applicationInsightsName string = appInsights.name
output workspaceId string = workspace.id
