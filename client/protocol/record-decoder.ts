// Decoding a batch's records (records.ts draws the format), and checking that they parse without
// decoding them (the leader's check of a producer's batch, which a valid CRC over garbage records
// would otherwise pass). Every length is checked against the buffer before it is used; anything
// malformed throws StrandProtocolError CORRUPT_MESSAGE.

import { decompress, decompressAsync } from './batch-compression.js'
import { BATCH_HEADER_BYTES, batchSizeAt, RECORD_BYTES_MIN, verifyBatch, type BatchHeader } from './batch-header.js'
import { Reader } from './primitives.js'
import type { RecordHeader } from './record-encoder.js'

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
