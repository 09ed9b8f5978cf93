// Kafka's consumer protocol, the bytes a consumer group carries opaquely inside the group APIs,
// transcribed from Kafka's ConsumerProtocolSubscription.json and ConsumerProtocolAssignment.json
// (both "type": "data", versions 0-3, never flexible):
//
//   JoinGroup protocols[].metadata   int16 version | ConsumerProtocolSubscription at that version
//   SyncGroup assignment             int16 version | ConsumerProtocolAssignment at that version
//
// Subscription fields by version: v0 Topics, UserData; v1 adds OwnedPartitions (KIP-429); v2 adds
// GenerationId (KIP-792); v3 adds RackId (KIP-881). The assignment has the same fields in every
// version: its version only says which subscription version its writer reads.
//
// These are not API messages: `type` is 'data' and `apiKey` -1, as Kafka's JSON has no key.
// The version prefix is not part of the message: client/group/protocol.ts writes and reads it.

import type { MessageSpec } from '../schema.js'

/** The member's half of the consumer protocol: what it subscribes to, and what it holds now. */
export const consumerProtocolSubscription: MessageSpec = {
  name: 'ConsumerProtocolSubscription',
  apiKey: -1,
  type: 'data',
  validVersions: '0-3',
  flexibleVersions: 'none',
  fields: [
    { name: 'topics', type: '[]string', versions: '0+' },
    { name: 'userData', type: 'bytes', versions: '0+', nullableVersions: '0+', default: null },
    {
      name: 'ownedPartitions',
      type: '[]TopicPartition',
      versions: '1+',
      fields: [
        { name: 'topic', type: 'string', versions: '1+' },
        { name: 'partitions', type: '[]int32', versions: '1+' },
      ],
    },
    { name: 'generationId', type: 'int32', versions: '2+', default: -1 },
    { name: 'rackId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
  ],
}

/** The leader's half: the partitions it gave one member. */
export const consumerProtocolAssignment: MessageSpec = {
  name: 'ConsumerProtocolAssignment',
  apiKey: -1,
  type: 'data',
  validVersions: '0-3',
  flexibleVersions: 'none',
  fields: [
    {
      name: 'assignedPartitions',
      type: '[]TopicPartition',
      versions: '0+',
      fields: [
        { name: 'topic', type: 'string', versions: '0+' },
        { name: 'partitions', type: '[]int32', versions: '0+' },
      ],
    },
    { name: 'userData', type: 'bytes', versions: '0+', nullableVersions: '0+', default: null },
  ],
}
