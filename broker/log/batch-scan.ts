// Walking the record batches of a segment's .log file (segment.ts) without decoding them: header
// summaries, whole-batch cuts for reads, the recovery scan, and positional reads and writes.
//
// The .log file is record batches back to back (client/protocol/records.ts draws a batch):
//
//   [batch @ base offset B][batch @ B + n1][batch @ B + n1 + n2] ...
//
// and a walk reads only each batch's first BATCH_HEADER_BYTES: baseOffset (int64 at 0),
// batchLength (int32 at 8, the bytes after it), lastOffsetDelta (int32 at 23) and maxTimestamp
// (int64 at 35). Only the recovery scan checks CRCs (see wholeBatchesBelow for why reads do not).
//
// Only Segment calls these; they hold no state, so the caller keeps its own ordering rules.

import assert from 'node:assert/strict'
import type { FileHandle } from 'node:fs/promises'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { BATCH_BYTES_MAX, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES, verifyBatch } from '../../client/protocol/records.js'

/** Bytes a recovery scan reads at a time; larger batches are read whole. */
const RECOVERY_CHUNK_BYTES = 1024 * 1024
/** Enough of a batch header to know its offsets, size and timestamp. */
export const HEADER_PREFIX_BYTES = BATCH_HEADER_BYTES

/** The first bytes of a batch on disk, enough to walk the segment. */
export interface BatchSummary {
  position: number
  sizeBytes: number
  baseOffset: bigint
  lastOffset: bigint
  maxTimestamp: number
}

/** The batch header at `pos` in `buf`, or null when it is truncated or its length is impossible. */
export function summarize(buf: Buffer, pos: number, position: number, bytesLeft: number): BatchSummary | null {
  if (buf.length - pos < HEADER_PREFIX_BYTES) return null
  const batchLength = buf.readInt32BE(pos + 8)
  if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES || batchLength > BATCH_BYTES_MAX) return null
  const sizeBytes = batchLength + BATCH_LOG_OVERHEAD_BYTES
  if (sizeBytes > bytesLeft) return null
  const lastOffsetDelta = buf.readInt32BE(pos + 23)
  if (lastOffsetDelta < 0) return null
  const baseOffset = buf.readBigInt64BE(pos)
  return { position, sizeBytes, baseOffset, lastOffset: baseOffset + BigInt(lastOffsetDelta), maxTimestamp: Number(buf.readBigInt64BE(pos + 35)) }
}

/**
 * Cuts `buf` after its last whole batch below `maxOffset` by walking the batch lengths. CRCs are
 * not checked here: the append path checked them before writing, and every reader (consumer or
 * follower) checks them again on decode, as Kafka's fetch path does; checking here too cost about
 * a third of read throughput in bench/log.ts.
 */
export function wholeBatchesBelow(buf: Buffer, maxOffset: bigint): { bytes: number; nextOffset: bigint } {
  let pos = 0
  let nextOffset = -1n
  while (pos < buf.length) {
    const s = summarize(buf, pos, pos, buf.length - pos)
    if (s === null || s.lastOffset >= maxOffset) break
    nextOffset = s.lastOffset + 1n
    pos += s.sizeBytes
  }
  assert.ok(pos > 0, 'a read returns at least one whole batch')
  return { bytes: pos, nextOffset }
}

/**
 * The recovery scan: validates every batch of the file from its start (bounds, CRC, offsets
 * ascending from `firstOffsetMin`) and stops at the first that is torn, corrupt or out of order.
 * Calls `onBatch` for each valid batch, in file order. Returns the bytes of valid batches (the
 * caller truncates the file there) and the offset after the last of them.
 */
export async function scanValidBatches(fh: FileHandle, fileBytes: number, firstOffsetMin: bigint, onBatch: (s: BatchSummary) => void): Promise<{ validBytes: number; nextOffset: bigint }> {
  /** End of the last batch known good; everything after it is dropped. */
  let validEnd = 0
  let expectedMin = firstOffsetMin
  scan: while (validEnd < fileBytes) {
    const chunkStart = validEnd
    const chunk = await readFully(fh, chunkStart, Math.min(RECOVERY_CHUNK_BYTES, fileBytes - chunkStart))
    let pos = 0
    while (pos < chunk.length) {
      const s = summarize(chunk, pos, chunkStart + pos, fileBytes - chunkStart - pos)
      if (s === null || s.baseOffset < expectedMin) break scan
      if (pos + s.sizeBytes > chunk.length) {
        if (pos > 0) break // re-read from this batch so it starts the next chunk
        if (!verifies(await readFully(fh, s.position, s.sizeBytes), 0)) break scan
      } else if (!verifies(chunk, pos)) {
        break scan
      }
      onBatch(s)
      expectedMin = s.lastOffset + 1n
      pos += s.sizeBytes
      validEnd = s.position + s.sizeBytes
    }
  }
  return { validBytes: validEnd, nextOffset: expectedMin }
}

function verifies(buf: Buffer, pos: number): boolean {
  try {
    verifyBatch(buf, pos)
    return true
  } catch {
    return false
  }
}

export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  // One write nearly always takes it all; the loop is for the short write a full disk may give.
  let done = (await fh.write(buf, 0, buf.length, position)).bytesWritten
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done)
    done += bytesWritten
  }
}

export async function readFully(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done)
    if (bytesRead === 0) throw new StrandProtocolError('KAFKA_STORAGE_ERROR', `Unexpected end of segment file at byte ${position + done}.`)
    done += bytesRead
  }
  return buf
}
