// The log cleaner: Kafka's LogCleaner thread and LogCleanerManager, one of each. Only the
// LogManager calls it. It compacts logs whose cleanup.policy includes compact, one log per pass
// (compaction.ts does the pass), and keeps per data dir:
//
//   <dataDir>/cleaner-offset-checkpoint   per log, the offset below which it is compacted
//                                         (the format of checkpoint.ts)
//
// A pass picks the log whose dirty ratio (bytes of closed segments written since its checkpoint /
// bytes of its closed, cleanable segments) is highest and above its min.cleanable.dirty.ratio;
// failing that, a log whose kept tombstones have reached delete.retention.ms (remembered from the
// pass that kept them, so after a restart they wait for the next dirty pass). After a pass that
// cleaned, the next starts at once; after one that found nothing, `log.cleaner.backoff.ms` later.
// A log whose pass fails (a corrupt batch, a disk error) is not cleaned again until the broker
// restarts, as Kafka marks it uncleanable; one that changed under a pass is simply tried again.

import path from 'node:path'
import type { Logger } from 'pino'
import { checkpointKey, readOffsetCheckpoint, writeOffsetCheckpoint, type OffsetCheckpoint } from './checkpoint.js'
import { compacts } from './config.js'
import { cleanableRange, cleanLog, type CleanableRange, type CleanResult } from './compaction.js'
import type { Log } from './log.js'

export const CLEANER_CHECKPOINT_FILE = 'cleaner-offset-checkpoint'
/** Default bound of the key -> offset map (log.cleaner.dedupe.buffer.size). */
export const OFFSET_MAP_BYTES_MAX_DEFAULT = 64 * 1024 * 1024

export interface LogCleanerOptions {
  /** Pause after a pass that found nothing to clean (log.cleaner.backoff.ms). */
  backoffMs: number
  /** Memory the key -> offset map of one pass may use (log.cleaner.dedupe.buffer.size). */
  offsetMapBytesMax?: number
  /**
   * Exclusive bound on the offsets a pass may map for a partition: its high watermark, because a
   * record a follower may still truncate must not make an older record of its key go. Null skips
   * the partition (not hosted here). Without this function, logs are cleaned up to their active
   * segment, which is right only for logs that are never truncated.
   */
  cleanableEndOffset?: (topic: string, partition: number) => bigint | null
}

export interface CleanerTarget {
  topic: string
  partition: number
  log: Log
}

export interface CleanPass extends CleanResult {
  topic: string
  partition: number
  /** The log's dirty ratio when the pass picked it. */
  dirtyRatio: number
}

interface Candidate {
  target: CleanerTarget
  key: string
  range: CleanableRange
  upperBound: bigint | null
}

export class LogCleaner {
  readonly #file: string
  readonly #options: LogCleanerOptions
  readonly #clock: () => number
  readonly #logger: Logger
  /** The logs to consider, asked afresh on every pass. */
  readonly #targets: () => Iterable<CleanerTarget>
  /** Per `topic partition`, the offset below which the log is compacted. */
  readonly #checkpoints: OffsetCheckpoint
  /** Per `topic partition`, when a tombstone the last pass kept may go. */
  readonly #tombstoneExpiryMs = new Map<string, number>()
  /** Logs whose pass failed; skipped until restart. */
  readonly #uncleanable = new WeakSet<Log>()
  /** Logs about to be deleted: a pass over one gives up at its next read. */
  readonly #aborting = new Set<Log>()
  /** Tail of the pass queue: one pass at a time, whoever asks. */
  #chain: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  #stopped = false

  private constructor(file: string, options: LogCleanerOptions, deps: { clock: () => number; logger: Logger; targets: () => Iterable<CleanerTarget> }, checkpoints: OffsetCheckpoint) {
    this.#file = file
    this.#options = options
    this.#clock = deps.clock
    this.#logger = deps.logger
    this.#targets = deps.targets
    this.#checkpoints = checkpoints
  }

  static async open(dataDir: string, options: LogCleanerOptions, deps: { clock: () => number; logger: Logger; targets: () => Iterable<CleanerTarget> }): Promise<LogCleaner> {
    const file = path.join(dataDir, CLEANER_CHECKPOINT_FILE)
    // A lost checkpoint only costs work: every log is then cleaned from its start.
    const checkpoints = await readOffsetCheckpoint(file, (why) => deps.logger.warn({ subsystem: 'log-cleaner', why }, 'ignoring a damaged cleaner checkpoint'))
    return new LogCleaner(file, options, deps, checkpoints)
  }

  /** Starts the periodic passes. */
  start(): void {
    this.#schedule(this.#options.backoffMs)
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.cleanOnce().then(
        (pass) => this.#schedule(pass === null ? this.#options.backoffMs : 0),
        (err: unknown) => {
          this.#logger.error({ subsystem: 'log-cleaner', err }, 'log cleaner pass failed')
          this.#schedule(this.#options.backoffMs)
        },
      )
    }, delayMs)
    this.#timer.unref()
  }

  /** The checkpoint of a log (for tests and tools); undefined before its first clean. */
  checkpointOf(topic: string, partition: number): bigint | undefined {
    return this.#checkpoints.get(checkpointKey(topic, partition))
  }

  /** Cleans the dirtiest log, if any is dirty enough. Null when none was cleaned. */
  cleanOnce(): Promise<CleanPass | null> {
    const next = this.#chain.then(() => (this.#stopped ? null : this.#pass()))
    this.#chain = next.catch(() => undefined)
    return next
  }

  /** Drops a deleted partition's state; the checkpoint file follows on the next write. */
  forget(topic: string, partition: number): void {
    const key = checkpointKey(topic, partition)
    this.#checkpoints.delete(key)
    this.#tombstoneExpiryMs.delete(key)
  }

  /**
   * Makes a pass over `log` give up and waits until no pass runs, so the log's directory can be
   * removed (Kafka's abortCleaning). The caller has already taken the log out of the targets.
   */
  async abort(log: Log): Promise<void> {
    this.#aborting.add(log)
    try {
      await this.#chain
    } finally {
      this.#aborting.delete(log)
    }
  }

  /** Stops the timer and waits for a running pass, which abandons its work at its next read. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.#chain
  }

  async #pass(): Promise<CleanPass | null> {
    const picked = this.#pick(this.#clock())
    if (picked === null) return null
    const { target, key, range } = picked
    let result: CleanResult | null
    try {
      result = await cleanLog(target.log, {
        firstDirtyOffset: range.firstDirtyOffset,
        upperBoundOffset: picked.upperBound,
        clock: this.#clock,
        logger: this.#logger,
        offsetMapBytesMax: this.#options.offsetMapBytesMax ?? OFFSET_MAP_BYTES_MAX_DEFAULT,
        shouldStop: () => this.#stopped || this.#aborting.has(target.log),
      })
    } catch (err) {
      if (!this.#isTarget(target.log)) return null // deleted under the pass
      this.#uncleanable.add(target.log)
      this.#logger.error({ subsystem: 'log-cleaner', err, topic: target.topic, partition: target.partition }, 'log clean failed; not cleaning this log again until restart')
      return null
    }
    if (result === null) return null
    // Deleted during the pass: a checkpoint left behind would wrongly cover a recreated topic.
    if (!this.#isTarget(target.log)) return null
    this.#checkpoints.set(key, result.endOffset)
    if (result.nextTombstoneExpiryMs === null) this.#tombstoneExpiryMs.delete(key)
    else this.#tombstoneExpiryMs.set(key, result.nextTombstoneExpiryMs)
    await writeOffsetCheckpoint(this.#file, this.#checkpoints)
    this.#logger.info(
      { subsystem: 'log-cleaner', topic: target.topic, partition: target.partition, dirtyRatio: range.dirtyRatio, endOffset: String(result.endOffset), bytesBefore: result.bytesBefore, bytesAfter: result.bytesAfter, recordsSuperseded: result.recordsSuperseded, tombstonesExpired: result.tombstonesExpired },
      'cleaned log',
    )
    return { topic: target.topic, partition: target.partition, dirtyRatio: range.dirtyRatio, ...result }
  }

  #isTarget(log: Log): boolean {
    for (const t of this.#targets()) if (t.log === log) return true
    return false
  }

  /** The dirtiest log above its ratio; else one with a tombstone due; else null. */
  #pick(nowMs: number): Candidate | null {
    let dirtiest: Candidate | null = null
    let tombstonesDue: Candidate | null = null
    for (const target of this.#targets()) {
      const c = this.#candidate(target, nowMs)
      if (c === null) continue
      if (c.range.dirtyBytes > 0 && c.range.dirtyRatio > c.target.log.config.minCleanableDirtyRatio) {
        if (dirtiest === null || c.range.dirtyRatio > dirtiest.range.dirtyRatio) dirtiest = c
      } else if (tombstonesDue === null && (this.#tombstoneExpiryMs.get(c.key) ?? Number.POSITIVE_INFINITY) <= nowMs) {
        tombstonesDue = c
      }
    }
    return dirtiest ?? tombstonesDue
  }

  #candidate(target: CleanerTarget, nowMs: number): Candidate | null {
    const { log } = target
    if (!compacts(log.config) || this.#uncleanable.has(log)) return null
    const segments = log.segmentsSnapshot()
    // A swap that failed midway (not a crash) is finished by the next open; until then, hands off.
    if (segments.some((s) => s.stage !== '')) return null
    let upperBound: bigint | null = null
    if (this.#options.cleanableEndOffset !== undefined) {
      upperBound = this.#options.cleanableEndOffset(target.topic, target.partition)
      if (upperBound === null) return null
    }
    const key = checkpointKey(target.topic, target.partition)
    const range = cleanableRange(segments, log.config, this.#checkpoints.get(key) ?? log.logStartOffset, upperBound, nowMs)
    return { target, key, range, upperBound }
  }
}
