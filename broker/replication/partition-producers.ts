// One partition's producer state kept in line with its log (KIP-98): idempotent producers'
// sequences and open transactions (producer-state.ts holds them), rebuilt by replaying the log's
// tail on first need and again after anything that makes it disagree with the log (a truncation,
// a failed write), and the aborted transactions a marker closed whose .txnindex entry is still
// being written.
//
// Only Partition calls it: its leader appends record batches and markers here inside the log's
// append lock (`beforeWrite`), its follower appends apply the leader's batches, and its reads ask
// for the last stable offset and the aborted transactions of what they read.
//
// Invariants: the state is derived from the log and never ahead of it; until a replay finishes
// (`loaded`), the open transactions are unknown, so the last stable offset stays at or before the
// replayed tail's start. An abort is findable by reads from the moment it closes its transaction:
// in `#pendingAborts` until its .txnindex write is done, in the log's index after.

import { StrandProtocolError } from '../../client/protocol/errors.js'
import { batchSizeAt, CONTROL_TYPE, controlTypeAt, coordinatorEpochAt, isControlBatch, isTransactionalBatch, readBatchHeader, type BatchHeader } from '../../client/protocol/records.js'
import type { Log } from '../log/log.js'
import type { AbortedTxn } from '../log/txn-index.js'
import type { AppendOrigin } from './leader-batches.js'
import { ProducerStateManager, type CompletedTxn, type ProducerBatch } from './producer-state.js'

/** How much of a log's tail is replayed to rebuild producer state: producers silent for longer lose deduplication. */
export const PRODUCER_STATE_SCAN_BYTES = 256 * 1024 * 1024
/** Bytes read per step when replaying producer state. */
const SCAN_CHUNK_BYTES = 4 * 1024 * 1024
/** A record batch's fixed header: a tail shorter than this cannot hold a whole batch. */
const BATCH_HEADER_BYTES = 61

/** Thrown inside the log's append lock when the batch is a retry of one already appended. */
export class DuplicateBatch extends Error {
  constructor(readonly batch: ProducerBatch) {
    super('duplicate batch')
  }
}

export class PartitionProducers {
  readonly producers = new ProducerStateManager()
  readonly #log: Log
  /** Producer state is rebuilt from the log on first need, and again after a truncation. */
  #ready: Promise<void> | null = null
  /**
   * The rebuild behind `#ready` finished: open transactions are known, so the last stable offset
   * may pass the replayed tail's start. Until then read_committed reads nothing new.
   */
  #loaded = false
  /** Aborted transactions closed in producer state whose .txnindex entry is still being written. */
  #pendingAborts: AbortedTxn[] = []
  /** Appends waiting for a marker to close their producer's previous transaction, by producer id. */
  readonly #markerWaiters = new Map<bigint, Set<() => void>>()

  constructor(log: Log) {
    this.#log = log
  }

  /** The replay finished: the open transactions are known. */
  get loaded(): boolean {
    return this.#loaded
  }

  /** A replay is running or done (false: nobody asked since the last reset). */
  get started(): boolean {
    return this.#ready !== null
  }

  /**
   * The last stable offset under high watermark `hw`: held back to the first offset of the oldest
   * open transaction; before the replay is done, no later than where it starts. Asked per fetch:
   * must not allocate.
   */
  lastStableOffset(hw: bigint): bigint {
    const open = this.#loaded ? this.producers.firstUnstableOffset : minBigint(this.#log.tailStartOffset(PRODUCER_STATE_SCAN_BYTES), hw)
    return open !== null && open < hw ? open : hw
  }

  /** Replays producer state from the log's tail once, before its first use. */
  ensure(): Promise<void> {
    if (this.#ready !== null) return this.#ready
    const ready: Promise<void> = this.#rebuild().then(
      () => {
        if (this.#ready === ready) this.#loaded = true
      },
      (err: unknown) => {
        if (this.#ready === ready) this.#ready = null
        throw err
      },
    )
    this.#ready = ready
    return ready
  }

  /** Producer state no longer matches the log (a failed write, a truncation): replayed before it is used again. */
  reset(): void {
    this.#ready = null
    this.#loaded = false
    this.producers.clear()
    this.wakeMarkerWaiters()
  }

  /**
   * A transactional batch of its producer's next transaction (KIP-890's epoch per transaction)
   * while the previous one is still open here: waits, at most `waitMs`, for the marker that
   * closes it, which the coordinator is writing already. Returns at once for any other batch.
   * The check is made again inside the append lock (CONCURRENT_TRANSACTIONS if still open).
   */
  async untilPreviousTxnClosed(header: BatchHeader, waitMs: number): Promise<void> {
    const deadline = performance.now() + waitMs
    // Woken by a marker, or by a reset (the state is replayed first, then asked again).
    for (;;) {
      await this.ensure()
      if (!this.producers.awaitsMarker(header)) return
      const left = deadline - performance.now()
      if (left <= 0) return
      await this.#markerOrTimeout(header.producerId, left)
    }
  }

  #markerOrTimeout(producerId: bigint, waitMs: number): Promise<void> {
    const waiters = this.#markerWaiters.get(producerId) ?? new Set<() => void>()
    this.#markerWaiters.set(producerId, waiters)
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        waiters.delete(done)
        if (waiters.size === 0 && this.#markerWaiters.get(producerId) === waiters) this.#markerWaiters.delete(producerId)
        resolve()
      }
      const timer = setTimeout(done, waitMs)
      timer.unref()
      waiters.add(done)
    })
  }

  /** Appends waiting for a marker now. */
  get markerWaiters(): number {
    let n = 0
    for (const w of this.#markerWaiters.values()) n += w.size
    return n
  }

  /** Wakes every append waiting for a marker (the state was reset, or this broker stopped leading): each checks again. */
  wakeMarkerWaiters(producerId?: bigint): void {
    const lists = producerId === undefined ? [...this.#markerWaiters.values()] : [this.#markerWaiters.get(producerId) ?? new Set<() => void>()]
    for (const waiters of lists) for (const wake of [...waiters]) wake()
  }

  /**
   * Replays the log's tail into producer state. Aborts met on the way are indexed again: an entry
   * a crash lost before its .txnindex write is restored (txn-index.ts).
   */
  async #rebuild(): Promise<void> {
    this.producers.clear()
    this.#loaded = false
    const log = this.#log
    let offset = log.tailStartOffset(PRODUCER_STATE_SCAN_BYTES)
    const end = log.logEndOffset
    const aborted: AbortedTxn[] = []
    while (offset < end) {
      const { records, nextOffset } = await log.read(offset, SCAN_CHUNK_BYTES, { maxOffset: end })
      let pos = 0
      while (pos + BATCH_HEADER_BYTES <= records.length) {
        const size = batchSizeAt(records, pos)
        if (pos + size > records.length) break
        const abort = this.applyBatch(records, pos, size, readBatchHeader(records, pos))
        if (abort !== null) aborted.push(abort)
        pos += size
      }
      if (nextOffset <= offset) break
      offset = nextOffset
    }
    await log.addAbortedTxns(aborted)
  }

  /**
   * A leader append's batch of a producer, placed at `baseOffset`, inside the log's append lock.
   * A coordinator's batch for a producer carries no sequence: only its epoch is checked. Throws
   * DuplicateBatch for a retry of a batch already in the log.
   */
  recordLeaderBatch(header: BatchHeader, baseOffset: bigint, origin: AppendOrigin | undefined): void {
    // Reset since the append was let through (a failed write): the open transactions are unknown
    // until the replay, so a transactional batch cannot be told apart from the previous one's.
    if (!this.#loaded && isTransactionalBatch(header)) {
      throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `Producer ${header.producerId}'s transactions here are being replayed; retry.`)
    }
    if (origin === 'coordinator') {
      this.producers.checkEpoch(header)
      this.producers.record(header, baseOffset)
      return
    }
    const decision = this.producers.check(header)
    if (decision.kind === 'duplicate') throw new DuplicateBatch(decision.batch)
    this.producers.record(header, baseOffset)
  }

  /**
   * A marker the leader places at `baseOffset`, inside the log's append lock: closes the producer's
   * transaction. Its abort is known to reads at once, since closing the transaction moves the last
   * stable offset past it at once; `indexAbort` writes it to the .txnindex after.
   */
  recordLeaderMarker(header: BatchHeader, baseOffset: bigint, m: { producerId: bigint; producerEpoch: number; transactionEpoch?: number; commit: boolean; coordinatorEpoch: number }): CompletedTxn | null {
    this.producers.checkMarker(m.producerId, m.producerEpoch, m.coordinatorEpoch, m.transactionEpoch ?? m.producerEpoch)
    const done = this.producers.recordMarker(header, baseOffset, m.commit, m.coordinatorEpoch)
    if (done !== null && !done.commit) this.#pendingAborts.push(this.#abortedEntry(done))
    // Their appends queue behind this one in the log's lock: they land after the marker.
    if (done !== null) this.wakeMarkerWaiters(m.producerId)
    return done
  }

  /**
   * Writes the abort `done` closed to the .txnindex (after the leader's abort marker). That entry,
   * not the newest pending one: with fsync: always another producer's abort marker can be placed
   * while this one waits for its fsync, and indexing the newest would leave this one's entry
   * only in memory.
   */
  indexAbort(done: CompletedTxn): Promise<void> {
    return this.indexAborts(this.#pendingAborts.filter((e) => e.producerId === done.producerId && e.lastOffset === done.lastOffset))
  }

  /**
   * Updates producer state with a batch in the log (replayed, or a follower's copy of the
   * leader's); returns the aborted transaction a marker closed, if any.
   */
  applyBatch(buf: Buffer, pos: number, sizeBytes: number, header: BatchHeader): AbortedTxn | null {
    if (header.producerId < 0n) return null
    if (!isControlBatch(header)) {
      this.producers.record(header, header.baseOffset)
      return null
    }
    const type = controlTypeAt(buf, pos, sizeBytes)
    if (type !== CONTROL_TYPE.commit && type !== CONTROL_TYPE.abort) return null
    const done = this.producers.recordMarker(header, header.baseOffset, type === CONTROL_TYPE.commit, coordinatorEpochAt(buf, pos, sizeBytes))
    return done !== null && !done.commit ? this.#abortedEntry(done) : null
  }

  /** Aborts a follower append closed: known to reads at once, written to the segments' .txnindex. */
  async addAborts(entries: readonly AbortedTxn[]): Promise<void> {
    this.#pendingAborts.push(...entries)
    await this.indexAborts(entries)
  }

  /** Writes aborts to the segments' .txnindex; until then reads find them in `#pendingAborts`. */
  async indexAborts(entries: readonly AbortedTxn[]): Promise<void> {
    try {
      await this.#log.addAbortedTxns(entries)
    } finally {
      this.#pendingAborts = this.#pendingAborts.filter((e) => !entries.includes(e))
    }
  }

  /** The aborted transactions overlapping [offset, nextOffset): indexed ones and those still being indexed. */
  abortedIn(offset: bigint, nextOffset: bigint): AbortedTxn[] {
    const found = this.#log.abortedTxns(offset, nextOffset)
    for (const e of this.#pendingAborts) {
      if (e.lastOffset >= offset && e.firstOffset < nextOffset && !found.some((f) => f.producerId === e.producerId && f.lastOffset === e.lastOffset)) found.push(e)
    }
    return found
  }

  #abortedEntry(t: CompletedTxn): AbortedTxn {
    return { producerId: t.producerId, firstOffset: t.firstOffset, lastOffset: t.lastOffset, lastStableOffset: this.producers.firstUnstableOffset ?? t.lastOffset + 1n }
  }
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}
