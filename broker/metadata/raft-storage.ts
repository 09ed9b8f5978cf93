// The metadata log on disk: Raft entries kept in a `broker/log` Log, so they get CRCs, segments
// and crash recovery for free. Entry i (1-based) is the one-record batch at offset i - 1, its
// Raft term stored as the batch's partitionLeaderEpoch and its data as the record value.
//
// With snapshots (snapshot.ts) the log no longer starts at entry 1: whole segments below the
// older kept snapshot are deleted (`deleteBelow`), and a snapshot installed from the leader may
// restart the log right after it (`startAfter`). Entries at or below the newest snapshot may
// still sit on disk; they are never loaded.
//
// Only the QuorumNode calls it, one operation at a time, in the order Raft produced them.

import { decodeBatches, encodeBatch, patchBatch } from '../../client/protocol/records.js'
import type { Logger } from 'pino'
import { DEFAULT_LOG_CONFIG } from '../log/config.js'
import { Log } from '../log/log.js'
import type { Entry, SnapshotPoint } from './raft.js'
import type { LogRange } from './snapshot.js'

/** Bytes read per step when loading the log at startup. */
const LOAD_CHUNK_BYTES = 1024 * 1024
/** Most bytes a one-record batch adds around an entry's data (61-byte header, record varints). */
const ENTRY_OVERHEAD_BYTES_MAX = 128

export class RaftStorageError extends Error {
  override readonly name = 'RaftStorageError'
}

export class RaftStorage {
  readonly #log: Log
  readonly #clock: () => number
  readonly #logger: Logger
  /** An entry's data may not exceed this: its batch must fit in one segment. */
  readonly entryBytesMax: number

  private constructor(log: Log, clock: () => number, logger: Logger) {
    this.#log = log
    this.#clock = clock
    this.#logger = logger
    this.entryBytesMax = log.config.segmentBytes - ENTRY_OVERHEAD_BYTES_MAX
  }

  /** `segmentBytes` is small (metadata.log.segment.bytes), so deleting whole segments below a snapshot frees space soon. */
  static async open(dir: string, options: { clock: () => number; logger: Logger; segmentBytes: number }): Promise<RaftStorage> {
    // The metadata log is small and precious: fsync every append, since a vote or an
    // acknowledged append must survive a power cut, and validate it fully on every open.
    const { log } = await Log.open({
      dir,
      config: { ...DEFAULT_LOG_CONFIG, segmentBytes: options.segmentBytes, retentionMs: -1, fsync: true },
      clock: options.clock,
      logger: options.logger,
      recoveryPoint: 0n,
      cleanShutdown: false,
    })
    return new RaftStorage(log, options.clock, options.logger.child({ subsystem: 'raft' }))
  }

  /** The entries on disk, by Raft index. */
  range(): LogRange {
    return { firstIndex: Number(this.#log.logStartOffset) + 1, lastIndex: Number(this.#log.logEndOffset) }
  }

  /** Segment base offsets, oldest first (for tests and tools). */
  segmentBaseOffsets(): bigint[] {
    return this.#log.segmentBaseOffsets()
  }

  /**
   * The entries after `snapshot` (all of them without one), after making the log continue it
   * (`startAfter`). A log that starts past the entry after the snapshot has lost entries no
   * snapshot holds: a startup error.
   */
  async loadAfter(snapshot: SnapshotPoint): Promise<Entry[]> {
    const { firstIndex } = this.range()
    if (firstIndex > snapshot.lastIndex + 1) {
      throw new RaftStorageError(
        `The metadata log in ${this.#log.dir} starts at entry ${firstIndex}, but ${snapshot.lastIndex === 0 ? 'there is no snapshot' : `the snapshot ends at ${snapshot.lastIndex}`}: entries are missing; refusing to start.`,
      )
    }
    if (snapshot.lastIndex > 0) await this.startAfter(snapshot)
    return this.#readFrom(snapshot.lastIndex + 1)
  }

  /**
   * Makes the log continue right after the snapshot, so the next entry appended is
   * `snapshot.lastIndex + 1`. The entries after it stay when the log holds the snapshot's last
   * entry with its term (they continue the same history) or starts right after it; otherwise the
   * log restarts empty there.
   */
  async startAfter(snapshot: SnapshotPoint): Promise<void> {
    const { firstIndex, lastIndex } = this.range()
    if (lastIndex >= snapshot.lastIndex) {
      if (firstIndex === snapshot.lastIndex + 1) return
      if ((await this.#termAt(snapshot.lastIndex)) === snapshot.lastTerm) return
    }
    // Drop the tail first, so the old segments and the restarted one never overlap on disk.
    if (lastIndex >= snapshot.lastIndex) await this.#log.truncateTo(BigInt(snapshot.lastIndex - 1))
    await this.#log.truncateFullyAndStartAt(BigInt(snapshot.lastIndex))
    this.#logger.info({ lastIndex: snapshot.lastIndex, lastTerm: snapshot.lastTerm, heldEntries: `${firstIndex}..${lastIndex}` }, 'metadata log restarted after a snapshot it does not continue')
  }

  /** Deletes whole segments holding only entries below `index` (entry `index` stays). Returns how many. */
  deleteBelow(index: number): Promise<number> {
    return this.#log.deleteSegmentsBelow(BigInt(index - 1))
  }

  async #termAt(index: number): Promise<number | null> {
    const { records } = await this.#log.read(BigInt(index - 1), 1)
    const batch = decodeBatches(records).batches[0]
    return batch !== undefined && batch.header.baseOffset === BigInt(index - 1) ? batch.header.partitionLeaderEpoch : null
  }

  /** Every entry from `index` on; a gap in the offsets is a damaged log. */
  async #readFrom(index: number): Promise<Entry[]> {
    const entries: Entry[] = []
    let offset = BigInt(index - 1)
    while (offset < this.#log.logEndOffset) {
      const { records } = await this.#log.read(offset, LOAD_CHUNK_BYTES)
      const before = offset
      for (const b of decodeBatches(records).batches) {
        for (const r of b.records) {
          if (r.offset < offset) continue
          if (r.offset !== offset) throw new RaftStorageError(`The metadata log in ${this.#log.dir} jumps from offset ${offset} to ${r.offset}; refusing to start.`)
          entries.push({ term: b.header.partitionLeaderEpoch, data: r.value ?? Buffer.alloc(0) })
          offset++
        }
      }
      if (offset === before) throw new RaftStorageError(`The metadata log in ${this.#log.dir} has no entry at offset ${offset} below its end ${this.#log.logEndOffset}; refusing to start.`)
    }
    return entries
  }

  /** Drops entries from `index` (1-based) on. */
  async truncateFrom(index: number): Promise<void> {
    await this.#log.truncateTo(BigInt(index - 1))
  }

  /** Appends entries, in as many log appends as the segment size needs. */
  async append(items: ReadonlyArray<{ index: number; entry: Entry }>): Promise<void> {
    let chunk: Buffer[] = []
    let chunkBytes = 0
    for (const { index, entry } of items) {
      const batch = encodeBatch([{ value: entry.data }], { timestamp: this.#clock() })
      patchBatch(batch, 0, { baseOffset: BigInt(index - 1), partitionLeaderEpoch: entry.term })
      if (chunkBytes + batch.length > this.#log.config.segmentBytes && chunk.length > 0) {
        await this.#log.append(Buffer.concat(chunk), { assignOffsets: false })
        chunk = []
        chunkBytes = 0
      }
      chunk.push(batch)
      chunkBytes += batch.length
    }
    if (chunk.length > 0) await this.#log.append(Buffer.concat(chunk), { assignOffsets: false })
  }

  close(): Promise<void> {
    return this.#log.close()
  }
}
