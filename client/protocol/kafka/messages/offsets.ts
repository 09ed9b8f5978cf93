// Committed offsets as Kafka's clients speak them, transcribed from Kafka's JSON definitions:
// OffsetCommit (8) and OffsetFetch (9). OffsetFetch v8 (KIP-709) asks for several groups at once.
// Fields of Kafka's version 9 (KIP-848's member epoch on OffsetFetch) are left out until we take it.

import type { MessageSpec } from '../schema.js'

export const offsetCommitRequest: MessageSpec = {
  name: 'OffsetCommitRequest',
  apiKey: 8,
  type: 'request',
  validVersions: '0-8',
  flexibleVersions: '8+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    // Absent in v0: a commit from outside the group protocol (generation -1, no member).
    { name: 'generationIdOrMemberEpoch', type: 'int32', versions: '1+', default: -1 },
    { name: 'memberId', type: 'string', versions: '1+' },
    { name: 'groupInstanceId', type: 'string', versions: '7+', nullableVersions: '7+', default: null },
    // -1: the broker's retention. Only v2-4 carry it; v5 left retention to the broker alone.
    { name: 'retentionTimeMs', type: 'int64', versions: '2-4', default: -1n },
    {
      name: 'topics',
      type: '[]OffsetCommitRequestTopic',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]OffsetCommitRequestPartition',
          versions: '0+',
          fields: [
            { name: 'partitionIndex', type: 'int32', versions: '0+' },
            { name: 'committedOffset', type: 'int64', versions: '0+' },
            { name: 'committedLeaderEpoch', type: 'int32', versions: '6+', default: -1 },
            { name: 'commitTimestamp', type: 'int64', versions: '1', default: -1n },
            { name: 'committedMetadata', type: 'string', versions: '0+', nullableVersions: '0+' },
          ],
        },
      ],
    },
  ],
}

export const offsetCommitResponse: MessageSpec = {
  name: 'OffsetCommitResponse',
  apiKey: 8,
  type: 'response',
  validVersions: '0-8',
  flexibleVersions: '8+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'topics',
      type: '[]OffsetCommitResponseTopic',
      versions: '0+',
      fields: [
        { name: 'name', type: 'string', versions: '0+' },
        {
          name: 'partitions',
          type: '[]OffsetCommitResponsePartition',
          versions: '0+',
          fields: [
            { name: 'partitionIndex', type: 'int32', versions: '0+' },
            { name: 'errorCode', type: 'int16', versions: '0+' },
          ],
        },
      ],
    },
  ],
}

export const offsetFetchRequest: MessageSpec = {
  name: 'OffsetFetchRequest',
  apiKey: 9,
  type: 'request',
  validVersions: '0-8',
  flexibleVersions: '6+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0-7' },
    // null (v2+): every partition the group has committed.
    {
      name: 'topics',
      type: '[]OffsetFetchRequestTopic',
      versions: '0-7',
      nullableVersions: '2-7',
      fields: [
        { name: 'name', type: 'string', versions: '0-7' },
        { name: 'partitionIndexes', type: '[]int32', versions: '0-7' },
      ],
    },
    {
      name: 'groups',
      type: '[]OffsetFetchRequestGroup',
      versions: '8+',
      fields: [
        { name: 'groupId', type: 'string', versions: '8+' },
        {
          name: 'topics',
          type: '[]OffsetFetchRequestTopics',
          versions: '8+',
          nullableVersions: '8+',
          fields: [
            { name: 'name', type: 'string', versions: '8+' },
            { name: 'partitionIndexes', type: '[]int32', versions: '8+' },
          ],
        },
      ],
    },
    { name: 'requireStable', type: 'bool', versions: '7+', default: false },
  ],
}

export const offsetFetchResponse: MessageSpec = {
  name: 'OffsetFetchResponse',
  apiKey: 9,
  type: 'response',
  validVersions: '0-8',
  flexibleVersions: '6+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '3+' },
    {
      name: 'topics',
      type: '[]OffsetFetchResponseTopic',
      versions: '0-7',
      fields: [
        { name: 'name', type: 'string', versions: '0-7' },
        {
          name: 'partitions',
          type: '[]OffsetFetchResponsePartition',
          versions: '0-7',
          fields: [
            { name: 'partitionIndex', type: 'int32', versions: '0-7' },
            { name: 'committedOffset', type: 'int64', versions: '0-7' },
            { name: 'committedLeaderEpoch', type: 'int32', versions: '5-7', default: -1 },
            { name: 'metadata', type: 'string', versions: '0-7', nullableVersions: '0-7' },
            { name: 'errorCode', type: 'int16', versions: '0-7' },
          ],
        },
      ],
    },
    { name: 'errorCode', type: 'int16', versions: '2-7', default: 0 },
    {
      name: 'groups',
      type: '[]OffsetFetchResponseGroup',
      versions: '8+',
      fields: [
        { name: 'groupId', type: 'string', versions: '8+' },
        {
          name: 'topics',
          type: '[]OffsetFetchResponseTopics',
          versions: '8+',
          fields: [
            { name: 'name', type: 'string', versions: '8+' },
            {
              name: 'partitions',
              type: '[]OffsetFetchResponsePartitions',
              versions: '8+',
              fields: [
                { name: 'partitionIndex', type: 'int32', versions: '8+' },
                { name: 'committedOffset', type: 'int64', versions: '8+' },
                { name: 'committedLeaderEpoch', type: 'int32', versions: '8+', default: -1 },
                { name: 'metadata', type: 'string', versions: '8+', nullableVersions: '8+' },
                { name: 'errorCode', type: 'int16', versions: '8+' },
              ],
            },
          ],
        },
        { name: 'errorCode', type: 'int16', versions: '8+', default: 0 },
      ],
    },
  ],
}
