// What a partition leader checks of a producer's batches before its log sees them (Kafka's
// LogValidator): every record parses, the batches are ones a client may send, and a producer's
// appends reach the log in the order they arrived even though validation may yield.
//
// Only the leader's append path (Partition.appendAsLeader) calls this. The log checks bounds and
// CRCs again before writing; these checks are about content the CRC does not vouch for (a valid
// CRC over garbage records would poison the partition for every consumer).

import { StrandProtocolError } from '../../client/protocol/errors.js'
import { isControlBatch, isTransactionalBatch, validateBatchRecords, validateBatchRecordsAsync, type BatchSpan } from '../../client/protocol/records.js'
import { Limiter } from './bounded.js'

/**
 * Compressed batches inflated at once by this broker, on libuv's thread pool (4 threads, shared
 * with every file read, write and fsync): two leave the log's I/O room when a Produce of zip bombs
 * (each ~64 KiB on the wire, BATCH_BYTES_MAX inflated, ~60-100 ms of CPU) arrives on several
 * partitions at once.
 */
const DECOMPRESSIONS_MAX = 2
const decompressions = new Limiter(DECOMPRESSIONS_MAX)

/** Who wrote a leader's append: a producer's Produce, or a coordinator for a producer (no sequence check). */
export type AppendOrigin = 'client' | 'coordinator'

/**
 * Checks that every record of the batches parses, inflating compressed batches off the event
 * loop (validateBatchRecordsAsync). Inflated on the loop, one yielding turn per batch, a Produce
 * of bombs on three partitions held the loop ~300 ms per turn (one bomb per partition each turn),
 * and a broker missed probes by seconds on a loaded machine (the protocol fuzzer's bomber).
 */
async function validateRecords(records: Buffer, spans: readonly BatchSpan[]): Promise<void> {
  for (const span of spans) {
    if (span.header.compression === 'none') validateBatchRecords(records, span.pos, span.header, span.sizeBytes)
    else await decompressions.run(() => validateBatchRecordsAsync(records, span.pos, span.header, span.sizeBytes))
  }
}

/**
 * Each producer's last leader append's record validation, by producer id; batches without one by
 * their connection (the append's `orderKey`), else in one chain (-1). Validation may yield
 * (validateRecords), and a producer's appends must reach the log in the order they arrived (its
 * sequence numbers; that order is the order of the log.append calls after it), so each waits for
 * that producer's one before. Appends of other producers do not wait: one chain per partition
 * made a producer's appends wait for every compressed batch ahead of it, a Produce of 60 zip
 * bombs stalled the fuzzer's healthy producer for 11 s, and one chain for every batch without a
 * producer id stalled a plain Kafka client 27.6 s behind another client's bombs.
 */
export class ValidationChains {
  /** The tail of each chain; an entry goes once its chain has settled, so the map holds only chains with work in flight. */
  readonly #tails = new Map<bigint | object, Promise<unknown>>()

  /** Validates `records` after the chain of their producer (or `orderKey`) has settled; rejects when a record does not parse. */
  validate(records: Buffer, spans: readonly BatchSpan[], orderKey: object | undefined): Promise<void> {
    const producer = spans.length === 1 && spans[0]!.header.producerId >= 0n ? spans[0]!.header.producerId : (orderKey ?? -1n)
    const validated = (this.#tails.get(producer) ?? Promise.resolve()).then(() => validateRecords(records, spans))
    const settled = validated.catch(() => undefined)
    this.#tails.set(producer, settled)
    void settled.then(() => {
      if (this.#tails.get(producer) === settled) this.#tails.delete(producer)
    })
    return validated
  }
}

/**
 * The batches are ones a client may produce: no control batch (the broker writes those), a
 * transactional batch only with a transactional id, and an idempotent producer's one batch per
 * partition. Returns whether the append is idempotent (it carries a producer id).
 */
export function checkProducedBatches(spans: readonly BatchSpan[], from: { origin?: AppendOrigin; transactionalId?: string | null }): { idempotent: boolean } {
  if (spans.some((span) => isControlBatch(span.header))) {
    throw new StrandProtocolError('INVALID_RECORD', `Control batches are written by the broker (WriteTxnMarkers), not produced.`)
  }
  // A transactional batch opens a transaction that holds the last stable offset back until a
  // marker closes it: only a producer of a transactional id (authorized for it, at the gate) may
  // send one, as in Kafka. (Checking that the partition was added to that producer's
  // transaction, KIP-890, is not done yet.)
  if (from.origin !== 'coordinator' && (from.transactionalId ?? null) === null && spans.some((span) => isTransactionalBatch(span.header))) {
    throw new StrandProtocolError('INVALID_RECORD', 'A transactional batch needs the Produce request\'s transactionalId.')
  }
  const idempotent = spans.some((span) => span.header.producerId >= 0n)
  if (idempotent && spans.length !== 1) {
    throw new StrandProtocolError('INVALID_RECORD', `An idempotent producer sends one batch per partition per request; this one has ${spans.length}.`)
  }
  return { idempotent }
}
