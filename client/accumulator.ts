// The producer's record accumulator: per-partition queues of batches, closed by size or age, and
// the byte budget that bounds what the producer holds in memory. A record is written into its
// batch's bytes when appended (records.ts's BatchBuilder, as Kafka's MemoryRecordsBuilder), so a
// queued batch is one buffer, not a heap object per record waiting to be encoded. Pure: no timers and no I/O; the
// caller passes the time in and the producer's sender decides what to do with ready batches.
//
// Invariants:
// - Per partition, batches are first sent in the order they were created, and at most
//   `inflightPerPartitionMax` (1..5, default 5: Kafka's max.in.flight.requests.per.connection)
//   of them are sent from the oldest unsettled one on (in flight, or answered out of turn).
//   With idempotence that keeps order: the leader refuses a batch whose sequence does not follow
//   the last one it appended (OUT_OF_ORDER_SEQUENCE_NUMBER) and answers a retried duplicate of one
//   of its producer's last 5 batches with its offset. Without idempotence nothing refuses a batch
//   sent after one that failed, so with more than 1 in flight a retried batch can land after later
//   ones (reordering the partition, as in Kafka); 1 keeps strict order under retries.
// - A batch that failed with a retriable error goes back to its queue in send order, ahead of
//   every batch never sent, and is re-sent alone, once nothing else of its partition is in flight:
//   the batches sent after it come back first (refused as out of order, or appended if the failed
//   one had landed after all; without idempotence, appended or failed on their own), then the
//   partition's batches are re-sent one by one in order, and only then do new batches leave again
//   (Kafka's Sender does the same after a retry).
// - With idempotence, a batch is stamped with the producer id, epoch and its partition's next
//   sequence when it is first taken, and keeps them for every retry, so the leader recognises a
//   retry of a batch it appended (its acknowledgement lost) instead of appending it twice. All
//   batches of a partition sent and not yet settled carry the same producer id: after a producer
//   id change, a partition's new batches wait until those sent under the old id are settled, then
//   start again at sequence 0.
// - Every appended record has reserved its estimated size in the ByteBudget; the bytes are given
//   back only when its batch completes (acknowledged or failed for good).

import { BATCH_HEADER_BYTES, BatchBuilder, recordBytes, recordPayloadBytes, type Compression, type MeasuredRecord, type RecordHeader } from './protocol/records.js'

/**
 * A record checked and ready for a batch, its timestamp stamped and its payload measured once, so
 * sizing it for a batch is arithmetic. Written into its batch's bytes when appended: the
 * accumulator keeps no reference to it, so a caller may refill one object for record after record.
 */
export type AccumulatedRecord = MeasuredRecord

/** A record for append(), its payload measured. */
export function accumulatedRecord(key: Buffer | string | null, value: Buffer | string | null, headers: readonly RecordHeader[], timestamp: number): AccumulatedRecord {
  return { key, value, headers, timestamp, payloadBytes: recordPayloadBytes(key, value, headers) }
}

/**
 * The record's size in an uncompressed batch, given its index and its timestamp's distance from
 * the batch's first record (the batch's base timestamp).
 */
export function recordSizeBytes(record: AccumulatedRecord, index: number, timestampDelta: number): number {
  return recordBytes(record.payloadBytes, index, timestampDelta)
}

/** Upper bound of a record's size in any batch position, for validation before it is placed. */
export function recordSizeBytesMax(record: AccumulatedRecord): number {
  return recordBytesMax(record.payloadBytes)
}

/** Upper bound of the size of a record of `payloadBytes` (recordPayloadBytes) in any batch position. */
export function recordBytesMax(payloadBytes: number): number {
  // Index up to 2^31 takes 5 bytes; a timestamp delta up to a day fits in 5 bytes as well.
  return recordBytes(payloadBytes, 0x7fffffff, 86_400_000)
}

/**
 * Batches of one partition in flight at most, and the default: Kafka's
 * max.in.flight.requests.per.connection. With idempotence it is also the most a leader
 * deduplicates: it remembers a producer's last 5 batches per partition
 * (broker/replication/producer-state.ts), so a retry of any batch still in flight is recognised.
 */
export const INFLIGHT_PER_PARTITION_MAX = 5

/** Largest sequence number; the next one after it is 0 (as the broker counts). */
const SEQUENCE_MAX = 0x7fffffff

/** The sequence `count` after `sequence`, wrapping past int32 max to 0 as Kafka does. */
export function sequenceAfter(sequence: number, count: number): number {
  const next = sequence + count
  return next > SEQUENCE_MAX ? next - SEQUENCE_MAX - 1 : next
}

/** What an idempotent producer stamps into its batches, from InitProducerId. */
export interface ProducerIdentity {
  producerId: bigint
  producerEpoch: number
}

function noop(): void {}

export class ProducerBatch {
  readonly topic: string
  readonly partition: number
  /**
   * The records, written into the batch's bytes as they are appended; null once encoded (then
   * only `encoded` is kept, for retries).
   */
  #builder: BatchBuilder | null
  recordCount = 0
  /** Encoded size so far, uncompressed, header included. */
  sizeBytes = BATCH_HEADER_BYTES
  /** Bytes reserved in the ByteBudget for this batch's records. */
  reservedBytes = 0
  readonly createdMs: number
  /** No more records go in: it is full, or it was taken for sending. */
  closed = false
  /** Sends that failed with a retriable error so far (a refusal explained by an earlier retry does not count). */
  attempts = 0
  /** Not to be sent before this time (retry backoff), clock ms. */
  retryAtMs = 0
  /** The encoded batch, kept so a retry resends exactly the same bytes (same sequence too). */
  encoded: Buffer | null = null
  /** Position among its partition's batches in the order they were first sent; -1 until then. */
  sendOrder = -1
  /** Stamped when first sent by an idempotent producer; -1 otherwise (the wire's "none"). */
  producerId = -1n
  producerEpoch = -1
  baseSequence = -1
  /** Part of a transaction: framed with the transactional attribute bit (set by the accumulator when it makes the batch). */
  transactional = false
  /** Resolves with the base offset (-1n with acks=0); rejects with the final error. */
  readonly done: Promise<bigint>
  /** Resolves once `done` settles, either way: what a sender waits on before reading the outcome. */
  readonly completed: Promise<void>
  /** The outcome, once settled: the base offset, or the error. */
  baseOffset: bigint | null = null
  error: Error | null = null
  #resolve!: (baseOffset: bigint) => void
  #reject!: (err: Error) => void

  /**
   * Made by the accumulator only. `batchBytes` is the size it is closed at; `expectedBytes` the
   * size it likely reaches, for its first buffer (BatchBuilder).
   */
  constructor(topic: string, partition: number, createdMs: number, batchBytes: number, expectedBytes = 0) {
    this.topic = topic
    this.partition = partition
    this.createdMs = createdMs
    this.#builder = new BatchBuilder(batchBytes, expectedBytes)
    this.done = new Promise<bigint>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // Senders wait on `completed`, then read `baseOffset` or `error`; handling the rejection
    // here also keeps a failure with no listener on `done` from being reported as unhandled.
    this.completed = this.done.then(noop, noop)
  }

  get settled(): boolean {
    return this.baseOffset !== null || this.error !== null
  }

  resolve(baseOffset: bigint): void {
    this.baseOffset = baseOffset
    this.#resolve(baseOffset)
  }

  reject(err: Error): void {
    this.error = err
    this.#reject(err)
  }

  /** The bytes `record` takes if appended next (the accumulator checks that it fits first). */
  nextRecordBytes(record: AccumulatedRecord): number {
    if (this.#builder === null) throw new Error(`${this.topic}-${this.partition}: a record for a batch already encoded`)
    return this.#builder.nextRecordBytes(record)
  }

  /** Writes the record into the batch; `sizeBytes` is its nextRecordBytes(). */
  append(record: AccumulatedRecord, sizeBytes: number, reservedBytes: number): void {
    if (this.closed || this.#builder === null) throw new Error(`${this.topic}-${this.partition}: a record for a closed batch`)
    this.#builder.append(record, sizeBytes)
    this.recordCount++
    this.sizeBytes += sizeBytes
    this.reservedBytes += reservedBytes
  }

  /**
   * The batch's bytes, framed the first time with its stamps (producer id, epoch, sequence) and
   * compressed if asked; every retry resends exactly these bytes. Only a closed batch is encoded.
   */
  encode(compression: Compression): Buffer {
    if (this.encoded === null) {
      if (!this.closed || this.#builder === null) throw new Error(`${this.topic}-${this.partition}: only a closed batch is encoded`)
      this.encoded = this.#builder.build({ compression, producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: this.baseSequence, transactional: this.transactional })
      this.#builder = null
    }
    return this.encoded
  }
}

interface PartitionQueue {
  readonly topic: string
  readonly partition: number
  /**
   * Batches to send, in the order they must leave: those sent before and waiting to be re-sent
   * (in send order), then those never sent (in creation order; the last may still be open).
   */
  batches: ProducerBatch[]
  /** Batches taken for sending and not yet completed or requeued, in send order. */
  readonly inflight: ProducerBatch[]
  /** The producer id the partition's sequences count under; -1n before its first stamped batch. */
  producerId: bigint
  producerEpoch: number
  /** The sequence of the partition's next new batch under `producerId`. */
  nextSequence: number
  /** The next batch's `sendOrder`. */
  sendCount: number
  /** The size of the partition's last closed batch: where a new batch's buffer starts. */
  lastBatchBytes: number
}

export interface AccumulatorOptions {
  /** A batch is closed when the next record would take it past this size. */
  batchBytes: number
  /** How long a batch may wait for more records before it is sent. */
  lingerMs: number
  /**
   * Batches of one partition in flight at once, 1..INFLIGHT_PER_PARTITION_MAX (the default).
   * Without idempotence, more than 1 lets a retried batch land after later ones.
   */
  inflightPerPartitionMax?: number
  /** Stamp producer id, epoch and sequence into batches when they are first taken; default false. */
  idempotent?: boolean
  /** Batches are part of transactions (the transactional attribute bit); needs idempotent. Default false. */
  transactional?: boolean
  /**
   * Called when an open batch is closed (full, or taken for sending), so the sticky partitioner
   * moves on; it must not call back into the accumulator.
   */
  onBatchClosed?: (batch: ProducerBatch) => void
}

export interface ReadyResult {
  /**
   * Per partition that may send now, the batches that may leave now, in the order they must
   * leave (at most its free in-flight slots; a re-send always alone).
   */
  ready: ProducerBatch[][]
  /** The earliest time at which a batch not ready now becomes ready; Infinity if none. */
  nextReadyMs: number
  /** New batches could leave but wait for a producer id (idempotent, `producer` null). */
  needsProducerId: boolean
}

export interface ReadyOptions {
  /** Send open batches without waiting for lingerMs (flush, close, a full buffer). */
  flushAll: boolean
  /** The identity to stamp new batches with; null (the default) while there is none. Idempotent only. */
  producer?: ProducerIdentity | null
}

export class Accumulator {
  readonly #batchBytes: number
  readonly #lingerMs: number
  readonly #inflightPerPartitionMax: number
  readonly #idempotent: boolean
  readonly #transactional: boolean
  readonly #onBatchClosed: (batch: ProducerBatch) => void
  /**
   * Per topic, per partition number, the partitions written to: indexed by number rather than a
   * "topic-partition" string, which appending would otherwise build per record. Kept when empty,
   * since a queue holds its partition's sequence state (bounded by the partitions of the topics
   * this producer writes).
   */
  readonly #queues = new Map<string, PartitionQueue[]>()
  /** The same queues in creation order, for the passes over all of them (ready, removeUnsent). */
  readonly #allQueues: PartitionQueue[] = []

  constructor(options: AccumulatorOptions) {
    const inflightMax = options.inflightPerPartitionMax ?? INFLIGHT_PER_PARTITION_MAX
    if (!Number.isInteger(inflightMax) || inflightMax < 1 || inflightMax > INFLIGHT_PER_PARTITION_MAX) {
      throw new RangeError(`inflightPerPartitionMax must be an integer in 1..${INFLIGHT_PER_PARTITION_MAX}, got ${inflightMax}`)
    }
    this.#batchBytes = options.batchBytes
    this.#lingerMs = options.lingerMs
    this.#inflightPerPartitionMax = inflightMax
    this.#idempotent = options.idempotent ?? false
    this.#transactional = options.transactional ?? false
    if (this.#transactional && !this.#idempotent) throw new RangeError('A transactional accumulator must be idempotent')
    this.#onBatchClosed = options.onBatchClosed ?? noop
  }

  /**
   * Appends a record whose bytes the caller has reserved (`reservedBytes` is kept with the batch)
   * to the partition's open batch, or to a new batch if it has none or the record does not fit
   * (closing the open one). Returns the batch: the record's index in it is `recordCount - 1`, so
   * a batch whose recordCount is 1 was created for this record. No result object: this runs per
   * record.
   */
  append(topic: string, partition: number, record: AccumulatedRecord, reservedBytes: number, nowMs: number): ProducerBatch {
    return this.#append(this.#queue(topic, partition), record, reservedBytes, nowMs, true) as ProducerBatch
  }

  /**
   * As append(), except when the partition's open batch cannot take the record: then it closes
   * that batch and returns null, the record not placed. The sticky partitioner then moves on, so
   * an unkeyed record that does not fit goes to the next sticky partition rather than open a
   * one-record batch on the old one (Kafka's abortOnNewBatch).
   */
  tryAppend(topic: string, partition: number, record: AccumulatedRecord, reservedBytes: number, nowMs: number): ProducerBatch | null {
    return this.#append(this.#queue(topic, partition), record, reservedBytes, nowMs, false)
  }

  #append(queue: PartitionQueue, record: AccumulatedRecord, reservedBytes: number, nowMs: number, newBatchIfFull: boolean): ProducerBatch | null {
    let batch = queue.batches[queue.batches.length - 1]
    let size = 0
    if (batch !== undefined && !batch.closed) {
      size = batch.nextRecordBytes(record)
      if (batch.sizeBytes + size > this.#batchBytes) {
        this.#close(batch)
        if (!newBatchIfFull) return null
        batch = undefined
      }
    } else {
      batch = undefined
    }
    if (batch === undefined) {
      batch = new ProducerBatch(queue.topic, queue.partition, nowMs, this.#batchBytes, queue.lastBatchBytes)
      batch.transactional = this.#transactional
      size = batch.nextRecordBytes(record)
      queue.batches.push(batch)
    }
    batch.append(record, size, reservedBytes)
    // A record that fills the batch on its own (or a single record above batchBytes) closes it now.
    if (batch.sizeBytes >= this.#batchBytes) this.#close(batch)
    return batch
  }

  #close(batch: ProducerBatch): void {
    if (batch.closed) return
    batch.closed = true
    const q = this.#queueOf(batch.topic, batch.partition)
    if (q !== undefined) q.lastBatchBytes = batch.sizeBytes
    this.#onBatchClosed(batch)
  }

  /**
   * What may be sent now, per partition. A batch may leave once it is closed (full), another
   * batch waits behind it, its linger time is over, or `flushAll` says not to wait; and while its
   * partition has a free in-flight slot (see windowSize). A re-send leaves alone and only when nothing of its
   * partition is in flight (see the invariants above). With idempotence, new batches need a
   * producer id, and after an id change they wait until the partition has nothing in flight.
   */
  ready(nowMs: number, options: ReadyOptions): ReadyResult {
    const ready: ProducerBatch[][] = []
    let nextReadyMs = Number.POSITIVE_INFINITY
    let needsProducerId = false
    for (const q of this.#allQueues) {
      const head = q.batches[0]
      if (head === undefined) continue
      if (head.sendOrder >= 0) {
        // Its completion or requeue wakes the sender: no time to report while something is in flight.
        if (q.inflight.length > 0) continue
        if (head.retryAtMs <= nowMs) ready.push([head])
        else nextReadyMs = Math.min(nextReadyMs, head.retryAtMs)
        continue
      }
      if (this.#idempotent) {
        const producer = options.producer ?? null
        if (producer === null) {
          needsProducerId = true
          continue
        }
        if (q.inflight.length > 0 && !sameProducer(q, producer)) continue
      }
      let list: ProducerBatch[] | null = null
      const room = this.#inflightPerPartitionMax - windowSize(q)
      for (let i = 0; i < room && i < q.batches.length; i++) {
        const b = q.batches[i] as ProducerBatch
        const readyAtMs = this.#readyAtMs(b, i < q.batches.length - 1, options.flushAll)
        if (readyAtMs > nowMs) {
          nextReadyMs = Math.min(nextReadyMs, readyAtMs)
          break
        }
        list ??= []
        list.push(b)
      }
      if (list !== null) ready.push(list)
    }
    return { ready, nextReadyMs, needsProducerId }
  }

  #readyAtMs(batch: ProducerBatch, hasNext: boolean, flushAll: boolean): number {
    const full = batch.closed || hasNext || flushAll
    return Math.max(batch.retryAtMs, full ? 0 : batch.createdMs + this.#lingerMs)
  }

  /**
   * Takes a partition's head batch for sending; it stays in flight until complete() or
   * requeue(). A batch sent for the first time gets its send order and, with idempotence, the
   * producer id, epoch and the partition's next sequence; a re-send keeps what it had.
   */
  take(batch: ProducerBatch, producer: ProducerIdentity | null = null): void {
    const q = this.#queue(batch.topic, batch.partition)
    if (q.batches[0] !== batch) throw new Error(`take: ${batch.topic}-${batch.partition} head mismatch`)
    if (batch.sendOrder >= 0) {
      if (q.inflight.length > 0) throw new Error(`take: ${batch.topic}-${batch.partition} re-send while ${q.inflight.length} in flight`)
    } else {
      if (windowSize(q) >= this.#inflightPerPartitionMax) throw new Error(`take: ${batch.topic}-${batch.partition} has no free in-flight slot`)
      if (this.#idempotent) this.#stamp(q, batch, producer)
      batch.sendOrder = q.sendCount++
    }
    q.batches.shift()
    q.inflight.push(batch)
    this.#close(batch)
  }

  #stamp(q: PartitionQueue, batch: ProducerBatch, producer: ProducerIdentity | null): void {
    if (producer === null) throw new Error(`take: ${batch.topic}-${batch.partition} needs a producer id`)
    if (!sameProducer(q, producer)) {
      if (q.inflight.length > 0) throw new Error(`take: ${batch.topic}-${batch.partition} changes producer id with batches in flight`)
      q.producerId = producer.producerId
      q.producerEpoch = producer.producerEpoch
      q.nextSequence = 0
    }
    batch.producerId = q.producerId
    batch.producerEpoch = q.producerEpoch
    batch.baseSequence = q.nextSequence
    q.nextSequence = sequenceAfter(q.nextSequence, batch.recordCount)
  }

  /** A taken batch is done for good (acknowledged or failed): its in-flight slot is free. */
  complete(batch: ProducerBatch): void {
    const q = this.#queueOf(batch.topic, batch.partition)
    if (q === undefined) return
    const i = q.inflight.indexOf(batch)
    if (i >= 0) q.inflight.splice(i, 1)
  }

  /**
   * A taken batch failed with a retriable error: it goes back to the queue in send order, ahead
   * of every batch never sent, to be re-sent once nothing of its partition is in flight.
   */
  requeue(batch: ProducerBatch, retryAtMs: number): void {
    const q = this.#queue(batch.topic, batch.partition)
    const i = q.inflight.indexOf(batch)
    if (i < 0) throw new Error(`requeue: ${batch.topic}-${batch.partition} batch is not in flight`)
    q.inflight.splice(i, 1)
    batch.retryAtMs = retryAtMs
    let at = 0
    while (at < q.batches.length) {
      const order = (q.batches[at] as ProducerBatch).sendOrder
      if (order < 0 || order > batch.sendOrder) break
      at++
    }
    q.batches.splice(at, 0, batch)
  }

  /**
   * Whether a batch of the partition sent before `batch` is still unsettled (in flight or
   * waiting to be re-sent): then a refusal of `batch` as out of order may only mean that the
   * earlier one has not landed yet.
   */
  hasEarlierUnsettled(batch: ProducerBatch): boolean {
    const q = this.#queueOf(batch.topic, batch.partition)
    if (q === undefined) return false
    for (const b of q.inflight) if (b !== batch && b.sendOrder < batch.sendOrder) return true
    for (const b of q.batches) {
      if (b.sendOrder < 0) break
      if (b.sendOrder < batch.sendOrder) return true
    }
    return false
  }

  /** Removes a head batch that is not in flight (no leader for too long); the caller fails it. */
  abandon(batch: ProducerBatch): void {
    const q = this.#queue(batch.topic, batch.partition)
    if (q.batches[0] !== batch) throw new Error(`abandon: ${batch.topic}-${batch.partition} head mismatch`)
    q.batches.shift()
    this.#close(batch)
  }

  /** Removes and returns every batch never sent (they cannot get a producer id); the caller fails them. */
  removeUnsent(): ProducerBatch[] {
    const removed: ProducerBatch[] = []
    for (const q of this.#allQueues) {
      const firstUnsent = q.batches.findIndex((b) => b.sendOrder < 0)
      if (firstUnsent < 0) continue
      for (const b of q.batches.slice(firstUnsent)) {
        this.#close(b)
        removed.push(b)
      }
      q.batches = q.batches.slice(0, firstUnsent)
    }
    return removed
  }

  /** Whether `batch` is its partition's next to send. */
  isWaitingHead(batch: ProducerBatch): boolean {
    const q = this.#queueOf(batch.topic, batch.partition)
    return q !== undefined && q.batches[0] === batch
  }

  /** Batches not yet taken, per partition, in the order they will leave (for tests and diagnostics). */
  queued(topic: string, partition: number): readonly ProducerBatch[] {
    return this.#queueOf(topic, partition)?.batches ?? []
  }

  /** Batches in flight, per partition, in send order (for tests and diagnostics). */
  inflight(topic: string, partition: number): readonly ProducerBatch[] {
    return this.#queueOf(topic, partition)?.inflight ?? []
  }

  #queueOf(topic: string, partition: number): PartitionQueue | undefined {
    return this.#queues.get(topic)?.[partition]
  }

  #queue(topic: string, partition: number): PartitionQueue {
    let partitions = this.#queues.get(topic)
    if (partitions === undefined) {
      partitions = []
      this.#queues.set(topic, partitions)
    }
    let q = partitions[partition]
    if (q === undefined) {
      q = { topic, partition, batches: [], inflight: [], producerId: -1n, producerEpoch: -1, nextSequence: 0, sendCount: 0, lastBatchBytes: 0 }
      // Partition numbers are small and dense (0..n-1), so this array has few holes.
      partitions[partition] = q
      this.#allQueues.push(q)
    }
    return q
  }
}

/**
 * Batches sent from the partition's oldest unsettled one on, settled or not: what the in-flight
 * bound counts. Counting only those in flight would not do: if later batches are acknowledged
 * before an earlier one fails (answers from two leaders across a leader change), new batches
 * could push the earlier one out of the last 5 the leader remembers, and its retry would no
 * longer be recognised as a duplicate.
 */
function windowSize(q: PartitionQueue): number {
  const oldest = q.inflight[0]
  return oldest === undefined ? 0 : q.sendCount - oldest.sendOrder
}

function sameProducer(q: PartitionQueue, producer: ProducerIdentity): boolean {
  return q.producerId === producer.producerId && q.producerEpoch === producer.producerEpoch
}

/**
 * Bounds the bytes the producer holds (bufferBytesMax). `acquire` waits when the budget is spent
 * (backpressure on send), and waiters are served strictly in order, so a large record is not
 * starved by a stream of small ones and sends keep their order.
 */
export class ByteBudget {
  readonly bytesMax: number
  #usedBytes = 0
  readonly #waiters: Array<{ bytes: number; resolve: () => void }> = []

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax
  }

  get usedBytes(): number {
    return this.#usedBytes
  }

  /** Someone is waiting for bytes: the producer then sends what it has without lingering. */
  get waiting(): boolean {
    return this.#waiters.length > 0
  }

  tryAcquire(bytes: number): boolean {
    if (bytes > this.bytesMax) throw new RangeError(`${bytes} bytes can never fit a budget of ${this.bytesMax}`)
    if (this.#waiters.length > 0 || this.#usedBytes + bytes > this.bytesMax) return false
    this.#usedBytes += bytes
    return true
  }

  async acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return
    await new Promise<void>((resolve) => this.#waiters.push({ bytes, resolve }))
  }

  release(bytes: number): void {
    this.#usedBytes -= bytes
    if (this.#usedBytes < 0) throw new Error(`ByteBudget released more than it granted (${this.#usedBytes})`)
    for (;;) {
      const next = this.#waiters[0]
      if (next === undefined || this.#usedBytes + next.bytes > this.bytesMax) return
      this.#waiters.shift()
      this.#usedBytes += next.bytes
      next.resolve()
    }
  }
}
