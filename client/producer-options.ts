// The producer's options and their resolution: defaults filled in and every value checked when a
// producer is made (Producer's constructor calls resolveProducerOptions), so a setting that
// cannot work (a batch that fits no request, idempotence without acks 'all') is refused before
// anything is sent. The sender (sender.ts) reads only the resolved options.

import { BATCH_HEADER_BYTES, type Compression } from './protocol/records.js'
import { INFLIGHT_PER_PARTITION_MAX } from './accumulator.js'
import type { RetryOptions } from './cluster.js'
import { InvalidArgumentError } from './errors.js'
import { TRANSACTION_TIMEOUT_MS_DEFAULT } from './transactions.js'

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

/** ProducerOptions with every default filled in and every value checked. */
export interface ResolvedProducerOptions {
  /** -1 is 'all'. */
  acks: -1 | 0 | 1
  timeoutMs: number
  lingerMs: number
  batchBytes: number
  bufferBytesMax: number
  requestBytesMax: number
  compression: Compression
  retries: number
  /** The client's retry options: the backoffs between a batch's retries, refreshes and InitProducerId calls. */
  retry: RetryOptions
  idempotent: boolean
  maxInflightPerPartition: number
  transactionalId: string | null
  transactionTimeoutMs: number
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

/**
 * Room in a Produce request for the header, client id and fixed fields: what requestBytesMax
 * leaves for batches (here, the producer's record bound, and the sender's request split).
 */
export const REQUEST_FIXED_BYTES = 1024

const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'deflate', 'brotli']

function nonNegativeInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${v}.`)
  return v
}

function resolveAcks(acks: Acks | undefined): -1 | 0 | 1 {
  if (acks === undefined || acks === 'all' || acks === -1) return DEFAULTS.acks
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
  // Kafka's default regardless of idempotence; without it, above 1 a retry may reorder (see sender.ts).
  const max = o.maxInflightPerPartition ?? INFLIGHT_PER_PARTITION_MAX
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError(`maxInflightPerPartition must be a positive integer, got ${max}.`)
  if (max > INFLIGHT_PER_PARTITION_MAX) {
    throw new InvalidArgumentError(
      `maxInflightPerPartition ${max} is above ${INFLIGHT_PER_PARTITION_MAX} (Kafka's bound, and the batches per partition a leader remembers to recognise idempotent retries).`,
    )
  }
  return { idempotent, maxInflightPerPartition: max }
}

/**
 * Fills in the defaults of `o` and checks every value; throws InvalidArgumentError on the first
 * that cannot work. `retry` is the client's: it gives the default of `retries` and the backoffs.
 */
export function resolveProducerOptions(o: ProducerOptions, retry: RetryOptions): ResolvedProducerOptions {
  const compression = o.compression ?? DEFAULTS.compression
  if (!COMPRESSIONS.includes(compression)) throw new InvalidArgumentError(`Unknown compression "${compression}".`)
  const acks = resolveAcks(o.acks)
  const r: ResolvedProducerOptions = {
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
