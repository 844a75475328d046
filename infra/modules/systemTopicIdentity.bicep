// Adds the app's user-assigned identity to an existing Event Grid system topic, keeping what it has: its
// location, source, topic type, tags, system-assigned identity and other user-assigned identities (a PUT
// replaces all of them). Identity types: bicep-types-az generated/eventgrid/microsoft.eventgrid/2025-02-15/
// types.md, IdentityInfo ('None' | 'SystemAssigned' | 'SystemAssigned, UserAssigned' | 'UserAssigned').
param name string
param location string
param source string
param topicType string
param tags object
@description('The topic\'s identity as read before this deployment ({} when it has none).')
param currentIdentity object
param identityId string

var keepsSystemAssigned = contains(currentIdentity.?type ?? 'None', 'SystemAssigned')
// Resource ids are case-insensitive; one spelling per identity, request values empty ({}), as ARM expects.
var keptUserAssigned = toObject(
  map(objectKeys(currentIdentity.?userAssignedIdentities ?? {}), id => toLower(id)),
  id => id,
  id => {}
)

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: keepsSystemAssigned ? 'SystemAssigned, UserAssigned' : 'UserAssigned'
    userAssignedIdentities: union(keptUserAssigned, { '${toLower(identityId)}': {} })
  }
  properties: { source: source, topicType: topicType }
}

output id string = topic.id
