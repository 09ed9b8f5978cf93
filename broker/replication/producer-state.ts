// Idempotent producers' state in one partition (KIP-98): for each producer id, its epoch and its
// last PRODUCER_BATCHES_KEPT batches (sequence range and offsets). The leader consults it before
// appending a producer's batch: a retried batch it already has is answered with its original
// offsets instead of being appended again; a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER;
// an older epoch is INVALID_PRODUCER_EPOCH (a newer instance of the producer took over).
//
// The state is derived from the log, never stored apart from it: every batch with a producer id
// updates it, whether the leader appended it, a follower replicated it, or recovery replays it, so
// it travels with leadership. After a truncation it is rebuilt from the log's recent tail.
//
// Transactions: a transactional batch from producer P opens P's transaction at its first offset
// when none is open; P's control batch (a commit or abort marker) closes it. The first offset of
// the oldest open transaction bounds the partition's last stable offset (partition.ts): a
// read_committed consumer reads nothing at or past it until the transaction is decided.
//
// With an epoch per transaction (KIP-890) the producer's next transaction carries the next epoch,
// and may reach a partition before the marker of its previous one: such a batch is not appended
// until that marker closes the previous transaction (`awaitsMarker`; the leader holds it meanwhile,
// partition-producers.ts), or it would be decided with the previous one. A marker of the previous
// transaction arriving after the next one began here carries an older epoch and is refused.

import { StrandProtocolError } from '../../client/protocol/errors.js'
import { isTransactionalBatch, type BatchHeader } from '../../client/protocol/records.js'

/** Batches remembered per producer: a producer has at most this many in flight per partition. */
export const PRODUCER_BATCHES_KEPT = 5
const SEQUENCE_MAX = 2 ** 31 - 1

export interface ProducerBatch {
  firstSeq: number
  lastSeq: number
  firstOffset: bigint
  lastOffset: bigint
}

interface ProducerEntry {
  epoch: number
  /** Oldest first, at most PRODUCER_BATCHES_KEPT. */
  batches: ProducerBatch[]
  /** The coordinator epoch of the producer's last marker here (-1: none): an older one is a deposed coordinator's. */
  coordinatorEpoch: number
}

export type SequenceCheck = { kind: 'append' } | { kind: 'duplicate'; batch: ProducerBatch }

/** The sequence `n` after `seq`, wrapping past int32 max to 0 as Kafka does. */
export function nextSequence(seq: number, n = 1): number {
  return seq > SEQUENCE_MAX - n ? n - (SEQUENCE_MAX - seq) - 1 : seq + n
}

type Header = Pick<BatchHeader, 'producerId' | 'producerEpoch' | 'baseSequence' | 'lastOffsetDelta'> & Partial<Pick<BatchHeader, 'attributes'>>

/** A transaction a marker closed: its producer, its first data offset, the marker's offset. */
export interface CompletedTxn {
  producerId: bigint
  firstOffset: bigint
  lastOffset: bigint
  commit: boolean
}

export class ProducerStateManager {
  readonly #producers = new Map<bigint, ProducerEntry>()
  /** Open transactions: producer id to the first offset of its transaction. */
  readonly #openTxns = new Map<bigint, bigint>()
  /** The smallest first offset in `#openTxns` (null when none is open), kept so reads need no scan. */
  #firstUnstableOffset: bigint | null = null

  /** The first offset of the oldest open transaction, or null. */
  get firstUnstableOffset(): bigint | null {
    return this.#firstUnstableOffset
  }

  get openTxnCount(): number {
    return this.#openTxns.size
  }

  /** The first offset of `producerId`'s open transaction, or undefined. */
  openTxnOf(producerId: bigint): bigint | undefined {
    return this.#openTxns.get(producerId)
  }

  /**
   * Whether `h` is a transactional batch of its producer's next transaction (a newer epoch: the
   * coordinator gives a producer an epoch per transaction, KIP-890) while the producer's previous
   * transaction is still open here, its marker not written yet. Appended before that marker, the
   * batch would join the previous transaction and be committed or aborted with it: it waits.
   */
  awaitsMarker(h: Pick<BatchHeader, 'producerId' | 'producerEpoch' | 'attributes'>): boolean {
    if (!isTransactionalBatch(h) || !this.#openTxns.has(h.producerId)) return false
    const e = this.#producers.get(h.producerId)
    return e !== undefined && h.producerEpoch > e.epoch
  }

  #refuseBeforeMarker(h: Pick<BatchHeader, 'producerId' | 'producerEpoch' | 'attributes'>): void {
    if (this.awaitsMarker(h)) {
      throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `Producer ${h.producerId}'s transaction before epoch ${h.producerEpoch} has no marker here yet; retry.`)
    }
  }

  /**
   * The leader's check of a marker before appending it: INVALID_PRODUCER_EPOCH for an epoch older
   * than the producer's here (Kafka's zombie-coordinator / fenced-producer check).
   */
  checkMarker(producerId: bigint, producerEpoch: number, coordinatorEpoch = -1, transactionEpoch = producerEpoch): void {
    const e = this.#producers.get(producerId)
    if (e !== undefined && producerEpoch < e.epoch) {
      throw new StrandProtocolError('INVALID_PRODUCER_EPOCH', `A marker for producer ${producerId} at epoch ${producerEpoch} is older than its epoch ${e.epoch} here.`)
    }
    // The marker of a transaction at `transactionEpoch`, sent again after the producer's next
    // transaction (a later epoch) began here: it must not close that one.
    if (e !== undefined && this.#openTxns.has(producerId) && e.epoch > transactionEpoch) {
      throw new StrandProtocolError('INVALID_PRODUCER_EPOCH', `A marker for producer ${producerId}'s transaction at epoch ${transactionEpoch}; its open transaction here is at epoch ${e.epoch}.`)
    }
    // A coordinator that lost its partition (cut off, its lease lapsed) may still be retrying an
    // old transaction's markers after its successor completed that transaction and the producer
    // opened the next one: its marker would close the new transaction (Kafka's check too).
    if (e !== undefined && coordinatorEpoch < e.coordinatorEpoch) {
      throw new StrandProtocolError('TRANSACTION_COORDINATOR_FENCED', `A marker for producer ${producerId} from coordinator epoch ${coordinatorEpoch}; epoch ${e.coordinatorEpoch} wrote here already.`)
    }
  }

  /**
   * The leader's check of a coordinator's batch for a producer (TxnOffsetCommit): it has no
   * sequence, so only the epoch fences it, INVALID_PRODUCER_EPOCH when older than the producer's.
   */
  checkEpoch(h: Pick<BatchHeader, 'producerId' | 'producerEpoch' | 'attributes'>): void {
    const { producerId, producerEpoch } = h
    this.#refuseBeforeMarker(h)
    const e = this.#producers.get(producerId)
    if (e !== undefined && producerEpoch < e.epoch) {
      throw new StrandProtocolError('INVALID_PRODUCER_EPOCH', `Producer ${producerId} epoch ${producerEpoch} is older than ${e.epoch}.`)
    }
  }

  /** A marker for `h`'s producer is in the log at `offset`: closes its open transaction, if any. */
  recordMarker(h: Pick<BatchHeader, 'producerId' | 'producerEpoch'>, offset: bigint, commit: boolean, coordinatorEpoch = -1): CompletedTxn | null {
    let e = this.#producers.get(h.producerId)
    // A marker may carry a bumped epoch (the coordinator aborting a timed-out transaction): the
    // producer's older batches are fenced from then on, and its next epoch starts at sequence 0.
    if (e === undefined || h.producerEpoch > e.epoch) {
      e = { epoch: h.producerEpoch, batches: [], coordinatorEpoch: e?.coordinatorEpoch ?? -1 }
      this.#producers.set(h.producerId, e)
    }
    if (coordinatorEpoch > e.coordinatorEpoch) e.coordinatorEpoch = coordinatorEpoch
    const firstOffset = this.#openTxns.get(h.producerId)
    if (firstOffset === undefined) return null
    this.#openTxns.delete(h.producerId)
    if (firstOffset === this.#firstUnstableOffset) this.#firstUnstableOffset = this.#smallestOpen()
    return { producerId: h.producerId, firstOffset, lastOffset: offset, commit }
  }

  #smallestOpen(): bigint | null {
    let least: bigint | null = null
    for (const o of this.#openTxns.values()) if (least === null || o < least) least = o
    return least
  }

  get producerCount(): number {
    return this.#producers.size
  }

  /** The leader's decision on a producer's batch, before appending it. */
  check(h: Header): SequenceCheck {
    const lastSeq = nextSequence(h.baseSequence, h.lastOffsetDelta)
    const e = this.#producers.get(h.producerId)
    if (h.baseSequence < 0) throw new StrandProtocolError('INVALID_RECORD', `Producer ${h.producerId} sent a batch without a sequence number.`)
    if (e === undefined) {
      if (h.baseSequence !== 0) throw new StrandProtocolError('UNKNOWN_PRODUCER_ID', `No state for producer ${h.producerId} (it may have expired); its batch starts at sequence ${h.baseSequence}, not 0.`)
      return { kind: 'append' }
    }
    if (h.producerEpoch < e.epoch) throw new StrandProtocolError('INVALID_PRODUCER_EPOCH', `Producer ${h.producerId} epoch ${h.producerEpoch} is older than ${e.epoch}.`)
    if (h.producerEpoch > e.epoch) {
      this.#refuseBeforeMarker({ producerId: h.producerId, producerEpoch: h.producerEpoch, attributes: h.attributes ?? 0 })
      if (h.baseSequence !== 0) throw new StrandProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Producer ${h.producerId} started epoch ${h.producerEpoch} at sequence ${h.baseSequence}, not 0.`)
      return { kind: 'append' }
    }
    const duplicate = e.batches.find((b) => b.firstSeq === h.baseSequence && b.lastSeq === lastSeq)
    if (duplicate !== undefined) return { kind: 'duplicate', batch: duplicate }
    const last = e.batches[e.batches.length - 1]
    const expected = last === undefined ? 0 : nextSequence(last.lastSeq)
    if (h.baseSequence !== expected) {
      throw new StrandProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Producer ${h.producerId} sent sequence ${h.baseSequence}; the next expected is ${expected}.`)
    }
    return { kind: 'append' }
  }

  /** A producer's batch is in the log at `baseOffset`. */
  record(h: Header, baseOffset: bigint): void {
    if (h.producerId < 0n) return
    let e = this.#producers.get(h.producerId)
    if (e === undefined || h.producerEpoch > e.epoch) {
      e = { epoch: h.producerEpoch, batches: [], coordinatorEpoch: e?.coordinatorEpoch ?? -1 }
      this.#producers.set(h.producerId, e)
    }
    if (h.attributes !== undefined && isTransactionalBatch({ attributes: h.attributes }) && !this.#openTxns.has(h.producerId)) {
      this.#openTxns.set(h.producerId, baseOffset)
      if (this.#firstUnstableOffset === null || baseOffset < this.#firstUnstableOffset) this.#firstUnstableOffset = baseOffset
    }
    e.batches.push({ firstSeq: h.baseSequence, lastSeq: nextSequence(h.baseSequence, h.lastOffsetDelta), firstOffset: baseOffset, lastOffset: baseOffset + BigInt(h.lastOffsetDelta) })
    if (e.batches.length > PRODUCER_BATCHES_KEPT) e.batches.shift()
  }

  clear(): void {
    this.#producers.clear()
    this.#openTxns.clear()
    this.#firstUnstableOffset = null
  }
}
