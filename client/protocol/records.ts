// The record batch: the unit that producers send, the log stores and consumers fetch, unchanged.
//
// On the wire and on disk (all integers big-endian, as Kafka's magic v2):
//
//   offset  size  field
//        0     8  baseOffset            patched by the leader on append (not covered by the CRC)
//        8     4  batchLength           bytes after this field
//       12     4  partitionLeaderEpoch  patched by the leader on append (not covered by the CRC)
//       16     1  magic                 always 2
//       17     4  crc                   CRC-32 (zlib.crc32) of bytes [21, end)
//       21     2  attributes            bits 0-2 compression, bit 4 transactional, bit 5 control
//       23     4  lastOffsetDelta
//       27     8  baseTimestamp         ms
//       35     8  maxTimestamp          ms
//       43     8  producerId            -1 when not idempotent
//       51     2  producerEpoch
//       53     4  baseSequence
//       57     4  recordCount
//       61     .  records               possibly compressed as one block
//
// Each record: varint length, int8 attributes, varlong timestampDelta, varint offsetDelta,
// varint keyLength (-1 = null) + key, varint valueLength (-1 = null) + value, varint headerCount,
// then per header varint keyLength + UTF-8 key, varint valueLength + value.
//
// Compression codes are ours (Kafka's 2 is snappy): Node's zlib has gzip, deflate and brotli.
// A producer writes each record into its batch as it appends it (BatchBuilder); everything else
// encodes a whole batch at once (encodeBatch). Both write this same format.
// Decoding checks every length against the buffer before touching it, and throws a
// StrandProtocolError CORRUPT_MESSAGE on anything malformed.

import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { StrandProtocolError } from './errors.js'
import { Reader, varintSize, varlongSize, writeVarint, writeVarlong } from './primitives.js'

export const BATCH_HEADER_BYTES = 61
/** Bytes before batchLength's coverage starts: baseOffset (8) + batchLength (4). */
export const BATCH_LOG_OVERHEAD_BYTES = 12
export const MAGIC = 2
export const CRC_START = 21

export const HEADER_OFFSETS = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
} as const

/**
 * Largest batch a decoder accepts, compressed or not. Bounds every allocation a decoder makes,
 * including a decompressed records block, so a malicious "zip bomb" batch is an error.
 */
export const BATCH_BYTES_MAX = 64 * 1024 * 1024
/** A batch cannot hold more records than its bytes allow: each record takes at least 7 bytes. */
const RECORD_BYTES_MIN = 7

export const COMPRESSION_CODES = { none: 0, gzip: 1, deflate: 2, brotli: 3 } as const
export type Compression = keyof typeof COMPRESSION_CODES
const COMPRESSION_BY_CODE: readonly Compression[] = ['none', 'gzip', 'deflate', 'brotli']
const ATTR_COMPRESSION_MASK = 0x07
const ATTR_TRANSACTIONAL = 0x10
const ATTR_CONTROL = 0x20

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

export interface BatchHeader {
  baseOffset: bigint
  batchLength: number
  partitionLeaderEpoch: number
  magic: number
  crc: number
  attributes: number
  lastOffsetDelta: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: bigint
  producerEpoch: number
  baseSequence: number
  recordCount: number
  compression: Compression
}

export interface DecodedRecord {
  offset: bigint
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: RecordHeader[]
}

export interface DecodedBatch {
  header: BatchHeader
  records: DecodedRecord[]
}

// ---------------------------------------------------------------------------------------------
// Encoding

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

function compress(kind: Compression, raw: Buffer): Buffer {
  switch (kind) {
    case 'gzip':
      return zlib.gzipSync(raw)
    case 'deflate':
      return zlib.deflateSync(raw)
    case 'brotli':
      return zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } })
    case 'none':
      return raw
  }
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

// ---------------------------------------------------------------------------------------------
// Header access and validation: what the log and the leader need, without decoding records.

function corrupt(detail: string): never {
  throw new StrandProtocolError('CORRUPT_MESSAGE', detail)
}

/**
 * Total size in bytes of the batch starting at `pos`, or -1 when fewer than 12 bytes remain to
 * tell. Throws CORRUPT_MESSAGE when the declared length cannot be a batch.
 */
export function batchSizeAt(buf: Buffer, pos: number): number {
  if (buf.length - pos < BATCH_LOG_OVERHEAD_BYTES) return -1
  const batchLength = buf.readInt32BE(pos + 8)
  if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES || batchLength > BATCH_BYTES_MAX) {
    corrupt(`Batch length ${batchLength} at position ${pos} is out of range.`)
  }
  return batchLength + BATCH_LOG_OVERHEAD_BYTES
}

/** Reads the fixed header of the batch at `pos` (bounds-checked; no CRC check). */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  if (buf.length - pos < BATCH_HEADER_BYTES) corrupt(`Batch header at ${pos} is truncated.`)
  const attributes = buf.readInt16BE(pos + 21)
  const compression = COMPRESSION_BY_CODE[attributes & ATTR_COMPRESSION_MASK]
  if (compression === undefined) corrupt(`Unknown compression code ${attributes & ATTR_COMPRESSION_MASK}.`)
  return {
    baseOffset: buf.readBigInt64BE(pos),
    batchLength: buf.readInt32BE(pos + 8),
    partitionLeaderEpoch: buf.readInt32BE(pos + 12),
    magic: buf.readInt8(pos + 16),
    crc: buf.readUInt32BE(pos + 17),
    attributes,
    lastOffsetDelta: buf.readInt32BE(pos + 23),
    baseTimestamp: Number(buf.readBigInt64BE(pos + 27)),
    maxTimestamp: Number(buf.readBigInt64BE(pos + 35)),
    producerId: buf.readBigInt64BE(pos + 43),
    producerEpoch: buf.readInt16BE(pos + 51),
    baseSequence: buf.readInt32BE(pos + 53),
    recordCount: buf.readInt32BE(pos + 57),
    compression,
  }
}

/**
 * Checks the batch at `pos` completely without decoding records: length within the buffer,
 * magic, CRC, record count and offset delta consistent. Returns its header and total size.
 */
export function verifyBatch(buf: Buffer, pos = 0): { header: BatchHeader; sizeBytes: number } {
  const sizeBytes = batchSizeAt(buf, pos)
  if (sizeBytes < 0 || pos + sizeBytes > buf.length) corrupt(`Batch at ${pos} is truncated.`)
  const header = readBatchHeader(buf, pos)
  if (header.magic !== MAGIC) corrupt(`Unsupported magic ${header.magic}.`)
  const crc = zlib.crc32(buf.subarray(pos + CRC_START, pos + sizeBytes))
  if (crc !== header.crc) corrupt(`CRC mismatch: stored ${header.crc}, computed ${crc}.`)
  // Compressed records can be far smaller than RECORD_BYTES_MIN each; decodeBatch re-checks the
  // count against the decompressed block before allocating for it.
  const recordsBytesMax = header.compression === 'none' ? sizeBytes - BATCH_HEADER_BYTES : BATCH_BYTES_MAX
  if (header.recordCount < 1 || header.recordCount > recordsBytesMax / RECORD_BYTES_MIN) {
    corrupt(`Record count ${header.recordCount} is impossible for a batch of ${sizeBytes} bytes.`)
  }
  if (header.lastOffsetDelta !== header.recordCount - 1) {
    corrupt(`lastOffsetDelta ${header.lastOffsetDelta} does not match record count ${header.recordCount}.`)
  }
  return { header, sizeBytes }
}

export interface BatchSpan {
  /** Position of the batch in the buffer. */
  pos: number
  sizeBytes: number
  header: BatchHeader
}

/**
 * Verifies a buffer that must hold whole batches and nothing else (a Produce payload, a
 * follower's fetched chunk). Throws CORRUPT_MESSAGE on any bad batch or trailing bytes.
 */
export function verifyBatches(buf: Buffer): BatchSpan[] {
  const spans: BatchSpan[] = []
  let pos = 0
  while (pos < buf.length) {
    const { header, sizeBytes } = verifyBatch(buf, pos)
    spans.push({ pos, sizeBytes, header })
    pos += sizeBytes
  }
  if (spans.length === 0) corrupt('No record batch in the payload.')
  return spans
}

/** Patches the offset and leader epoch fields; neither is covered by the CRC, so it stays valid. */
export function patchBatch(buf: Buffer, pos: number, fields: { baseOffset: bigint; partitionLeaderEpoch?: number }): void {
  buf.writeBigInt64BE(fields.baseOffset, pos)
  if (fields.partitionLeaderEpoch !== undefined) buf.writeInt32BE(fields.partitionLeaderEpoch, pos + 12)
}

// ---------------------------------------------------------------------------------------------
// Decoding records

function decompress(kind: Compression, packed: Buffer): Buffer {
  const limits = { maxOutputLength: BATCH_BYTES_MAX }
  try {
    switch (kind) {
      case 'gzip':
        return zlib.gunzipSync(packed, limits)
      case 'deflate':
        return zlib.inflateSync(packed, limits)
      case 'brotli':
        return zlib.brotliDecompressSync(packed, limits)
      case 'none':
        return packed
    }
  } catch (err) {
    throw new StrandProtocolError('CORRUPT_MESSAGE', `Cannot decompress ${kind} records: ${(err as Error).message}`, err)
  }
}

const gunzipAsync = promisify(zlib.gunzip)
const inflateAsync = promisify(zlib.inflate)
const brotliDecompressAsync = promisify(zlib.brotliDecompress)

/**
 * Output chunk of an off-loop inflate: each chunk is a callback on the event loop, and zlib's
 * default 16 KiB made a 64 MiB inflate 4096 of them (~50% slower than 256 KiB, measured).
 */
const INFLATE_CHUNK_BYTES = 256 * 1024

export async function decompressAsync(kind: Exclude<Compression, 'none'>, packed: Buffer): Promise<Buffer> {
  const limits = { maxOutputLength: BATCH_BYTES_MAX, chunkSize: INFLATE_CHUNK_BYTES }
  try {
    switch (kind) {
      case 'gzip':
        return await gunzipAsync(packed, limits)
      case 'deflate':
        return await inflateAsync(packed, limits)
      case 'brotli':
        return await brotliDecompressAsync(packed, limits)
    }
  } catch (err) {
    throw new StrandProtocolError('CORRUPT_MESSAGE', `Cannot decompress ${kind} records: ${(err as Error).message}`, err)
  }
}

function readHeaders(r: Reader): RecordHeader[] {
  const count = r.varint()
  if (count < 0 || count > r.remaining / 2) r.fail(`Header count ${count} is impossible.`)
  const headers: RecordHeader[] = new Array(count)
  for (let h = 0; h < count; h++) {
    const key = r.varString()
    const value = r.varBytes()
    headers[h] = { key, value }
  }
  return headers
}

function readRecord(r: Reader, header: BatchHeader, expectedDelta: number): DecodedRecord {
  const length = r.varint()
  if (length < RECORD_BYTES_MIN - 1 || length > r.remaining) r.fail(`Record length ${length} is out of range.`)
  const end = r.pos + length
  const rec = new Reader(r.buf, { pos: r.pos, end })
  rec.int8()
  const timestampDelta = rec.varlong()
  const offsetDelta = rec.varint()
  if (offsetDelta !== expectedDelta) rec.fail(`Offset delta ${offsetDelta}, expected ${expectedDelta}.`)
  const key = rec.varBytes()
  const value = rec.varBytes()
  const headers = readHeaders(rec)
  if (rec.pos !== end) rec.fail(`Record has ${end - rec.pos} trailing bytes.`)
  r.pos = end
  return {
    offset: header.baseOffset + BigInt(offsetDelta),
    timestamp: header.baseTimestamp + timestampDelta,
    key,
    value,
    headers,
  }
}

/**
 * Checks that every record of the (already CRC-verified) batch at `pos` parses: lengths, offset
 * deltas 0..n-1, keys, values and headers, with nothing left over. A producer's batch can carry a
 * valid CRC over garbage records; a leader that stored it would hand every consumer of the
 * partition an undecodable batch: it accepts exactly what `decodeBatch` decodes. Allocates
 * nothing per record (compressed batches are decompressed, bounded by BATCH_BYTES_MAX).
 */
export function validateBatchRecords(buf: Buffer, pos: number, header: BatchHeader, sizeBytes: number): void {
  validateRecordsBlock(decompress(header.compression, buf.subarray(pos + BATCH_HEADER_BYTES, pos + sizeBytes)), header)
}

/**
 * validateBatchRecords with the decompression done on libuv's thread pool, off the event loop: a
 * zip bomb (~64 KiB on the wire inflating to BATCH_BYTES_MAX) costs ~60-100 ms of inflating, and a
 * Produce of dozens of them, inflated on the event loop, held a broker for seconds (probes, heart-
 * beats and quorum deadlines missed). Only the records scan, linear in the inflated size and
 * stopping at the first bad record, stays on the loop.
 */
export async function validateBatchRecordsAsync(buf: Buffer, pos: number, header: BatchHeader, sizeBytes: number): Promise<void> {
  const packed = buf.subarray(pos + BATCH_HEADER_BYTES, pos + sizeBytes)
  validateRecordsBlock(header.compression === 'none' ? packed : await decompressAsync(header.compression, packed), header)
}

function validateRecordsBlock(block: Buffer, header: BatchHeader): void {
  const r = new Reader(block)
  const blockEnd = r.end
  if (header.recordCount > block.length / RECORD_BYTES_MIN) r.fail(`Record count ${header.recordCount} exceeds the records block.`)
  // One reader, narrowed to each record in turn, and fields skipped rather than viewed: this runs
  // for every record a leader appends, and a reader plus two views per record was most of what a
  // broker allocated under load (and so most of its garbage collection).
  for (let i = 0; i < header.recordCount; i++) {
    const length = r.varint()
    if (length < RECORD_BYTES_MIN - 1 || length > r.remaining) r.fail(`Record ${i}: length ${length} is out of range.`)
    const end = r.pos + length
    r.end = end
    r.int8()
    r.varlong()
    if (r.varint() !== i) r.fail(`Record ${i}: offset delta is not ${i}.`)
    r.skipVarBytes()
    r.skipVarBytes()
    const headers = r.varint()
    if (headers < 0 || headers > r.remaining / 2) r.fail(`Record ${i}: header count ${headers} is impossible.`)
    for (let h = 0; h < headers; h++) {
      r.skipVarString() // a header key is never null
      r.skipVarBytes()
    }
    if (r.pos !== end) r.fail(`Record ${i} has ${end - r.pos} trailing bytes.`)
    r.end = blockEnd
  }
  if (r.remaining !== 0) r.fail(`Records block has ${r.remaining} trailing bytes.`)
}

/**
 * Decodes and verifies the batch at `pos`. Keys, values and header values are views into `buf`
 * (or into the decompressed block), so the caller must not reuse `buf` while it holds them.
 */
export function decodeBatch(buf: Buffer, pos = 0): DecodedBatch & { sizeBytes: number } {
  const { header, sizeBytes } = verifyBatch(buf, pos)
  const block = decompress(header.compression, buf.subarray(pos + BATCH_HEADER_BYTES, pos + sizeBytes))
  const r = new Reader(block)
  if (header.recordCount > block.length / RECORD_BYTES_MIN) r.fail(`Record count ${header.recordCount} exceeds the records block.`)
  const records: DecodedRecord[] = new Array(header.recordCount)
  for (let i = 0; i < header.recordCount; i++) records[i] = readRecord(r, header, i)
  if (r.remaining !== 0) r.fail(`Records block has ${r.remaining} trailing bytes.`)
  return { header, records, sizeBytes }
}

/**
 * Decodes every complete batch in `buf` (a Fetch response's records). A trailing partial batch
 * is normal there (the broker cuts at maxBytes) and is returned as `partialBytes`, not an error.
 */
export function decodeBatches(buf: Buffer): { batches: DecodedBatch[]; partialBytes: number } {
  const batches: DecodedBatch[] = []
  let pos = 0
  while (pos < buf.length) {
    const size = batchSizeAt(buf, pos)
    if (size < 0 || pos + size > buf.length) break
    const { header, records } = decodeBatch(buf, pos)
    batches.push({ header, records })
    pos += size
  }
  return { batches, partialBytes: buf.length - pos }
}

/** The offset after the batch's last record. */
export function nextOffsetOf(header: BatchHeader): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta) + 1n
}

// ---------------------------------------------------------------------------------------------
// Transactions (KIP-98)

/** A batch written by a transactional producer: its records count only once their transaction commits. */
export function isTransactionalBatch(h: Pick<BatchHeader, 'attributes'>): boolean {
  return (h.attributes & ATTR_TRANSACTIONAL) !== 0
}

/** A control batch (a commit or abort marker): never handed to an application. */
export function isControlBatch(h: Pick<BatchHeader, 'attributes'>): boolean {
  return (h.attributes & ATTR_CONTROL) !== 0
}

/** The control record key's type (Kafka's ControlRecordType). */
export const CONTROL_TYPE = { abort: 0, commit: 1 } as const

/**
 * A transaction marker as Kafka writes it: a transactional control batch of one record whose key
 * is (version int16 0, type int16) and whose value is an EndTransactionMarker (version int16 0,
 * coordinatorEpoch int32). No sequence: markers are written by the broker, not the producer.
 */
export function encodeTxnMarker(m: { producerId: bigint; producerEpoch: number; commit: boolean; coordinatorEpoch: number; timestamp: number }): Buffer {
  const key = Buffer.alloc(4)
  key.writeInt16BE(0, 0)
  key.writeInt16BE(m.commit ? CONTROL_TYPE.commit : CONTROL_TYPE.abort, 2)
  const value = Buffer.alloc(6)
  value.writeInt16BE(0, 0)
  value.writeInt32BE(m.coordinatorEpoch, 2)
  return encodeBatch([{ key, value }], { timestamp: m.timestamp, producerId: m.producerId, producerEpoch: m.producerEpoch, baseSequence: -1, transactional: true, control: true })
}

/** The coordinator epoch of the transaction marker at `pos` (its first record's value); -1 when it has none readable. */
export function coordinatorEpochAt(buf: Buffer, pos: number, sizeBytes: number): number {
  const { records } = decodeBatch(buf.subarray(pos, pos + sizeBytes), 0)
  const value = records[0]?.value
  return value === null || value === undefined || value.length < 6 ? -1 : value.readInt32BE(2)
}

/** The control type of the control batch at `pos` (its first record's key); -1 when it has none readable. */
export function controlTypeAt(buf: Buffer, pos: number, sizeBytes: number): number {
  const { records } = decodeBatch(buf.subarray(pos, pos + sizeBytes), 0)
  const key = records[0]?.key
  return key === null || key === undefined || key.length < 4 ? -1 : key.readInt16BE(2)
}
