// Partition replication between brokers: OffsetsForLeaderEpoch (key 23, as Kafka's) and
// AlterPartition (key 56, as Kafka's).
//
// OffsetsForLeaderEpoch is how a follower finds where its log diverges from the leader's (KIP-101,
// KIP-279) instead of truncating to its high watermark, which can lose acknowledged records or
// leave replicas diverged. For each partition the follower sends its latest leader epoch; the
// leader answers with the largest epoch <= the requested one that its own log has, and where that
// epoch ends: the start offset of the next higher epoch, or the leader's log end offset when it is
// the latest. The follower truncates to the smaller of that end offset and its own end of the
// returned epoch. `leaderEpoch` and `endOffset` are -1 when the leader knows no such epoch.
// `currentLeaderEpoch` fences the request: a follower whose view of the leader's epoch is older or
// newer than the leader's own gets FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH, never an answer
// built on a stale view. `replicaId` is the follower's broker id (-1 for a client or tool).
//
// AlterPartition is sent by a partition's leader to the active controller to change the ISR
// (shrinking it when a follower falls behind, growing it when one catches up). It is a
// compare-and-set on the partition epoch: the controller applies `newIsr` only when
// `partitionEpoch` and `leaderEpoch` match its own, and otherwise rejects that partition (another
// change won the race), so two leaders, or one leader's stale retries, cannot overwrite a newer
// ISR (INVALID_UPDATE_VERSION). The response carries the partition's state as the controller now
// holds it, and the leader adopts it. `incarnationId` is the leader's, as in BrokerHeartbeat, so a
// restarted broker's stale request is refused. A top-level `errorCode` (NOT_CONTROLLER, for one)
// applies to every partition.

import { array, int, long, record, string, type Value } from '../avro.js'

export const OffsetsForLeaderEpochRequestV0 = record('OffsetsForLeaderEpochRequestV0', {
  replicaId: int,
  topics: array(
    record('OffsetForLeaderTopic', {
      name: string,
      partitions: array(record('OffsetForLeaderPartition', { partition: int, currentLeaderEpoch: int, leaderEpoch: int })),
    }),
  ),
})
export const OffsetsForLeaderEpochResponseV0 = record('OffsetsForLeaderEpochResponseV0', {
  throttleTimeMs: int,
  topics: array(
    record('OffsetForLeaderTopicResult', {
      name: string,
      /** `leaderEpoch` and `endOffset` are -1 when the leader has no epoch <= the requested one. */
      partitions: array(record('EpochEndOffset', { errorCode: int, partition: int, leaderEpoch: int, endOffset: long })),
    }),
  ),
})

export const AlterPartitionRequestV0 = record('AlterPartitionRequestV0', {
  brokerId: int,
  incarnationId: string,
  topics: array(
    record('AlterPartitionTopic', {
      name: string,
      partitions: array(record('AlterPartitionPartition', { partition: int, leaderEpoch: int, newIsr: array(int), partitionEpoch: int })),
    }),
  ),
})
export const AlterPartitionResponseV0 = record('AlterPartitionResponseV0', {
  errorCode: int,
  topics: array(
    record('AlterPartitionTopicResult', {
      name: string,
      /** The partition's state at the controller after the request, applied or not. */
      partitions: array(record('AlterPartitionPartitionResult', { partition: int, errorCode: int, leaderId: int, leaderEpoch: int, isr: array(int), partitionEpoch: int })),
    }),
  ),
})

export type OffsetsForLeaderEpochRequest = Value<typeof OffsetsForLeaderEpochRequestV0>
export type OffsetsForLeaderEpochResponse = Value<typeof OffsetsForLeaderEpochResponseV0>
export type AlterPartitionRequest = Value<typeof AlterPartitionRequestV0>
export type AlterPartitionResponse = Value<typeof AlterPartitionResponseV0>

export const offsetsForLeaderEpochVersions = { 0: { request: OffsetsForLeaderEpochRequestV0, response: OffsetsForLeaderEpochResponseV0 } } as const
export const alterPartitionVersions = { 0: { request: AlterPartitionRequestV0, response: AlterPartitionResponseV0 } } as const
