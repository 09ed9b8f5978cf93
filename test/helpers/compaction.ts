// Keyed records for compaction tests: append them, read the log back as (offset, key, value), and
// work out what a clean must leave.

import { decodeBatches, encodeBatch, type Compression } from '../../client/protocol/records.js'
import type { CleanOptions } from '../../broker/log/compaction.js'
import type { Log } from '../../broker/log/log.js'
import { silentLogger } from './log.js'

export interface KeyedRecord {
  key: string | null
  /** null: a tombstone. */
  value: string | null
}

export interface StoredRecord extends KeyedRecord {
  offset: bigint
}

export interface KeyedBatchOptions {
  timestampMs: number
  compression?: Compression
  producerId?: bigint
  producerEpoch?: number
  baseSequence?: number
}

export function keyedBatch(records: readonly KeyedRecord[], options: KeyedBatchOptions): Buffer {
  return encodeBatch(
    records.map((r) => ({ key: r.key, value: r.value })),
    { timestamp: options.timestampMs, compression: options.compression, producerId: options.producerId, producerEpoch: options.producerEpoch, baseSequence: options.baseSequence },
  )
}

/** Appends one batch as the leader would; returns the records with the offsets they got. */
export async function appendKeyed(log: Log, records: readonly KeyedRecord[], options: KeyedBatchOptions & { leaderEpoch?: number }): Promise<StoredRecord[]> {
  const info = await log.append(keyedBatch(records, options), { assignOffsets: true, leaderEpoch: options.leaderEpoch ?? 0 })
  return records.map((r, i) => ({ ...r, offset: info.firstOffset + BigInt(i) }))
}

/** Every record from `from` to the log end, in offset order. Fails on a stuck or backwards read. */
export async function readRecords(log: Log, from: bigint = log.logStartOffset): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  let offset = from
  while (offset < log.logEndOffset) {
    const { records, nextOffset } = await log.read(offset, 8192)
    if (records.length === 0) break
    for (const b of decodeBatches(records).batches) {
      for (const r of b.records) {
        if (r.offset < offset) continue
        out.push({ offset: r.offset, key: r.key === null ? null : r.key.toString(), value: r.value === null ? null : r.value.toString() })
      }
    }
    if (nextOffset <= offset) throw new Error(`read at ${offset} did not advance`)
    offset = nextOffset
  }
  for (let i = 1; i < out.length; i++) if (out[i]!.offset <= out[i - 1]!.offset) throw new Error(`offsets do not ascend at ${out[i]!.offset}`)
  return out
}

/** What one clean leaves of `records` when it maps [from, to) and removes tombstones below `to` iff `tombstonesGo(record)`. */
export function expectedAfterClean(records: readonly StoredRecord[], range: { from: bigint; to: bigint }, tombstonesGo: (r: StoredRecord) => boolean): StoredRecord[] {
  const latest = new Map<string, bigint>()
  for (const r of records) if (r.key !== null && r.offset >= range.from && r.offset < range.to) latest.set(r.key, r.offset)
  return records.filter((r) => {
    if (r.key === null) return true
    const l = latest.get(r.key)
    if (l !== undefined && r.offset < l) return false
    return !(r.value === null && r.offset < range.to && tombstonesGo(r))
  })
}

export function cleanOptions(clock: () => number, overrides: Partial<CleanOptions> = {}): CleanOptions {
  return { firstDirtyOffset: 0n, upperBoundOffset: null, clock, logger: silentLogger, offsetMapBytesMax: 1 << 20, ...overrides }
}
