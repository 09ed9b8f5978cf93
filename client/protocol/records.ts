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
//
// The code is split by role: the fixed header and whole-batch checks (batch-header.ts), record
// encoding and the producer's BatchBuilder (record-encoder.ts), record decoding and validation
// (record-decoder.ts), and compression of the records block (batch-compression.ts). This module
// is the one callers import; it re-exports them and holds the transaction markers.

import { decodeBatch } from './record-decoder.js'
import { encodeBatch } from './record-encoder.js'

export {
  BATCH_BYTES_MAX,
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD_BYTES,
  batchSizeAt,
  COMPRESSION_CODES,
  CRC_START,
  HEADER_OFFSETS,
  isControlBatch,
  isTransactionalBatch,
  MAGIC,
  nextOffsetOf,
  patchBatch,
  readBatchHeader,
  verifyBatch,
  verifyBatches,
  type BatchHeader,
  type BatchSpan,
  type Compression,
} from './batch-header.js'
export { decompressAsync } from './batch-compression.js'
export { BatchBuilder, encodeBatch, NO_HEADERS, recordBytes, recordPayloadBytes, type EncodeBatchOptions, type MeasuredRecord, type RecordHeader, type RecordInput } from './record-encoder.js'
export { decodeBatch, decodeBatches, validateBatchRecords, validateBatchRecordsAsync, type DecodedBatch, type DecodedRecord } from './record-decoder.js'

// ---------------------------------------------------------------------------------------------
// Transactions (KIP-98)

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
