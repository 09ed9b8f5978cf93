// ListOffsets (2), transcribed from Kafka's ListOffsetsRequest/Response.json: the offset for a
// timestamp per partition, or the earliest (-2) or latest (-1) offset. We speak v1-7 (v6+ is
// flexible; v7 adds timestamp -3, the offset of the largest timestamp, KIP-734). Kafka's v0 and
// v8-10 are not supported; their fields are kept. With isolationLevel 1 (read committed, v2+) the
// latest offset is the last stable offset, not the high watermark.

import type { MessageSpec } from '../schema.js'

export const listOffsetsRequest: MessageSpec = {
  name: 'ListOffsetsRequest',
  apiKey: 2,
  type: 'request',
  validVersions: '1-7',
  flexibleVersions: '6+',
  fields: [
    { name: 'replicaId', type: 'int32', versions: '0+' },
    { name: 'isolationLevel', type: 'int8', versions: '2+' },
    {
      name: 'topics',
      type: '[]ListOffsetsTopic',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]ListOffsetsPartition',
          versions: '0+',
          fields: [
            { name: 'partitionIndex', type: 'int32', versions: '0+' },
            { name: 'currentLeaderEpoch', type: 'int32', versions: '4+', default: -1 },
            { name: 'timestamp', type: 'int64', versions: '0+' },
            { name: 'maxNumOffsets', type: 'int32', versions: '0', default: 1 },
          ],
        },
      ],
    },
    { name: 'timeoutMs', type: 'int32', versions: '10+' },
  ],
}

export const listOffsetsResponse: MessageSpec = {
  name: 'ListOffsetsResponse',
  apiKey: 2,
  type: 'response',
  validVersions: '1-7',
  flexibleVersions: '6+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    {
      name: 'topics',
      type: '[]ListOffsetsTopicResponse',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]ListOffsetsPartitionResponse',
          versions: '0+',
          fields: [
            { name: 'partitionIndex', type: 'int32', versions: '0+' },
            { name: 'errorCode', type: 'int16', versions: '0+' },
            { name: 'oldStyleOffsets', type: '[]int64', versions: '0' },
            { name: 'timestamp', type: 'int64', versions: '1+', default: -1n },
            { name: 'offset', type: 'int64', versions: '1+', default: -1n },
            { name: 'leaderEpoch', type: 'int32', versions: '4+', default: -1 },
          ],
        },
      ],
    },
  ],
}
