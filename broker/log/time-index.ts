// The sparse time index of one segment: `<base offset>.timeindex`.
//
// On disk: a flat array of 12-byte entries, no header:
//   timestamp int64 (ms) | relativeOffset uint32
// An entry (T, O) says: the largest record timestamp in the segment up to and including the batch
// at offset O is T. Entries ascend in both fields, so records with a timestamp >= t can only sit
// after the last entry whose T < t. The segment's overall largest timestamp is always the last
// entry once the segment is rolled or closed (retention by time reads it).
//
// Like the offset index, it lives in memory, is written whole on roll and close, and is rebuilt
// when missing or damaged. Only Segment calls it.

import assert from 'node:assert/strict'
import { writeFileAtomic } from './checkpoint.js'
import { readIfExists } from './offset-index.js'

export const TIME_INDEX_ENTRY_BYTES = 12
const INITIAL_ENTRIES = 256

export class TimeIndex {
  readonly baseOffset: bigint
  #buf: Buffer
  #count: number

  constructor(baseOffset: bigint, packed?: Buffer) {
    this.baseOffset = baseOffset
    this.#count = packed === undefined ? 0 : packed.length / TIME_INDEX_ENTRY_BYTES
    this.#buf = Buffer.alloc(Math.max(INITIAL_ENTRIES, this.#count) * TIME_INDEX_ENTRY_BYTES)
    packed?.copy(this.#buf)
  }

  get entries(): number {
    return this.#count
  }

  /** The last entry, or null when the index is empty. */
  last(): { timestamp: number; offset: bigint } | null {
    return this.#count === 0 ? null : this.#entry(this.#count - 1)
  }

  #entry(i: number): { timestamp: number; offset: bigint } {
    const at = i * TIME_INDEX_ENTRY_BYTES
    return { timestamp: Number(this.#buf.readBigInt64BE(at)), offset: this.baseOffset + BigInt(this.#buf.readUInt32BE(at + 8)) }
  }

  /** Adds (timestamp, offset) when the timestamp is newer than the last entry's; otherwise a no-op. */
  maybeAppend(timestamp: number, offset: bigint): void {
    const last = this.last()
    if (last !== null && timestamp <= last.timestamp) return
    if (last !== null) assert.ok(offset > last.offset, 'time index entries ascend by offset')
    if ((this.#count + 1) * TIME_INDEX_ENTRY_BYTES > this.#buf.length) {
      const grown = Buffer.alloc(this.#buf.length * 2)
      this.#buf.copy(grown)
      this.#buf = grown
    }
    const at = this.#count * TIME_INDEX_ENTRY_BYTES
    this.#buf.writeBigInt64BE(BigInt(timestamp), at)
    this.#buf.writeUInt32BE(Number(offset - this.baseOffset), at + 8)
    this.#count++
  }

  /**
   * The offset to start scanning from for the first record with a timestamp >= `timestamp`: the
   * offset of the last entry whose timestamp is below it, or the segment start.
   */
  lookup(timestamp: number): bigint {
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (this.#entry(mid).timestamp < timestamp) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found < 0 ? this.baseOffset : this.#entry(found).offset
  }

  /** Drops every entry at or past `offset`. */
  truncateTo(offset: bigint): void {
    while (this.#count > 0 && this.#entry(this.#count - 1).offset >= offset) this.#count--
  }

  async persist(file: string): Promise<void> {
    await writeFileAtomic(file, this.#buf.subarray(0, this.#count * TIME_INDEX_ENTRY_BYTES))
  }

  /** Loads a persisted index, or null when missing or failing a sanity check. */
  static async load(file: string, baseOffset: bigint, nextOffset: bigint): Promise<TimeIndex | null> {
    const packed = await readIfExists(file)
    if (packed === null || packed.length % TIME_INDEX_ENTRY_BYTES !== 0) return null
    let prevTimestamp = -Infinity
    let prevRelative = -1
    const relativeMax = Number(nextOffset - baseOffset)
    for (let at = 0; at < packed.length; at += TIME_INDEX_ENTRY_BYTES) {
      const timestamp = Number(packed.readBigInt64BE(at))
      const relative = packed.readUInt32BE(at + 8)
      if (timestamp <= prevTimestamp || relative <= prevRelative || relative >= relativeMax) return null
      prevTimestamp = timestamp
      prevRelative = relative
    }
    return new TimeIndex(baseOffset, packed)
  }
}
