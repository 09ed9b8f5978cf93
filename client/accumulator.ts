// The producer's record accumulator: per-partition queues of batches, closed by size or age, and
// the byte budget that bounds what the producer holds in memory. Pure: no timers and no I/O; the
// caller passes the time in and the producer's sender decides what to do with ready batches.
//
// Invariants:
// - Per partition, batches leave in the order they were created, and at most one batch of a
//   partition is in flight (`inflight`): a failed batch is put back at the head of its queue, so
//   a retry can never overtake a later batch of the same partition.
// - Every appended record has reserved its estimated size in the ByteBudget; the bytes are given
//   back only when its batch completes (acknowledged or failed for good).

import type { Compression, RecordHeader } from './protocol/records.js'
import { BATCH_HEADER_BYTES } from './protocol/records.js'
import { varintSize, varlongSize } from './protocol/primitives.js'

/** A record ready for a batch: strings still unencoded, timestamp already stamped. */
export interface AccumulatedRecord {
  key: Buffer | string | null
  value: Buffer | string | null
  headers: RecordHeader[]
  /** Milliseconds since the epoch. */
  timestamp: number
}

function blobBytes(v: Buffer | string | null): number {
  if (v === null) return varintSize(-1)
  const n = typeof v === 'string' ? Buffer.byteLength(v) : v.length
  return varintSize(n) + n
}

/**
 * The record's size in an uncompressed batch, given its index and its timestamp's distance from
 * the batch's first record (the base timestamp is the batch's minimum, so this can be slightly off
 * for out-of-order timestamps; it is an estimate for closing batches, not an encoding).
 */
export function recordSizeBytes(record: AccumulatedRecord, index: number, timestampDelta: number): number {
  let body = 1 + varlongSize(timestampDelta) + varintSize(index) + blobBytes(record.key) + blobBytes(record.value)
  body += varintSize(record.headers.length)
  for (const h of record.headers) body += blobBytes(h.key) + blobBytes(h.value)
  return varintSize(body) + body
}

/** Upper bound of a record's size in any batch position, for validation before it is placed. */
export function recordSizeBytesMax(record: AccumulatedRecord): number {
  // Index up to 2^31 takes 5 bytes; a timestamp delta up to a day fits in 5 bytes as well.
  return recordSizeBytes(record, 0x7fffffff, 86_400_000)
}

export class ProducerBatch {
  readonly topic: string
  readonly partition: number
  /** Records, until the batch is encoded (then dropped: only `encoded` is kept for retries). */
  records: AccumulatedRecord[] = []
  recordCount = 0
  /** Estimated encoded size, uncompressed. */
  sizeBytes = BATCH_HEADER_BYTES
  /** Bytes reserved in the ByteBudget for this batch's records. */
  reservedBytes = 0
  readonly createdMs: number
  /** No more records go in: it is full, or it was taken for sending. */
  closed = false
  /** Sends that failed with a retriable error so far. */
  attempts = 0
  /** Not to be sent before this time (retry backoff), clock ms. */
  retryAtMs = 0
  /** The encoded batch, kept so a retry resends exactly the same bytes. */
  encoded: Buffer | null = null
  /** Resolves with the base offset (-1n with acks=0); rejects with the final error. */
  readonly done: Promise<bigint>
  /** The outcome, once settled: the base offset, or the error. */
  baseOffset: bigint | null = null
  error: Error | null = null
  #resolve!: (baseOffset: bigint) => void
  #reject!: (err: Error) => void

  constructor(topic: string, partition: number, createdMs: number) {
    this.topic = topic
    this.partition = partition
    this.createdMs = createdMs
    this.done = new Promise<bigint>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // Whoever sent the records awaits `done`; this keeps a failure with no listener yet from
    // being reported as an unhandled rejection.
    this.done.catch(() => undefined)
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

  encode(encoder: (records: AccumulatedRecord[], compression: Compression) => Buffer, compression: Compression): Buffer {
    if (this.encoded === null) {
      this.encoded = encoder(this.records, compression)
      this.records = []
    }
    return this.encoded
  }
}

interface PartitionQueue {
  readonly topic: string
  readonly partition: number
  readonly batches: ProducerBatch[]
  /** A batch of this partition is being sent: keeps per-partition order with one in flight. */
  inflight: boolean
}

export interface AccumulatorOptions {
  /** A batch is closed when the next record would take it past this size. */
  batchBytes: number
  /** How long a batch may wait for more records before it is sent. */
  lingerMs: number
}

export interface AppendResult {
  batch: ProducerBatch
  /** The record's index in its batch: its offset is the batch's base offset plus this. */
  index: number
  /** A batch was created for this record. */
  newBatch: boolean
  /** The previous open batch of the partition, closed because the record did not fit. */
  closedBatch: ProducerBatch | null
}

export interface ReadyResult {
  /** Heads of partitions that may be sent now (none in flight, not backing off). */
  ready: ProducerBatch[]
  /** The earliest time at which a batch not ready now becomes ready; Infinity if none. */
  nextReadyMs: number
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

export class Accumulator {
  readonly #options: AccumulatorOptions
  readonly #queues = new Map<string, PartitionQueue>()

  constructor(options: AccumulatorOptions) {
    this.#options = options
  }

  /** Appends a record whose bytes the caller has reserved; `reservedBytes` is kept with the batch. */
  append(topic: string, partition: number, record: AccumulatedRecord, reservedBytes: number, nowMs: number): AppendResult {
    const queue = this.#queue(topic, partition)
    let closedBatch: ProducerBatch | null = null
    let batch = queue.batches[queue.batches.length - 1]
    if (batch !== undefined && !batch.closed) {
      const first = batch.records[0]
      const size = recordSizeBytes(record, batch.recordCount, first === undefined ? 0 : record.timestamp - first.timestamp)
      if (batch.sizeBytes + size > this.#options.batchBytes) {
        batch.closed = true
        closedBatch = batch
        batch = undefined
      }
    } else {
      batch = undefined
    }
    const newBatch = batch === undefined
    if (batch === undefined) {
      batch = new ProducerBatch(topic, partition, nowMs)
      queue.batches.push(batch)
    }
    const index = batch.recordCount
    const first = batch.records[0]
    batch.records.push(record)
    batch.recordCount++
    batch.sizeBytes += recordSizeBytes(record, index, first === undefined ? 0 : record.timestamp - first.timestamp)
    batch.reservedBytes += reservedBytes
    // A record that fills the batch on its own (or a single record above batchBytes) closes it now.
    if (batch.sizeBytes >= this.#options.batchBytes) batch.closed = true
    return { batch, index, newBatch, closedBatch }
  }

  /**
   * Closes the partition's open batch if `record` would not fit in it; returns whether it did.
   * The sticky partitioner asks first, so an unkeyed record that does not fit moves to the next
   * sticky partition rather than open a one-record batch on the old one (as Kafka's onNewBatch).
   */
  closeIfFull(topic: string, partition: number, record: AccumulatedRecord): boolean {
    const q = this.#queues.get(tpKey(topic, partition))
    const batch = q?.batches[q.batches.length - 1]
    if (batch === undefined || batch.closed) return false
    const first = batch.records[0]
    const size = recordSizeBytes(record, batch.recordCount, first === undefined ? 0 : record.timestamp - first.timestamp)
    if (batch.sizeBytes + size <= this.#options.batchBytes) return false
    batch.closed = true
    return true
  }

  /**
   * The partitions whose head batch may be sent: it is closed (full), another batch waits behind
   * it, its linger time is over, or `flushAll` (flush, close, or a full buffer) says not to wait.
   */
  ready(nowMs: number, options: { flushAll: boolean }): ReadyResult {
    const ready: ProducerBatch[] = []
    let nextReadyMs = Number.POSITIVE_INFINITY
    for (const q of this.#queues.values()) {
      const head = q.batches[0]
      if (head === undefined || q.inflight) continue
      const readyAtMs = this.#readyAtMs(head, q, options.flushAll)
      if (readyAtMs <= nowMs) ready.push(head)
      else nextReadyMs = Math.min(nextReadyMs, readyAtMs)
    }
    return { ready, nextReadyMs }
  }

  #readyAtMs(head: ProducerBatch, q: PartitionQueue, flushAll: boolean): number {
    const full = head.closed || q.batches.length > 1 || flushAll
    return Math.max(head.retryAtMs, full ? 0 : head.createdMs + this.#options.lingerMs)
  }

  /** Removes a partition's head batch for sending; the partition stays muted until complete/requeue. */
  take(batch: ProducerBatch): void {
    const q = this.#queue(batch.topic, batch.partition)
    if (q.batches[0] !== batch || q.inflight) throw new Error(`take: ${batch.topic}-${batch.partition} head mismatch or already in flight`)
    q.batches.shift()
    q.inflight = true
    batch.closed = true
  }

  /** A taken batch is done for good (acknowledged or failed): its partition may send again. */
  complete(batch: ProducerBatch): void {
    const key = tpKey(batch.topic, batch.partition)
    const q = this.#queues.get(key)
    if (q === undefined) return
    q.inflight = false
    if (q.batches.length === 0) this.#queues.delete(key)
  }

  /** A taken batch failed with a retriable error: it goes back to the head, before newer batches. */
  requeue(batch: ProducerBatch, retryAtMs: number): void {
    const q = this.#queue(batch.topic, batch.partition)
    batch.retryAtMs = retryAtMs
    q.batches.unshift(batch)
    q.inflight = false
  }

  /** Removes a head batch that never left (no leader for too long); the caller fails it. */
  abandon(batch: ProducerBatch): void {
    this.take(batch)
    this.complete(batch)
  }

  /** Whether `batch` is its partition's head and nothing of that partition is in flight. */
  isWaitingHead(batch: ProducerBatch): boolean {
    const q = this.#queues.get(tpKey(batch.topic, batch.partition))
    return q !== undefined && !q.inflight && q.batches[0] === batch
  }

  /** Batches not yet taken, per partition, oldest first (for tests and diagnostics). */
  queued(topic: string, partition: number): readonly ProducerBatch[] {
    return this.#queues.get(tpKey(topic, partition))?.batches ?? []
  }

  #queue(topic: string, partition: number): PartitionQueue {
    const key = tpKey(topic, partition)
    let q = this.#queues.get(key)
    if (q === undefined) {
      q = { topic, partition, batches: [], inflight: false }
      this.#queues.set(key, q)
    }
    return q
  }
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
