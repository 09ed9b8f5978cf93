// ListOffsets (key 2): timestamp -1 = latest (high watermark), -2 = earliest (log start), else the
// first offset whose timestamp is at or after it (offset -1 when there is none).

import { array, int, long, record, string, type Value } from '../avro.js'

export const ListOffsetsRequestV0 = record('ListOffsetsRequestV0', {
  replicaId: int,
  isolationLevel: int,
  topics: array(
    record('ListOffsetsTopic', {
      name: string,
      partitions: array(record('ListOffsetsPartition', { partitionIndex: int, currentLeaderEpoch: int, timestamp: long })),
    }),
  ),
})
export const ListOffsetsResponseV0 = record('ListOffsetsResponseV0', {
  topics: array(
    record('ListOffsetsTopicResponse', {
      name: string,
      partitions: array(
        record('ListOffsetsPartitionResponse', { partitionIndex: int, errorCode: int, timestamp: long, offset: long, leaderEpoch: int }),
      ),
    }),
  ),
})

export type ListOffsetsRequest = Value<typeof ListOffsetsRequestV0>
export type ListOffsetsResponse = Value<typeof ListOffsetsResponseV0>
export const listOffsetsVersions = { 0: { request: ListOffsetsRequestV0, response: ListOffsetsResponseV0 } } as const
