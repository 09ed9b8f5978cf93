// One segment of a partition's log: `<20-digit base offset>.log` plus its two indexes and its
// aborted-transaction index (`.txnindex`, txn-index.ts; absent while no transaction aborted here).
//
// The .log file is record batches back to back, exactly as the producer's encoder laid them out
// (client/protocol/records.ts), with the base offset (and leader epoch) patched in by the leader:
//
//   [batch @ base offset B][batch @ B + n1][batch @ B + n1 + n2] ...
//
// `#sizeBytes` counts only batches whose write completed, so a reader running beside an append only
// ever sees whole batches. Only Log calls a Segment, and Log serializes every mutation (append,
// truncate, roll, close); reads run concurrently with them. The one exception is the log cleaner
// (compaction.ts): it reads closed segments and writes a new segment of its own under a staging
// name, which Log then swaps in under its lock.
//
// Offsets within a segment ascend but need not be contiguous: compaction removes records and
// keeps every survivor's offset, so a read at a removed offset returns the next batch.
//
// Staging names (the cleaner's, as Kafka's LogCleaner): `<base>.log.cleaned` while it is written,
// `<base>.log.swap` once it is complete and durable, `<base>.log` once swapped in; the two indexes
// carry the same suffixes. swap-files.ts finishes or rolls back whatever a crash left.
//
// Walking the batches of the .log file (header summaries, the recovery scan, positional reads and
// writes) is batch-scan.ts's; the indexes' files are offset-index.ts's, time-index.ts's and
// txn-index.ts's.

import assert from 'node:assert/strict'
import { constants } from 'node:fs'
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { HEADER_PREFIX_BYTES, readFully, scanValidBatches, summarize, wholeBatchesBelow, writeFully, type BatchSummary } from './batch-scan.js'
import { removeIfExists } from './checkpoint.js'
import type { LogConfig } from './config.js'
import { OffsetIndex } from './offset-index.js'
import { TimeIndex } from './time-index.js'
import { insertAbortedTxn, loadTxnIndex, writeTxnIndex, type AbortedTxn } from './txn-index.js'

/** Relative offsets are stored as uint32 in the indexes, so a segment spans fewer offsets than this. */
export const SEGMENT_OFFSETS_MAX = 2 ** 31 - 1

export type SegmentFileKind = '.log' | '.index' | '.timeindex' | '.txnindex'
/** '' for a live segment; '.cleaned' and '.swap' for the cleaner's staged segment (see above). */
export type SegmentFileStage = '' | '.cleaned' | '.swap'
export const SEGMENT_FILE_KINDS: readonly SegmentFileKind[] = ['.log', '.index', '.timeindex', '.txnindex']

export function segmentFileName(baseOffset: bigint, suffix: SegmentFileKind, stage: SegmentFileStage = ''): string {
  return `${baseOffset.toString().padStart(20, '0')}${suffix}${stage}`
}

/**
 * Called after each durable step of a clean and a swap (a file written, renamed or deleted). It
 * does nothing in production; a crash test throws from it to stop exactly there.
 */
export type CrashPoint = (step: string) => void
export const noCrashPoint: CrashPoint = () => undefined

/** A batch as it is being appended: where it sits in the write buffer and the offsets it got. */
export interface AppendedBatch {
  pos: number
  sizeBytes: number
  baseOffset: bigint
  lastOffset: bigint
  maxTimestamp: number
}

export interface SegmentRead {
  records: Buffer
  /** Offset after the last batch returned. */
  nextOffset: bigint
}

export class Segment {
  readonly baseOffset: bigint
  /** Clock time the segment was created or opened: its age when its records carry no timestamp. */
  readonly createdMs: number
  readonly #dir: string
  /** File names change once, from a staging suffix to the live name, when a cleaned segment is swapped in. */
  #stage: SegmentFileStage
  #logFile: string
  #indexFile: string
  #timeIndexFile: string
  #txnIndexFile: string
  readonly #indexIntervalBytes: number
  readonly #fh: FileHandle
  /** Bytes of complete batches; readers never look past it. */
  #sizeBytes = 0
  /** Offset after the last batch; equals baseOffset while the segment is empty. */
  #nextOffset: bigint
  /** Largest batch max timestamp in the segment, -1 while empty. */
  #maxTimestamp = -1
  #offsetOfMaxTimestamp: bigint
  /** Max timestamp of the first batch: the segment's age for `segment.ms` counts from it. */
  #firstBatchTimestamp: number | null = null
  #bytesSinceIndexEntry = 0
  #offsetIndex: OffsetIndex
  #timeIndex: TimeIndex
  /** Transactions aborted by a marker in this segment, in marker order (txn-index.ts). */
  #abortedTxns: AbortedTxn[] = []
  /** `#abortedTxns` differs from the .txnindex file. */
  #txnIndexDirty = false
  /** Indexes changed since they were last written to disk. */
  #indexesDirty = true
  /** Where the last read ended, so a consumer reading sequentially skips the index lookup. */
  #readCursor: { offset: bigint; position: number } | null = null
  /** Reads and syncs running: close() waits for them before closing the file. */
  readonly #ioInFlight = new Set<Promise<unknown>>()
  /** Set once close() starts: no new reads or syncs. */
  #closed = false
  /** Appends and truncations so far: the cleaner swaps its copy in only if this did not move. */
  #modifications = 0
  /**
   * The cleaned segment that took this one's place. A reader still holding the old segment list
   * is sent there: it holds every record of this segment that compaction kept, at the same offsets.
   */
  #replacedBy: Segment | null = null

  private constructor(dir: string, baseOffset: bigint, config: LogConfig, fh: FileHandle, nowMs: number, stage: SegmentFileStage) {
    this.baseOffset = baseOffset
    this.createdMs = nowMs
    this.#dir = dir
    this.#stage = stage
    this.#logFile = path.join(dir, segmentFileName(baseOffset, '.log', stage))
    this.#indexFile = path.join(dir, segmentFileName(baseOffset, '.index', stage))
    this.#timeIndexFile = path.join(dir, segmentFileName(baseOffset, '.timeindex', stage))
    this.#txnIndexFile = path.join(dir, segmentFileName(baseOffset, '.txnindex', stage))
    this.#indexIntervalBytes = config.indexIntervalBytes
    this.#fh = fh
    this.#nextOffset = baseOffset
    this.#offsetOfMaxTimestamp = baseOffset
    this.#offsetIndex = new OffsetIndex(baseOffset)
    this.#timeIndex = new TimeIndex(baseOffset)
  }

  /**
   * A new, empty segment; a leftover file of the same name (from a failed roll) is emptied. The
   * cleaner creates its output with `stage: '.cleaned'`.
   */
  static async create(dir: string, baseOffset: bigint, config: LogConfig, nowMs: number, options: { stage?: SegmentFileStage } = {}): Promise<Segment> {
    const stage = options.stage ?? ''
    const fh = await open(path.join(dir, segmentFileName(baseOffset, '.log', stage)), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC)
    const segment = new Segment(dir, baseOffset, config, fh, nowMs, stage)
    await removeIfExists(segment.#indexFile)
    await removeIfExists(segment.#timeIndexFile)
    await removeIfExists(segment.#txnIndexFile)
    return segment
  }

  /**
   * Opens an existing segment. With `recover`, every batch is validated (bounds, CRC, ascending
   * offsets), the file is truncated at the first bad one, and the indexes are rebuilt. Without it,
   * the persisted indexes are loaded (rebuilt when missing or damaged) and only the tail after the
   * last index entry is read; a tail that does not walk cleanly falls back to recovery.
   */
  static async open(dir: string, baseOffset: bigint, config: LogConfig, options: { recover: boolean; nowMs: number; stage?: SegmentFileStage }): Promise<{ segment: Segment; droppedBytes: number }> {
    const stage = options.stage ?? ''
    const fh = await open(path.join(dir, segmentFileName(baseOffset, '.log', stage)), constants.O_RDWR)
    const segment = new Segment(dir, baseOffset, config, fh, options.nowMs, stage)
    try {
      const fileBytes = (await fh.stat()).size
      let droppedBytes = 0
      if (!options.recover && (await segment.#loadIndexes(fileBytes)) && (await segment.#scanTail(fileBytes))) {
        segment.#indexesDirty = false
      } else {
        droppedBytes = await segment.#recover(fileBytes)
      }
      await segment.#loadTxnIndex()
      return { segment, droppedBytes }
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  get sizeBytes(): number {
    return this.#sizeBytes
  }

  get nextOffset(): bigint {
    return this.#nextOffset
  }

  get maxTimestamp(): number {
    return this.#maxTimestamp
  }

  get firstBatchTimestamp(): number | null {
    return this.#firstBatchTimestamp
  }

  get isEmpty(): boolean {
    return this.#sizeBytes === 0
  }

  get modifications(): number {
    return this.#modifications
  }

  get stage(): SegmentFileStage {
    return this.#stage
  }

  /** Transactions aborted by a marker in this segment, in marker order. */
  get abortedTxns(): readonly AbortedTxn[] {
    return this.#abortedTxns
  }

  /** Loads the .txnindex, keeping only markers this segment still holds (recovery may have cut its tail). */
  async #loadTxnIndex(): Promise<void> {
    const { entries, dropped } = await loadTxnIndex(this.#txnIndexFile, this.baseOffset, this.#nextOffset)
    this.#abortedTxns = entries
    if (dropped) await writeTxnIndex(this.#txnIndexFile, entries)
  }

  /**
   * Records transactions aborted by markers in this segment (the partition's append path, and its
   * producer-state replay re-adding what a crash lost); an entry already there is skipped. Written
   * at once: aborts are rare, and an entry lost anyway is re-added by the next replay.
   */
  async addAbortedTxns(entries: readonly AbortedTxn[]): Promise<void> {
    let changed = false
    for (const e of entries) {
      assert.ok(e.lastOffset >= this.baseOffset && e.lastOffset < this.#nextOffset, 'an abort marker lies in the segment that indexes it')
      if (insertAbortedTxn(this.#abortedTxns, e)) changed = true
    }
    if (changed) await writeTxnIndex(this.#txnIndexFile, this.#abortedTxns)
  }

  /** The cleaner's copy of its sources' aborted transactions (compaction keeps every marker); written by persistIndexes. */
  adoptAbortedTxns(entries: readonly AbortedTxn[]): void {
    for (const e of entries) insertAbortedTxn(this.#abortedTxns, e)
    this.#txnIndexDirty = this.#abortedTxns.length > 0
  }

  /** Writes whole, already validated and offset-patched batches at the end of the segment. */
  async append(buf: Buffer, batches: readonly AppendedBatch[]): Promise<void> {
    assert.ok(batches.length > 0, 'an append carries at least one batch')
    assert.equal(batches[0]!.baseOffset >= this.#nextOffset, true, 'offsets ascend within a segment')
    const position = this.#sizeBytes
    this.#modifications++
    await writeFully(this.#fh, buf, position)
    for (const b of batches) this.#indexBatch({ ...b, position: position + b.pos })
    this.#sizeBytes += buf.length
    this.#nextOffset = batches[batches.length - 1]!.lastOffset + 1n
  }

  #indexBatch(b: BatchSummary): void {
    if (this.#firstBatchTimestamp === null) this.#firstBatchTimestamp = b.maxTimestamp
    if (b.maxTimestamp > this.#maxTimestamp) {
      this.#maxTimestamp = b.maxTimestamp
      this.#offsetOfMaxTimestamp = b.baseOffset
    }
    if (this.#bytesSinceIndexEntry > this.#indexIntervalBytes) {
      this.#offsetIndex.append(b.baseOffset, b.position)
      this.#timeIndex.maybeAppend(this.#maxTimestamp, this.#offsetOfMaxTimestamp)
      this.#bytesSinceIndexEntry = 0
    }
    this.#bytesSinceIndexEntry += b.sizeBytes
    this.#indexesDirty = true
  }

  /**
   * Whole batches from the one holding `offset` (or the first after it), up to `maxBytes` but at
   * least one batch, never reaching the batch that holds `maxOffset` (exclusive bound: the high
   * watermark). Null when the segment has nothing at or after `offset` below `maxOffset`.
   */
  async read(offset: bigint, maxBytes: number, maxOffset: bigint): Promise<SegmentRead | null> {
    if (this.#replacedBy !== null) return this.#replacedBy.read(offset, maxBytes, maxOffset)
    // A reader holding a snapshot of the segment list may reach a segment that retention or
    // truncation has just removed: its records are gone, which is what this error says.
    if (this.#closed) throw new StrandProtocolError('OFFSET_OUT_OF_RANGE', `Segment ${this.#logFile} was deleted while being read.`)
    const p = this.#read(offset, maxBytes, maxOffset)
    this.#ioInFlight.add(p)
    try {
      return await p
    } finally {
      this.#ioInFlight.delete(p)
    }
  }

  async #read(offset: bigint, maxBytes: number, maxOffset: bigint): Promise<SegmentRead | null> {
    const sizeBytes = this.#sizeBytes
    const position = await this.#startOf(offset, sizeBytes)
    if (position === null) return null
    let buf = await readFully(this.#fh, position, Math.min(sizeBytes - position, Math.max(maxBytes, HEADER_PREFIX_BYTES)))
    const first = summarize(buf, 0, position, sizeBytes - position)
    if (first === null) throw new StrandProtocolError('KAFKA_STORAGE_ERROR', `No valid batch header at byte ${position} of ${this.#logFile}.`)
    if (first.lastOffset >= maxOffset) return null
    // At least one whole batch, even one larger than maxBytes, so a reader never gets stuck.
    if (first.sizeBytes > buf.length) buf = await readFully(this.#fh, position, first.sizeBytes)
    const { bytes, nextOffset } = wholeBatchesBelow(buf, maxOffset)
    this.#readCursor = { offset: nextOffset, position: position + bytes }
    return { records: buf.subarray(0, bytes), nextOffset }
  }

  /**
   * Position of the batch holding `offset` (or the first after it), or null when there is none.
   * A consumer continuing where its last read ended starts at the read cursor, with no lookup.
   */
  async #startOf(offset: bigint, sizeBytes: number): Promise<number | null> {
    const cursor = this.#readCursor
    if (cursor !== null && cursor.offset === offset && cursor.position < sizeBytes) return cursor.position
    return (await this.#locate(offset, sizeBytes))?.position ?? null
  }

  /**
   * The batch holding `offset`, or the first one after it; null when there is none below `sizeBytes`.
   * Walks batch headers from the offset index's entry at or before `offset`.
   */
  async #locate(offset: bigint, sizeBytes: number): Promise<BatchSummary | null> {
    if (offset >= this.#nextOffset) return null
    let position = this.#offsetIndex.lookup(offset).position
    while (position < sizeBytes) {
      const summary = await this.#summaryAt(position, sizeBytes)
      if (summary === null) throw new StrandProtocolError('KAFKA_STORAGE_ERROR', `No valid batch header at byte ${position} of ${this.#logFile}.`)
      if (summary.lastOffset >= offset) return summary
      position += summary.sizeBytes
    }
    return null
  }

  /** Reads the header of the batch at `position`; null when it is truncated or implausible. */
  async #summaryAt(position: number, sizeBytes: number): Promise<BatchSummary | null> {
    if (sizeBytes - position < HEADER_PREFIX_BYTES) return null
    const head = await readFully(this.#fh, position, HEADER_PREFIX_BYTES)
    return summarize(head, 0, position, sizeBytes - position)
  }

  async #loadIndexes(fileBytes: number): Promise<boolean> {
    const offsetIndex = await OffsetIndex.load(this.#indexFile, this.baseOffset, Math.max(fileBytes, 1))
    if (offsetIndex === null) return false
    this.#offsetIndex = offsetIndex
    return true
  }

  /**
   * Walks the batches after the last offset-index entry to find the segment's end, then loads the
   * time index. Returns false when the tail does not walk cleanly to the end of the file or the
   * time index is damaged (the caller then recovers).
   */
  async #scanTail(fileBytes: number): Promise<boolean> {
    if (!(await this.#walkTail(fileBytes))) return false
    const timeIndex = await TimeIndex.load(this.#timeIndexFile, this.baseOffset, this.#nextOffset)
    if (timeIndex === null) return false
    this.#timeIndex = timeIndex
    this.#mergeTimeIndexMax()
    return true
  }

  #mergeTimeIndexMax(): void {
    const lastTime = this.#timeIndex.last()
    if (lastTime !== null && lastTime.timestamp > this.#maxTimestamp) {
      this.#maxTimestamp = lastTime.timestamp
      this.#offsetOfMaxTimestamp = lastTime.offset
    }
  }

  /** Reads the batch headers from the last offset-index entry to `fileBytes`; false if they do not walk. */
  async #walkTail(fileBytes: number): Promise<boolean> {
    let position = this.#offsetIndex.lastPosition
    this.#bytesSinceIndexEntry = 0
    let last: BatchSummary | null = null
    while (position < fileBytes) {
      const s = await this.#summaryAt(position, fileBytes)
      if (s === null || s.baseOffset < (last === null ? this.baseOffset : last.lastOffset + 1n)) return false
      last = s
      if (s.maxTimestamp > this.#maxTimestamp) {
        this.#maxTimestamp = s.maxTimestamp
        this.#offsetOfMaxTimestamp = s.baseOffset
      }
      this.#bytesSinceIndexEntry += s.sizeBytes
      position += s.sizeBytes
    }
    this.#sizeBytes = fileBytes
    this.#nextOffset = last === null ? this.baseOffset : last.lastOffset + 1n
    this.#firstBatchTimestamp = fileBytes === 0 ? null : ((await this.#summaryAt(0, fileBytes))?.maxTimestamp ?? null)
    return true
  }

  /**
   * Validates every batch from the start, rebuilding the indexes, and truncates the file at the
   * first batch that is torn, corrupt or out of order. Returns the number of bytes dropped.
   */
  async #recover(fileBytes: number): Promise<number> {
    this.#resetState()
    const { validBytes, nextOffset } = await scanValidBatches(this.#fh, fileBytes, this.baseOffset, (s) => this.#indexBatch(s))
    this.#sizeBytes = validBytes
    this.#nextOffset = nextOffset
    if (validBytes < fileBytes) await this.#fh.truncate(validBytes)
    return fileBytes - validBytes
  }

  #resetState(): void {
    this.#offsetIndex = new OffsetIndex(this.baseOffset)
    this.#timeIndex = new TimeIndex(this.baseOffset)
    this.#maxTimestamp = -1
    this.#offsetOfMaxTimestamp = this.baseOffset
    this.#firstBatchTimestamp = null
    this.#bytesSinceIndexEntry = 0
    this.#readCursor = null
    this.#indexesDirty = true
  }

  /**
   * Removes the batch holding `offset` and everything after it. Returns the bytes removed. The
   * indexes and the segment's end are recomputed from what is left.
   */
  async truncateTo(offset: bigint): Promise<number> {
    const at = await this.#locate(offset, this.#sizeBytes)
    if (at === null) return 0
    const removed = this.#sizeBytes - at.position
    this.#modifications++
    await this.#drainIo()
    await this.#fh.truncate(at.position)
    this.#offsetIndex.truncateToPosition(at.position)
    this.#timeIndex.truncateTo(at.baseOffset)
    const keptTxns = this.#abortedTxns.filter((e) => e.lastOffset < at.baseOffset)
    if (keptTxns.length !== this.#abortedTxns.length) {
      this.#abortedTxns = keptTxns
      await writeTxnIndex(this.#txnIndexFile, keptTxns)
    }
    this.#maxTimestamp = -1
    this.#readCursor = null
    this.#indexesDirty = true
    const ok = await this.#walkTail(at.position)
    assert.ok(ok, 'the batches before a truncation point still walk cleanly')
    this.#mergeTimeIndexMax()
    return removed
  }

  /** Largest-timestamp lookup helper: the first record at or after `timestamp`, scanning batches. */
  async findTimestamp(timestamp: number, decodeAt: (buf: Buffer) => { offset: bigint; timestamp: number } | null): Promise<{ offset: bigint; timestamp: number } | null> {
    if (this.#replacedBy !== null) return this.#replacedBy.findTimestamp(timestamp, decodeAt)
    if (this.#maxTimestamp < timestamp) return null
    const sizeBytes = this.#sizeBytes
    const start = await this.#locate(this.#timeIndex.lookup(timestamp), sizeBytes)
    let position = start?.position ?? sizeBytes
    while (position < sizeBytes) {
      const s = await this.#summaryAt(position, sizeBytes)
      if (s === null) break
      if (s.maxTimestamp >= timestamp) {
        const found = decodeAt(await readFully(this.#fh, position, s.sizeBytes))
        if (found !== null) return found
      }
      position += s.sizeBytes
    }
    return null
  }

  /**
   * fdatasyncs the .log file. Log's group commit calls it outside the append lock, so it may meet
   * a segment that retention or truncation closed meanwhile: that one's records are gone and there
   * is nothing to sync. A close waits for a sync in flight, as for a read.
   */
  async flush(): Promise<void> {
    if (this.#closed) return
    const p = this.#fh.datasync()
    this.#ioInFlight.add(p)
    try {
      await p
    } finally {
      this.#ioInFlight.delete(p)
    }
  }

  /** Writes both indexes, with the segment's largest timestamp as the final time-index entry. */
  async persistIndexes(): Promise<void> {
    if (this.#txnIndexDirty) {
      await writeTxnIndex(this.#txnIndexFile, this.#abortedTxns)
      this.#txnIndexDirty = false
    }
    if (!this.#indexesDirty) return
    this.#timeIndex.maybeAppend(this.#maxTimestamp, this.#offsetOfMaxTimestamp)
    await this.#offsetIndex.persist(this.#indexFile)
    await this.#timeIndex.persist(this.#timeIndexFile)
    this.#indexesDirty = false
  }

  async #drainIo(): Promise<void> {
    while (this.#ioInFlight.size > 0) await Promise.allSettled([...this.#ioInFlight])
  }

  async close(options: { persistIndexes: boolean }): Promise<void> {
    this.#closed = true
    await this.#drainIo()
    if (options.persistIndexes) await this.persistIndexes()
    await this.#fh.close()
  }

  /** Closes the segment and deletes its three files. */
  async delete(): Promise<void> {
    await this.close({ persistIndexes: false })
    await unlink(this.#logFile)
    await removeIfExists(this.#indexFile)
    await removeIfExists(this.#timeIndexFile)
    await removeIfExists(this.#txnIndexFile)
  }

  /**
   * Deletes this segment, which `cleaned` replaces in the log: reads that reach it from here on
   * are answered by `cleaned`; reads already in flight finish on this file first.
   */
  async replaceWith(cleaned: Segment): Promise<void> {
    assert.ok(cleaned.baseOffset <= this.baseOffset, 'a cleaned segment covers the segments it replaces')
    this.#replacedBy = cleaned
    await this.delete()
  }

  /**
   * Renames the segment's files to another stage; the open file handle stays valid. Towards
   * '.swap' the .log goes last, so a `.log.swap` on disk means the whole staged segment is there;
   * towards '' it goes first, so a leftover index `.swap` without its `.log.swap` is known to
   * belong to the live segment (swap-files.ts relies on both).
   */
  async renameFiles(to: SegmentFileStage, crashPoint: CrashPoint = noCrashPoint): Promise<void> {
    const kinds: SegmentFileKind[] = to === '.swap' ? ['.index', '.timeindex', '.txnindex', '.log'] : ['.log', '.index', '.timeindex', '.txnindex']
    for (const kind of kinds) {
      const from = this.#fileOf(kind)
      const target = path.join(this.#dir, segmentFileName(this.baseOffset, kind, to))
      if (kind === '.log') await rename(from, target)
      else await renameIfExists(from, target)
      crashPoint(`renamed ${path.basename(from)} to ${path.basename(target)}`)
    }
    this.#stage = to
    this.#logFile = path.join(this.#dir, segmentFileName(this.baseOffset, '.log', to))
    this.#indexFile = path.join(this.#dir, segmentFileName(this.baseOffset, '.index', to))
    this.#timeIndexFile = path.join(this.#dir, segmentFileName(this.baseOffset, '.timeindex', to))
    this.#txnIndexFile = path.join(this.#dir, segmentFileName(this.baseOffset, '.txnindex', to))
  }

  #fileOf(kind: SegmentFileKind): string {
    return kind === '.log' ? this.#logFile : kind === '.index' ? this.#indexFile : kind === '.timeindex' ? this.#timeIndexFile : this.#txnIndexFile
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await rename(from, to)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
