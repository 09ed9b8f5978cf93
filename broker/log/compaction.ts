// One compaction pass over one log: Kafka's LogCleaner.doClean, scaled to us. Only the log
// cleaner (cleaner.ts) calls it, one log at a time.
//
//   log start          first dirty              first uncleanable         active segment
//   | clean (compacted) | dirty (mapped this pass) | not yet cleanable        | never touched
//
// 1. Map each key to the offset of its latest record over the dirty section of the closed
//    segments. The section ends at the first uncleanable offset: the active segment's base, the
//    caller's upper bound (the partition's high watermark: a record a follower may still truncate
//    must not make an older record of its key go), and the base of the first segment holding a
//    record newer than min.compaction.lag.ms. The map has a byte bound; a full map ends the section
//    early (at a batch boundary) and the next pass goes on from there.
// 2. Rewrite every closed segment from the log start to the end of the mapped section, in groups
//    whose sizes sum to at most segment.bytes, into one `.cleaned` segment per group. A record stays
//    unless the map holds a later offset for its key, or it is a tombstone (null value) below the
//    end of the mapped section (so every older record of its key is gone too) whose segment's
//    newest timestamp is more than delete.retention.ms old. Offsets never change. Records without
//    a key stay: Kafka refuses them on a compacted topic at produce time, our broker does not yet.
// 3. Log.replaceSegments swaps each group's cleaned segment in; swap-files.ts covers crashes.
// The caller then moves the log's cleaner checkpoint to the end of the mapped section.
//
// A batch whose records all stay is copied byte for byte and one whose records all go is dropped.
// One that loses some is re-encoded with its partition leader epoch, producer fields, transactional
// flag and compression, as one batch per run of consecutive surviving offsets. Kafka keeps one
// batch with gaps in its offset deltas instead, but client/protocol/records.ts, which every consumer
// decodes with, requires deltas 0..n-1 and lastOffsetDelta = count - 1, so a gap ends a batch.
// Control batches are copied whole. Before a clean maps records, the log is flushed: a record
// that makes an older one go must itself survive a power cut.

import type { Logger } from 'pino'
import { StrandError, StrandProtocolError } from '../../client/protocol/errors.js'
import { batchSizeAt, decodeBatch, encodeBatch, isControlBatch, isTransactionalBatch, readBatchHeader, verifyBatch, type BatchHeader, type DecodedRecord } from '../../client/protocol/records.js'
import { fsyncDir } from './checkpoint.js'
import type { LogConfig } from './config.js'
import type { Log } from './log.js'
import type { AbortedTxn } from './txn-index.js'
import { noCrashPoint, Segment, SEGMENT_OFFSETS_MAX, type AppendedBatch, type CrashPoint } from './segment.js'

/** Bytes read from a segment at a time (a larger batch is read whole). */
const READ_CHUNK_BYTES = 1024 * 1024
/** Cleaned bytes gathered before one write to the cleaned segment. */
const WRITE_CHUNK_BYTES = 1024 * 1024
/**
 * Estimated memory of one offset-map entry beyond its key's bytes (Map slot, string header,
 * bigint): keys are kept whole rather than hashed as Kafka does, so two keys never collide.
 */
export const OFFSET_MAP_ENTRY_OVERHEAD_BYTES = 80
/**
 * Splitting a batch into runs adds a header per run, so a cleaned group can outgrow its sources
 * (tiny records, every other one removed). segment.bytes is a roll threshold, not a format limit;
 * this is one: positions in the offset index are 32-bit and segment.bytes is at most 2^31 - 1.
 */
const CLEANED_SEGMENT_BYTES_MAX = 2 ** 31 - 1
/** Producer sequences wrap at int32, as Kafka's. */
const SEQUENCE_MODULUS = 2 ** 31

export interface CleanOptions {
  /** The log's cleaner checkpoint: offsets below it were compacted by an earlier pass. */
  firstDirtyOffset: bigint
  /** Exclusive bound on the offsets this pass may map (the high watermark); null: none. */
  upperBoundOffset: bigint | null
  clock: () => number
  logger: Logger
  /** Memory the key -> offset map may use (estimated). */
  offsetMapBytesMax: number
  /** Polled between reads; true abandons the pass (shutdown). */
  shouldStop?: () => boolean
  /** Test hook: called after each durable step; a crash test throws from it. */
  crashPoint?: CrashPoint
}

export interface CleanableRange {
  firstDirtyOffset: bigint
  firstUncleanableOffset: bigint
  /** Bytes of closed, cleanable segments holding dirty offsets. */
  dirtyBytes: number
  /** Bytes of closed segments below the first uncleanable offset. */
  totalBytes: number
  dirtyRatio: number
}

export interface CleanResult {
  /** The log's new cleaner checkpoint: the end of the section this pass mapped. */
  endOffset: bigint
  /** Segments replaced by cleaned ones, and how many cleaned ones replaced them. */
  segmentsReplaced: number
  segmentsWritten: number
  bytesBefore: number
  bytesAfter: number
  /** Records removed because a later record of their key exists (tombstones included). */
  recordsSuperseded: number
  /** Latest-of-their-key tombstones removed after delete.retention.ms. */
  tombstonesExpired: number
  /** Clock time from which a tombstone this pass kept may go; null when it kept none it could remove later. */
  nextTombstoneExpiryMs: number | null
}

/** The pass was abandoned without changing the log: shutdown, or a segment went away under it. */
class CleanAborted extends Error {
  override readonly name = 'CleanAborted'
}

/** A group's cleaned batches would not fit one segment; the log is not cleaned again until restart. */
export class CleanedSegmentTooLargeError extends StrandError {
  override readonly name = 'CleanedSegmentTooLargeError'
  constructor(message: string) {
    super('CLEANED_SEGMENT_TOO_LARGE', message, { retriable: false })
  }
}

/** A segment's age for min.compaction.lag.ms and delete.retention.ms: its newest record's time. */
function segmentTimeMs(s: Segment): number {
  return s.maxTimestamp >= 0 ? s.maxTimestamp : s.createdMs
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

/**
 * Where a log's dirty section starts and ends and how dirty it is, from a segment snapshot (the
 * active segment last). Pure: the cleaner ranks logs with it.
 */
export function cleanableRange(segments: readonly Segment[], config: LogConfig, checkpoint: bigint, upperBound: bigint | null, nowMs: number): CleanableRange {
  const active = segments[segments.length - 1]!
  const logStart = segments[0]!.baseOffset
  const firstDirty = checkpoint < logStart ? logStart : checkpoint > active.baseOffset ? active.baseOffset : checkpoint
  let firstUncleanable = upperBound === null ? active.baseOffset : minBigint(active.baseOffset, upperBound)
  if (config.minCompactionLagMs > 0) {
    const young = segments.slice(0, -1).findIndex((s, i) => segments[i + 1]!.baseOffset > firstDirty && segmentTimeMs(s) > nowMs - config.minCompactionLagMs)
    if (young >= 0) {
      const base = segments[young]!.baseOffset
      firstUncleanable = minBigint(firstUncleanable, base > firstDirty ? base : firstDirty)
    }
  }
  let dirtyBytes = 0
  let totalBytes = 0
  for (let i = 0; i < segments.length - 1; i++) {
    const s = segments[i]!
    if (s.baseOffset >= firstUncleanable) break
    totalBytes += s.sizeBytes
    if (firstUncleanable > firstDirty && segments[i + 1]!.baseOffset > firstDirty) dirtyBytes += s.sizeBytes
  }
  return { firstDirtyOffset: firstDirty, firstUncleanableOffset: firstUncleanable, dirtyBytes, totalBytes, dirtyRatio: totalBytes === 0 ? 0 : dirtyBytes / totalBytes }
}

/**
 * Compacts `log` once. Returns null when the pass was abandoned (shutdown, or retention or a
 * truncation changed the segments it was rewriting): groups already swapped in stay compacted,
 * the rest is as it was, and the caller keeps the checkpoint and tries again later. Other errors
 * (a corrupt batch, a disk error) are thrown.
 */
export async function cleanLog(log: Log, options: CleanOptions): Promise<CleanResult | null> {
  const nowMs = options.clock()
  const range = cleanableRange(log.segmentsSnapshot(), log.config, options.firstDirtyOffset, options.upperBoundOffset, nowMs)
  if (log.recoveryPoint < range.firstUncleanableOffset) await log.flush()
  const pass: Pass = {
    log,
    nowMs,
    shouldStop: options.shouldStop ?? (() => false),
    crashPoint: options.crashPoint ?? noCrashPoint,
    result: { endOffset: range.firstDirtyOffset, segmentsReplaced: 0, segmentsWritten: 0, bytesBefore: 0, bytesAfter: 0, recordsSuperseded: 0, tombstonesExpired: 0, nextTombstoneExpiryMs: null },
  }
  try {
    const map = await buildOffsetMap(log.segmentsSnapshot(), range, log.abortedTxns(range.firstDirtyOffset, range.firstUncleanableOffset), options.offsetMapBytesMax, pass.shouldStop)
    pass.result.endOffset = map.endOffset
    // A fresh snapshot: retention may have dropped old segments while the map was built.
    const segments = log.segmentsSnapshot()
    let count = 0
    while (count < segments.length - 1 && segments[count]!.baseOffset < map.endOffset) count++
    for (const group of groupSegments(segments, count, log.config.segmentBytes)) {
      if (!(await cleanAndSwap(pass, group, map))) return null
    }
  } catch (err) {
    if (err instanceof CleanAborted || (err instanceof StrandProtocolError && err.code === 'OFFSET_OUT_OF_RANGE')) {
      options.logger.info({ subsystem: 'log-cleaner', dir: log.dir, why: (err as Error).message }, 'abandoned a log clean')
      return null
    }
    throw err
  }
  return pass.result
}

/** What one pass shares between its groups. */
interface Pass {
  log: Log
  nowMs: number
  shouldStop: () => boolean
  crashPoint: CrashPoint
  result: CleanResult
}

/** Key (bytes as latin1, one char per byte) -> offset of its latest record in [first dirty, endOffset). */
interface OffsetMap {
  latest: Map<string, bigint>
  endOffset: bigint
}

/** Cleans one group and swaps it in; false when the log changed under it (nothing was changed). */
async function cleanAndSwap(pass: Pass, group: readonly Segment[], map: OffsetMap): Promise<boolean> {
  // Taken before reading, so any append or truncation from here on stops the swap.
  const snapshot = group.map((segment) => ({ segment, modifications: segment.modifications }))
  const { cleaned, removed } = await writeCleaned(pass, group, map)
  if (group.length === 1 && removed === 0) {
    await cleaned.delete() // the same bytes again: nothing to swap
    return true
  }
  let swapped = false
  try {
    pass.crashPoint(`wrote ${cleaned.baseOffset} cleaned`)
    swapped = await pass.log.replaceSegments(snapshot, cleaned, pass.crashPoint)
  } catch (err) {
    // Files stay as they are, for the next open to finish or undo as after a crash; only a
    // handle no log holds is closed. A StrandProtocolError is the log closing before the swap.
    if (!pass.log.segmentsSnapshot().includes(cleaned)) await cleaned.close({ persistIndexes: false })
    if (!(err instanceof StrandProtocolError)) throw err
  }
  if (!swapped) {
    await cleaned.delete().catch(() => undefined)
    return false
  }
  const r = pass.result
  r.segmentsReplaced += group.length
  r.segmentsWritten++
  r.bytesBefore += group.reduce((n, s) => n + s.sizeBytes, 0)
  r.bytesAfter += cleaned.sizeBytes
  return true
}

/**
 * Splits the first `count` segments (all closed) into runs of consecutive segments whose sizes sum
 * to at most `segmentBytes` and whose offsets fit one segment's relative range.
 */
function groupSegments(segments: readonly Segment[], count: number, segmentBytes: number): Segment[][] {
  const groups: Segment[][] = []
  let i = 0
  while (i < count) {
    const group = [segments[i]!]
    let bytes = segments[i]!.sizeBytes
    i++
    while (i < count && bytes + segments[i]!.sizeBytes <= segmentBytes && segments[i + 1]!.baseOffset - group[0]!.baseOffset <= BigInt(SEGMENT_OFFSETS_MAX)) {
      bytes += segments[i]!.sizeBytes
      group.push(segments[i]!)
      i++
    }
    groups.push(group)
  }
  return groups
}

interface RawBatch {
  buf: Buffer
  pos: number
  sizeBytes: number
  header: BatchHeader
}

/** The batches of a closed segment from the one holding `from` on, read a chunk at a time. */
async function* batchesOf(segment: Segment, from: bigint, shouldStop: () => boolean): AsyncGenerator<RawBatch> {
  let offset = from > segment.baseOffset ? from : segment.baseOffset
  for (;;) {
    if (shouldStop()) throw new CleanAborted('the cleaner is stopping')
    const got = await segment.read(offset, READ_CHUNK_BYTES, segment.nextOffset)
    if (got === null) return
    for (let pos = 0; pos < got.records.length; ) {
      const sizeBytes = batchSizeAt(got.records, pos)
      yield { buf: got.records, pos, sizeBytes, header: readBatchHeader(got.records, pos) }
      pos += sizeBytes
    }
    offset = got.nextOffset
  }
}

function lastOffsetOf(h: BatchHeader): bigint {
  return h.baseOffset + BigInt(h.lastOffsetDelta)
}

/** Whether the batch belongs to a transaction that was aborted (its producer's aborted range covers it). */
function inAbortedTxn(h: BatchHeader, aborted: readonly AbortedTxn[]): boolean {
  if (!isTransactionalBatch(h) || aborted.length === 0) return false
  for (const a of aborted) if (a.producerId === h.producerId && a.firstOffset <= h.baseOffset && h.baseOffset <= a.lastOffset) return true
  return false
}

/**
 * Records of aborted transactions are not mapped (Kafka's cleaner leaves them out too): an aborted
 * record must not be a key's latest, or the committed record before it would be cleaned away and
 * readers (read_committed consumers, a group coordinator replaying transactional offsets) would
 * find neither. They stay in the log, behind their abort marker, until a later record of the key
 * supersedes them.
 */
async function buildOffsetMap(segments: readonly Segment[], range: CleanableRange, aborted: readonly AbortedTxn[], bytesMax: number, shouldStop: () => boolean): Promise<OffsetMap> {
  const latest = new Map<string, bigint>()
  const { firstDirtyOffset: from, firstUncleanableOffset: to } = range
  if (to <= from) return { latest, endOffset: from }
  let bytes = 0
  /** End of the last batch mapped: where the map stops if it stops early. */
  let mappedEnd = from
  for (let i = 0; i < segments.length - 1; i++) {
    const segment = segments[i]!
    if (segment.baseOffset >= to) break
    if (segments[i + 1]!.baseOffset <= from) continue
    for await (const b of batchesOf(segment, from, shouldStop)) {
      const last = lastOffsetOf(b.header)
      if (last < from) continue
      if (last >= to) return { latest, endOffset: mappedEnd }
      if (!isControlBatch(b.header) && !inAbortedTxn(b.header, aborted)) {
        const keys = decodeBatch(b.buf, b.pos).records.filter((r) => r.key !== null && r.offset >= from)
        const added = keys.reduce((n, r) => n + (latest.has(r.key!.toString('latin1')) ? 0 : r.key!.length + OFFSET_MAP_ENTRY_OVERHEAD_BYTES), 0)
        // Always at least one batch, so every pass makes progress.
        if (latest.size > 0 && bytes + added > bytesMax) return { latest, endOffset: mappedEnd }
        bytes += added
        for (const r of keys) latest.set(r.key!.toString('latin1'), r.offset)
      }
      mappedEnd = last + 1n
    }
  }
  return { latest, endOffset: to }
}

/** Writes the group's surviving batches to a new `.cleaned` segment, fsynced with its indexes. */
async function writeCleaned(pass: Pass, group: readonly Segment[], map: OffsetMap): Promise<{ cleaned: Segment; removed: number }> {
  const { log } = pass
  const cleaned = await Segment.create(log.dir, group[0]!.baseOffset, log.config, pass.nowMs, { stage: '.cleaned' })
  let removed = 0
  try {
    const writer = new CleanedWriter(cleaned)
    for (const source of group) {
      const sourceTimeMs = segmentTimeMs(source)
      const filter: RecordFilter = { map, tombstonesExpired: pass.nowMs - sourceTimeMs > log.config.deleteRetentionMs, tombstoneExpiryMs: sourceTimeMs + log.config.deleteRetentionMs + 1 }
      for await (const b of batchesOf(source, source.baseOffset, pass.shouldStop)) {
        const kept = filterBatch(b, filter, pass.result)
        removed += kept.removed
        for (const out of kept.batches) writer.add(out)
        await writer.writeIfFull()
      }
    }
    await writer.write()
    // Markers are all kept (filterBatch), so every aborted transaction indexed by a source is still
    // delimited in the cleaned segment: its entries move with it.
    cleaned.adoptAbortedTxns(group.flatMap((s) => s.abortedTxns))
    await cleaned.flush()
    await cleaned.persistIndexes()
    await fsyncDir(log.dir)
  } catch (err) {
    // A file left behind (its log deleted meanwhile, say) is removed by the next open anyway.
    await cleaned.delete().catch(() => undefined)
    throw err
  }
  return { cleaned, removed }
}

interface RecordFilter {
  map: OffsetMap
  /** The source segment is past delete.retention.ms: its covered tombstones go. */
  tombstonesExpired: boolean
  /** Otherwise, when they may go. */
  tombstoneExpiryMs: number
}

/** The batches that replace `b` in the cleaned segment (it itself, none, or its runs of survivors). */
function filterBatch(b: RawBatch, filter: RecordFilter, result: CleanResult): { batches: Buffer[]; removed: number } {
  const raw = b.buf.subarray(b.pos, b.pos + b.sizeBytes)
  if (isControlBatch(b.header)) {
    verifyBatch(raw)
    return { batches: [raw], removed: 0 }
  }
  const { header, records } = decodeBatch(raw)
  const keep = records.map((r) => keepRecord(r, filter, result))
  const kept = keep.filter(Boolean).length
  if (kept === records.length) return { batches: [raw], removed: 0 }
  const batches: Buffer[] = []
  let run: DecodedRecord[] = []
  for (let i = 0; i <= records.length; i++) {
    if (i < records.length && keep[i]) {
      run.push(records[i]!)
    } else if (run.length > 0) {
      batches.push(encodeRun(header, run))
      run = []
    }
  }
  return { batches, removed: records.length - kept }
}

function keepRecord(r: DecodedRecord, filter: RecordFilter, result: CleanResult): boolean {
  if (r.key === null) return true
  const latest = filter.map.latest.get(r.key.toString('latin1'))
  if (latest !== undefined && r.offset < latest) {
    result.recordsSuperseded++
    return false
  }
  // Past the mapped section an older record of the key may still be there, unshadowed: the
  // tombstone must stay until a pass maps it.
  if (r.value !== null || r.offset >= filter.map.endOffset) return true
  if (filter.tombstonesExpired) {
    result.tombstonesExpired++
    return false
  }
  const due = result.nextTombstoneExpiryMs
  result.nextTombstoneExpiryMs = due === null ? filter.tombstoneExpiryMs : Math.min(due, filter.tombstoneExpiryMs)
  return true
}

/** One batch of consecutive surviving records of `header`'s batch, at their own offsets. */
function encodeRun(header: BatchHeader, run: readonly DecodedRecord[]): Buffer {
  const first = run[0]!
  const delta = Number(first.offset - header.baseOffset)
  const buf = encodeBatch(
    run.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })),
    {
      timestamp: header.baseTimestamp,
      baseOffset: first.offset,
      partitionLeaderEpoch: header.partitionLeaderEpoch,
      compression: header.compression,
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence < 0 ? -1 : (header.baseSequence + delta) % SEQUENCE_MODULUS,
      transactional: isTransactionalBatch(header),
    },
  )
  verifyBatch(buf) // checked before it is written, as every batch the log stores
  return buf
}

/** Gathers cleaned batches and appends them to the cleaned segment a chunk at a time. */
class CleanedWriter {
  readonly #segment: Segment
  /** Batches not yet written, and where each sits in their concatenation. */
  #pending: Buffer[] = []
  #pendingBatches: AppendedBatch[] = []
  #pendingBytes = 0

  constructor(segment: Segment) {
    this.#segment = segment
  }

  add(batch: Buffer): void {
    const h = readBatchHeader(batch)
    this.#pendingBatches.push({ pos: this.#pendingBytes, sizeBytes: batch.length, baseOffset: h.baseOffset, lastOffset: lastOffsetOf(h), maxTimestamp: h.maxTimestamp })
    this.#pending.push(batch)
    this.#pendingBytes += batch.length
  }

  async writeIfFull(): Promise<void> {
    if (this.#pendingBytes >= WRITE_CHUNK_BYTES) await this.write()
  }

  async write(): Promise<void> {
    if (this.#pending.length === 0) return
    if (this.#segment.sizeBytes + this.#pendingBytes > CLEANED_SEGMENT_BYTES_MAX) {
      throw new CleanedSegmentTooLargeError(`The cleaned segment at ${this.#segment.baseOffset} would pass ${CLEANED_SEGMENT_BYTES_MAX} bytes; lower segment.bytes.`)
    }
    await this.#segment.append(Buffer.concat(this.#pending, this.#pendingBytes), this.#pendingBatches)
    this.#pending = []
    this.#pendingBatches = []
    this.#pendingBytes = 0
  }
}
