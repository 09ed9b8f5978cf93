// OffsetsForLeaderEpoch (23) as Kafka's OffsetForLeaderEpochRequest/Response.json declare it, at
// v0-4: where a leader epoch ends in the leader's log. On the Kafka listener it is a consumer's
// request (KIP-320: after a leader change, is the log it read from still there?), never a
// follower's. v1 adds the epoch to the answer, v2 the request's current leader epoch (fencing)
// and the answer's throttle time, v3 the replica id (-1 for a consumer; its default, -2, is
// Kafka's "debug consumer", what a request without the field reads as), v4 is flexible.
// (Kafka 4.0 dropped v0-1 from its brokers; clients of Kafka 2.x and librdkafka still send them.)

import type { MessageSpec } from '../schema.js'

export const offsetsForLeaderEpochRequest: MessageSpec = {
  name: 'OffsetForLeaderEpochRequest',
  apiKey: 23,
  type: 'request',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'replicaId', type: 'int32', versions: '3+', default: -2 },
    {
      name: 'topics',
      type: '[]OffsetForLeaderTopic',
      versions: '0+',
      fields: [
        { name: 'topic', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]OffsetForLeaderPartition',
          versions: '0+',
          fields: [
            { name: 'partition', type: 'int32', versions: '0+' },
            { name: 'currentLeaderEpoch', type: 'int32', versions: '2+', default: -1 },
            { name: 'leaderEpoch', type: 'int32', versions: '0+' },
          ],
        },
      ],
    },
  ],
}

export const offsetsForLeaderEpochResponse: MessageSpec = {
  name: 'OffsetForLeaderEpochResponse',
  apiKey: 23,
  type: 'response',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    {
      name: 'topics',
      type: '[]OffsetForLeaderTopicResult',
      versions: '0+',
      fields: [
        { name: 'topic', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]OffsetForLeaderPartitionResult',
          versions: '0+',
          fields: [
            { name: 'errorCode', type: 'int16', versions: '0+' },
            { name: 'partition', type: 'int32', versions: '0+' },
            { name: 'leaderEpoch', type: 'int32', versions: '1+', default: -1 },
            { name: 'endOffset', type: 'int64', versions: '0+' },
          ],
        },
      ],
    },
  ],
}
