// Operators hear about failures from Azure Monitor too, not only from the app's own pages: a broken app
// cannot page. Queries read the audit trail (customEvents named CmkRotation.*).
param prefix string
param location string
param tags object
param applicationInsightsId string
param alertEmail string
param alertWebhookUri string
@description('Minutes without RotationCompleted or SweepCompleted before "app silent" fires.')
@minValue(60)
@maxValue(2880)
param heartbeatMinutes int

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${prefix}-cmk-rotator'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'cmkrotator'
    enabled: true
    emailReceivers: [{ name: 'operators', emailAddress: alertEmail, useCommonAlertSchema: true }]
    webhookReceivers: empty(alertWebhookUri) ? [] : [{ name: 'webhook', serviceUri: alertWebhookUri, useCommonAlertSchema: true }]
  }
}

var failureQueries = [
  {
    name: 'server-failed'
    severity: 1
    description: 'A server could not be moved to the new key version (CmkRotation.ServerFailed).'
    query: 'customEvents | where name == "CmkRotation.ServerFailed"'
  }
  {
    name: 'preflight-failed'
    severity: 1
    description: 'A new key version failed preflight; no server was changed (CmkRotation.PreflightFailed).'
    query: 'customEvents | where name == "CmkRotation.PreflightFailed"'
  }
  {
    name: 'key-unreadable'
    severity: 1
    description: 'A rotation could not read its key (refused, vault unreachable, no versions); no server was changed (CmkRotation.KeyUnreadable).'
    query: 'customEvents | where name == "CmkRotation.KeyUnreadable"'
  }
  {
    name: 'key-expired'
    severity: 0
    description: 'A key expired with servers still on it (CmkRotation.KeyExpired).'
    query: 'customEvents | where name == "CmkRotation.KeyExpired"'
  }
  {
    // Not in the audit trail: the durable boundary (shared/durable/activityBoundary.ts) logs a value the
    // contract refuses as an error trace naming its code; a refused orchestration input fails the run.
    name: 'durable-value-refused'
    severity: 1
    description: 'An orchestration or activity input or output was refused by the contract check (InvalidDurableInput/InvalidDurableOutput in traces): a bug or a hand-made value.'
    query: 'traces | where message has "InvalidDurableInput" or message has "InvalidDurableOutput"'
  }
]

resource failures 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [
  for q in failureQueries: {
    name: 'alert-${prefix}-cmk-${q.name}'
    location: location
    tags: tags
    properties: {
      description: q.description
      severity: q.severity
      enabled: true
      scopes: [applicationInsightsId]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        allOf: [
          {
            query: q.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
          }
        ]
      }
      actions: { actionGroups: [actionGroup.id] }
    }
  }
]

// The app itself may be dead: no completed rotation and no sweep heartbeat for too long.
// A log alert's window (windowSize) is one of PT1M, PT5M, PT10M, PT15M, PT30M, PT45M, PT1H…PT6H, P1D, P2D, and
// at least its evaluation frequency (the service's own refusal lists the granularities it supports:
// Azure/azure-rest-api-specs#21258). So the window is the smallest allowed one that covers heartbeatMinutes, and
// the query itself looks back exactly heartbeatMinutes.
var heartbeatWindow = heartbeatMinutes <= 60 ? 'PT1H' : heartbeatMinutes <= 120 ? 'PT2H' : heartbeatMinutes <= 180 ? 'PT3H' : heartbeatMinutes <= 240 ? 'PT4H' : heartbeatMinutes <= 300 ? 'PT5H' : heartbeatMinutes <= 360 ? 'PT6H' : heartbeatMinutes <= 1440 ? 'P1D' : 'P2D'

resource silent 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-${prefix}-cmk-app-silent'
  location: location
  tags: tags
  properties: {
    description: 'No CmkRotation.RotationCompleted or CmkRotation.SweepCompleted for longer than expected: the rotator may be down.'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: heartbeatWindow
    criteria: {
      allOf: [
        {
          query: 'customEvents | where timestamp > ago(${heartbeatMinutes}m) | where name in ("CmkRotation.RotationCompleted", "CmkRotation.SweepCompleted")'
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [actionGroup.id] }
  }
}

// Dead-lettered events: one metric alert per system topic (deadLetterAlert.bicep), on this action group.
output actionGroupId string = actionGroup.id
