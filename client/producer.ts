// The producer: send() places records in per-partition batches (accumulator.ts); a sender sends
// each leader one Produce request carrying every ready partition it leads, and settles each
// batch from its own partition's outcome.
//
// Retries (kafkajs got this wrong): only the partitions that failed with a retriable error are
// sent again, never those that succeeded, and a retried batch is re-sent before anything sent
// after it (accumulator.ts), so per-partition order holds.
//
// Idempotence (KIP-98, on by default with acks=all): the producer gets a producer id from any
// broker (InitProducerId) before its first send, and stamps it with a per-partition sequence
// into every batch. The leader keeps its producers' last 5 batches per partition: a retry of one
// of them (its acknowledgement was lost with a connection, a timeout, a leader change) is
// answered with the original offset instead of being appended again, so retries never
// duplicate; a batch whose sequence does not follow the last appended one is refused
// (OUT_OF_ORDER_SEQUENCE_NUMBER), which is what keeps order with up to 5 batches per partition
// in flight. Such a refusal while an earlier batch of the partition is still unsettled only means
// that one has not landed yet: the batch is re-sent after it. Otherwise (and on
// UNKNOWN_PRODUCER_ID) the leader has lost track of the producer's sequence: the batch fails,
// saying its records may or may not be in the log, and the producer takes a new producer id,
// whose sequences start again at 0 on every partition. So does any failure for good of a batch
// that was sent, since the hole it may leave in the sequence would stall the partition.
//
// Without idempotence, a retry after a lost response may duplicate a batch; that is inherent to
// at-least-once delivery, and why retries are bounded (`retries`). And since nothing refuses the
// batches sent after one that failed, a retried batch lands after them when more than one batch of
// its partition is in flight (maxInflightPerPartition, default 5 as Kafka's
// max.in.flight.requests.per.connection): 1 keeps strict per-partition order under retries.
//
// The per-record path (send() -> #append -> Accumulator.append, and back from the batches'
// outcomes) runs about a million times a second, so the only object it makes per record is the
// RecordMetadata it answers with: a call's records are checked into columns (CheckedRecords) and
// written straight into their batch's bytes, where they went is kept as runs per batch
// (Placement), and the sticky partitioner learns of closed batches from the accumulator.
//
// Memory is bounded by bufferBytesMax: each record reserves its size until its batch completes,
// and send() waits for room (backpressure) instead of growing the buffer.

import { ApiKey } from './protocol/apis.js'
import type { ProduceRequest, ProduceResponse } from './protocol/messages/produce.js'
import { BATCH_HEADER_BYTES, NO_HEADERS, recordPayloadBytes, type Compression, type RecordHeader } from './protocol/records.js'
import { Accumulator, ByteBudget, INFLIGHT_PER_PARTITION_MAX, recordBytesMax, type AccumulatedRecord, type ProducerBatch, type ProducerIdentity } from './accumulator.js'
import { backoffMs, needsMetadataRefresh, type Cluster, type RetryOptions } from './cluster.js'
import { ClosedError, IllegalStateError, InvalidArgumentError, isRetriable, RecordTooLargeError, StrandError, StrandProtocolError, wireError } from './errors.js'
import { partitionForKey, StickyPartitioner } from './partitioner.js'
import type { CoordinatorConnectionOptions } from './group/coordinator.js'
import type { CommitOffset, Consumer, ConsumerBatch } from './consumer.js'
import { fencedError, TRANSACTION_TIMEOUT_MS_DEFAULT, TransactionManager } from './transactions.js'
import { Wakeup } from './wakeup.js'

/** The coordinator connection of a producer made without a Strand client's settings (tests). */
function COORDINATOR_CONNECTION_DEFAULTS(requestTimeoutMs: number): CoordinatorConnectionOptions {
  return { clientId: null, connectTimeoutMs: 10_000, requestTimeoutMs, inflightRequestsMax: 4, frameBytesMax: 16 * 1024 * 1024 }
}

export type Acks = 0 | 1 | -1 | 'all'

export interface ProducerOptions {
  /** 'all' (-1, the default): the whole ISR has the records; 1: the leader has; 0: no answer at all. */
  acks?: Acks
  /** How long the leader may wait for the ISR (acks=all) before answering REQUEST_TIMED_OUT. */
  timeoutMs?: number
  /** How long a batch waits for more records; 0 sends at the end of the current tick. */
  lingerMs?: number
  /** A partition's batch is closed once it reaches this (uncompressed) size. */
  batchBytes?: number
  /** Records held (queued or in flight) at most; send() waits when full. */
  bufferBytesMax?: number
  /** Largest Produce request; also bounds a single record. */
  requestBytesMax?: number
  compression?: Compression
  /** Retries of a batch after a retriable failure (defaults to the client's retry.retriesMax). */
  retries?: number
  /**
   * Idempotent producing: retries never duplicate a record, even when the acknowledgement of an
   * appended batch is lost. Default true with acks 'all', false otherwise; it needs acks 'all'
   * (with acks 1 a leader change can lose acknowledged batches, and with them the sequence).
   */
  idempotent?: boolean
  /**
   * Batches of one partition in flight at once, 1 to 5; default 5, as Kafka's
   * max.in.flight.requests.per.connection (with idempotence, 5 is also the most a leader
   * deduplicates). Without idempotence, above 1 a retried batch may land after batches sent after
   * it, reordering the partition (as in Kafka); 1 keeps strict order under retries.
   */
  maxInflightPerPartition?: number
  /**
   * Makes the producer transactional (KIP-98): sends happen inside transactions
   * (beginTransaction / commitTransaction / abortTransaction, or transaction(fn)), committed or
   * aborted atomically over every partition they wrote. Implies idempotence and acks 'all'. A
   * second producer with the same id fences this one (PRODUCER_FENCED).
   */
  transactionalId?: string
  /** How long a transaction may stay open before the coordinator aborts it; default 60000 (Kafka's). */
  transactionTimeoutMs?: number
}

/** What a transaction(fn) callback sends with. */
export interface TransactionScope {
  send(record: ProducerRecord): Promise<RecordMetadata[]>
  sendSettled(record: ProducerRecord): Promise<SendOutcome[]>
  /**
   * Adds a consumer's offsets to the transaction (exactly-once consume-transform-produce): they
   * are committed to its group if and only if the transaction commits.
   */
  sendOffsets(options: TransactionOffsets): Promise<void>
}

/** What sendOffsets() commits with the transaction. */
export interface TransactionOffsets {
  /** The consumer (with a groupId) whose progress this is; its member and generation go along (KIP-447). */
  consumer: Consumer
  /** As commit() takes them: a batch it handed out, or offsets of the next records to read; default its position on every assigned partition. */
  offsets?: ConsumerBatch | readonly CommitOffset[]
}

export type Headers = Record<string, Buffer | string> | RecordHeader[]

export interface Message {
  key?: Buffer | string | null
  value: Buffer | string | null
  headers?: Headers
  /** Chosen by the partitioner when absent. */
  partition?: number
  /** Milliseconds since the epoch; the producer's clock when absent. */
  timestamp?: number | bigint
}

export interface ProducerRecord {
  topic: string
  messages: Message[]
}

export interface RecordMetadata {
  topic: string
  partition: number
  /** The record's offset; -1n with acks=0 (the broker does not say). */
  offset: bigint
}

/** One message's outcome, from sendSettled(). */
export type SendOutcome = ({ ok: true } & RecordMetadata) | { ok: false; topic: string; partition: number; error: Error }

/** What the producer needs from the client that creates it. */
export interface ProducerContext {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
  onClose?: () => void
  /** Settings of the transaction coordinator's connection (a transactional producer's). */
  coordinatorConnection?: CoordinatorConnectionOptions
}

const DEFAULTS = {
  acks: -1,
  timeoutMs: 30_000,
  lingerMs: 5,
  batchBytes: 16_384,
  // Kafka's buffer.memory.
  bufferBytesMax: 32 * 1024 * 1024,
  // Kafka's max.request.size.
  requestBytesMax: 1024 * 1024,
  compression: 'none',
} as const

/** Sent in a non-transactional InitProducerId, where the broker ignores it. */
const TRANSACTION_TIMEOUT_MS = TRANSACTION_TIMEOUT_MS_DEFAULT

/** Room in a Produce request for the header, client id and fixed fields. */
const REQUEST_FIXED_BYTES = 1024
/** Room per partition entry (index, length prefix) on top of the batch and topic name. */
const PARTITION_ENTRY_BYTES = 16

interface Resolved {
  acks: -1 | 0 | 1
  timeoutMs: number
  lingerMs: number
  batchBytes: number
  bufferBytesMax: number
  requestBytesMax: number
  compression: Compression
  retries: number
  retry: RetryOptions
  idempotent: boolean
  maxInflightPerPartition: number
  transactionalId: string | null
  transactionTimeoutMs: number
}

/** In a send() call's partition choices: the record is unkeyed, for the sticky partitioner. */
const STICKY = -1

/**
 * One send() call's records, checked before any is placed and kept as columns (an array per field,
 * indexed by message) rather than an object per record: at a million records a second, record
 * objects and their boxed timestamps were most of the producer's garbage. Keys, values and headers
 * are taken from the messages once, so a message changed while the call waits for buffer room
 * changes nothing.
 */
class CheckedRecords {
  readonly keys: Array<Buffer | string | null>
  readonly values: Array<Buffer | string | null>
  readonly headers: Array<readonly RecordHeader[]>
  /** Milliseconds since the epoch. */
  readonly timestamps: Float64Array
  /** recordPayloadBytes() of each record. */
  readonly payloadBytes: Int32Array
  /** Explicit, from the key, or STICKY. */
  readonly partitions: Int32Array

  constructor(count: number) {
    this.keys = new Array(count)
    this.values = new Array(count)
    this.headers = new Array(count)
    this.timestamps = new Float64Array(count)
    this.payloadBytes = new Int32Array(count)
    this.partitions = new Int32Array(count)
  }

  /** Refills `into` with record i, for the accumulator (which writes it out at once). */
  load(i: number, into: RecordSlot): RecordSlot {
    into.key = this.keys[i] as Buffer | string | null
    into.value = this.values[i] as Buffer | string | null
    into.headers = this.headers[i] as readonly RecordHeader[]
    into.timestamp = this.timestamps[i] as number
    into.payloadBytes = this.payloadBytes[i] as number
    return into
  }
}

/** An AccumulatedRecord refilled for each append of a call. */
type RecordSlot = { -readonly [K in keyof AccumulatedRecord]: AccumulatedRecord[K] }

/**
 * Where one send() call's messages went, as runs in message order: run r is counts[r] messages
 * placed at consecutive indexes of batches[r], from firstIndexes[r] on. Unkeyed messages fill one
 * batch after another, so a call of 1,000 of them is a few runs rather than 1,000 objects held
 * until the call settles (keyed ones spread over partitions make shorter runs).
 */
class Placement {
  readonly batches: ProducerBatch[] = []
  readonly firstIndexes: number[] = []
  readonly counts: number[] = []
  /** Messages placed. */
  size = 0

  add(batch: ProducerBatch, index: number): void {
    const last = this.batches.length - 1
    this.size++
    if (last >= 0 && this.batches[last] === batch && (this.firstIndexes[last] as number) + (this.counts[last] as number) === index) {
      this.counts[last] = (this.counts[last] as number) + 1
      return
    }
    this.batches.push(batch)
    this.firstIndexes.push(index)
    this.counts.push(1)
  }

  /**
   * Visits the messages in order, once settled, with their batch and offset: -1n when the broker
   * gave none (acks=0, or the batch failed). One bigint per message: each is the previous plus 1.
   */
  forEach(visit: (batch: ProducerBatch, offset: bigint) => void): void {
    for (let r = 0; r < this.batches.length; r++) {
      const batch = this.batches[r] as ProducerBatch
      const base = batch.baseOffset
      let offset = base === null || base < 0n ? -1n : base + BigInt(this.firstIndexes[r] as number)
      for (let k = this.counts[r] as number; k > 0; k--) {
        visit(batch, offset)
        if (offset >= 0n) offset += 1n
      }
    }
  }

  /** Resolves once every batch holding these messages is settled (a batch may appear in several runs). */
  async settled(): Promise<void> {
    for (const b of this.batches) if (!b.settled) await b.completed
  }
}

function nonNegativeInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${v}.`)
  return v
}

function resolveAcks(acks: Acks | undefined): -1 | 0 | 1 {
  if (acks === undefined || acks === 'all' || acks === -1) return -1
  if (acks === 0 || acks === 1) return acks
  throw new InvalidArgumentError(`acks must be 0, 1, -1 or 'all', got ${String(acks)}.`)
}

function resolveIdempotence(o: ProducerOptions, acks: -1 | 0 | 1): { idempotent: boolean; maxInflightPerPartition: number } {
  if (o.transactionalId !== undefined) {
    if (typeof o.transactionalId !== 'string' || o.transactionalId.length === 0) throw new InvalidArgumentError('transactionalId must be a non-empty string.')
    if (acks !== -1) throw new InvalidArgumentError(`A transactional producer needs acks 'all', got acks ${acks}.`)
    if (o.idempotent === false) throw new InvalidArgumentError('A transactional producer is idempotent; idempotent: false contradicts transactionalId.')
  }
  const idempotent = o.idempotent ?? acks === -1
  if (typeof idempotent !== 'boolean') throw new InvalidArgumentError(`idempotent must be a boolean, got ${String(idempotent)}.`)
  if (idempotent && acks !== -1) throw new InvalidArgumentError(`idempotent needs acks 'all', got acks ${acks}.`)
  // Kafka's default regardless of idempotence; without it, above 1 a retry may reorder (see the header).
  const max = o.maxInflightPerPartition ?? INFLIGHT_PER_PARTITION_MAX
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError(`maxInflightPerPartition must be a positive integer, got ${max}.`)
  if (max > INFLIGHT_PER_PARTITION_MAX) {
    throw new InvalidArgumentError(
      `maxInflightPerPartition ${max} is above ${INFLIGHT_PER_PARTITION_MAX} (Kafka's bound, and the batches per partition a leader remembers to recognise idempotent retries).`,
    )
  }
  return { idempotent, maxInflightPerPartition: max }
}

function resolveOptions(o: ProducerOptions, retry: RetryOptions): Resolved {
  const compression = o.compression ?? DEFAULTS.compression
  if (!['none', 'gzip', 'deflate', 'brotli'].includes(compression)) throw new InvalidArgumentError(`Unknown compression "${compression}".`)
  const acks = resolveAcks(o.acks)
  const r: Resolved = {
    acks,
    timeoutMs: nonNegativeInt('timeoutMs', o.timeoutMs, DEFAULTS.timeoutMs),
    lingerMs: nonNegativeInt('lingerMs', o.lingerMs, DEFAULTS.lingerMs),
    batchBytes: nonNegativeInt('batchBytes', o.batchBytes, DEFAULTS.batchBytes),
    bufferBytesMax: nonNegativeInt('bufferBytesMax', o.bufferBytesMax, DEFAULTS.bufferBytesMax),
    requestBytesMax: nonNegativeInt('requestBytesMax', o.requestBytesMax, DEFAULTS.requestBytesMax),
    compression,
    retries: nonNegativeInt('retries', o.retries, retry.retriesMax),
    retry,
    ...resolveIdempotence(o, acks),
    transactionalId: o.transactionalId ?? null,
    transactionTimeoutMs: o.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS_DEFAULT,
  }
  if (!Number.isInteger(r.transactionTimeoutMs) || r.transactionTimeoutMs <= 0) throw new InvalidArgumentError(`transactionTimeoutMs must be a positive integer, got ${r.transactionTimeoutMs}.`)
  if (r.requestBytesMax <= REQUEST_FIXED_BYTES + BATCH_HEADER_BYTES) throw new InvalidArgumentError(`requestBytesMax ${r.requestBytesMax} is too small.`)
  // A batch is never split across requests, so one full batch must fit a request.
  if (r.batchBytes > r.requestBytesMax - REQUEST_FIXED_BYTES) {
    throw new InvalidArgumentError(`batchBytes ${r.batchBytes} does not fit a request of requestBytesMax ${r.requestBytesMax}; raise requestBytesMax or lower batchBytes.`)
  }
  return r
}

function normalizeHeaders(h: Headers | undefined): readonly RecordHeader[] {
  if (h === undefined) return NO_HEADERS
  if (Array.isArray(h)) return h
  return Object.entries(h).map(([key, value]) => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value }))
}

/** The leader refused a batch's sequence: it was not appended (this time). */
function isSequenceRefusal(err: Error): err is StrandProtocolError {
  return err instanceof StrandProtocolError && (err.code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || err.code === 'UNKNOWN_PRODUCER_ID')
}

/** The error a batch fails with when its leader lost track of the producer's sequence. */
function lostSequence(b: ProducerBatch, err: StrandProtocolError): StrandProtocolError {
  return new StrandProtocolError(
    err.code,
    `${b.topic}-${b.partition}: the leader refused sequence ${b.baseSequence} of producer ${b.producerId} with no earlier batch of it pending, ` +
      `so it has lost track of this producer's sequence. The batch's ${b.recordCount} records may or may not be in the log ` +
      `(an earlier attempt may have been appended); the producer goes on with a new producer id.`,
    err,
  )
}

function isPayload(v: unknown): v is Buffer | string | null {
  return v === null || typeof v === 'string' || v instanceof Buffer
}

/**
 * One Produce body for batches that all go to the same broker, grouped by topic. Each partition
 * carries the leader epoch the metadata gives it, the same metadata that chose the broker, so a
 * broker that leads it at another epoch refuses the batch instead of appending it (KIP-320;
 * Produce v1, dropped when the broker speaks only v0).
 */
function produceBody(batches: readonly ProducerBatch[], acks: number, timeoutMs: number, cluster: Cluster, transactionalId: string | null): ProduceRequest {
  const byTopic = new Map<string, ProduceRequest['topics'][number]>()
  for (const b of batches) {
    let t = byTopic.get(b.topic)
    if (t === undefined) {
      t = { name: b.topic, partitions: [] }
      byTopic.set(b.topic, t)
    }
    t.partitions.push({ index: b.partition, currentLeaderEpoch: cluster.cachedLeaderEpoch(b.topic, b.partition), records: b.encoded as Buffer })
  }
  return { transactionalId, acks, timeoutMs, topics: [...byTopic.values()] }
}

type PartitionResponse = ProduceResponse['topics'][number]['partitions'][number]

function responsesByPartition(res: ProduceResponse): Map<string, PartitionResponse> {
  const m = new Map<string, PartitionResponse>()
  for (const t of res.topics) for (const p of t.partitions) m.set(`${t.name}\u0000${p.index}`, p)
  return m
}

export class Producer {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #onClose: (() => void) | undefined
  readonly #o: Resolved
  /** The largest record (its reservation, recordSizeBytesMax) that a request and the buffer can hold. */
  readonly #recordBytesMax: number
  readonly #accumulator: Accumulator
  readonly #budget: ByteBudget
  readonly #sticky = new StickyPartitioner()
  /** The end of the append chain: sends are placed one after another, in call order. */
  #tail: Promise<unknown> = Promise.resolve()
  /** Batches created and not yet settled: what flush() waits for. */
  readonly #incomplete = new Set<ProducerBatch>()
  /** flush() calls in progress: while any, batches are sent without lingering. */
  #flushing = 0
  #drainScheduled = false
  /** Wakes the loop at the earliest time it asked for (client/wakeup.ts). */
  readonly #wakeup: Wakeup
  /** A metadata refresh started by the sender is in flight. */
  #refreshing = false
  /** Refreshes that failed in a row, and when the next may start: brokers that are down are not hammered. */
  #refreshFailures = 0
  #refreshAtMs = 0
  /** The id, epoch and sequences' owner stamped into new batches; null before InitProducerId answers and after a reset. */
  #identity: ProducerIdentity | null = null
  /** InitProducerId in flight. */
  #initializing = false
  /** InitProducerId calls that failed in a row (each after the cluster's retries), and when the next may start. */
  #initFailures = 0
  #initAtMs = 0
  #closed = false
  #closePromise: Promise<void> | null = null
  /** A transactional producer's transaction state (its coordinator, epoch, partitions); null otherwise. */
  readonly #txn: TransactionManager | null

  constructor(context: ProducerContext, options: ProducerOptions = {}) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#wakeup = new Wakeup(this.#clock, () => this.#drain())
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#onClose = context.onClose
    this.#o = resolveOptions(options, context.cluster.retryOptions)
    this.#recordBytesMax = Math.min(this.#o.requestBytesMax - REQUEST_FIXED_BYTES, this.#o.bufferBytesMax) - BATCH_HEADER_BYTES
    this.#accumulator = new Accumulator({
      batchBytes: this.#o.batchBytes,
      lingerMs: this.#o.lingerMs,
      inflightPerPartitionMax: this.#o.maxInflightPerPartition,
      idempotent: this.#o.idempotent,
      transactional: this.#o.transactionalId !== null,
      // Whether full or taken for sending, a closed batch moves unkeyed records on to another partition.
      onBatchClosed: (b) => this.#sticky.batchClosed(b.topic, b.partition),
    })
    this.#budget = new ByteBudget(this.#o.bufferBytesMax)
    this.#txn = this.#o.transactionalId === null
      ? null
      : new TransactionManager({
          cluster: this.#cluster,
          transactionalId: this.#o.transactionalId,
          transactionTimeoutMs: this.#o.transactionTimeoutMs,
          connection: context.coordinatorConnection ?? COORDINATOR_CONNECTION_DEFAULTS(this.#requestTimeoutMs),
          onChange: () => this.#wake(),
          onDoomed: (err) => {
            for (const b of this.#accumulator.removeUnsent()) this.#settle(b, err)
          },
        })
  }

  // -------------------------------------------------------------------------------------------
  // Transactions (transactionalId set)

  #transactions(what: string): TransactionManager {
    if (this.#txn === null) throw new IllegalStateError(`${what} needs a transactional producer (the transactionalId option).`)
    return this.#txn
  }

  /**
   * Gets this transactional id's producer id and a new epoch from its coordinator: an earlier
   * producer with the same id is fenced from now on, and its open transaction is aborted.
   */
  async initTransactions(): Promise<void> {
    const txn = this.#transactions('initTransactions()')
    await txn.init()
    this.#identity = txn.identity
    this.#wake()
  }

  /** Opens a transaction: sends from now until commit or abort belong to it. */
  beginTransaction(): void {
    if (this.#closed) throw new ClosedError('producer')
    this.#transactions('beginTransaction()').begin()
  }

  /**
   * Sends every record of the transaction (waiting for their acknowledgements), then commits it:
   * consumers reading committed records see all of them, on every partition. Throws if a record
   * failed (the transaction can then only be aborted) or the producer was fenced.
   */
  async commitTransaction(): Promise<void> {
    const txn = this.#transactions('commitTransaction()')
    if (txn.state === 'fatal') throw txn.fatalError as Error
    if (txn.state !== 'inTransaction') throw new IllegalStateError(`commitTransaction() with no open transaction (${txn.state}).`)
    txn.state = 'committing'
    try {
      await this.#flushTransaction(txn)
      if (txn.fatalError !== null) throw txn.fatalError
      if (txn.abortableError !== null) {
        throw new IllegalStateError(`The transaction cannot commit: a send in it failed (${txn.abortableError.message}); abort it.`)
      }
      await txn.end(true)
    } finally {
      if (txn.state === 'committing') txn.state = 'inTransaction'
    }
  }

  /** Aborts the transaction: consumers reading committed records never see its records. */
  async abortTransaction(): Promise<void> {
    const txn = this.#transactions('abortTransaction()')
    if (txn.state === 'fatal') throw txn.fatalError as Error
    if (txn.state !== 'inTransaction' && txn.state !== 'committing') throw new IllegalStateError(`abortTransaction() with no open transaction (${txn.state}).`)
    txn.state = 'aborting'
    try {
      // Batches already sent must be settled before the markers: a batch landing after the abort
      // marker would belong to no transaction.
      await this.#flushTransaction(txn)
      await txn.end(false)
    } finally {
      if (txn.state === 'aborting') txn.state = 'inTransaction'
    }
  }

  /**
   * Adds offsets to the open transaction (Kafka's sendOffsetsToTransaction, KIP-98 / KIP-447):
   * the group commits them if and only if the transaction commits, so what a consume-transform-
   * produce loop read and what it wrote land together or not at all. `offsets` as the consumer's
   * commit() takes them (a batch needs the consumer that handed it out). With a consumer, its
   * member id and generation go along and the group coordinator checks them (a processor evicted
   * from the group cannot commit); with a group id alone, they are not checked. A failure leaves
   * the transaction able only to abort (or, fenced, the producer unusable).
   */
  async sendOffsetsToTransaction(offsets: ConsumerBatch | readonly CommitOffset[], consumerOrGroupId: Consumer | string): Promise<void> {
    const txn = this.#transactions('sendOffsetsToTransaction()')
    if (txn.state === 'fatal') throw txn.fatalError as Error
    if (typeof consumerOrGroupId !== 'string') {
      const { groupId, generationId, memberId, offsets: list } = consumerOrGroupId.transactionOffsets(offsets)
      return txn.sendOffsets({ groupId, generationId, memberId }, list)
    }
    if (consumerOrGroupId.length === 0) throw new InvalidArgumentError('sendOffsetsToTransaction() needs a non-empty group id.')
    if (!Array.isArray(offsets)) throw new InvalidArgumentError('sendOffsetsToTransaction(batch, groupId): a batch needs the consumer that handed it out; pass the consumer, or [{ topic, partition, offset }].')
    const list = offsets as readonly CommitOffset[]
    for (const o of list) {
      if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || typeof o.offset !== 'bigint' || o.offset < 0n) {
        throw new InvalidArgumentError(`Not an offset to commit: ${JSON.stringify({ topic: o?.topic, partition: o?.partition, offset: String(o?.offset) })}.`)
      }
    }
    return txn.sendOffsets({ groupId: consumerOrGroupId, generationId: -1, memberId: '' }, list)
  }

  async #flushTransaction(txn: TransactionManager): Promise<void> {
    await this.flush()
    await txn.settled()
    await this.flush()
  }

  /**
   * Runs `fn` in a transaction (initializing the producer first if needed): committed when `fn`
   * resolves, aborted when it throws (then its error is rethrown).
   */
  async transaction<T>(fn: (tx: TransactionScope) => Promise<T>): Promise<T> {
    const txn = this.#transactions('transaction()')
    if (txn.state === 'uninitialized') await this.initTransactions()
    this.beginTransaction()
    const scope: TransactionScope = {
      send: (r) => this.send(r),
      sendSettled: (r) => this.sendSettled(r),
      sendOffsets: (o) => this.sendOffsetsToTransaction(o.offsets ?? [...o.consumer.transactionOffsets().offsets], o.consumer),
    }
    let result: T
    try {
      result = await fn(scope)
    } catch (err) {
      if (txn.state !== 'fatal') await this.abortTransaction().catch(() => undefined)
      throw err
    }
    try {
      await this.commitTransaction()
    } catch (err) {
      if (txn.state !== 'fatal' && txn.state === 'inTransaction') await this.abortTransaction().catch(() => undefined)
      throw err
    }
    return result
  }

  /**
   * Sends the messages and resolves with acks[i] for messages[i]. It settles only when every
   * message has its outcome; if any failed, it rejects with the first failed message's error
   * (its typed `code`, e.g. NOT_ENOUGH_REPLICAS), though other messages may have been written.
   * To know exactly which, and retry only those, use sendSettled().
   */
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    const placement = await this.#accept(record)
    await placement.settled()
    // Runs are in message order, so this is the first failed message's error.
    for (const batch of placement.batches) if (batch.error !== null) throw batch.error
    const topic = record.topic
    const acks: RecordMetadata[] = new Array(placement.size)
    let i = 0
    placement.forEach((batch, offset) => {
      acks[i++] = { topic, partition: batch.partition, offset }
    })
    return acks
  }

  /**
   * Sends the messages and resolves with every message's outcome. Rejects only when nothing was
   * sent: closed producer, invalid message, unknown topic.
   */
  async sendSettled(record: ProducerRecord): Promise<SendOutcome[]> {
    const placement = await this.#accept(record)
    await placement.settled()
    const topic = record.topic
    const outcomes: SendOutcome[] = new Array(placement.size)
    let i = 0
    placement.forEach((batch, offset) => {
      const error = batch.error
      outcomes[i++] = error === null ? { ok: true, topic, partition: batch.partition, offset } : { ok: false, topic, partition: batch.partition, error }
    })
    return outcomes
  }

  /** Places the call's messages after every earlier call's (send order is call order). */
  #accept(record: ProducerRecord): Promise<Placement> {
    if (this.#closed) return Promise.reject(new ClosedError('producer'))
    if (this.#txn !== null && this.#txn.state !== 'inTransaction') {
      if (this.#txn.state === 'fatal') return Promise.reject(this.#txn.fatalError as Error)
      return Promise.reject(new IllegalStateError(`send() of a transactional producer outside a transaction (${this.#txn.state}): call beginTransaction() first.`))
    }
    if (typeof record?.topic !== 'string' || !Array.isArray(record.messages)) {
      return Promise.reject(new InvalidArgumentError('send() takes { topic: string, messages: Message[] }.'))
    }
    const turn = this.#tail.then(() => this.#append(record))
    this.#tail = turn.catch(() => undefined)
    return turn
  }

  /** Waits until every message accepted before this call is acknowledged or has failed. */
  async flush(): Promise<void> {
    this.#flushing++
    try {
      await this.#tail
      const pending = [...this.#incomplete].map((b) => b.done.catch(() => undefined))
      this.#wake()
      await Promise.all(pending)
    } finally {
      this.#flushing--
    }
  }

  /** Refuses new sends, flushes everything accepted, then closes the connections. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close()
    return this.#closePromise
  }

  async #close(): Promise<void> {
    this.#closed = true
    try {
      await this.flush()
    } finally {
      this.#wakeup.cancel()
      this.#txn?.close()
      this.#cluster.close()
      this.#onClose?.()
    }
  }

  // -------------------------------------------------------------------------------------------
  // Accepting records

  async #append(record: ProducerRecord): Promise<Placement> {
    const placement = new Placement()
    const messages = record.messages
    if (messages.length === 0) return placement
    const topic = record.topic
    const numPartitions = (await this.#cluster.topic(topic)).partitions.length
    // Everything is checked before anything is placed, so a bad message leaves no half-sent call.
    // One clock reading stamps the call's records without a timestamp, and dates its new batches.
    let nowMs = this.#clock()
    const checked = new CheckedRecords(messages.length)
    for (let i = 0; i < messages.length; i++) this.#check(messages[i] as Message, i, nowMs, numPartitions, checked)
    const slot: RecordSlot = { key: null, value: null, headers: NO_HEADERS, timestamp: 0, payloadBytes: 0 }
    for (let i = 0; i < messages.length; i++) {
      const r = checked.load(i, slot)
      const reserveBytes = recordBytesMax(r.payloadBytes)
      if (!this.#budget.tryAcquire(reserveBytes)) {
        this.#wake()
        await this.#budget.acquire(reserveBytes)
        nowMs = this.#clock()
      }
      const partition = checked.partitions[i] as number
      const batch = partition === STICKY ? this.#appendSticky(topic, numPartitions, r, reserveBytes, nowMs) : this.#accumulator.append(topic, partition, r, reserveBytes, nowMs)
      const index = batch.recordCount - 1
      if (index === 0) this.#incomplete.add(batch)
      // A new batch must be looked at (it may linger), and a closed one sent.
      if (index === 0 || batch.closed) this.#wake()
      placement.add(batch, index)
    }
    return placement
  }

  /**
   * Appends an unkeyed record to its topic's sticky partition. If that partition's open batch
   * cannot take it, the accumulator closes the batch (which moves the sticky choice on) and the
   * record goes to the next sticky partition.
   */
  #appendSticky(topic: string, numPartitions: number, record: AccumulatedRecord, reserveBytes: number, nowMs: number): ProducerBatch {
    const batch = this.#accumulator.tryAppend(topic, this.#sticky.partition(topic, numPartitions), record, reserveBytes, nowMs)
    if (batch !== null) return batch
    this.#wake()
    return this.#accumulator.append(topic, this.#sticky.partition(topic, numPartitions), record, reserveBytes, nowMs)
  }

  /** Checks message i and puts it in `into`; throws on anything that could not be sent. */
  #check(m: Message, i: number, nowMs: number, numPartitions: number, into: CheckedRecords): void {
    const key = m.key ?? null
    const value = m.value
    if (!isPayload(key) || !isPayload(value)) throw new InvalidArgumentError(`messages[${i}]: key and value must be a Buffer, a string or null.`)
    if (m.partition !== undefined && (!Number.isInteger(m.partition) || m.partition < 0 || m.partition >= numPartitions)) {
      throw new InvalidArgumentError(`messages[${i}]: partition ${m.partition} is not in 0..${numPartitions - 1}.`)
    }
    const timestamp = m.timestamp === undefined ? nowMs : Number(m.timestamp)
    if (!Number.isSafeInteger(timestamp)) throw new InvalidArgumentError(`messages[${i}]: timestamp ${String(m.timestamp)} is not an integer of ms.`)
    const headers = normalizeHeaders(m.headers)
    const payloadBytes = recordPayloadBytes(key, value, headers)
    const reserveBytes = recordBytesMax(payloadBytes)
    if (reserveBytes > this.#recordBytesMax) {
      throw new RecordTooLargeError(`messages[${i}] takes ${reserveBytes} bytes; requestBytesMax and bufferBytesMax allow ${this.#recordBytesMax}.`)
    }
    into.keys[i] = key
    into.values[i] = value
    into.headers[i] = headers
    into.timestamps[i] = timestamp
    into.payloadBytes[i] = payloadBytes
    into.partitions[i] = m.partition ?? (key === null ? STICKY : partitionForKey(key, numPartitions))
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  #wake(): void {
    if (this.#drainScheduled) return
    this.#drainScheduled = true
    // setImmediate, not a microtask: with lingerMs 0, records appended in the same tick share a batch.
    setImmediate(() => this.#drain())
  }

  #drain(): void {
    this.#drainScheduled = false
    const now = this.#clock()
    const flushAll = this.#flushing > 0 || this.#closed || this.#budget.waiting
    const { ready, nextReadyMs, needsProducerId } = this.#accumulator.ready(now, { flushAll, producer: this.#identity })
    const byNode = new Map<number, ProducerBatch[][]>()
    const leaderless: ProducerBatch[] = []
    for (const batches of ready) {
      const head = batches[0] as ProducerBatch
      // A retry waits for the refresh its failure asked for, rather than go to the old leader again.
      if (this.#refreshing && head.attempts > 0) continue
      // A transaction's first batch to a partition waits until the coordinator has the partition.
      if (this.#txn !== null && head.sendOrder < 0 && !this.#txn.ensureAdded(head.topic, head.partition)) continue
      const leader = this.#cluster.cachedLeader(head.topic, head.partition)
      if (leader === undefined) {
        leaderless.push(head)
        continue
      }
      const list = byNode.get(leader) ?? []
      list.push(batches)
      byNode.set(leader, list)
    }
    for (const [nodeId, partitions] of byNode) this.#sendTo(nodeId, partitions)
    let nextMs = nextReadyMs
    // A transactional producer's id comes from initTransactions(), from its coordinator.
    if (needsProducerId && this.#txn === null) {
      if (now >= this.#initAtMs) void this.#initProducerId()
      else nextMs = Math.min(nextMs, this.#initAtMs)
    }
    if (leaderless.length > 0 || this.#cluster.stale) {
      if (now >= this.#refreshAtMs) void this.#refreshMetadata(leaderless)
      else if (leaderless.length > 0) nextMs = Math.min(nextMs, this.#refreshAtMs)
    }
    this.#schedule(nextMs)
  }

  #schedule(atMs: number): void {
    this.#wakeup.at(atMs)
  }

  /**
   * Takes and encodes the batches (per partition, in the order they must leave) and sends them
   * in rounds: round r carries each partition's r-th batch, since a request holds one batch per
   * partition (the leader refuses two idempotent batches of a partition in one request). Rounds
   * go out in order on the one connection to the leader, which answers them in order; a round is
   * split into requests of at most requestBytesMax.
   */
  #sendTo(nodeId: number, partitions: readonly ProducerBatch[][]): void {
    let rounds = 0
    for (const list of partitions) rounds = Math.max(rounds, list.length)
    for (let r = 0; r < rounds; r++) {
      let group: ProducerBatch[] = []
      let groupBytes = REQUEST_FIXED_BYTES
      for (const list of partitions) {
        const b = list[r]
        if (b === undefined) continue
        const encoded = this.#takeAndEncode(b)
        if (encoded === null) continue
        const bytes = encoded.length + PARTITION_ENTRY_BYTES + Buffer.byteLength(b.topic)
        if (group.length > 0 && groupBytes + bytes > this.#o.requestBytesMax) {
          void this.#produce(nodeId, group)
          group = []
          groupBytes = REQUEST_FIXED_BYTES
        }
        group.push(b)
        groupBytes += bytes
      }
      if (group.length > 0) void this.#produce(nodeId, group)
    }
  }

  /** Takes a ready batch (stamping it, the first time) and encodes it once; null if it failed. */
  #takeAndEncode(b: ProducerBatch): Buffer | null {
    this.#accumulator.take(b, this.#identity)
    try {
      return b.encode(this.#o.compression)
    } catch (err) {
      this.#fail(b, err as Error)
      return null
    }
  }

  /**
   * Gets a producer id for new batches (the first, or a new one after a reset), retried with the
   * cluster's retry options. If none comes, the batches waiting for it fail rather than wait
   * forever; later sends try again after a backoff.
   */
  async #initProducerId(): Promise<void> {
    if (this.#initializing) return
    this.#initializing = true
    try {
      const res = await this.#cluster.retry(async () => {
        const r = await this.#cluster.requestAny(ApiKey.InitProducerId, { transactionalId: null, transactionTimeoutMs: TRANSACTION_TIMEOUT_MS, producerId: -1n, producerEpoch: -1 })
        const err = wireError(r.errorCode, null, 'InitProducerId:')
        if (err !== null) throw err
        return r
      })
      this.#identity = { producerId: res.producerId, producerEpoch: res.producerEpoch }
      this.#initFailures = 0
    } catch (err) {
      this.#initFailures++
      this.#initAtMs = this.#clock() + backoffMs(this.#o.retry, this.#initFailures)
      // The typed error as it came (a wire error's message names InitProducerId), so its code tells what failed.
      const error = err instanceof StrandError ? err : new StrandError('UNKNOWN_SERVER_ERROR', `InitProducerId failed: ${String(err)}`, { retriable: false, cause: err })
      for (const b of this.#accumulator.removeUnsent()) this.#settle(b, error)
    } finally {
      this.#initializing = false
      this.#wake()
    }
  }

  /**
   * Stops stamping new batches with `stale` (the id of a batch that failed): the next drain gets
   * a new id, and each partition switches to it, at sequence 0, once its batches sent under the
   * old one are settled. A failure under an id already replaced changes nothing.
   */
  #resetProducerId(stale: ProducerBatch): void {
    const current = this.#identity
    if (current === null || current.producerId !== stale.producerId || current.producerEpoch !== stale.producerEpoch) return
    this.#identity = null
  }

  async #produce(nodeId: number, batches: ProducerBatch[]): Promise<void> {
    try {
      const conn = this.#cluster.connectionTo(nodeId)
      const body = produceBody(batches, this.#o.acks, this.#o.timeoutMs, this.#cluster, this.#o.transactionalId)
      if (this.#o.acks === 0) {
        await conn.send(ApiKey.Produce, body)
        for (const b of batches) this.#settle(b, -1n)
      } else {
        // The leader may hold the request for timeoutMs waiting for the ISR; the network gets its own allowance.
        const res = await conn.request(ApiKey.Produce, body, { timeoutMs: this.#o.timeoutMs + this.#requestTimeoutMs })
        this.#onResponse(batches, res)
      }
    } catch (err) {
      for (const b of batches) this.#onFailure(b, err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.#wake()
    }
  }

  #onResponse(batches: readonly ProducerBatch[], res: ProduceResponse): void {
    const byPartition = responsesByPartition(res)
    for (const b of batches) {
      const p = byPartition.get(`${b.topic}\u0000${b.partition}`)
      if (p === undefined) {
        // Whether the broker appended it is unknown, so a retry could duplicate: fail it instead.
        this.#fail(b, new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The Produce response has no result for ${b.topic}-${b.partition}.`))
        continue
      }
      const err = wireError(p.errorCode, p.errorMessage, `${b.topic}-${b.partition}:`)
      if (err === null) this.#settle(b, p.baseOffset)
      else this.#onFailure(b, err)
    }
  }

  /** Retries a batch after a retriable error (within `retries`), else fails it for good. */
  #onFailure(b: ProducerBatch, err: Error): void {
    if (b.producerId >= 0n && isSequenceRefusal(err)) {
      // Not appended this time. If a batch sent before it is unsettled, that one has not landed
      // yet: re-send this one after it, without a backoff or an attempt (it is bounded: re-sent
      // only once everything before it is settled, it is then either appended or refused again
      // with nothing pending before it).
      if (this.#accumulator.hasEarlierUnsettled(b)) this.#accumulator.requeue(b, 0)
      else this.#fail(b, lostSequence(b, err))
      return
    }
    if (!isRetriable(err) || b.attempts >= this.#o.retries) {
      this.#fail(b, err)
      return
    }
    b.attempts++
    if (needsMetadataRefresh(err)) this.#cluster.invalidate()
    this.#accumulator.requeue(b, this.#clock() + backoffMs(this.#o.retry, b.attempts))
  }

  /**
   * Fails a batch for good. A stamped batch that failed may be missing from its partition's log,
   * a hole after which the leader would refuse every later sequence: new batches get a new
   * producer id instead.
   */
  #fail(b: ProducerBatch, err: Error): void {
    if (this.#txn !== null) {
      // In a transaction the producer id is the transactional id's: it is never reset. A stale
      // epoch means a newer instance took over (fatal); any other failure dooms the transaction.
      const error = err instanceof StrandProtocolError ? fencedError(err, this.#txn.transactionalId) : err
      this.#settle(b, error)
      this.#txn.batchFailed(error)
      return
    }
    this.#settle(b, err)
    if (b.producerId >= 0n) this.#resetProducerId(b)
  }

  /** Completes a batch: frees its in-flight slot and its bytes, then settles its promise, exactly once. */
  #settle(b: ProducerBatch, outcome: bigint | Error): void {
    if (b.settled) throw new Error(`${b.topic}-${b.partition}: a batch is settled twice`)
    this.#accumulator.complete(b)
    this.#budget.release(b.reservedBytes)
    this.#incomplete.delete(b)
    if (typeof outcome === 'bigint') b.resolve(outcome)
    else b.reject(outcome)
  }

  /**
   * Refreshes metadata for partitions with no known leader. Each refresh that still finds none
   * counts as an attempt of the waiting batch, so a partition that stays leaderless fails its
   * records after `retries` instead of holding them (and the buffer) forever.
   */
  async #refreshMetadata(leaderless: readonly ProducerBatch[]): Promise<void> {
    if (this.#refreshing) return
    this.#refreshing = true
    let error: Error | null = null
    try {
      await this.#cluster.refresh()
      this.#refreshFailures = 0
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err))
      this.#refreshFailures++
      this.#refreshAtMs = this.#clock() + backoffMs(this.#o.retry, this.#refreshFailures)
    } finally {
      this.#refreshing = false
    }
    const now = this.#clock()
    for (const b of leaderless) {
      if (!this.#accumulator.isWaitingHead(b) || this.#cluster.cachedLeader(b.topic, b.partition) !== undefined) continue
      b.attempts++
      if (b.attempts <= this.#o.retries) {
        b.retryAtMs = now + backoffMs(this.#o.retry, b.attempts)
        continue
      }
      this.#accumulator.abandon(b)
      this.#fail(b, error ?? new StrandProtocolError('LEADER_NOT_AVAILABLE', `${b.topic}-${b.partition} had no leader after ${b.attempts} metadata refreshes.`))
    }
    this.#wake()
  }
}
