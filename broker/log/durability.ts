// One partition log's durability: how far it is fsynced (the recovery point), the flush policy's
// counters (`flush.messages`, `flush.ms`), and group commit for `fsync: always`.
//
// No file of its own: it fdatasyncs the segments' .log files (segment.ts) and moves the recovery
// point, which the LogManager checkpoints per data dir (checkpoint.ts). Only Log calls it: the
// append path (`written`, and `durable` right after an append's write), flushes, truncations and
// deletion, each under Log's mutation lock. Sync rounds then run outside that lock, so the next
// appends' writes overlap the fdatasync of the ones before.

import type { Logger } from 'pino'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import type { Segment } from './segment.js'

/** What a sync round reads of its log (Log itself): where it ends and which segments it has. */
export interface SyncTarget {
  readonly dir: string
  readonly logEndOffset: bigint
  /** Oldest first; replaced, never mutated, when the log changes (see Log.segmentsSnapshot). */
  segmentsSnapshot(): readonly Segment[]
}

export interface DurabilityOptions {
  log: SyncTarget
  clock: () => number
  logger: Logger
  /** Offsets below it were fsynced when the log was opened. */
  recoveryPoint: bigint
}

/** An append waiting for a sync round to cover the offsets below `end`. */
interface SyncWaiter {
  end: bigint
  resolve: () => void
  reject: (err: Error) => void
}

export class Durability {
  readonly #log: SyncTarget
  readonly #clock: () => number
  readonly #logger: Logger
  /** Offsets below it are fsynced. */
  #recoveryPoint: bigint
  /** Records appended since the last flush, for `flush.messages`. */
  #unflushedMessages = 0
  /** Clock time of the oldest unflushed append, for `flush.ms`; null when all is flushed. */
  #unflushedSinceMs: number | null = null
  /** Appends waiting for a sync round to cover them (fsync: always), in log order. */
  #syncWaiters: SyncWaiter[] = []
  /** fdatasync calls on the log's .log files since it was opened (a metric; group commit keeps it below the appends). */
  #fsyncs = 0
  /** Set by a failed fsync: the log refuses every write from then on (see `#syncRounds`). */
  #failed: StrandProtocolError | null = null
  /** A sync round is running (`#syncRounds`). */
  #syncing = false
  /** Truncations so far: a sync round that saw one begin under it does not advance the recovery point. */
  #truncations = 0

  constructor(options: DurabilityOptions) {
    this.#log = options.log
    this.#clock = options.clock
    this.#logger = options.logger
    this.#recoveryPoint = options.recoveryPoint
  }

  /** Offsets below it are fsynced. */
  get recoveryPoint(): bigint {
    return this.#recoveryPoint
  }

  /** fdatasync calls on the log's .log files since it was opened. */
  get fsyncs(): number {
    return this.#fsyncs
  }

  /** The error of a failed fsync, which every later write of the log throws; null while none failed. */
  get failed(): StrandProtocolError | null {
    return this.#failed
  }

  /**
   * Counts `messages` records just written (under the append lock) toward the flush policy.
   * Returns how many are unflushed now, for the caller's `flush.messages` check.
   */
  written(messages: number): number {
    this.#unflushedMessages += messages
    this.#unflushedSinceMs ??= this.#clock()
    return this.#unflushedMessages
  }

  /**
   * Group commit: resolves once everything below `end` is fsynced. Appends written while a sync
   * round is in flight wait for the next round, which one fdatasync per segment file covers
   * however many appends it holds; the append lock is free meanwhile, so writes overlap syncs.
   */
  durable(end: bigint): Promise<void> {
    if (this.#recoveryPoint >= end) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#syncWaiters.push({ end, resolve, reject })
      if (!this.#syncing) void this.#syncRounds()
    })
  }

  /**
   * `durable` for offsets an earlier append wrote (a producer's retry that idempotence found in
   * the log): rejects at once after a failed fsync, or when `end` is past the log end.
   */
  untilDurable(end: bigint): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed)
    const logEnd = this.#log.logEndOffset
    if (end > logEnd) return Promise.reject(new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Offset ${end} is past the log end ${logEnd} of ${this.#log.dir}.`))
    return this.durable(end)
  }

  /** Sync rounds while appends wait for one. Each covers the log end as it was when it began. */
  async #syncRounds(): Promise<void> {
    this.#syncing = true
    try {
      while (this.#syncWaiters.length > 0) {
        const target = this.#log.logEndOffset
        const generation = this.#truncations
        const from = this.#recoveryPoint
        const dirty = this.#log.segmentsSnapshot().filter((s) => s.nextOffset > from)
        this.#fsyncs += dirty.length
        try {
          await Promise.all(dirty.map((s) => s.flush()))
        } catch (err) {
          // What the page cache holds after a failed fsync cannot be trusted to reach the disk
          // (a retry may report success for pages the kernel already dropped), so the log takes
          // no more writes: every append waiting and every later one fails, as a Kafka log
          // directory goes offline.
          const dir = this.#log.dir
          this.#logger.error({ subsystem: 'log', dir, err: (err as Error).message }, 'fsync failed; the log refuses writes from now on')
          this.#failed = new StrandProtocolError('KAFKA_STORAGE_ERROR', `An fsync of ${dir} failed: ${(err as Error).message}`)
          this.#failSyncWaiters(-1n, this.#failed, { above: true })
          return
        }
        // A truncation meanwhile may have replaced offsets below `target` with unsynced ones.
        if (generation === this.#truncations) this.#advanceRecoveryPoint(target)
      }
    } finally {
      this.#syncing = false
    }
  }

  /** Offsets below `end` are fsynced: appends waiting for them resolve, in log order. */
  #advanceRecoveryPoint(end: bigint): void {
    if (end > this.#recoveryPoint) this.#recoveryPoint = end
    if (this.#recoveryPoint >= this.#log.logEndOffset) {
      this.#unflushedMessages = 0
      this.#unflushedSinceMs = null
    }
    const waiters = this.#syncWaiters
    let done = 0
    while (done < waiters.length && waiters[done]!.end <= this.#recoveryPoint) waiters[done++]!.resolve()
    if (done > 0) this.#syncWaiters = waiters.slice(done)
  }

  /** Under the lock: fsyncs everything appended so far and advances the recovery point. */
  async flush(): Promise<void> {
    const end = this.#log.logEndOffset
    if (end === this.#recoveryPoint && this.#unflushedSinceMs === null) return
    // Every segment past the recovery point may hold unsynced data: the active one and any rolled since.
    for (const s of this.#log.segmentsSnapshot()) {
      if (s.nextOffset <= this.#recoveryPoint) continue
      this.#fsyncs++
      await s.flush()
    }
    this.#advanceRecoveryPoint(end)
  }

  /** Under the lock: flushes when `flushMs` (>= 0) has passed since the oldest unflushed append. */
  async flushIfDue(flushMs: number): Promise<void> {
    const since = this.#unflushedSinceMs
    if (since !== null && flushMs >= 0 && this.#clock() - since >= flushMs) await this.flush()
  }

  /**
   * Under the lock, before a truncation's first await: appends past `offset` fail (their records
   * go; -1n: every append waiting), and a sync round in flight or starting before the truncation
   * ends does not advance the recovery point, since its target may name offsets the truncation
   * replaces (the count moves again, in `endTruncation` or `restartAt`, once the log end is final).
   */
  beginTruncation(offset: bigint): void {
    this.#truncations++
    this.#failSyncWaiters(offset, new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `The log in ${this.#log.dir} was truncated to ${offset} before the append was fsynced.`), { above: true })
  }

  /** Under the lock, once a truncation has cut the log: the recovery point comes back within it. */
  endTruncation(): void {
    const logEnd = this.#log.logEndOffset
    if (logEnd < this.#recoveryPoint) this.#recoveryPoint = logEnd
    this.#truncations++
  }

  /** Under the lock, once the log was emptied to restart at `offset`: nothing in it is unflushed. */
  restartAt(offset: bigint): void {
    this.#recoveryPoint = offset
    this.#unflushedMessages = 0
    this.#unflushedSinceMs = null
    this.#truncations++
  }

  /** Under the lock, as the log is deleted: every append still waiting fails with `err`. */
  abandon(err: Error): void {
    this.#truncations++
    this.#failSyncWaiters(-1n, err, { above: true })
  }

  /** Appends below `end` (a failed sync) or at or past it (truncated away) fail with `err`. */
  #failSyncWaiters(end: bigint, err: Error, options: { above?: boolean } = {}): void {
    const failed = this.#syncWaiters.filter((w) => (options.above === true ? w.end > end : w.end <= end))
    if (failed.length === 0) return
    this.#syncWaiters = this.#syncWaiters.filter((w) => !failed.includes(w))
    for (const w of failed) w.reject(err)
  }
}
