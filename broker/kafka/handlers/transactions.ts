// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit on the Kafka listener: Kafka's
// bodies (v0-3) to Strand's and back. Each is served by the Strand handler through the Strand
// listener's gate (`req.serve`): the transaction coordinator (broker/txn) for the first three, the
// group coordinator for TxnOffsetCommit, with the Strand listener's permissions and errors. What
// is done here is what the Kafka protocol says and Strand's does not:
//
// - PRODUCER_FENCED (KIP-588) is known to AddPartitionsToTxn, AddOffsetsToTxn and EndTxn from v2;
//   older versions get INVALID_PRODUCER_EPOCH instead, as Kafka's broker answers them (the clients
//   handle both alike: the producer is fenced). No version of TxnOffsetCommit we serve declares
//   it (its v3 predates KIP-588), so it is mapped there at every version.
// - An empty transactional id is INVALID_REQUEST, Kafka's coordinator's answer, without asking
//   Strand (whose coordinator would find no producer for it, INVALID_PRODUCER_ID_MAPPING).
// - AddPartitionsToTxn names each partition once in its answer, in the order first asked, as
//   Kafka's (which keeps the partitions in a set): a partition named twice is added once.
// - TxnOffsetCommit v3's generation and member id go to Strand's member check; its group instance
//   id is dropped, since Strand's groups have no static members: such a member is checked by its
//   member id (UNKNOWN_MEMBER_ID where Kafka may say FENCED_INSTANCE_ID), and a request giving an
//   instance id but neither a generation nor a member id is not checked at all.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { AddPartitionsToTxnRequest } from '../../../client/protocol/messages/transactions.js'
import type { KafkaHandler } from '../context.js'

const INVALID_REQUEST = errorCodeOf('INVALID_REQUEST')
const PRODUCER_FENCED = errorCodeOf('PRODUCER_FENCED')
const INVALID_PRODUCER_EPOCH = errorCodeOf('INVALID_PRODUCER_EPOCH')
/** The first version of AddPartitionsToTxn, AddOffsetsToTxn and EndTxn whose clients know PRODUCER_FENCED. */
const PRODUCER_FENCED_FROM_VERSION = 2

/** `code` as a client of `version` understands it: PRODUCER_FENCED from `fencedFrom` on only. */
function forVersion(code: number, version: number, fencedFrom: number): number {
  return code === PRODUCER_FENCED && version < fencedFrom ? INVALID_PRODUCER_EPOCH : code
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

// ---------------------------------------------------------------------------------------------
// The decoded Kafka bodies (every field of the spec at the request's version). The casts below
// are the decoder's boundary: the codec built these objects from the spec.

type KafkaAddPartitionsToTxnRequest = {
  v3AndBelowTransactionalId: string
  v3AndBelowProducerId: bigint
  v3AndBelowProducerEpoch: number
  v3AndBelowTopics: Array<{ name: string; partitions: number[] }>
}
type KafkaAddOffsetsToTxnRequest = { transactionalId: string; producerId: bigint; producerEpoch: number; groupId: string }
type KafkaEndTxnRequest = { transactionalId: string; producerId: bigint; producerEpoch: number; committed: boolean }
type KafkaTxnOffsetCommitRequest = {
  transactionalId: string
  groupId: string
  producerId: bigint
  producerEpoch: number
  generationId: number
  memberId: string
  groupInstanceId: string | null
  topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }> }>
}

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn (24), v0-3.

/** The topics asked for, each once, each partition once, in the order first named. */
function mergedTopics(topics: KafkaAddPartitionsToTxnRequest['v3AndBelowTopics']): AddPartitionsToTxnRequest['topics'] {
  const byName = new Map<string, Set<number>>()
  for (const t of topics) {
    const partitions = byName.get(t.name) ?? new Set<number>()
    for (const p of t.partitions) partitions.add(p)
    byName.set(t.name, partitions)
  }
  return [...byName].map(([name, partitions]) => ({ name, partitions: [...partitions] }))
}

export const kafkaAddPartitionsToTxn: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaAddPartitionsToTxnRequest
  const topics = mergedTopics(request.v3AndBelowTopics)
  const answer = (throttleTimeMs: number, code: (topic: string, partition: number) => number) => ({
    throttleTimeMs,
    resultsByTopicV3AndBelow: topics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: forVersion(code(t.name, p), req.version, PRODUCER_FENCED_FROM_VERSION) })),
    })),
  })
  if (request.v3AndBelowTransactionalId === '') return answer(0, () => INVALID_REQUEST)
  const strand = await req.serve(ApiKey.AddPartitionsToTxn, {
    transactionalId: request.v3AndBelowTransactionalId,
    producerId: request.v3AndBelowProducerId,
    producerEpoch: request.v3AndBelowProducerEpoch,
    topics,
  })
  const codes = new Map<string, number>()
  for (const t of strand.results) for (const p of t.results) codes.set(partitionKey(t.name, p.partitionIndex), p.errorCode)
  return answer(strand.throttleTimeMs, (topic, partition) => {
    const code = codes.get(partitionKey(topic, partition))
    // The coordinator and its gate answer every partition they are given.
    if (code === undefined) throw new Error(`AddPartitionsToTxn: no answer for ${topic}-${partition}.`)
    return code
  })
}

// ---------------------------------------------------------------------------------------------
// AddOffsetsToTxn (25) and EndTxn (26), v0-3.

export const kafkaAddOffsetsToTxn: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaAddOffsetsToTxnRequest
  if (request.transactionalId === '') return { throttleTimeMs: 0, errorCode: INVALID_REQUEST }
  const strand = await req.serve(ApiKey.AddOffsetsToTxn, {
    transactionalId: request.transactionalId,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
    groupId: request.groupId,
  })
  return { throttleTimeMs: strand.throttleTimeMs, errorCode: forVersion(strand.errorCode, req.version, PRODUCER_FENCED_FROM_VERSION) }
}

export const kafkaEndTxn: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaEndTxnRequest
  if (request.transactionalId === '') return { throttleTimeMs: 0, errorCode: INVALID_REQUEST }
  const strand = await req.serve(ApiKey.EndTxn, {
    transactionalId: request.transactionalId,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
    committed: request.committed,
    // Kafka's EndTxn up to v3 keeps the producer's epoch across transactions.
    bumpEpoch: false,
  })
  return { throttleTimeMs: strand.throttleTimeMs, errorCode: forVersion(strand.errorCode, req.version, PRODUCER_FENCED_FROM_VERSION) }
}

// ---------------------------------------------------------------------------------------------
// TxnOffsetCommit (28), v0-3.

/** No version of TxnOffsetCommit we serve knows PRODUCER_FENCED. */
const TXN_OFFSET_COMMIT_FENCED_FROM = Infinity

/**
 * Before v3 the request has no generation or member (they decode to -1 and ''), which Strand's
 * coordinator reads as "no member check", as Kafka's does; before v2 no leader epoch (-1).
 */
export const kafkaTxnOffsetCommit: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaTxnOffsetCommitRequest
  const strand = await req.serve(ApiKey.TxnOffsetCommit, {
    transactionalId: request.transactionalId,
    groupId: request.groupId,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
    generationId: request.generationId,
    memberId: request.memberId,
    topics: request.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, committedOffset: p.committedOffset, committedLeaderEpoch: p.committedLeaderEpoch, committedMetadata: p.committedMetadata })),
    })),
  })
  return {
    throttleTimeMs: strand.throttleTimeMs,
    topics: strand.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: forVersion(p.errorCode, req.version, TXN_OFFSET_COMMIT_FENCED_FROM) })),
    })),
  }
}
