// Encoding records into a batch (records.ts draws the format): sizing each record up front,
// writing it once, then framing the batch (compression, header, CRC). A producer writes each
// record into its batch as it appends it (BatchBuilder); everything else encodes a whole batch at
// once (encodeBatch). Both write the same bytes for the same records.
//
// Each record: varint length, int8 attributes, varlong timestampDelta, varint offsetDelta,
// varint keyLength (-1 = null) + key, varint valueLength (-1 = null) + value, varint headerCount,
// then per header varint keyLength + UTF-8 key, varint valueLength + value.
//
// This is the producer's per-record path: no allocation per record beyond its measured form.

import zlib from 'node:zlib'
import { compress } from './batch-compression.js'
import { ATTR_CONTROL, ATTR_TRANSACTIONAL, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, COMPRESSION_CODES, CRC_START, MAGIC, type Compression } from './batch-header.js'
import { varintSize, varlongSize, writeVarint, writeVarlong } from './primitives.js'

export interface RecordHeader {
  key: string
  value: Buffer | null
}

/** A record as a producer gives it. Strings are UTF-8 encoded. */
export interface RecordInput {
  key?: Buffer | string | null
  value: Buffer | string | null
  headers?: readonly RecordHeader[] | Record<string, Buffer | string>
  /** Milliseconds since the epoch; defaults to the batch's `timestamp`. */
  timestamp?: number
}

export interface EncodeBatchOptions {
  /** Default timestamp of records that carry none; the caller's clock (core code never reads Date.now). */
  timestamp: number
  baseOffset?: bigint
  partitionLeaderEpoch?: number
  compression?: Compression
  producerId?: bigint
  producerEpoch?: number
  baseSequence?: number
  transactional?: boolean
  control?: boolean
}

/** The headers of every record that has none: one frozen array rather than a new [] per record. */
export const NO_HEADERS: readonly RecordHeader[] = Object.freeze([])

function normalizeHeaders(h: RecordInput['headers']): readonly RecordHeader[] {
  if (h === undefined) return NO_HEADERS
  if (Array.isArray(h)) return h as readonly RecordHeader[]
  return Object.entries(h).map(([key, value]) => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value }))
}

/** A record ready to be written: headers normalized, timestamp set, payload measured. */
export interface MeasuredRecord {
  readonly key: Buffer | string | null
  readonly value: Buffer | string | null
  readonly headers: readonly RecordHeader[]
  /** Milliseconds since the epoch. */
  readonly timestamp: number
  /** recordPayloadBytes() of its key, value and headers. */
  readonly payloadBytes: number
}

/** A key's, value's or header's length as written: -1 for null (the wire's null), else its bytes. */
function byteLength(v: Buffer | string | null): number {
  if (v === null) return -1
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length
}

/** Bytes a key, value or header field takes: its varint length, then its bytes. */
function fieldBytes(v: Buffer | string | null): number {
  const n = byteLength(v)
  return n < 0 ? varintSize(n) : varintSize(n) + n
}

/**
 * A record's bytes apart from its length prefix, timestamp delta and offset delta (which depend
 * on its place in a batch): the attributes byte, key, value and headers.
 */
export function recordPayloadBytes(key: Buffer | string | null, value: Buffer | string | null, headers: readonly RecordHeader[]): number {
  let n = 1 + fieldBytes(key) + fieldBytes(value) + varintSize(headers.length)
  // Indexed, not for-of: over the shared frozen NO_HEADERS, for-of allocated an iterator per record.
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as RecordHeader
    n += fieldBytes(h.key) + fieldBytes(h.value)
  }
  return n
}

/** A record's bytes in a batch, its length prefix included, at `offsetDelta` and `timestampDelta`. */
export function recordBytes(payloadBytes: number, offsetDelta: number, timestampDelta: number): number {
  const body = payloadBytes + varlongSize(timestampDelta) + varintSize(offsetDelta)
  return varintSize(body) + body
}

function writeField(buf: Buffer, pos: number, v: Buffer | string | null): number {
  const size = byteLength(v)
  pos = writeVarint(buf, pos, size)
  if (v === null) return pos
  if (typeof v === 'string') return pos + buf.write(v, pos, 'utf8')
  // TypedArray#set, not Buffer#copy: for values of a few hundred bytes, copy's argument handling
  // costs more than the copy itself.
  buf.set(v, pos)
  return pos + size
}

/** Writes a record at `pos` (recordBytes() of room); returns the position after it. */
function writeRecord(buf: Buffer, pos: number, r: MeasuredRecord, offsetDelta: number, timestampDelta: number): number {
  pos = writeVarint(buf, pos, r.payloadBytes + varlongSize(timestampDelta) + varintSize(offsetDelta))
  buf[pos++] = 0
  pos = writeVarlong(buf, pos, timestampDelta)
  pos = writeVarint(buf, pos, offsetDelta)
  pos = writeField(buf, pos, r.key)
  pos = writeField(buf, pos, r.value)
  const headers = r.headers
  pos = writeVarint(buf, pos, headers.length)
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as RecordHeader
    pos = writeField(buf, pos, h.key)
    pos = writeField(buf, pos, h.value)
  }
  return pos
}

/** The header fields a batch's writer knows only at the end, and those its caller sets. */
interface BatchFrame extends Omit<EncodeBatchOptions, 'timestamp'> {
  recordCount: number
  baseTimestamp: number
  maxTimestamp: number
}

/**
 * Completes a batch whose records block (uncompressed) is written in `buf` from BATCH_HEADER_BYTES
 * to `end`: compresses the block if asked, into a new buffer, then fills in the header and CRC.
 */
function frameBatch(buf: Buffer, end: number, f: BatchFrame): Buffer {
  const compression = f.compression ?? 'none'
  let out: Buffer
  if (compression === 'none') {
    out = end === buf.length ? buf : buf.subarray(0, end)
  } else {
    const packed = compress(compression, buf.subarray(BATCH_HEADER_BYTES, end))
    out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + packed.length)
    packed.copy(out, BATCH_HEADER_BYTES)
  }
  let attributes = COMPRESSION_CODES[compression]
  if (f.transactional === true) attributes |= ATTR_TRANSACTIONAL
  if (f.control === true) attributes |= ATTR_CONTROL
  out.writeBigInt64BE(f.baseOffset ?? 0n, 0)
  out.writeInt32BE(out.length - BATCH_LOG_OVERHEAD_BYTES, 8)
  out.writeInt32BE(f.partitionLeaderEpoch ?? -1, 12)
  out.writeInt8(MAGIC, 16)
  out.writeInt16BE(attributes, 21)
  out.writeInt32BE(f.recordCount - 1, 23)
  out.writeBigInt64BE(BigInt(f.baseTimestamp), 27)
  out.writeBigInt64BE(BigInt(f.maxTimestamp), 35)
  out.writeBigInt64BE(f.producerId ?? -1n, 43)
  out.writeInt16BE(f.producerEpoch ?? -1, 51)
  out.writeInt32BE(f.baseSequence ?? -1, 53)
  out.writeInt32BE(f.recordCount, 57)
  out.writeUInt32BE(zlib.crc32(out.subarray(CRC_START)), 17)
  return out
}

/**
 * Encodes records into one batch. The base timestamp is the records' earliest, so every delta is
 * non-negative. The records block is written once into a buffer sized up front (then compressed,
 * if asked, and framed).
 */
export function encodeBatch(records: readonly RecordInput[], options: EncodeBatchOptions): Buffer {
  if (records.length === 0) throw new RangeError('A record batch needs at least one record.')
  const measured: MeasuredRecord[] = new Array(records.length)
  let baseTimestamp = Number.POSITIVE_INFINITY
  let maxTimestamp = Number.NEGATIVE_INFINITY
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as RecordInput
    const key = r.key ?? null
    const headers = normalizeHeaders(r.headers)
    const timestamp = r.timestamp ?? options.timestamp
    if (timestamp < baseTimestamp) baseTimestamp = timestamp
    if (timestamp > maxTimestamp) maxTimestamp = timestamp
    measured[i] = { key, value: r.value, headers, timestamp, payloadBytes: recordPayloadBytes(key, r.value, headers) }
  }
  let end = BATCH_HEADER_BYTES
  for (let i = 0; i < measured.length; i++) {
    const m = measured[i] as MeasuredRecord
    end += recordBytes(m.payloadBytes, i, m.timestamp - baseTimestamp)
  }
  const buf = Buffer.allocUnsafe(end)
  let pos = BATCH_HEADER_BYTES
  for (let i = 0; i < measured.length; i++) {
    const m = measured[i] as MeasuredRecord
    pos = writeRecord(buf, pos, m, i, m.timestamp - baseTimestamp)
  }
  if (pos !== end) throw new Error(`Record batch size mismatch: wrote ${pos} of ${end} bytes.`)
  return frameBatch(buf, end, { ...options, recordCount: records.length, baseTimestamp, maxTimestamp })
}

/**
 * A builder's first buffer is at least this (or its bytesMax, if smaller): a few doublings cost
 * less than many idle large buffers for batches that stay small.
 */
const BUILDER_INITIAL_BYTES_MIN = 4096
/** A built batch that would fill less than this share of its buffer is copied to one of its size. */
const BUILT_FILL_MIN = 0.75

/**
 * Builds one batch as records arrive, for a producer (Kafka's MemoryRecordsBuilder): each record
 * is written once, when appended, into a buffer that doubles as needed up to `bytesMax`, so a
 * queued batch holds bytes, not a heap object per record. build() frames it. The base timestamp is
 * the first record's, so a later record with an earlier timestamp gets a negative delta, which
 * the format allows (Kafka's builder does the same).
 */
export class BatchBuilder {
  /** Header room, then the records written so far. */
  #buf: Buffer
  /** The end of the last record written. */
  #end = BATCH_HEADER_BYTES
  #recordCount = 0
  #baseTimestamp = 0
  #maxTimestamp = Number.NEGATIVE_INFINITY
  /** The size the batch is meant to stay within; the buffer grows past it only for a record that needs it. */
  readonly #bytesMax: number

  /**
   * `bytesMax`: the size the batch is closed at. `expectedBytes`: how large it will likely get
   * (say, the partition's previous batch), so a busy partition's batches start at full size rather
   * than grow into it.
   */
  constructor(bytesMax: number, expectedBytes = 0) {
    this.#bytesMax = bytesMax
    const initialBytes = Math.min(bytesMax, Math.max(expectedBytes, BUILDER_INITIAL_BYTES_MIN))
    this.#buf = Buffer.allocUnsafe(Math.max(BATCH_HEADER_BYTES, initialBytes))
  }

  /** Bytes of the batch so far, uncompressed, header included. */
  get sizeBytes(): number {
    return this.#end
  }

  get recordCount(): number {
    return this.#recordCount
  }

  /** The bytes `record` takes if appended next. */
  nextRecordBytes(record: MeasuredRecord): number {
    return recordBytes(record.payloadBytes, this.#recordCount, this.#recordCount === 0 ? 0 : record.timestamp - this.#baseTimestamp)
  }

  /** Appends a record; `sizeBytes` is its nextRecordBytes(), which the caller has just asked for. */
  append(record: MeasuredRecord, sizeBytes: number): void {
    const start = this.#end
    if (start + sizeBytes > this.#buf.length) this.#grow(start + sizeBytes)
    if (this.#recordCount === 0) this.#baseTimestamp = record.timestamp
    const end = writeRecord(this.#buf, start, record, this.#recordCount, record.timestamp - this.#baseTimestamp)
    if (end !== start + sizeBytes) throw new Error(`BatchBuilder: record ${this.#recordCount} took ${end - start} bytes, not the ${sizeBytes} measured.`)
    this.#end = end
    this.#recordCount++
    if (record.timestamp > this.#maxTimestamp) this.#maxTimestamp = record.timestamp
  }

  #grow(neededBytes: number): void {
    const grown = Buffer.allocUnsafe(Math.max(neededBytes, Math.min(this.#buf.length * 2, this.#bytesMax)))
    this.#buf.copy(grown, 0, 0, this.#end)
    this.#buf = grown
  }

  /**
   * The batch, framed with the given fields; the builder must not be used after. A buffer much
   * larger than the batch is not kept (a sent batch is held until acknowledged, for retries).
   */
  build(fields: Omit<EncodeBatchOptions, 'timestamp'>): Buffer {
    if (this.#recordCount === 0) throw new RangeError('A record batch needs at least one record.')
    let buf = this.#buf
    if (this.#end < buf.length * BUILT_FILL_MIN && (fields.compression ?? 'none') === 'none') {
      buf = Buffer.allocUnsafe(this.#end)
      this.#buf.copy(buf, 0, 0, this.#end)
    }
    return frameBatch(buf, this.#end, { ...fields, recordCount: this.#recordCount, baseTimestamp: this.#baseTimestamp, maxTimestamp: this.#maxTimestamp })
  }
}
