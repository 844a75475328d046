// Operators hear about failures from Azure Monitor too, not only from the app's own pages: a broken app
// cannot page. Queries read the audit trail (customEvents named CmkRotation.*).
param prefix string
param location string
param tags object
param applicationInsightsId string
param alertEmail string
param alertWebhookUri string
@description('Minutes without RotationCompleted or SweepCompleted before "app silent" fires.')
param heartbeatMinutes int
@description('Event Grid system topics whose dead-lettered events raise an alert.')
param systemTopicIds array

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
    name: 'key-expired'
    severity: 0
    description: 'A key expired with servers still on it (CmkRotation.KeyExpired).'
    query: 'customEvents | where name == "CmkRotation.KeyExpired"'
  }
]

resource failures 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
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
resource silent 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'alert-${prefix}-cmk-app-silent'
  location: location
  tags: tags
  properties: {
    description: 'No CmkRotation.RotationCompleted or CmkRotation.SweepCompleted for longer than expected: the rotator may be down.'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT${heartbeatMinutes}M'
    criteria: {
      allOf: [
        {
          query: 'customEvents | where name in ("CmkRotation.RotationCompleted", "CmkRotation.SweepCompleted")'
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

// Events Event Grid gave up on: the rotation they announced may never have started.
resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for (topicId, i) in systemTopicIds: {
    name: 'alert-${prefix}-cmk-deadletter-${i}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Key Vault events were dead-lettered instead of reaching the rotator.'
      severity: 1
      enabled: true
      scopes: [topicId]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            name: 'deadlettered'
            criterionType: 'StaticThresholdCriterion'
            metricName: 'DeadLetteredCount'
            metricNamespace: 'Microsoft.EventGrid/systemTopics'
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [{ actionGroupId: actionGroup.id }]
    }
  }
]
