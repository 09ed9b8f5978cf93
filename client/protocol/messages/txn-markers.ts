// WriteTxnMarkers (key 27, Kafka's; KIP-98). The transaction coordinator sends it to each
// partition leader a transaction touched, once the transaction's outcome is decided: the leader
// appends a control batch (an EndTransactionMarker: commit or abort) for the producer to each
// named partition it leads, at its current leader epoch, and answers once the marker is
// replicated (the high watermark is past it), as acks=all. Broker-to-broker only: CLUSTER_ACTION.
//
// Errors are per partition: NOT_LEADER_OR_FOLLOWER when this broker does not lead it,
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH when the marker's producer epoch is older
// than the partition's producer state (a zombie coordinator or a fenced producer generation).

import { array, boolean, int, long, record, string, type Value } from '../avro.js'

export const WriteTxnMarkersRequestV0 = record('WriteTxnMarkersRequestV0', {
  markers: array(
    record('WritableTxnMarker', {
      producerId: long,
      producerEpoch: int,
      /** true: commit; false: abort. */
      transactionResult: boolean,
      topics: array(record('WritableTxnMarkerTopic', { name: string, partitionIndexes: array(int) })),
      /** The coordinator's epoch (its partition leader epoch of the transaction log), written into the marker's value. */
      coordinatorEpoch: int,
    }),
  ),
})

export const WriteTxnMarkersResponseV0 = record('WriteTxnMarkersResponseV0', {
  markers: array(
    record('WritableTxnMarkerResult', {
      producerId: long,
      topics: array(
        record('WritableTxnMarkerTopicResult', {
          name: string,
          partitions: array(record('WritableTxnMarkerPartitionResult', { partitionIndex: int, errorCode: int })),
        }),
      ),
    }),
  ),
})

/**
 * Version 1 (an epoch per transaction, KIP-890): `transactionEpoch` is the epoch of the
 * transaction the marker closes, and `producerEpoch` the epoch it is written at, the producer's
 * next one, so that from then on a late batch of the closed transaction is fenced there (it would
 * otherwise open a transaction nobody closes). A partition whose producer has a transaction open
 * at a later epoch than `transactionEpoch` refuses the marker (INVALID_PRODUCER_EPOCH): it is an
 * earlier transaction's, sent again. -1: the same as `producerEpoch` (version 0's meaning).
 */
export const WriteTxnMarkersRequestV1 = record('WriteTxnMarkersRequestV1', {
  markers: array(
    record('WritableTxnMarkerV1', {
      producerId: long,
      producerEpoch: int,
      transactionResult: boolean,
      topics: array(record('WritableTxnMarkerTopicV1', { name: string, partitionIndexes: array(int) })),
      coordinatorEpoch: int,
      transactionEpoch: int,
    }),
  ),
})

/** Version 0 requests decode without `transactionEpoch`. */
export type WriteTxnMarkersRequest = Value<typeof WriteTxnMarkersRequestV1>
export type WriteTxnMarkersResponse = Value<typeof WriteTxnMarkersResponseV0>
export const writeTxnMarkersVersions = { 0: { request: WriteTxnMarkersRequestV0, response: WriteTxnMarkersResponseV0 }, 1: { request: WriteTxnMarkersRequestV1, response: WriteTxnMarkersResponseV0 } } as const
