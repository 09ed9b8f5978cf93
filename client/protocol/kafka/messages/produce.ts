// Produce (0), transcribed from Kafka's ProduceRequest/Response.json: record batches appended to
// partitions. We speak v3-9 (v3 is the first with transactionalId and record format v2, v9 is
// flexible). Kafka's v10-11 (KIP-951 leader hints, KIP-890) are not supported; their fields are kept
// so that a later version bump is one line. With acks 0 the broker sends no response at all.

import type { MessageSpec } from '../schema.js'

export const produceRequest: MessageSpec = {
  name: 'ProduceRequest',
  apiKey: 0,
  type: 'request',
  validVersions: '3-9',
  flexibleVersions: '9+',
  fields: [
    { name: 'transactionalId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
    { name: 'acks', type: 'int16', versions: '0+' },
    { name: 'timeoutMs', type: 'int32', versions: '0+' },
    {
      name: 'topicData',
      type: '[]TopicProduceData',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitionData',
          type: '[]PartitionProduceData',
          versions: '0+',
          fields: [
            { name: 'index', type: 'int32', versions: '0+' },
            { name: 'records', type: 'records', versions: '0+', nullableVersions: '0+' },
          ],
        },
      ],
    },
  ],
}

export const produceResponse: MessageSpec = {
  name: 'ProduceResponse',
  apiKey: 0,
  type: 'response',
  validVersions: '3-9',
  flexibleVersions: '9+',
  fields: [
    {
      name: 'responses',
      type: '[]TopicProduceResponse',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitionResponses',
          type: '[]PartitionProduceResponse',
          versions: '0+',
          fields: [
            { name: 'index', type: 'int32', versions: '0+' },
            { name: 'errorCode', type: 'int16', versions: '0+' },
            { name: 'baseOffset', type: 'int64', versions: '0+' },
            { name: 'logAppendTimeMs', type: 'int64', versions: '2+', default: -1n },
            { name: 'logStartOffset', type: 'int64', versions: '5+', default: -1n },
            {
              name: 'recordErrors',
              type: '[]BatchIndexAndErrorMessage',
              versions: '8+',
              fields: [
                { name: 'batchIndex', type: 'int32', versions: '8+' },
                { name: 'batchIndexErrorMessage', type: 'string', default: null, versions: '8+', nullableVersions: '8+' },
              ],
            },
            { name: 'errorMessage', type: 'string', default: null, versions: '8+', nullableVersions: '8+' },
            {
              name: 'currentLeader',
              type: 'LeaderIdAndEpoch',
              versions: '10+',
              taggedVersions: '10+',
              tag: 0,
              fields: [
                { name: 'leaderId', type: 'int32', versions: '10+', default: -1 },
                { name: 'leaderEpoch', type: 'int32', versions: '10+', default: -1 },
              ],
            },
          ],
        },
      ],
    },
    { name: 'throttleTimeMs', type: 'int32', versions: '1+', default: 0 },
    {
      name: 'nodeEndpoints',
      type: '[]NodeEndpoint',
      versions: '10+',
      taggedVersions: '10+',
      tag: 0,
      fields: [
        { name: 'nodeId', type: 'int32', versions: '10+' },
        { name: 'host', type: 'string', versions: '10+' },
        { name: 'port', type: 'int32', versions: '10+' },
        { name: 'rack', type: 'string', versions: '10+', nullableVersions: '10+', default: null },
      ],
    },
  ],
}
