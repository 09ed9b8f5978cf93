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

export type WriteTxnMarkersRequest = Value<typeof WriteTxnMarkersRequestV0>
export type WriteTxnMarkersResponse = Value<typeof WriteTxnMarkersResponseV0>
export const writeTxnMarkersVersions = { 0: { request: WriteTxnMarkersRequestV0, response: WriteTxnMarkersResponseV0 } } as const
