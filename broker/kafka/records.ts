// Record batches between Kafka's format and Strand's, at the Kafka listener's edge.
//
// The two formats are the same magic-2 batch (client/protocol/records.ts draws it) except for
// two things:
//   - the CRC at bytes [17, 21) over [21, end): Kafka's is CRC-32C (Castagnoli), Strand's CRC-32
//     (zlib.crc32, native in Node; our CRC-32C is JavaScript, 1.6-2.6x slower from 1 KiB up:
//     npm run bench:crc);
//   - compression codes in attributes bits 0-2: both use 0 none and 1 gzip; Kafka's 2 snappy,
//     3 lz4, 4 zstd are not Strand's 2 deflate, 3 brotli.
// So the on-disk format stays Strand's, and the Kafka listener converts at its edge: a produced
// batch is checked against its CRC-32C and re-stamped with the CRC-32 in place (the frame is
// ours), and a fetched batch leaves with a copy of its 21-byte prefix carrying the CRC-32C, the
// rest passed on as a view of the read (nothing else copied). A Strand-compressed batch (deflate,
// brotli) that a Kafka client could not read is sent decompressed instead.
//
// Who calls it: only broker/kafka/handlers/produce-fetch.ts.

import zlib from 'node:zlib'
import { crc32c } from '../../client/protocol/crc32c.js'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, CRC_START, decompressAsync, HEADER_OFFSETS, MAGIC } from '../../client/protocol/records.js'

const ATTR_COMPRESSION_MASK = 0x07
/** Kafka's codes; only these two mean the same in Strand's format. */
const KAFKA_NONE = 0
const KAFKA_GZIP = 1
const KAFKA_CODEC_NAMES: Record<number, string> = { 2: 'snappy', 3: 'lz4', 4: 'zstd' }
const STRAND_DEFLATE = 2
const STRAND_BROTLI = 3

/**
 * Checks each Kafka batch of a Produce payload (whole batches only, magic 2, CRC-32C, a codec
 * Strand reads) and re-stamps its CRC as Strand's. Throws CORRUPT_MESSAGE (bad framing or CRC)
 * or UNSUPPORTED_COMPRESSION_TYPE; the rest of the validation (record counts, records parsing,
 * sequence numbers) is the partition's, exactly as for a Strand producer.
 */
export function kafkaToStrandBatches(records: Buffer): void {
  let pos = 0
  while (pos < records.length) {
    if (records.length - pos < BATCH_HEADER_BYTES) throw new StrandProtocolError('CORRUPT_MESSAGE', `Record batch at ${pos} is truncated (${records.length - pos} bytes).`)
    const batchLength = records.readInt32BE(pos + HEADER_OFFSETS.batchLength)
    const size = batchLength + BATCH_LOG_OVERHEAD_BYTES
    if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES || pos + size > records.length) {
      throw new StrandProtocolError('CORRUPT_MESSAGE', `Record batch at ${pos} has length ${batchLength}, beyond the ${records.length - pos} bytes left.`)
    }
    const magic = records.readInt8(pos + HEADER_OFFSETS.magic)
    if (magic !== MAGIC) throw new StrandProtocolError('CORRUPT_MESSAGE', `Record batch magic ${magic}: only magic 2 (Kafka 0.11+) is accepted.`)
    const codec = records.readInt16BE(pos + HEADER_OFFSETS.attributes) & ATTR_COMPRESSION_MASK
    if (codec !== KAFKA_NONE && codec !== KAFKA_GZIP) {
      throw new StrandProtocolError('UNSUPPORTED_COMPRESSION_TYPE', `Compression ${KAFKA_CODEC_NAMES[codec] ?? `code ${codec}`} is not supported; use none or gzip.`)
    }
    const covered = records.subarray(pos + CRC_START, pos + size)
    const stored = records.readUInt32BE(pos + HEADER_OFFSETS.crc)
    const computed = crc32c(covered)
    if (stored !== computed) throw new StrandProtocolError('CORRUPT_MESSAGE', `Record batch at ${pos}: CRC-32C mismatch (stored ${stored}, computed ${computed}).`)
    records.writeUInt32BE(zlib.crc32(covered), pos + HEADER_OFFSETS.crc)
    pos += size
  }
  if (pos === 0) throw new StrandProtocolError('CORRUPT_MESSAGE', 'No record batch in the payload.')
}

/**
 * A fetched records blob (whole Strand batches, perhaps a partial one at the end that a size
 * limit cut) as the chunks to send a Kafka client. Whole batches are re-stamped with CRC-32C;
 * deflate and brotli batches are sent decompressed; a partial last batch is dropped (a Kafka
 * client ignores it anyway, and its CRC could not be computed). The input is not modified: it
 * may be a view of a cached read other fetches share.
 */
export async function strandToKafkaBatches(records: Buffer | null): Promise<Buffer[]> {
  if (records === null || records.length === 0) return []
  const out: Buffer[] = []
  let pos = 0
  while (records.length - pos >= BATCH_HEADER_BYTES) {
    const size = records.readInt32BE(pos + HEADER_OFFSETS.batchLength) + BATCH_LOG_OVERHEAD_BYTES
    if (pos + size > records.length) break
    const codec = records.readInt16BE(pos + HEADER_OFFSETS.attributes) & ATTR_COMPRESSION_MASK
    if (codec === STRAND_DEFLATE || codec === STRAND_BROTLI) out.push(await decompressedBatch(records.subarray(pos, pos + size), codec))
    else out.push(...restamped(records.subarray(pos, pos + size)))
    pos += size
  }
  return out
}

/** The batch as two chunks: a copied prefix carrying the CRC-32C, and a view of the rest. */
function restamped(batch: Buffer): Buffer[] {
  const prefix = Buffer.allocUnsafe(CRC_START)
  batch.copy(prefix, 0, 0, CRC_START)
  prefix.writeUInt32BE(crc32c(batch.subarray(CRC_START)), HEADER_OFFSETS.crc)
  return [prefix, batch.subarray(CRC_START)]
}

/** A Strand-compressed batch rebuilt uncompressed: same header (codec 0), new length and CRC-32C. */
async function decompressedBatch(batch: Buffer, codec: number): Promise<Buffer> {
  const records = await decompressAsync(codec === STRAND_DEFLATE ? 'deflate' : 'brotli', batch.subarray(BATCH_HEADER_BYTES))
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + records.length)
  batch.copy(out, 0, 0, BATCH_HEADER_BYTES)
  records.copy(out, BATCH_HEADER_BYTES)
  out.writeInt32BE(out.length - BATCH_LOG_OVERHEAD_BYTES, HEADER_OFFSETS.batchLength)
  out.writeInt16BE(batch.readInt16BE(HEADER_OFFSETS.attributes) & ~ATTR_COMPRESSION_MASK, HEADER_OFFSETS.attributes)
  out.writeUInt32BE(crc32c(out.subarray(CRC_START)), HEADER_OFFSETS.crc)
  return out
}
