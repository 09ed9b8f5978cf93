// The leader epoch cache of one partition replica (Kafka's LeaderEpochFileCache, KIP-101/KIP-279):
// for every leader epoch that still has records in this replica's log, the first offset written
// under it. It is what lets a follower find where its log stops agreeing with the new leader's
// without trusting the high watermark: the follower asks the leader where its own latest epoch
// ends (OffsetsForLeaderEpoch) and truncates there, so replicas never diverge after a leader change.
//
// On disk: `<partition dir>/leader-epoch-checkpoint`, text, the same layout as Kafka's, replaced
// whole through `writeFileAtomic` (temp file, fsync, rename, fsync of the directory):
//   line 1: version (0)
//   line 2: entry count N
//   N lines: <epoch> <startOffset>      both strictly ascending, one line per epoch
// e.g. "0\n2\n0 0\n3 1500\n": epoch 0 from offset 0, epoch 3 from offset 1500 (1 and 2 never wrote).
//
// Who calls it: only the partition that owns the log, and the OffsetsForLeaderEpoch handler
// through it.
//   - leader append (or becoming leader): `assign(leaderEpoch, logEndOffset)` before the first
//     batch of a new epoch;
//   - follower append: `assign(batch.partitionLeaderEpoch, batch.baseOffset)` per appended batch;
//   - truncation (divergence from the leader, recovery dropping a torn tail): `truncateFromEnd`;
//   - retention and delete-records moving the log start: `truncateFromStart`;
//   - the OffsetsForLeaderEpoch handler: `endOffsetFor(epoch, logEndOffset)`.
// Updates change memory synchronously, so a caller that updates the cache in the same step as the
// log never exposes a cache that disagrees with the log; the file write follows, in call order.
//
// A damaged file is a startup error, not an empty cache (unlike the recovery-point checkpoint):
// an empty cache would answer OffsetsForLeaderEpoch with "unknown", and a follower truncating to a
// guessed offset can keep records the leader never had, which is exactly the divergence this
// file exists to prevent.
//
// There is no entry-count bound: the list holds one entry per leader change whose records are
// still in the log, and retention (`truncateFromStart`) trims it with the log itself.

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { writeFileAtomic } from '../log/checkpoint.js'

export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint'
/** The only format version; bumped if the line layout ever changes. */
const VERSION = 0
/** Leader epochs are int32 on the wire and in a batch header. */
const EPOCH_MAX = 2 ** 31 - 1
/** Offsets are int64 on the wire. */
const OFFSET_MAX = 2n ** 63n - 1n

export interface EpochEntry {
  /** The leader epoch. */
  readonly epoch: number
  /** The first offset written under `epoch` still in the log. */
  readonly startOffset: bigint
}

/** The checkpoint file exists but cannot be trusted; the partition must not open on it. */
export class LeaderEpochCheckpointError extends Error {
  override readonly name = 'LeaderEpochCheckpointError'
}

export class LeaderEpochCache {
  /** The checkpoint file this cache persists to. */
  readonly file: string
  /** Strictly ascending in epoch and in startOffset; the last entry is the latest epoch. Frozen and replaced whole, so `entries()` hands out a snapshot. */
  #entries: readonly EpochEntry[]
  readonly #logger: Logger
  /** Tail of the write chain: each write waits for the previous one, so two never share the temp file. Never rejects. */
  #persisting: Promise<void> = Promise.resolve()

  private constructor(file: string, entries: readonly EpochEntry[], logger: Logger) {
    this.file = file
    this.#entries = entries
    this.#logger = logger
  }

  /** Reads `<dir>/leader-epoch-checkpoint`; a missing file is an empty cache, a malformed one throws. */
  static async load(dir: string, logger: Logger): Promise<LeaderEpochCache> {
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
    const log = logger.child({ subsystem: 'leader-epoch', dir })
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      log.debug('no leader epoch checkpoint; starting empty')
      return new LeaderEpochCache(file, [], log)
    }
    const entries = decodeEpochCheckpoint(text, file)
    log.debug({ entries: entries.length, latestEpoch: entries.at(-1)?.epoch ?? -1 }, 'loaded leader epoch checkpoint')
    return new LeaderEpochCache(file, Object.freeze(entries), log)
  }

  get latestEpoch(): number {
    return this.#entries.at(-1)?.epoch ?? -1
  }

  entries(): ReadonlyArray<EpochEntry> {
    return this.#entries
  }

  /**
   * Records that `epoch` starts at `startOffset`. An epoch at or below the latest is already known
   * and ignored. Entries starting at or after `startOffset` are removed first, as Kafka does: after
   * a proper truncation there are none, except an epoch that ended up with no records (a leader
   * elected twice with no append in between), which covers no offset and would break the strictly
   * ascending startOffsets that `epochAt` and `endOffsetFor` rely on.
   */
  async assign(epoch: number, startOffset: bigint): Promise<void> {
    assert(Number.isInteger(epoch) && epoch >= 0 && epoch <= EPOCH_MAX, `leader epoch ${epoch} is not an int32 >= 0`)
    assert(startOffset >= 0n && startOffset <= OFFSET_MAX, `start offset ${startOffset} is not an int64 >= 0`)
    if (epoch <= this.latestEpoch) return
    const kept = this.#entries.filter((e) => e.startOffset < startOffset)
    const latest = this.#entries.at(-1)
    if (latest !== undefined && startOffset < latest.startOffset) {
      // The log should have been truncated (and the cache with it) before a new epoch starts below
      // an old one; say so, since it points at a bug in the caller's ordering.
      this.#logger.warn({ epoch, startOffset, removed: this.#entries.slice(kept.length) }, 'new leader epoch starts before later entries; removing them')
    }
    this.#entries = Object.freeze([...kept, Object.freeze({ epoch, startOffset })])
    await this.#persist()
  }

  /** The log was truncated to `endOffset`: entries starting at or after it are gone. */
  async truncateFromEnd(endOffset: bigint): Promise<void> {
    assert(endOffset >= 0n, `end offset ${endOffset} is negative`)
    const kept = this.#entries.filter((e) => e.startOffset < endOffset)
    if (kept.length === this.#entries.length) return
    this.#entries = Object.freeze(kept)
    await this.#persist()
  }

  /**
   * The log start moved to `startOffset`: entries wholly before it are dropped, and the entry that
   * covers `startOffset` starts there now, so the first entry never points below the log start.
   */
  async truncateFromStart(startOffset: bigint): Promise<void> {
    assert(startOffset >= 0n, `start offset ${startOffset} is negative`)
    const i = indexAtOrBefore(this.#entries, startOffset)
    const covering = this.#entries[i]
    if (covering === undefined) return // every entry starts after it: nothing lies before the new start
    if (i === 0 && covering.startOffset === startOffset) return
    this.#entries = Object.freeze([Object.freeze({ epoch: covering.epoch, startOffset }), ...this.#entries.slice(i + 1)])
    await this.#persist()
  }

  /**
   * Where `epoch` ends in this log, for OffsetsForLeaderEpoch: the largest known epoch at or below
   * it, and the start of the next epoch (or `logEndOffset` when it is the latest). Unlike Kafka, an
   * epoch above the latest answers with the latest epoch and the log end rather than "unknown":
   * KIP-279's follower truncates to min(this end, its own end of the epoch returned), which is
   * correct either way, and one rule is simpler than two.
   */
  endOffsetFor(epoch: number, logEndOffset: bigint): { epoch: number; endOffset: bigint } {
    const first = this.#entries[0]
    if (first === undefined) return { epoch: -1, endOffset: -1n }
    // No record here carries an epoch at or below the requested one: nothing before the first
    // entry can agree with the requester.
    if (epoch < first.epoch) return { epoch: -1, endOffset: first.startOffset }
    let i = this.#entries.length - 1
    while ((this.#entries[i] as EpochEntry).epoch > epoch) i--
    const found = this.#entries[i] as EpochEntry
    const next = this.#entries[i + 1]
    // No assert that logEndOffset >= found.startOffset: between a log truncation and the cache's,
    // or after recovery dropped a tail the cache still lists, the log end can briefly lie below
    // the latest start. The smaller answer only makes a follower truncate further, never keep
    // records the leader lacks, so it is not worth crashing the broker over.
    return { epoch: found.epoch, endOffset: next?.startOffset ?? logEndOffset }
  }

  /** The epoch of the entry covering `offset` (largest startOffset <= offset), or -1. */
  epochAt(offset: bigint): number {
    return this.#entries[indexAtOrBefore(this.#entries, offset)]?.epoch ?? -1
  }

  /**
   * Queues a write of the current entries behind any write in flight. A failed write rejects for
   * its caller only; the next write replaces the whole file, so the chain goes on.
   */
  #persist(): Promise<void> {
    const text = encodeEpochCheckpoint(this.#entries)
    const done = this.#persisting.then(() => writeFileAtomic(this.file, text))
    this.#persisting = done.catch(() => {})
    return done
  }
}

/**
 * Index of the last entry starting at or before `offset`, or -1. A scan from the end: the list
 * holds one entry per leader change still in the log (tens), and lookups are mostly near the end.
 */
function indexAtOrBefore(entries: readonly EpochEntry[], offset: bigint): number {
  let i = entries.length - 1
  while (i >= 0 && (entries[i] as EpochEntry).startOffset > offset) i--
  return i
}

export function encodeEpochCheckpoint(entries: readonly EpochEntry[]): string {
  const lines = [String(VERSION), String(entries.length)]
  for (const e of entries) lines.push(`${e.epoch} ${e.startOffset}`)
  return `${lines.join('\n')}\n`
}

/** Parses a checkpoint; anything but a well-formed, strictly ascending file throws, naming `file`. */
export function decodeEpochCheckpoint(text: string, file: string): EpochEntry[] {
  const damaged = (why: string): LeaderEpochCheckpointError =>
    new LeaderEpochCheckpointError(
      `${file} is damaged: ${why}. Refusing to open the partition rather than forget where its leader epochs start; restore the file, or remove this replica's partition directory so it is rebuilt from the leader.`,
    )
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  if (lines[0] !== String(VERSION)) throw damaged(`version line is ${JSON.stringify(lines[0] ?? '')}, expected "${VERSION}"`)
  const countLine = lines[1] ?? ''
  if (!/^\d{1,10}$/.test(countLine) || Number(countLine) !== lines.length - 2) {
    throw damaged(`entry count line ${JSON.stringify(countLine)} does not match the ${Math.max(0, lines.length - 2)} entry lines`)
  }
  const entries: EpochEntry[] = []
  for (let n = 2; n < lines.length; n++) {
    const line = lines[n] as string
    const m = /^(\d{1,10}) (\d{1,19})$/.exec(line)
    const epoch = Number(m?.[1])
    const startOffset = m === null ? -1n : BigInt(m[2] as string)
    if (m === null || epoch > EPOCH_MAX || startOffset > OFFSET_MAX) {
      throw damaged(`line ${n + 1} is ${JSON.stringify(line)}, expected "<epoch> <startOffset>" (an int32 and an int64, both >= 0)`)
    }
    const prev = entries.at(-1)
    if (prev !== undefined && (epoch <= prev.epoch || startOffset <= prev.startOffset)) {
      throw damaged(`line ${n + 1} (epoch ${epoch} from offset ${startOffset}) does not follow epoch ${prev.epoch} from offset ${prev.startOffset} in strictly ascending order`)
    }
    entries.push(Object.freeze({ epoch, startOffset }))
  }
  return entries
}
