// The sparse offset index of one segment: `<base offset>.index`.
//
// On disk: a flat array of 8-byte entries, no header, ascending in both fields:
//   relativeOffset uint32 (offset - segment base offset) | position uint32 (byte in the .log file)
// An entry points at the first byte of a batch; there is one entry per `index.interval.bytes` of
// log, so a lookup lands at most that many bytes before the batch it wants.
//
// The index lives in memory while its segment is active and is written whole when the segment
// rolls or the log closes. It is a derived structure: recovery rebuilds it from the .log file, and
// an index that fails `load`'s sanity checks is rebuilt, never trusted. Only Segment calls it.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from './checkpoint.js'

export const OFFSET_INDEX_ENTRY_BYTES = 8
/** First allocation; doubles as it fills. 512 entries cover 2 MiB of log at the default interval. */
const INITIAL_ENTRIES = 512

export interface IndexEntry {
  offset: bigint
  position: number
}

export class OffsetIndex {
  readonly baseOffset: bigint
  /** Entries packed as on disk; only the first `#count` are valid. */
  #buf: Buffer
  #count: number

  constructor(baseOffset: bigint, packed?: Buffer) {
    this.baseOffset = baseOffset
    this.#count = packed === undefined ? 0 : packed.length / OFFSET_INDEX_ENTRY_BYTES
    this.#buf = Buffer.alloc(Math.max(INITIAL_ENTRIES, this.#count) * OFFSET_INDEX_ENTRY_BYTES)
    packed?.copy(this.#buf)
  }

  get entries(): number {
    return this.#count
  }

  get lastPosition(): number {
    return this.#count === 0 ? 0 : this.#buf.readUInt32BE((this.#count - 1) * OFFSET_INDEX_ENTRY_BYTES + 4)
  }

  append(offset: bigint, position: number): void {
    const relative = Number(offset - this.baseOffset)
    if (this.#count > 0) {
      const last = (this.#count - 1) * OFFSET_INDEX_ENTRY_BYTES
      assert.ok(relative > this.#buf.readUInt32BE(last), 'offset index entries ascend by offset')
      assert.ok(position > this.#buf.readUInt32BE(last + 4), 'offset index entries ascend by position')
    }
    if ((this.#count + 1) * OFFSET_INDEX_ENTRY_BYTES > this.#buf.length) {
      const grown = Buffer.alloc(this.#buf.length * 2)
      this.#buf.copy(grown)
      this.#buf = grown
    }
    const at = this.#count * OFFSET_INDEX_ENTRY_BYTES
    this.#buf.writeUInt32BE(relative, at)
    this.#buf.writeUInt32BE(position, at + 4)
    this.#count++
  }

  /** The last entry at or before `offset`, or the segment start when there is none. */
  lookup(offset: bigint): IndexEntry {
    const relative = offset - this.baseOffset
    let lo = 0
    let hi = this.#count - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (BigInt(this.#buf.readUInt32BE(mid * OFFSET_INDEX_ENTRY_BYTES)) <= relative) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    if (found < 0) return { offset: this.baseOffset, position: 0 }
    const at = found * OFFSET_INDEX_ENTRY_BYTES
    return { offset: this.baseOffset + BigInt(this.#buf.readUInt32BE(at)), position: this.#buf.readUInt32BE(at + 4) }
  }

  /** Drops every entry pointing at or past `position` (the log was truncated there). */
  truncateToPosition(position: number): void {
    while (this.#count > 0 && this.#buf.readUInt32BE((this.#count - 1) * OFFSET_INDEX_ENTRY_BYTES + 4) >= position) this.#count--
  }

  async persist(file: string): Promise<void> {
    await writeFileAtomic(file, this.#buf.subarray(0, this.#count * OFFSET_INDEX_ENTRY_BYTES))
  }

  /**
   * Loads an index written by `persist`, or returns null when it is missing or fails a sanity
   * check (size, ordering, positions inside the segment); the caller then rebuilds it.
   */
  static async load(file: string, baseOffset: bigint, segmentBytes: number): Promise<OffsetIndex | null> {
    const packed = await readIfExists(file)
    if (packed === null || packed.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return null
    let prevRelative = -1
    let prevPosition = -1
    for (let at = 0; at < packed.length; at += OFFSET_INDEX_ENTRY_BYTES) {
      const relative = packed.readUInt32BE(at)
      const position = packed.readUInt32BE(at + 4)
      if (relative <= prevRelative || position <= prevPosition || position >= segmentBytes) return null
      prevRelative = relative
      prevPosition = position
    }
    return new OffsetIndex(baseOffset, packed)
  }
}

export async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}
