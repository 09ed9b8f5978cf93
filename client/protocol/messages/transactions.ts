// The transactional producer's APIs (KIP-98), with Kafka's keys and shapes. A transactional
// producer finds its coordinator with FindCoordinator (key type 1, the transactional id) and gets
// its producer id and epoch there with InitProducerId (messages/producer-ids.ts, transactionalId
// set); each InitProducerId for the id bumps the epoch and fences the previous instance.
//
// AddPartitionsToTxn (24) names the partitions a transaction is about to write, before the first
// batch to each goes out, so the coordinator knows where to write the markers. EndTxn (26) commits
// or aborts: answered once the decision (PrepareCommit / PrepareAbort) is durable in
// `__transaction_state`; the coordinator then writes the markers (WriteTxnMarkers, key 27) to
// every partition of the transaction. Until they are written, the producer's next
// AddPartitionsToTxn or EndTxn is answered CONCURRENT_TRANSACTIONS (retriable), unless the EndTxn
// (version 1, `bumpEpoch`) gave the producer a new epoch for its next transaction (KIP-890): then
// that one may begin beside the markers, and only its EndTxn waits for them.
//
// Errors: PRODUCER_FENCED (a newer epoch exists), INVALID_PRODUCER_ID_MAPPING (the producer id is
// not the transactional id's), INVALID_TXN_STATE, NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS /
// COORDINATOR_NOT_AVAILABLE (find the coordinator again), CONCURRENT_TRANSACTIONS.

import { array, boolean, int, long, nullable, record, string, type Value } from '../avro.js'

export const AddPartitionsToTxnRequestV0 = record('AddPartitionsToTxnRequestV0', {
  transactionalId: string,
  producerId: long,
  producerEpoch: int,
  topics: array(record('AddPartitionsToTxnTopic', { name: string, partitions: array(int) })),
})
export const AddPartitionsToTxnResponseV0 = record('AddPartitionsToTxnResponseV0', {
  throttleTimeMs: int,
  results: array(
    record('AddPartitionsToTxnTopicResult', {
      name: string,
      results: array(record('AddPartitionsToTxnPartitionResult', { partitionIndex: int, errorCode: int })),
    }),
  ),
})

export const EndTxnRequestV0 = record('EndTxnRequestV0', {
  transactionalId: string,
  producerId: long,
  producerEpoch: int,
  /** true: commit; false: abort. */
  committed: boolean,
})
export const EndTxnResponseV0 = record('EndTxnResponseV0', { throttleTimeMs: int, errorCode: int })
/**
 * Version 1 (KIP-890's epoch per transaction): a request with `bumpEpoch` gets, with its answer,
 * the producer id and epoch its next transaction runs under. The markers of the ended one carry
 * its own epoch, so the next transaction may begin while they are still being written: its first
 * batch to a partition of the ended one waits at the leader for that partition's marker.
 */
export const EndTxnRequestV1 = record('EndTxnRequestV1', {
  transactionalId: string,
  producerId: long,
  producerEpoch: int,
  committed: boolean,
  /** Give this transaction's producer a new epoch for its next one (false: as version 0). */
  bumpEpoch: boolean,
})
export const EndTxnResponseV1 = record('EndTxnResponseV1', {
  throttleTimeMs: int,
  errorCode: int,
  /** The producer id and epoch of the next transaction (with `bumpEpoch`; else the request's); -1 on an error. */
  producerId: long,
  producerEpoch: int,
})

export type AddPartitionsToTxnRequest = Value<typeof AddPartitionsToTxnRequestV0>
export type AddPartitionsToTxnResponse = Value<typeof AddPartitionsToTxnResponseV0>
/** Version 0 requests decode without `bumpEpoch`. */
export type EndTxnRequest = Value<typeof EndTxnRequestV1>
export type EndTxnResponse = Value<typeof EndTxnResponseV1>

export const addPartitionsToTxnVersions = { 0: { request: AddPartitionsToTxnRequestV0, response: AddPartitionsToTxnResponseV0 } } as const
export const endTxnVersions = { 0: { request: EndTxnRequestV0, response: EndTxnResponseV0 }, 1: { request: EndTxnRequestV1, response: EndTxnResponseV1 } } as const

// AddOffsetsToTxn (25) and TxnOffsetCommit (28): exactly-once consume-transform-produce
// (KIP-98, KIP-447). AddOffsetsToTxn, to the transaction coordinator, adds the group's
// `__consumer_offsets` partition to the transaction (EndTxn then writes a marker there too);
// TxnOffsetCommit, to the group coordinator, appends the offsets to that partition as a
// transactional batch of the producer. They become the group's committed offsets only if the
// transaction commits. While they are pending, OffsetFetch answers the partition
// UNSTABLE_OFFSET_COMMIT (retriable). TxnOffsetCommit names the consumer's generation and member
// (KIP-447) so a processor fenced out of the group cannot commit; -1 and '' skip that check.

export const AddOffsetsToTxnRequestV0 = record('AddOffsetsToTxnRequestV0', {
  transactionalId: string,
  producerId: long,
  producerEpoch: int,
  groupId: string,
})
export const AddOffsetsToTxnResponseV0 = record('AddOffsetsToTxnResponseV0', { throttleTimeMs: int, errorCode: int })

export const TxnOffsetCommitRequestV0 = record('TxnOffsetCommitRequestV0', {
  transactionalId: string,
  groupId: string,
  producerId: long,
  producerEpoch: int,
  /** The consumer's generation, or -1 (not checked). */
  generationId: int,
  /** The consumer's member id, or '' (not checked). */
  memberId: string,
  topics: array(
    record('TxnOffsetCommitRequestTopic', {
      name: string,
      partitions: array(record('TxnOffsetCommitRequestPartition', { partitionIndex: int, committedOffset: long, committedLeaderEpoch: int, committedMetadata: nullable(string) })),
    }),
  ),
})
export const TxnOffsetCommitResponseV0 = record('TxnOffsetCommitResponseV0', {
  throttleTimeMs: int,
  topics: array(
    record('TxnOffsetCommitResponseTopic', {
      name: string,
      partitions: array(record('TxnOffsetCommitResponsePartition', { partitionIndex: int, errorCode: int })),
    }),
  ),
})

export type AddOffsetsToTxnRequest = Value<typeof AddOffsetsToTxnRequestV0>
export type AddOffsetsToTxnResponse = Value<typeof AddOffsetsToTxnResponseV0>
export type TxnOffsetCommitRequest = Value<typeof TxnOffsetCommitRequestV0>
export type TxnOffsetCommitResponse = Value<typeof TxnOffsetCommitResponseV0>

export const addOffsetsToTxnVersions = { 0: { request: AddOffsetsToTxnRequestV0, response: AddOffsetsToTxnResponseV0 } } as const
export const txnOffsetCommitVersions = { 0: { request: TxnOffsetCommitRequestV0, response: TxnOffsetCommitResponseV0 } } as const
