// The metadata log on disk: Raft entries kept in a `broker/log` Log, so they get CRCs, segments
// and crash recovery for free. Entry i (1-based) is the one-record batch at offset i - 1, its
// Raft term stored as the batch's partitionLeaderEpoch and its data as the record value.
//
// Only the QuorumNode calls it, one operation at a time, in the order Raft produced them.

import { decodeBatches, encodeBatch, patchBatch } from '../../client/protocol/records.js'
import type { Logger } from 'pino'
import { DEFAULT_LOG_CONFIG } from '../log/config.js'
import { Log } from '../log/log.js'
import type { Entry } from './raft.js'

/** Bytes read per step when loading the log at startup. */
const LOAD_CHUNK_BYTES = 1024 * 1024

export class RaftStorage {
  readonly #log: Log
  readonly #clock: () => number

  private constructor(log: Log, clock: () => number) {
    this.#log = log
    this.#clock = clock
  }

  static async open(dir: string, options: { clock: () => number; logger: Logger }): Promise<RaftStorage> {
    // The metadata log is small and precious: fsync every append, since a vote or an
    // acknowledged append must survive a power cut, and validate it fully on every open.
    const { log } = await Log.open({
      dir,
      config: { ...DEFAULT_LOG_CONFIG, segmentBytes: 64 * 1024 * 1024, retentionMs: -1, fsync: true },
      clock: options.clock,
      logger: options.logger,
      recoveryPoint: 0n,
      cleanShutdown: false,
    })
    return new RaftStorage(log, options.clock)
  }

  /** Every entry, in order. Snapshots (which would bound this) are not built yet. */
  async loadEntries(): Promise<Entry[]> {
    const entries: Entry[] = []
    let offset = this.#log.logStartOffset
    while (offset < this.#log.logEndOffset) {
      const { records, nextOffset } = await this.#log.read(offset, LOAD_CHUNK_BYTES)
      for (const b of decodeBatches(records).batches) for (const r of b.records) entries.push({ term: b.header.partitionLeaderEpoch, data: r.value ?? Buffer.alloc(0) })
      if (nextOffset === offset) break
      offset = nextOffset
    }
    return entries
  }

  /** Drops entries from `index` (1-based) on. */
  async truncateFrom(index: number): Promise<void> {
    await this.#log.truncateTo(BigInt(index - 1))
  }

  async append(items: ReadonlyArray<{ index: number; entry: Entry }>): Promise<void> {
    if (items.length === 0) return
    const batches = items.map(({ index, entry }) => {
      const batch = encodeBatch([{ value: entry.data }], { timestamp: this.#clock() })
      patchBatch(batch, 0, { baseOffset: BigInt(index - 1), partitionLeaderEpoch: entry.term })
      return batch
    })
    await this.#log.append(Buffer.concat(batches), { assignOffsets: false })
  }

  close(): Promise<void> {
    return this.#log.close()
  }
}
