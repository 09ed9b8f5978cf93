// The producer: send() places records in per-partition batches (accumulator.ts); its sender
// (sender.ts) sends each leader one Produce request carrying every ready partition it leads, and
// settles each batch from its own partition's outcome. Created by Strand.producer() (index.ts).
//
// Retries, idempotence and metadata refreshes are the sender's (sender.ts, a Sender each
// producer owns); option defaults and checks are producer-options.ts's.
//
// The per-record path (send() -> #append -> Accumulator.append, and back from the batches'
// outcomes) runs about a million times a second, so the only object it makes per record is the
// RecordMetadata it answers with: a call's records are checked into columns (CheckedRecords) and
// written straight into their batch's bytes, where they went is kept as runs per batch
// (Placement), and the sticky partitioner learns of closed batches from the accumulator.
//
// Memory is bounded by bufferBytesMax: each record reserves its size until its batch completes,
// and send() waits for room (backpressure) instead of growing the buffer.

import { BATCH_HEADER_BYTES, NO_HEADERS, recordPayloadBytes, type RecordHeader } from './protocol/records.js'
import { Accumulator, ByteBudget, recordBytesMax, type AccumulatedRecord, type ProducerBatch } from './accumulator.js'
import type { Cluster } from './cluster.js'
import { ClosedError, IllegalStateError, InvalidArgumentError, RecordTooLargeError } from './errors.js'
import { partitionForKey, StickyPartitioner } from './partitioner.js'
import type { CoordinatorConnectionOptions } from './group/coordinator.js'
import type { CommitOffset, Consumer, ConsumerBatch } from './consumer/consumer.js'
import { REQUEST_FIXED_BYTES, resolveProducerOptions, type ProducerOptions, type ResolvedProducerOptions } from './producer-options.js'
import { Sender } from './sender.js'
import { TransactionManager } from './transactions.js'

export type { Acks, ProducerOptions } from './producer-options.js'

/** The coordinator connection of a producer made without a Strand client's settings (tests). */
function COORDINATOR_CONNECTION_DEFAULTS(requestTimeoutMs: number): CoordinatorConnectionOptions {
  return { clientId: null, connectTimeoutMs: 10_000, requestTimeoutMs, inflightRequestsMax: 4, frameBytesMax: 16 * 1024 * 1024 }
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

function normalizeHeaders(h: Headers | undefined): readonly RecordHeader[] {
  if (h === undefined) return NO_HEADERS
  if (Array.isArray(h)) return h
  return Object.entries(h).map(([key, value]) => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value }))
}

function isPayload(v: unknown): v is Buffer | string | null {
  return v === null || typeof v === 'string' || v instanceof Buffer
}

export class Producer {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #onClose: (() => void) | undefined
  readonly #o: ResolvedProducerOptions
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
  /** Sends the accumulator's ready batches and settles them (sender.ts). */
  readonly #sender: Sender
  #closed = false
  #closePromise: Promise<void> | null = null
  /** A transactional producer's transaction state (its coordinator, epoch, partitions); null otherwise. */
  readonly #txn: TransactionManager | null

  constructor(context: ProducerContext, options: ProducerOptions = {}) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#onClose = context.onClose
    this.#o = resolveProducerOptions(options, context.cluster.retryOptions)
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
          onChange: () => this.#sender.wake(),
          onDoomed: (err) => {
            for (const b of this.#accumulator.removeUnsent()) this.#sender.settle(b, err)
          },
        })
    this.#sender = new Sender({
      cluster: this.#cluster,
      clock: this.#clock,
      requestTimeoutMs: this.#requestTimeoutMs,
      options: this.#o,
      accumulator: this.#accumulator,
      budget: this.#budget,
      txn: this.#txn,
      sendNow: () => this.#flushing > 0 || this.#closed,
      onSettled: (b) => this.#incomplete.delete(b),
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
    this.#sender.identity = txn.identity
    this.#sender.wake()
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
      // The next transaction runs under the epoch EndTxn gave (KIP-890): its batches start again at sequence 0.
      this.#sender.identity = txn.identity
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
      this.#sender.identity = txn.identity
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
      this.#sender.wake()
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
      this.#sender.close()
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
        this.#sender.wake()
        await this.#budget.acquire(reserveBytes)
        nowMs = this.#clock()
      }
      const partition = checked.partitions[i] as number
      const batch = partition === STICKY ? this.#appendSticky(topic, numPartitions, r, reserveBytes, nowMs) : this.#accumulator.append(topic, partition, r, reserveBytes, nowMs)
      const index = batch.recordCount - 1
      if (index === 0) this.#incomplete.add(batch)
      // A new batch must be looked at (it may linger), and a closed one sent.
      if (index === 0 || batch.closed) this.#sender.wake()
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
    this.#sender.wake()
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
}
