// The audit trail at a glance: rotations over time, per-server version timeline, failures, fleet posture
// and key expiry countdown (from each sweep's PostureSnapshot events), time to verify.
param location string
param tags object
param applicationInsightsId string

var queries = [
  {
    title: 'Rotations over time'
    query: 'customEvents | where name in ("CmkRotation.RotationCompleted", "CmkRotation.ServerFailed", "CmkRotation.PreflightFailed", "CmkRotation.KeyUnreadable") | summarize count() by name, bin(timestamp, 1d) | render timechart'
  }
  {
    title: 'Per-server key version timeline'
    query: 'customEvents | where name == "CmkRotation.ServerVerified" | project timestamp, server = tostring(customDimensions.serverId), slot = tostring(customDimensions.slot), version = tostring(customDimensions.toVersion) | order by server asc, timestamp asc'
  }
  {
    title: 'Failures'
    query: 'customEvents | where name in ("CmkRotation.ServerFailed", "CmkRotation.PreflightFailed", "CmkRotation.KeyUnreadable", "CmkRotation.PageFailed", "CmkRotation.KeyExpired") | summarize arg_max(timestamp, *) by auditId = tostring(customDimensions.auditId) | project timestamp, name, server = customDimensions.serverId, reasonCode = customDimensions.reasonCode, reason = customDimensions.reason'
  }
  {
    title: 'Fleet posture (latest sweep): servers at risk first'
    query: 'customEvents | where name == "CmkRotation.PostureSnapshot" and isnotempty(customDimensions.serverId) | summarize arg_max(timestamp, *) by server = tostring(customDimensions.serverId) | extend risk = tostring(customDimensions.reasonCode), rank = case(customDimensions.reasonCode == "critical", 0, customDimensions.reasonCode == "warning", 1, 2) | project timestamp, server, risk, ring = tostring(customDimensions["detail.ring"]), state = tostring(customDimensions["detail.state"]), primaryVersion = tostring(customDimensions["detail.primary.version"]), primaryDaysLeft = toint(customDimensions["detail.primary.daysLeft"]), primaryAccess = tostring(customDimensions["detail.primary.access"]), geoBackupVersion = tostring(customDimensions["detail.geoBackup.version"]), geoBackupDaysLeft = toint(customDimensions["detail.geoBackup.daysLeft"]), reasons = tostring(customDimensions["detail.reasons"]), rank | order by rank asc, primaryDaysLeft asc | project-away rank'
  }
  {
    title: 'Key expiry countdown (days left, latest sweep)'
    query: 'customEvents | where name == "CmkRotation.PostureSnapshot" and isnotempty(customDimensions.serverId) | summarize arg_max(timestamp, *) by server = tostring(customDimensions.serverId) | extend version = tostring(customDimensions["detail.primary.effectiveVersion"]), daysLeft = toint(customDimensions["detail.primary.daysLeft"]), key = strcat(tostring(customDimensions["detail.primary.vault"]), "/", tostring(customDimensions["detail.primary.key"])) | where isnotnull(daysLeft) | summarize servers = dcount(server), daysLeft = min(daysLeft) by key, version | order by daysLeft asc | render barchart'
  }
  {
    title: 'Posture snapshots left out (bounded per sweep)'
    query: 'customEvents | where name == "CmkRotation.PostureSnapshot" and customDimensions.reasonCode == "truncated" | project timestamp, notRecorded = toint(customDimensions["detail.truncated"]), servers = toint(customDimensions["detail.servers"])'
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
