// A transaction driven over the Kafka listener with raw Kafka requests, as a Kafka client's
// transactional producer sends them, against a real broker process: FindCoordinator (key type 1)
// names the coordinator at its Kafka port, InitProducerId gives the producer id and epoch,
// AddPartitionsToTxn, Produce of Kafka batches with the transactional attribute (CRC-32C), and
// AddOffsetsToTxn + TxnOffsetCommit for a consumer group, then EndTxn. One transaction commits,
// the next aborts. A Strand consumer at read_committed then sees the committed records only (at
// read_uncommitted, both), and the group's committed offset is the committed transaction's. A
// second InitProducerId fences the first instance: its EndTxn gets PRODUCER_FENCED at v2+ and
// INVALID_PRODUCER_EPOCH at v0-1, as from Kafka's broker. And OffsetsForLeaderEpoch, what a
// consumer validates its position with after a leader change (KIP-320), answers the end of the
// partition's epoch, also to a request naming a replica id (still a consumer's request here).

import t, { type Test } from 'tap'
import { Strand } from '../../client/index.js'
import type { IsolationLevel } from '../../client/consumer/consumer.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { findCoordinatorRequest, findCoordinatorResponse } from '../../client/protocol/kafka/messages/find-coordinator.js'
import { initProducerIdRequest, initProducerIdResponse } from '../../client/protocol/kafka/messages/init-producer-id.js'
import { metadataRequest, metadataResponse } from '../../client/protocol/kafka/messages/metadata.js'
import { offsetsForLeaderEpochRequest, offsetsForLeaderEpochResponse } from '../../client/protocol/kafka/messages/offsets-for-leader-epoch.js'
import { offsetFetchRequest, offsetFetchResponse } from '../../client/protocol/kafka/messages/offsets.js'
import { produceRequest, produceResponse } from '../../client/protocol/kafka/messages/produce.js'
import {
  addOffsetsToTxnRequest,
  addOffsetsToTxnResponse,
  addPartitionsToTxnRequest,
  addPartitionsToTxnResponse,
  endTxnRequest,
  endTxnResponse,
  txnOffsetCommitRequest,
  txnOffsetCommitResponse,
} from '../../client/protocol/kafka/messages/transactions.js'
import type { KafkaStruct, MessageSpec } from '../../client/protocol/kafka/schema.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { strandToKafkaBatches } from '../../broker/kafka/records.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { KafkaWire } from '../helpers/kafka-wire.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'kafka-txn'
const PARTITIONS = [0, 1]
const TRANSACTIONAL_ID = 'kafka-wire-tx'
const GROUP = 'kafka-wire-group'
/** The input topic whose offsets the transactions commit for the group (any topic will do). */
const INPUT = 'kafka-txn-input'
/** Errors a transactional client retries after a backoff: the coordinator is starting, or busy with the previous transaction's markers. */
const RETRIABLE = new Set(['COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS', 'NOT_COORDINATOR', 'CONCURRENT_TRANSACTIONS', 'UNKNOWN_TOPIC_OR_PARTITION'].map((n) => errorCodeOf(n as Parameters<typeof errorCodeOf>[0])))

/** Sends the request until its answer's error codes (`codes` of it) are none retriable; returns that answer. */
async function retried(wire: KafkaWire, request: MessageSpec, response: MessageSpec, version: number, body: KafkaStruct, codes: (res: KafkaStruct) => number[]): Promise<KafkaStruct> {
  return waitFor(
    async () => {
      const res = await wire.request(request, response, version, body)
      return codes(res).some((c) => RETRIABLE.has(c)) ? false : res
    },
    { what: `${request.name} v${version} without a retriable error`, timeoutMs: 30_000, intervalMs: 50 },
  )
}

interface Producer {
  producerId: bigint
  producerEpoch: number
  /** Each partition's next sequence number. */
  sequences: Map<number, number>
}

async function initProducer(wire: KafkaWire): Promise<Producer> {
  const res = await retried(wire, initProducerIdRequest, initProducerIdResponse, 4, { transactionalId: TRANSACTIONAL_ID, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 }, (r) => [r.errorCode as number])
  if (res.errorCode !== 0) throw new Error(`InitProducerId: error ${String(res.errorCode)}`)
  return { producerId: res.producerId as bigint, producerEpoch: res.producerEpoch as number, sequences: new Map() }
}

/** A Kafka batch (CRC-32C) of `values` as a transactional producer writes it: its id, epoch and the partition's next sequence. */
async function transactionalBatch(p: Producer, partition: number, values: string[]): Promise<Buffer> {
  const baseSequence = p.sequences.get(partition) ?? 0
  p.sequences.set(partition, baseSequence + values.length)
  const strand = encodeBatch(values.map((value) => ({ key: value, value })), { timestamp: Date.now(), producerId: p.producerId, producerEpoch: p.producerEpoch, baseSequence, transactional: true })
  return Buffer.concat(await strandToKafkaBatches(strand))
}

type PartitionCodes = Array<{ resultsByPartition: Array<{ partitionErrorCode: number }> }>
type TopicCodes = Array<{ partitions: Array<{ errorCode: number }> }>

/** One transaction: every partition gets `values(partition)`, the group's offset of INPUT-0 is `offset`; then EndTxn(commit or abort). */
async function transaction(t: Test, wire: KafkaWire, p: Producer, values: (partition: number) => string[], offset: bigint, commit: boolean): Promise<void> {
  const txn = { transactionalId: TRANSACTIONAL_ID, producerId: p.producerId, producerEpoch: p.producerEpoch }
  const added = await retried(wire, addPartitionsToTxnRequest, addPartitionsToTxnResponse, 3, {
    v3AndBelowTransactionalId: TRANSACTIONAL_ID,
    v3AndBelowProducerId: p.producerId,
    v3AndBelowProducerEpoch: p.producerEpoch,
    v3AndBelowTopics: [{ name: TOPIC, partitions: PARTITIONS }],
  }, (r) => (r.resultsByTopicV3AndBelow as PartitionCodes).flatMap((x) => x.resultsByPartition.map((y) => y.partitionErrorCode)))
  t.strictSame((added.resultsByTopicV3AndBelow as PartitionCodes).flatMap((x) => x.resultsByPartition.map((y) => y.partitionErrorCode)), [0, 0], 'AddPartitionsToTxn: both partitions join')

  const produced = await wire.request(produceRequest, produceResponse, 9, {
    transactionalId: TRANSACTIONAL_ID,
    acks: -1,
    timeoutMs: 10_000,
    topicData: [{ name: TOPIC, partitionData: await Promise.all(PARTITIONS.map(async (index) => ({ index, records: await transactionalBatch(p, index, values(index)) }))) }],
  })
  const producedCodes = (produced.responses as Array<{ partitionResponses: Array<{ errorCode: number }> }>).flatMap((x) => x.partitionResponses.map((y) => y.errorCode))
  t.strictSame(producedCodes, [0, 0], 'Produce: the transactional batches are appended')

  const addedOffsets = await retried(wire, addOffsetsToTxnRequest, addOffsetsToTxnResponse, 3, { ...txn, groupId: GROUP }, (r) => [r.errorCode as number])
  t.equal(addedOffsets.errorCode, 0, 'AddOffsetsToTxn: the group joins')
  const committed = await retried(wire, txnOffsetCommitRequest, txnOffsetCommitResponse, 3, {
    ...txn,
    groupId: GROUP,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [{ name: INPUT, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] }],
  }, (r) => (r.topics as TopicCodes).flatMap((x) => x.partitions.map((y) => y.errorCode)))
  t.strictSame((committed.topics as TopicCodes).flatMap((x) => x.partitions.map((y) => y.errorCode)), [0], 'TxnOffsetCommit: the offset is pending in the transaction')

  const ended = await retried(wire, endTxnRequest, endTxnResponse, 3, { ...txn, committed: commit }, (r) => [r.errorCode as number])
  t.equal(ended.errorCode, 0, `EndTxn(${commit ? 'commit' : 'abort'})`)
}

/** Every record value of TOPIC, at `isolationLevel`, read by a Strand consumer up to the log's end. */
async function readAll(strand: Strand, isolationLevel: IsolationLevel): Promise<string[]> {
  // The markers follow EndTxn's answer: wait until no transaction is open (the LSO is the HW).
  const ends = await waitFor(async () => {
    const ends: bigint[] = []
    for (const partition of PARTITIONS) {
      const hw = (await strand.admin().listOffsets({ topic: TOPIC, partition, timestamp: 'latest' })).offset
      const lso = (await strand.admin().listOffsets({ topic: TOPIC, partition, timestamp: 'latest', isolationLevel: 'read_committed' })).offset
      if (lso !== hw) return false
      ends.push(hw)
    }
    return ends
  }, { what: 'both transactions to be decided on every partition', timeoutMs: 30_000 })
  const reader = strand.consumer({ isolationLevel, maxWaitMs: 100 })
  reader.assign(PARTITIONS.map((partition) => ({ topic: TOPIC, partition, offset: 'earliest' as const })))
  const seen: string[] = []
  const loop = (async () => {
    for await (const batch of reader) for (const m of batch.messages) seen.push(m.value?.toString() ?? '')
  })()
  try {
    await waitFor(async () => (await reader.lag()).every((l) => l.position !== null && l.position >= ends[l.partition]!), { what: `a ${isolationLevel} reader at the end of ${TOPIC}`, timeoutMs: 30_000 })
  } finally {
    await reader.close()
    await loop
  }
  return seen.sort()
}

t.test('a transaction over the Kafka listener commits, the next aborts; read_committed sees the first only', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'kafka.listener.port': 0, 'transaction.state.log.num.partitions': 3, 'offsets.topic.num.partitions': 3 } })
  const kafkaPort = broker.kafkaPort
  if (kafkaPort === null) throw new Error('the broker reported no Kafka port')
  const strand = new Strand({ brokers: [broker.address], clientId: 'kafka-transactions-test' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS.length, replicationFactor: 1 })
  await strand.admin().createTopic({ topic: INPUT, partitions: 1, replicationFactor: 1 })

  const wire = await KafkaWire.connect(t, kafkaPort)
  const found = await retried(wire, findCoordinatorRequest, findCoordinatorResponse, 3, { key: TRANSACTIONAL_ID, keyType: 1 }, (r) => [r.errorCode as number])
  t.equal(found.errorCode, 0, 'FindCoordinator(transaction): found')
  t.equal(found.port, kafkaPort, 'at its Kafka listener')
  const group = await retried(wire, findCoordinatorRequest, findCoordinatorResponse, 3, { key: GROUP, keyType: 0 }, (r) => [r.errorCode as number])
  t.equal(group.errorCode, 0, 'FindCoordinator(group): found')

  const producer = await initProducer(wire)
  t.ok(producer.producerId >= 0n, `InitProducerId: producer ${producer.producerId} epoch ${producer.producerEpoch}`)
  await t.test('the committed transaction', (t) => transaction(t, wire, producer, (p) => [`committed-${p}-a`, `committed-${p}-b`], 42n, true))
  await t.test('the aborted transaction', (t) => transaction(t, wire, producer, (p) => [`aborted-${p}`], 99n, false))

  const committed = PARTITIONS.flatMap((p) => [`committed-${p}-a`, `committed-${p}-b`]).sort()
  t.strictSame(await readAll(strand, 'read_committed'), committed, 'read_committed: the committed transaction\'s records, none of the aborted one\'s')
  t.strictSame(await readAll(strand, 'read_uncommitted'), [...committed, ...PARTITIONS.map((p) => `aborted-${p}`)].sort(), 'read_uncommitted: both (the aborted records are in the log)')

  const offsets = await waitFor(async () => {
    const res = await wire.request(offsetFetchRequest, offsetFetchResponse, 7, { groupId: GROUP, topics: [{ name: INPUT, partitionIndexes: [0] }], requireStable: true })
    const p = (res.topics as Array<{ partitions: Array<{ errorCode: number; committedOffset: bigint }> }>)[0]?.partitions[0]
    return p === undefined || p.errorCode === errorCodeOf('UNSTABLE_OFFSET_COMMIT') ? false : p
  }, { what: 'the group\'s offsets to be stable', timeoutMs: 30_000 })
  t.strictSame(offsets, { ...offsets, errorCode: 0, committedOffset: 42n }, 'the group\'s offset is the committed transaction\'s (42), not the aborted one\'s (99)')

  // A second instance fences the first: the old epoch's EndTxn is refused, in each version's words.
  const fenced = { transactionalId: TRANSACTIONAL_ID, producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed: true }
  const successor = await initProducer(wire)
  t.ok(successor.producerEpoch > producer.producerEpoch, 'InitProducerId again bumps the epoch')
  for (const v of [0, 1, 2, 3]) {
    const res = await wire.request(endTxnRequest, endTxnResponse, v, fenced)
    t.equal(res.errorCode, v < 2 ? errorCodeOf('INVALID_PRODUCER_EPOCH') : errorCodeOf('PRODUCER_FENCED'), `EndTxn v${v} from the fenced instance`)
  }

  // The partition's epoch as a Kafka client learns it (Metadata), then where it ends: the log end.
  const metadata = await wire.request(metadataRequest, metadataResponse, 12, { topics: [{ topicId: Buffer.alloc(16), name: TOPIC }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false })
  const leaderEpoch = (metadata.topics as Array<{ partitions: Array<{ partitionIndex: number; leaderEpoch: number }> }>)[0]!.partitions.find((p) => p.partitionIndex === 0)!.leaderEpoch
  const logEnd = (await strand.admin().listOffsets({ topic: TOPIC, partition: 0, timestamp: 'logEnd' })).offset
  for (const [v, replicaId] of [[2, -1], [3, -1], [4, -1], [4, 1]] as const) {
    const res = await wire.request(offsetsForLeaderEpochRequest, offsetsForLeaderEpochResponse, v, { replicaId, topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: leaderEpoch, leaderEpoch }] }] })
    const p = (res.topics as Array<{ partitions: KafkaStruct[] }>)[0]?.partitions[0]
    t.strictSame(p, { errorCode: 0, partition: 0, leaderEpoch, endOffset: logEnd }, `OffsetsForLeaderEpoch v${v} replica id ${replicaId}: epoch ${leaderEpoch} ends at the log end, ${logEnd}`)
  }
})
