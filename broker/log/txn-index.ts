// The aborted-transaction index of one segment: `<base offset>.txnindex` (KIP-98). One entry per
// transaction aborted by a marker in this segment, in marker order, fixed size, big-endian:
//
//   offset  bytes  field
//        0      8  producerId
//        8      8  firstOffset        the transaction's first data offset (may lie in an older segment)
//       16      8  lastOffset         the abort marker's offset (in this segment)
//       24      8  lastStableOffset   the partition's last stable offset once the marker was appended
//
// A read_committed fetch returns the entries that overlap what it reads, and the consumer drops
// those producers' records in those ranges. Only Segment calls it, under Log's serialization.
//
// The file is derived state, like the offset index: it is written without fsync, because the
// partition's producer-state replay (partition.ts) re-adds any entry a crash lost for a marker in
// the replayed tail, and on open the entries for markers past the segment's recovered end are
// dropped. A trailing partial entry (a torn write) is ignored.

import { readFile, writeFile } from 'node:fs/promises'
import assert from 'node:assert/strict'

export const TXN_INDEX_ENTRY_BYTES = 32

export interface AbortedTxn {
  producerId: bigint
  firstOffset: bigint
  lastOffset: bigint
  lastStableOffset: bigint
}

export function encodeTxnIndex(entries: readonly AbortedTxn[]): Buffer {
  const buf = Buffer.allocUnsafe(entries.length * TXN_INDEX_ENTRY_BYTES)
  entries.forEach((e, i) => {
    const at = i * TXN_INDEX_ENTRY_BYTES
    buf.writeBigInt64BE(e.producerId, at)
    buf.writeBigInt64BE(e.firstOffset, at + 8)
    buf.writeBigInt64BE(e.lastOffset, at + 16)
    buf.writeBigInt64BE(e.lastStableOffset, at + 24)
  })
  return buf
}

export function decodeTxnIndex(buf: Buffer): AbortedTxn[] {
  const entries: AbortedTxn[] = []
  for (let at = 0; at + TXN_INDEX_ENTRY_BYTES <= buf.length; at += TXN_INDEX_ENTRY_BYTES) {
    entries.push({ producerId: buf.readBigInt64BE(at), firstOffset: buf.readBigInt64BE(at + 8), lastOffset: buf.readBigInt64BE(at + 16), lastStableOffset: buf.readBigInt64BE(at + 24) })
  }
  return entries
}

/**
 * The entries of `file` whose marker lies in [baseOffset, nextOffset) and that ascend by marker
 * offset; a missing file is an empty index. Anything else (a marker the recovered log no longer
 * has, an entry out of order from a damaged file) ends the index there.
 */
export async function loadTxnIndex(file: string, baseOffset: bigint, nextOffset: bigint): Promise<{ entries: AbortedTxn[]; dropped: boolean }> {
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], dropped: false }
    throw err
  }
  const all = decodeTxnIndex(buf)
  const entries: AbortedTxn[] = []
  for (const e of all) {
    const prev = entries[entries.length - 1]
    if (e.lastOffset < baseOffset || e.lastOffset >= nextOffset || e.firstOffset > e.lastOffset || (prev !== undefined && e.lastOffset <= prev.lastOffset)) break
    entries.push(e)
  }
  return { entries, dropped: entries.length !== all.length || buf.length % TXN_INDEX_ENTRY_BYTES !== 0 }
}

export async function writeTxnIndex(file: string, entries: readonly AbortedTxn[]): Promise<void> {
  await writeFile(file, encodeTxnIndex(entries))
}

/** Adds `e` in marker order; false when an entry for its marker is there already (a replay re-adding it). */
export function insertAbortedTxn(entries: AbortedTxn[], e: AbortedTxn): boolean {
  assert.ok(e.firstOffset <= e.lastOffset, 'an aborted transaction starts before its marker')
  let i = entries.length
  while (i > 0 && entries[i - 1]!.lastOffset >= e.lastOffset) i--
  if (entries[i]?.lastOffset === e.lastOffset) return false
  entries.splice(i, 0, e)
  return true
}
