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
// Decoding checks every length against the buffer before touching it, and throws a
// StrandProtocolError CORRUPT_MESSAGE on anything malformed.

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
  headers?: RecordHeader[] | Record<string, Buffer | string>
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

interface PreparedRecord {
  key: Buffer | string | null
  keyBytes: number
  value: Buffer | string | null
  valueBytes: number
  headers: RecordHeader[]
  headerKeyBytes: number[]
  timestampDelta: number
  bodyBytes: number
}

function byteLength(v: Buffer | string | null): number {
  if (v === null) return -1
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length
}

function normalizeHeaders(h: RecordInput['headers']): RecordHeader[] {
  if (h === undefined) return []
  if (Array.isArray(h)) return h
  return Object.entries(h).map(([key, value]) => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value }))
}

function prepareRecord(r: RecordInput, index: number, baseTimestamp: number, defaultTs: number): PreparedRecord {
  const key = r.key ?? null
  const keyBytes = byteLength(key)
  const valueBytes = byteLength(r.value)
  const headers = normalizeHeaders(r.headers)
  const headerKeyBytes: number[] = []
  const timestampDelta = (r.timestamp ?? defaultTs) - baseTimestamp
  let bodyBytes = 1 + varlongSize(timestampDelta) + varintSize(index)
  bodyBytes += varintSize(keyBytes) + Math.max(0, keyBytes)
  bodyBytes += varintSize(valueBytes) + Math.max(0, valueBytes)
  bodyBytes += varintSize(headers.length)
  for (const header of headers) {
    const hk = Buffer.byteLength(header.key)
    headerKeyBytes.push(hk)
    const hv = header.value === null ? -1 : header.value.length
    bodyBytes += varintSize(hk) + hk + varintSize(hv) + Math.max(0, hv)
  }
  return { key, keyBytes, value: r.value, valueBytes, headers, headerKeyBytes, timestampDelta, bodyBytes }
}

function writeBlob(buf: Buffer, pos: number, v: Buffer | string | null, size: number): number {
  pos = writeVarint(buf, pos, size)
  if (v === null) return pos
  if (typeof v === 'string') return pos + buf.write(v, pos, 'utf8')
  v.copy(buf, pos)
  return pos + size
}

function writeRecord(buf: Buffer, pos: number, p: PreparedRecord, index: number): number {
  pos = writeVarint(buf, pos, p.bodyBytes)
  buf[pos++] = 0
  pos = writeVarlong(buf, pos, p.timestampDelta)
  pos = writeVarint(buf, pos, index)
  pos = writeBlob(buf, pos, p.key, p.keyBytes)
  pos = writeBlob(buf, pos, p.value, p.valueBytes)
  pos = writeVarint(buf, pos, p.headers.length)
  for (let h = 0; h < p.headers.length; h++) {
    const header = p.headers[h] as RecordHeader
    pos = writeBlob(buf, pos, header.key, p.headerKeyBytes[h] as number)
    pos = writeBlob(buf, pos, header.value, header.value === null ? -1 : header.value.length)
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

/**
 * Encodes records into one batch. Uncompressed, the batch is written into a single buffer sized
 * up front; compressed, the records block is written once, compressed, then framed.
 */
export function encodeBatch(records: readonly RecordInput[], options: EncodeBatchOptions): Buffer {
  if (records.length === 0) throw new RangeError('A record batch needs at least one record.')
  const compression = options.compression ?? 'none'
  let baseTimestamp = Number.POSITIVE_INFINITY
  let maxTimestamp = Number.NEGATIVE_INFINITY
  for (const r of records) {
    const ts = r.timestamp ?? options.timestamp
    if (ts < baseTimestamp) baseTimestamp = ts
    if (ts > maxTimestamp) maxTimestamp = ts
  }
  const prepared: PreparedRecord[] = new Array(records.length)
  let recordsBytes = 0
  for (let i = 0; i < records.length; i++) {
    const p = prepareRecord(records[i] as RecordInput, i, baseTimestamp, options.timestamp)
    prepared[i] = p
    recordsBytes += varintSize(p.bodyBytes) + p.bodyBytes
  }
  let buf: Buffer
  if (compression === 'none') {
    buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + recordsBytes)
    writeRecords(buf, BATCH_HEADER_BYTES, prepared)
  } else {
    const raw = Buffer.allocUnsafe(recordsBytes)
    writeRecords(raw, 0, prepared)
    const packed = compress(compression, raw)
    buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + packed.length)
    packed.copy(buf, BATCH_HEADER_BYTES)
  }
  let attributes = COMPRESSION_CODES[compression]
  if (options.transactional === true) attributes |= ATTR_TRANSACTIONAL
  if (options.control === true) attributes |= ATTR_CONTROL
  buf.writeBigInt64BE(options.baseOffset ?? 0n, 0)
  buf.writeInt32BE(buf.length - BATCH_LOG_OVERHEAD_BYTES, 8)
  buf.writeInt32BE(options.partitionLeaderEpoch ?? -1, 12)
  buf.writeInt8(MAGIC, 16)
  buf.writeInt16BE(attributes, 21)
  buf.writeInt32BE(records.length - 1, 23)
  buf.writeBigInt64BE(BigInt(baseTimestamp), 27)
  buf.writeBigInt64BE(BigInt(maxTimestamp), 35)
  buf.writeBigInt64BE(options.producerId ?? -1n, 43)
  buf.writeInt16BE(options.producerEpoch ?? -1, 51)
  buf.writeInt32BE(options.baseSequence ?? -1, 53)
  buf.writeInt32BE(records.length, 57)
  buf.writeUInt32BE(zlib.crc32(buf.subarray(CRC_START)), 17)
  return buf
}

function writeRecords(buf: Buffer, pos: number, prepared: readonly PreparedRecord[]): void {
  for (let i = 0; i < prepared.length; i++) pos = writeRecord(buf, pos, prepared[i] as PreparedRecord, i)
  if (pos !== buf.length) throw new Error(`Record batch size mismatch: wrote ${pos} of ${buf.length} bytes.`)
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
 * partition an undecodable batch. Allocates nothing per record beyond a bounds-checked reader
 * (compressed batches are decompressed, bounded by BATCH_BYTES_MAX).
 */
export function validateBatchRecords(buf: Buffer, pos: number, header: BatchHeader, sizeBytes: number): void {
  const block = decompress(header.compression, buf.subarray(pos + BATCH_HEADER_BYTES, pos + sizeBytes))
  const r = new Reader(block)
  if (header.recordCount > block.length / RECORD_BYTES_MIN) r.fail(`Record count ${header.recordCount} exceeds the records block.`)
  for (let i = 0; i < header.recordCount; i++) {
    const length = r.varint()
    if (length < RECORD_BYTES_MIN - 1 || length > r.remaining) r.fail(`Record ${i}: length ${length} is out of range.`)
    const end = r.pos + length
    const rec = new Reader(block, { pos: r.pos, end })
    rec.int8()
    rec.varlong()
    if (rec.varint() !== i) rec.fail(`Record ${i}: offset delta is not ${i}.`)
    rec.varBytes()
    rec.varBytes()
    const headers = rec.varint()
    if (headers < 0 || headers > rec.remaining / 2) rec.fail(`Record ${i}: header count ${headers} is impossible.`)
    for (let h = 0; h < headers; h++) {
      rec.varBytes()
      rec.varBytes()
    }
    if (rec.pos !== end) rec.fail(`Record ${i} has ${end - rec.pos} trailing bytes.`)
    r.pos = end
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
