// The record batch's fixed header (records.ts draws the whole format): its constants and field
// offsets, reading it, checking a batch whole without decoding its records (length, magic, CRC,
// counts), and the two fields the leader patches: what the log and a leader need of a batch,
// with no record decoded. The header's 61 bytes are listed field by field in HEADER_OFFSETS below
// and drawn in records.ts. Anything malformed throws StrandProtocolError CORRUPT_MESSAGE.

import zlib from 'node:zlib'
import { StrandProtocolError } from './errors.js'

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
export const RECORD_BYTES_MIN = 7

export const COMPRESSION_CODES = { none: 0, gzip: 1, deflate: 2, brotli: 3 } as const
export type Compression = keyof typeof COMPRESSION_CODES
const COMPRESSION_BY_CODE: readonly Compression[] = ['none', 'gzip', 'deflate', 'brotli']
const ATTR_COMPRESSION_MASK = 0x07
export const ATTR_TRANSACTIONAL = 0x10
export const ATTR_CONTROL = 0x20

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

/** The offset after the batch's last record. */
export function nextOffsetOf(header: BatchHeader): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta) + 1n
}

/** A batch written by a transactional producer: its records count only once their transaction commits. */
export function isTransactionalBatch(h: Pick<BatchHeader, 'attributes'>): boolean {
  return (h.attributes & ATTR_TRANSACTIONAL) !== 0
}

/** A control batch (a commit or abort marker): never handed to an application. */
export function isControlBatch(h: Pick<BatchHeader, 'attributes'>): boolean {
  return (h.attributes & ATTR_CONTROL) !== 0
}
