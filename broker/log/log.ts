// One partition's log: an ordered list of segments in `<dataDir>/<topic>-<partition>/`.
//
//   00000000000000000000.log  .index  .timeindex     oldest segment (log start offset = its base)
//   00000000000000004096.log  .index  .timeindex
//   00000000000000009120.log  .index  .timeindex     active segment: the only one appended to
//
// Callers: the partition (append as leader or follower, read, truncate), the LogManager
// (open, flush, retention, close) and the log cleaner (replaceSegments swaps in a compacted copy of
// closed segments; offsets then have gaps, which reads skip). Every mutation goes through
// `#serialize`, so appends to one partition are applied one at a time and in order; reads are not
// serialized and see only whole batches (see Segment). What of the log is fsynced, and group
// commit for `fsync: always`, is durability.ts's.

import assert from 'node:assert/strict'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { decodeBatch, patchBatch, verifyBatches, type BatchSpan } from '../../client/protocol/records.js'
import { fsyncDir } from './checkpoint.js'
import { deletesOnRetention, type LogConfig } from './config.js'
import { Durability } from './durability.js'
import type { ReadCache, TailCache } from './read-cache.js'
import { noCrashPoint, Segment, SEGMENT_OFFSETS_MAX, type AppendedBatch, type CrashPoint } from './segment.js'
import { recoverStagedSegments } from './swap-files.js'
import type { AbortedTxn } from './txn-index.js'

export interface AppendOptions {
  /** Leader append: give the batches the next offsets. Follower append: keep theirs (must be contiguous). */
  assignOffsets: boolean
  /** Stamped into each batch when assigning offsets (the leader's epoch). */
  leaderEpoch?: number
  /**
   * Runs with the batches' offsets placed, in log order (under the append lock), before anything
   * is written; throwing cancels the append. The leader checks producer sequences here.
   */
  beforeWrite?: (batches: readonly AppendedBatch[]) => void
  /**
   * With fsync: always, runs once the batches are written and readable, before the fsync that the
   * append then waits for: a leader wakes its followers' fetches here, so their fetch, write and
   * fsync overlap its own fsync instead of following it. (Without fsync the append resolves then.)
   */
  onWritten?: () => void
  /**
   * The batches as the caller already verified them (verifyBatches: bounds and CRCs, on these very
   * bytes), so they are not checked twice; absent, the log verifies them. A partition's leader and
   * follower appends verify before they act on the batches, so each batch's CRC is computed once.
   */
  verified?: readonly BatchSpan[]
}

export interface AppendInfo {
  firstOffset: bigint
  lastOffset: bigint
  /** -1: records keep their CreateTime (Kafka reports -1 unless LogAppendTime is configured). */
  logAppendTimeMs: number
  /** Bytes appended. */
  sizeBytes: number
}

export interface LogOpenOptions {
  dir: string
  config: LogConfig
  clock: () => number
  logger: Logger
  /** Offsets below it were fsynced before the last checkpoint. */
  recoveryPoint: bigint
  /** The data dir was closed cleanly: trust persisted indexes and skip validation. */
  cleanShutdown: boolean
  /** Keeps the active segment's latest appends in memory for reads (read-cache.ts); absent, every read goes to the files. */
  readCache?: ReadCache
}

const LOG_SUFFIX = '.log'

export class Log {
  readonly dir: string
  config: LogConfig
  readonly #clock: () => number
  readonly #logger: Logger
  /**
   * Ascending by base offset; never empty; the last one is active. Copy-on-write: mutations
   * replace the array, so a read iterating a snapshot across awaits never sees it shift.
   */
  #segments: readonly Segment[]
  /** The recovery point, the flush policy's counters and group commit (durability.ts). */
  readonly #durability: Durability
  /** Tail of the mutation queue. */
  #chain: Promise<unknown> = Promise.resolve()
  #closed = false
  /**
   * The active segment's latest appends, in memory; null without a read cache. Cleared whenever
   * the active segment changes other than by an append (roll, truncation, close).
   */
  readonly #tail: TailCache | null

  private constructor(options: LogOpenOptions, segments: readonly Segment[], recoveryPoint: bigint) {
    this.dir = options.dir
    this.config = options.config
    this.#clock = options.clock
    this.#logger = options.logger
    this.#segments = segments
    this.#durability = new Durability({ log: this, clock: options.clock, logger: options.logger, recoveryPoint })
    this.#tail = options.readCache?.tail() ?? null
  }

  /**
   * Opens (or creates) the log in `dir`. After an unclean shutdown, every segment from the one
   * holding the recovery point onward is validated and truncated at the first bad batch; all
   * later segments are then deleted. Returns the log and how many bytes recovery dropped.
   */
  static async open(options: LogOpenOptions): Promise<{ log: Log; droppedBytes: number }> {
    await mkdir(options.dir, { recursive: true })
    // Before listing segments: a clean cut short by a crash is finished or undone (swap-files.ts).
    await recoverStagedSegments(options.dir, options.config, { nowMs: options.clock(), logger: options.logger })
    const bases = await segmentBases(options.dir)
    const segments: Segment[] = []
    let droppedBytes = 0
    try {
      for (let i = 0; i < bases.length; i++) {
        const base = bases[i]!
        const next = bases[i + 1]
        const recover = !options.cleanShutdown && (next === undefined || next > options.recoveryPoint)
        const opened = await Segment.open(options.dir, base, options.config, { recover, nowMs: options.clock() })
        segments.push(opened.segment)
        droppedBytes += opened.droppedBytes
        if (opened.droppedBytes > 0) {
          droppedBytes += await deleteSegmentsAfter(options.dir, bases.slice(i + 1))
          break
        }
      }
      if (segments.length === 0) segments.push(await Segment.create(options.dir, 0n, options.config, options.clock()))
    } catch (err) {
      await Promise.allSettled(segments.map((s) => s.close({ persistIndexes: false })))
      throw err
    }
    const end = segments[segments.length - 1]!.nextOffset
    const recoveryPoint = options.cleanShutdown ? end : minBigint(options.recoveryPoint, end)
    const log = new Log(options, segments, recoveryPoint)
    if (droppedBytes > 0) options.logger.warn({ subsystem: 'log', dir: options.dir, droppedBytes, logEndOffset: end }, 'recovery truncated a torn or corrupt tail')
    return { log, droppedBytes }
  }

  get logStartOffset(): bigint {
    return this.#segments[0]!.baseOffset
  }

  get logEndOffset(): bigint {
    return this.#active.nextOffset
  }

  get recoveryPoint(): bigint {
    return this.#durability.recoveryPoint
  }

  /** fdatasync calls on this log's .log files since it was opened. */
  get fsyncs(): number {
    return this.#durability.fsyncs
  }

  get sizeBytes(): number {
    return this.#segments.reduce((n, s) => n + s.sizeBytes, 0)
  }

  get segmentCount(): number {
    return this.#segments.length
  }

  /** Base offsets of the segments, oldest first (for tests and tools). */
  segmentBaseOffsets(): bigint[] {
    return this.#segments.map((s) => s.baseOffset)
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(() => {
      if (this.#closed) throw new StrandProtocolError('KAFKA_STORAGE_ERROR', `The log in ${this.dir} is closed.`)
      return fn()
    })
    this.#chain = next.catch(() => undefined)
    return next
  }

  /**
   * Appends whole record batches. Every batch is verified (bounds, CRC) before it is written. The
   * buffer is patched in place (base offset, leader epoch) when assigning offsets, so the caller
   * must not reuse it.
   */
  append(records: Buffer, options: AppendOptions): Promise<AppendInfo> {
    const spans = options.verified ?? verifyBatches(records)
    if (records.length > this.config.segmentBytes) {
      throw new StrandProtocolError('RECORD_LIST_TOO_LARGE', `The append is ${records.length} bytes; segment.bytes is ${this.config.segmentBytes}.`)
    }
    if (!this.config.fsync) return this.#serialize(() => this.#append(records, spans, options))
    // The append's place in the next sync round is taken under the lock, right after its write,
    // so a truncation queued behind it always finds it (and fails it if it removes the records).
    let durable: Promise<void> = Promise.resolve()
    return this.#serialize(async () => {
      const info = await this.#append(records, spans, options)
      durable = this.#durability.durable(info.lastOffset + 1n)
      options.onWritten?.()
      return info
    }).then((info) => durable.then(() => info))
  }

  /**
   * Below it the log is fsynced: the recovery point. With `fsync` (fsync: always) an append
   * resolves only once this passes it, and a leader counts no further than this toward its high
   * watermark; without, the log end (durability is the replicas' then, as in Kafka).
   */
  get durableEndOffset(): bigint {
    return this.config.fsync ? this.#durability.recoveryPoint : this.logEndOffset
  }

  /**
   * Resolves once offsets below `end` (at most the log end) are fsynced; at once without
   * `fsync`. For an answer that reports records already in the log, such as a producer's retry
   * that idempotence found there, while the append that wrote them may still be waiting.
   */
  untilDurable(end: bigint): Promise<void> {
    if (!this.config.fsync) return Promise.resolve()
    return this.#durability.untilDurable(end)
  }

  /** The write, under the lock. */
  async #append(records: Buffer, spans: readonly BatchSpan[], options: AppendOptions): Promise<AppendInfo> {
    const failed = this.#durability.failed
    if (failed !== null) throw failed
    const batches = this.#placeBatches(records, spans, options)
    options.beforeWrite?.(batches)
    const first = batches[0]!
    const last = batches[batches.length - 1]!
    const maxTimestamp = batches.reduce((m, b) => Math.max(m, b.maxTimestamp), -1)
    // Checked synchronously: an append that does not roll (nearly all) takes no extra await.
    if (this.#rollNeeded({ appendBytes: records.length, lastOffset: last.lastOffset, maxTimestamp })) await this.#roll(first.baseOffset)
    await this.#active.append(records, batches)
    // After the write: the cache never holds what the file does not.
    this.#tail?.append(records, batches)
    const unflushed = this.#durability.written(Number(last.lastOffset - first.baseOffset + 1n))
    // fsync: always is group-committed outside the lock (Durability.durable); flush.messages flushes here.
    if (!this.config.fsync && this.config.flushMessages > 0 && unflushed >= this.config.flushMessages) {
      await this.#durability.flush()
    }
    return { firstOffset: first.baseOffset, lastOffset: last.lastOffset, logAppendTimeMs: -1, sizeBytes: records.length }
  }

  /** Gives each batch its offsets: the next ones (leader), or checks they continue the log (follower). */
  #placeBatches(records: Buffer, spans: readonly BatchSpan[], options: AppendOptions): AppendedBatch[] {
    let next = this.logEndOffset
    return spans.map((span) => {
      const count = BigInt(span.header.lastOffsetDelta) + 1n
      if (options.assignOffsets) {
        patchBatch(records, span.pos, { baseOffset: next, partitionLeaderEpoch: options.leaderEpoch })
      } else if (span.header.baseOffset < next) {
        throw new StrandProtocolError('INVALID_RECORD', `Batch base offset ${span.header.baseOffset} is below the log end offset ${next} of ${this.dir}.`)
      } else {
        next = span.header.baseOffset
      }
      const placed = { pos: span.pos, sizeBytes: span.sizeBytes, baseOffset: next, lastOffset: next + count - 1n, maxTimestamp: span.header.maxTimestamp }
      next += count
      return placed
    })
  }

  /**
   * Whether to roll before an append that would overflow the active segment by size, age or offset range.
   * Age is measured as Kafka does: from the first batch's timestamp to the incoming batches' newest
   * timestamp, so replaying old records does not roll on every append; wall-clock time counts
   * only when the records carry no usable timestamp.
   */
  #rollNeeded(next: { appendBytes: number; lastOffset: bigint; maxTimestamp: number }): boolean {
    const active = this.#active
    if (active.isEmpty) return false
    const full = active.sizeBytes + next.appendBytes > this.config.segmentBytes
    const firstTs = active.firstBatchTimestamp
    const ageMs = firstTs !== null && firstTs >= 0 && next.maxTimestamp >= 0 ? next.maxTimestamp - firstTs : this.#clock() - active.createdMs
    const old = ageMs >= this.config.segmentMs
    const offsetsOverflow = next.lastOffset - active.baseOffset > BigInt(SEGMENT_OFFSETS_MAX)
    return full || old || offsetsOverflow
  }

  async #roll(baseOffset: bigint): Promise<void> {
    const previous = this.#active
    assert.ok(baseOffset >= previous.nextOffset, 'a new segment starts at or after the log end')
    this.#tail?.clear()
    this.#segments = [...this.#segments, await Segment.create(this.dir, baseOffset, this.config, this.#clock())]
    await previous.persistIndexes()
    await fsyncDir(this.dir)
    this.#logger.debug({ subsystem: 'log', dir: this.dir, baseOffset: String(baseOffset) }, 'rolled segment')
  }

  /**
   * Whole batches from the one holding `offset`, at most `maxBytes` but at least one batch, and
   * none at or past `maxOffset` (the high watermark for consumers). Empty when `offset` is the log
   * end or `maxOffset`; OFFSET_OUT_OF_RANGE outside [log start, log end].
   */
  async read(offset: bigint, maxBytes: number, options: { maxOffset?: bigint } = {}): Promise<{ records: Buffer; nextOffset: bigint }> {
    const end = this.logEndOffset
    const maxOffset = minBigint(options.maxOffset ?? end, end)
    if (offset < this.logStartOffset || offset > end) {
      throw new StrandProtocolError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside [${this.logStartOffset}, ${end}] of ${this.dir}.`)
    }
    // The tail: from memory when the cache holds `offset` (the same batches the files would give).
    if (this.#tail !== null && offset >= this.#active.baseOffset) {
      const cached = this.#tail.read(offset, maxBytes, maxOffset)
      if (cached !== undefined) return cached ?? { records: Buffer.alloc(0), nextOffset: offset }
    }
    const segments = this.#segments
    for (let i = floorSegment(segments, offset); i < segments.length; i++) {
      const got = await segments[i]!.read(offset, maxBytes, maxOffset)
      if (got !== null) return got
    }
    return { records: Buffer.alloc(0), nextOffset: offset }
  }

  /** The first record with a timestamp at or after `timestamp`, or null when none is that recent. */
  async offsetForTimestamp(timestamp: number): Promise<{ offset: bigint; timestamp: number } | null> {
    for (const segment of this.#segments) {
      const found = await segment.findTimestamp(timestamp, (buf) => firstRecordAtOrAfter(buf, timestamp))
      if (found !== null) return found
    }
    return null
  }

  /** The base offset of the oldest segment within the last `bytes` of the log (the active segment at least). */
  tailStartOffset(bytes: number): bigint {
    const segments = this.#segments
    let i = segments.length - 1
    let total = segments[i]!.sizeBytes
    while (i > 0 && total + segments[i - 1]!.sizeBytes <= bytes) {
      i--
      total += segments[i]!.sizeBytes
    }
    return segments[i]!.baseOffset
  }

  /** Removes every record at or after `offset` (a follower whose tail diverged from its leader's). */
  truncateTo(offset: bigint): Promise<number> {
    return this.#serialize(async () => {
      if (offset >= this.logEndOffset) return 0
      assert.ok(offset >= this.logStartOffset, 'truncateTo stays within the log')
      this.#tail?.clear()
      this.#durability.beginTruncation(offset)
      let removed = 0
      while (this.#segments.length > 1 && this.#active.baseOffset >= offset) {
        const gone = this.#active
        this.#segments = this.#segments.slice(0, -1)
        removed += gone.sizeBytes
        await gone.delete()
      }
      removed += await this.#active.truncateTo(offset)
      this.#durability.endTruncation()
      this.#logger.info({ subsystem: 'log', dir: this.dir, offset: String(offset), removedBytes: removed }, 'truncated log')
      return removed
    })
  }

  /** Deletes everything and restarts the log empty at `offset` (a follower far behind its leader's log start). */
  truncateFullyAndStartAt(offset: bigint): Promise<void> {
    return this.#serialize(async () => {
      this.#tail?.clear()
      this.#durability.beginTruncation(-1n)
      const old = this.#segments
      this.#segments = [await Segment.create(this.dir, offset, this.config, this.#clock())]
      for (const s of old) if (s.baseOffset !== offset) await s.delete()
      this.#durability.restartAt(offset)
      await fsyncDir(this.dir)
    })
  }

  /** Deletes whole old segments past `retention.ms` or `retention.bytes`; the active one is kept. Returns how many. */
  deleteExpiredSegments(): Promise<number> {
    return this.#serialize(async () => {
      // cleanup.policy=compact keeps the latest record of every key however old: the cleaner shrinks the log instead.
      if (!deletesOnRetention(this.config)) return 0
      const now = this.#clock()
      let sizeBytes = this.sizeBytes
      let deleted = 0
      while (this.#segments.length > 1) {
        const oldest = this.#segments[0]!
        const expired = this.config.retentionMs >= 0 && oldest.maxTimestamp >= 0 && now - oldest.maxTimestamp > this.config.retentionMs
        const oversize = this.config.retentionBytes >= 0 && sizeBytes - oldest.sizeBytes >= this.config.retentionBytes
        if (!expired && !oversize) break
        this.#segments = this.#segments.slice(1)
        sizeBytes -= oldest.sizeBytes
        await oldest.delete()
        deleted++
      }
      if (deleted > 0) this.#logger.info({ subsystem: 'log', dir: this.dir, deleted, logStartOffset: String(this.logStartOffset) }, 'retention deleted segments')
      return deleted
    })
  }

  /**
   * Deletes whole segments holding only offsets below `offset`; the active segment is kept and the
   * log start moves to the first segment left. For a log whose prefix is kept elsewhere (the
   * metadata log, below a snapshot). Returns how many segments went.
   */
  deleteSegmentsBelow(offset: bigint): Promise<number> {
    return this.#serialize(async () => {
      let deleted = 0
      while (this.#segments.length > 1 && this.#segments[0]!.nextOffset <= offset) {
        const oldest = this.#segments[0]!
        this.#segments = this.#segments.slice(1)
        await oldest.delete()
        deleted++
      }
      if (deleted > 0) {
        await fsyncDir(this.dir)
        this.#logger.info({ subsystem: 'log', dir: this.dir, deleted, logStartOffset: String(this.logStartOffset) }, 'deleted segments below a snapshot')
      }
      return deleted
    })
  }

  /**
   * Indexes transactions aborted by markers already in the log (the partition's append path and
   * producer-state replay), each in the segment holding its marker; one whose segment retention
   * deleted meanwhile is dropped with it.
   */
  addAbortedTxns(entries: readonly AbortedTxn[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve()
    return this.#serialize(async () => {
      for (const e of entries) {
        if (e.lastOffset >= this.logEndOffset) continue // truncated away since
        let segment: Segment | undefined
        for (const s of this.#segments) if (s.baseOffset <= e.lastOffset) segment = s
        if (segment !== undefined && e.lastOffset < segment.nextOffset) await segment.addAbortedTxns([e])
      }
    })
  }

  /**
   * Aborted transactions that overlap [from, to): their marker is at or after `from` and their
   * first offset is before `to` (Kafka's collectAbortedTxns). A marker lies in the segment that
   * indexes it, so segments ending at or before `from` are skipped. Ordered by marker offset.
   */
  abortedTxns(from: bigint, to: bigint): AbortedTxn[] {
    const found: AbortedTxn[] = []
    for (const s of this.#segments) {
      if (s.nextOffset <= from || s.abortedTxns.length === 0) continue
      for (const e of s.abortedTxns) if (e.lastOffset >= from && e.firstOffset < to) found.push(e)
    }
    return found
  }

  /**
   * The segments as they are now, oldest first, the active one last. The array is never mutated
   * (copy-on-write), so the log cleaner can walk it across awaits; it reads only closed segments.
   */
  segmentsSnapshot(): readonly Segment[] {
    return this.#segments
  }

  /**
   * Swaps the cleaner's copy of `group` (consecutive closed segments, as the cleaner read them) in
   * for the group, as Kafka's replaceSegments. Under the lock, and only if every segment of the
   * group is still in the log, closed and unmodified (retention or a truncation may have run
   * meanwhile); otherwise returns false and leaves `cleaned` to the caller. Each step is durable
   * before the next, so a crash leaves either the group or `cleaned` complete on disk, and
   * swap-files.ts finishes the job on open:
   *   1. `cleaned` goes from .cleaned to .swap (its .log last);
   *   2. readers get the new list, and the group's segments are deleted, oldest first (a reader
   *      still holding one is sent on to `cleaned`, which keeps every surviving offset);
   *   3. `cleaned` goes from .swap to its live name (its .log first).
   */
  replaceSegments(group: readonly { segment: Segment; modifications: number }[], cleaned: Segment, crashPoint: CrashPoint = noCrashPoint): Promise<boolean> {
    return this.#serialize(async () => {
      const at = group.length === 0 ? -1 : this.#segments.indexOf(group[0]!.segment)
      const after = this.#segments[at + group.length]
      const intact = at >= 0 && after !== undefined && group.every((g, i) => this.#segments[at + i] === g.segment && g.segment.modifications === g.modifications)
      if (!intact) return false
      assert.ok(cleaned.stage === '.cleaned' && cleaned.baseOffset === group[0]!.segment.baseOffset, 'the cleaned segment starts where its group does')
      assert.ok(cleaned.nextOffset <= after.baseOffset, 'the cleaned segment holds only offsets of its group')
      await cleaned.renameFiles('.swap', crashPoint)
      await fsyncDir(this.dir)
      this.#segments = [...this.#segments.slice(0, at), cleaned, ...this.#segments.slice(at + group.length)]
      for (const { segment } of group) {
        await segment.replaceWith(cleaned)
        crashPoint(`deleted segment ${segment.baseOffset}`)
      }
      await fsyncDir(this.dir)
      await cleaned.renameFiles('', crashPoint)
      await fsyncDir(this.dir)
      return true
    })
  }

  /** fsyncs everything appended so far and advances the recovery point. */
  flush(): Promise<void> {
    return this.#serialize(() => this.#durability.flush())
  }

  /** Flushes when `flush.ms` has passed since the oldest unflushed append (the manager's timer calls it). */
  flushIfDue(): Promise<void> {
    return this.#serialize(() => this.#durability.flushIfDue(this.config.flushMs))
  }

  /** Flushes, writes the indexes and closes every segment. Later calls fail with KAFKA_STORAGE_ERROR. */
  close(): Promise<void> {
    return this.#serialize(async () => {
      await this.#durability.flush()
      this.#tail?.clear()
      for (const s of this.#segments) await s.close({ persistIndexes: true })
      this.#closed = true
    })
  }

  /** Closes the log and removes its directory (topic deletion). */
  delete(): Promise<void> {
    return this.#serialize(async () => {
      this.#tail?.clear()
      this.#durability.abandon(new StrandProtocolError('KAFKA_STORAGE_ERROR', `The log in ${this.dir} was deleted before the append was fsynced.`))
      for (const s of this.#segments) await s.close({ persistIndexes: false })
      this.#closed = true
      await rm(this.dir, { recursive: true, force: true })
    })
  }
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

/** Index of the last segment whose base offset is <= offset (0 when offset precedes them all). */
function floorSegment(segments: readonly Segment[], offset: bigint): number {
  let lo = 0
  let hi = segments.length - 1
  let found = 0
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (segments[mid]!.baseOffset <= offset) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

async function segmentBases(dir: string): Promise<bigint[]> {
  const names = await readdir(dir)
  return names
    .filter((n) => n.endsWith(LOG_SUFFIX) && /^\d{20}\.log$/.test(n))
    .map((n) => BigInt(n.slice(0, 20)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Deletes the files of segments that follow a truncated one; returns their bytes. */
async function deleteSegmentsAfter(dir: string, bases: readonly bigint[]): Promise<number> {
  let bytes = 0
  for (const base of bases) {
    const name = base.toString().padStart(20, '0')
    bytes += (await stat(path.join(dir, `${name}.log`))).size
    for (const suffix of ['.log', '.index', '.timeindex', '.txnindex']) await rm(path.join(dir, `${name}${suffix}`), { force: true })
  }
  return bytes
}

function firstRecordAtOrAfter(batch: Buffer, timestamp: number): { offset: bigint; timestamp: number } | null {
  const { records } = decodeBatch(batch, 0)
  for (const r of records) if (r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp }
  return null
}
