// FindCoordinator (10), transcribed from Kafka's FindCoordinatorRequest/Response.json. Version 4
// (KIP-699) asks for several keys of one type at once and answers one entry per key; earlier
// versions ask for one. Kafka's versions 5-6 (new error code, share groups) are not supported.

import type { MessageSpec } from '../schema.js'

export const findCoordinatorRequest: MessageSpec = {
  name: 'FindCoordinatorRequest',
  apiKey: 10,
  type: 'request',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    { name: 'key', type: 'string', versions: '0-3' },
    { name: 'keyType', type: 'int8', versions: '1+', default: 0 },
    { name: 'coordinatorKeys', type: '[]string', versions: '4+' },
  ],
}

export const findCoordinatorResponse: MessageSpec = {
  name: 'FindCoordinatorResponse',
  apiKey: 10,
  type: 'response',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0-3' },
    { name: 'errorMessage', type: 'string', versions: '1-3', nullableVersions: '1-3' },
    { name: 'nodeId', type: 'int32', versions: '0-3' },
    { name: 'host', type: 'string', versions: '0-3' },
    { name: 'port', type: 'int32', versions: '0-3' },
    {
      name: 'coordinators',
      type: '[]Coordinator',
      versions: '4+',
      fields: [
        { name: 'key', type: 'string', versions: '4+' },
        { name: 'nodeId', type: 'int32', versions: '4+' },
        { name: 'host', type: 'string', versions: '4+' },
        { name: 'port', type: 'int32', versions: '4+' },
        { name: 'errorCode', type: 'int16', versions: '4+' },
        { name: 'errorMessage', type: 'string', versions: '4+', nullableVersions: '4+' },
      ],
    },
  ],
}
