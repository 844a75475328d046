// The audit trail at a glance: rotations over time, per-server version timeline, failures, time to verify.
param location string
param tags object
param applicationInsightsId string

var queries = [
  {
    title: 'Rotations over time'
    query: 'customEvents | where name in ("CmkRotation.RotationCompleted", "CmkRotation.ServerFailed", "CmkRotation.PreflightFailed") | summarize count() by name, bin(timestamp, 1d) | render timechart'
  }
  {
    title: 'Per-server key version timeline'
    query: 'customEvents | where name == "CmkRotation.ServerVerified" | project timestamp, server = tostring(customDimensions.serverId), slot = tostring(customDimensions.slot), version = tostring(customDimensions.toVersion) | order by server asc, timestamp asc'
  }
  {
    title: 'Failures'
    query: 'customEvents | where name in ("CmkRotation.ServerFailed", "CmkRotation.PreflightFailed", "CmkRotation.PageFailed", "CmkRotation.KeyExpired") | summarize arg_max(timestamp, *) by auditId = tostring(customDimensions.auditId) | project timestamp, name, server = customDimensions.serverId, reasonCode = customDimensions.reasonCode, reason = customDimensions.reason'
  }
  {
    title: 'Time to verify (minutes)'
    query: 'customEvents | where name == "CmkRotation.ServerVerified" | extend minutes = todouble(customMeasurements.durationMs) / 60000 | summarize p50 = percentile(minutes, 50), p95 = percentile(minutes, 95), max = max(minutes) by bin(timestamp, 7d)'
  }
]

// A for-expression cannot stand inside a function call (BCP138): the items are built here, serialized below.
var items = [
  for (q, i) in queries: {
    type: 3
    name: 'query-${i}'
    content: { version: 'KqlItem/1.0', title: q.title, query: q.query, queryType: 0, resourceType: 'microsoft.insights/components' }
  }
]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'pg-cmk-rotator-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'PostgreSQL CMK rotation'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string({ version: 'Notebook/1.0', items: items })
  }
}
