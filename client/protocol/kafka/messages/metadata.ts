// Metadata (3), transcribed from Kafka's MetadataRequest/Response.json: the brokers, the
// controller, and each topic's partitions with leader, replicas and ISR. We speak v1-12 (v9+ is
// flexible); v0 is not. A null topic list asks for all topics and an empty one for none; from v12
// a topic may be asked for by id with a null name (v10-11 carry the id but Kafka ignores it there).

import type { MessageSpec } from '../schema.js'

export const metadataRequest: MessageSpec = {
  name: 'MetadataRequest',
  apiKey: 3,
  type: 'request',
  validVersions: '1-12',
  flexibleVersions: '9+',
  fields: [
    {
      name: 'topics',
      type: '[]MetadataRequestTopic',
      versions: '0+',
      nullableVersions: '1+',
      fields: [
        { name: 'topicId', type: 'uuid', versions: '10+' },
        { name: 'name', type: 'string', versions: '0+', nullableVersions: '10+' },
      ],
    },
    { name: 'allowAutoTopicCreation', type: 'bool', versions: '4+', default: true },
    { name: 'includeClusterAuthorizedOperations', type: 'bool', versions: '8-10' },
    { name: 'includeTopicAuthorizedOperations', type: 'bool', versions: '8+' },
  ],
}

export const metadataResponse: MessageSpec = {
  name: 'MetadataResponse',
  apiKey: 3,
  type: 'response',
  validVersions: '1-12',
  flexibleVersions: '9+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'brokers',
      type: '[]MetadataResponseBroker',
      versions: '0+',
      fields: [
        { name: 'nodeId', type: 'int32', versions: '0+' },
        { name: 'host', type: 'string', versions: '0+' },
        { name: 'port', type: 'int32', versions: '0+' },
        { name: 'rack', type: 'string', versions: '1+', nullableVersions: '1+', default: null },
      ],
    },
    { name: 'clusterId', type: 'string', nullableVersions: '2+', versions: '2+', default: null },
    { name: 'controllerId', type: 'int32', versions: '1+', default: -1 },
    {
      name: 'topics',
      type: '[]MetadataResponseTopic',
      versions: '0+',
      fields: [
        { name: 'errorCode', type: 'int16', versions: '0+' },
        { name: 'name', type: 'string', versions: '0+', nullableVersions: '12+' },
        { name: 'topicId', type: 'uuid', versions: '10+' },
        { name: 'isInternal', type: 'bool', versions: '1+', default: false },
        {
          name: 'partitions',
          type: '[]MetadataResponsePartition',
          versions: '0+',
          fields: [
            { name: 'errorCode', type: 'int16', versions: '0+' },
            { name: 'partitionIndex', type: 'int32', versions: '0+' },
            { name: 'leaderId', type: 'int32', versions: '0+' },
            { name: 'leaderEpoch', type: 'int32', versions: '7+', default: -1 },
            { name: 'replicaNodes', type: '[]int32', versions: '0+' },
            { name: 'isrNodes', type: '[]int32', versions: '0+' },
            { name: 'offlineReplicas', type: '[]int32', versions: '5+' },
          ],
        },
        { name: 'topicAuthorizedOperations', type: 'int32', versions: '8+', default: -2147483648 },
      ],
    },
    { name: 'clusterAuthorizedOperations', type: 'int32', versions: '8-10', default: -2147483648 },
  ],
}
