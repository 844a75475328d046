// Events Event Grid gave up on: the rotation they announced may never have started.
param name string
param tags object
@description('The system topic (an output of the Event Grid module, so ARM creates it first).')
param systemTopicId string
param actionGroupId string

resource deadLettered 'Microsoft.Insights/metricAlerts@2026-01-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault events were dead-lettered instead of reaching the rotator.'
    severity: 1
    enabled: true
    scopes: [systemTopicId]
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
    actions: [{ actionGroupId: actionGroupId }]
  }
}
