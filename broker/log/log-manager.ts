// All partition logs of one data dir, and the two files that make restarts fast and safe:
//
//   <dataDir>/recovery-point-offset-checkpoint   offsets below which each log is fsynced
//   <dataDir>/.clean-shutdown                    present only while the broker is stopped cleanly
//   <dataDir>/cleaner-offset-checkpoint          offsets below which each compacted log is compacted
//                                                (cleaner.ts)
//
// On open the marker is read and removed (durably), so a crash at any later point is detected as
// unclean on the next start, and those logs are validated from their recovery points. Only the
// replica manager calls it; it owns the periodic flush (`flush.ms`) and retention checks, and the
// log cleaner when one is configured.

import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { checkpointKey, fileExists, fsyncDir, readOffsetCheckpoint, removeIfExists, writeFileAtomic, writeOffsetCheckpoint } from './checkpoint.js'
import { LogCleaner, type CleanerTarget, type CleanPass, type LogCleanerOptions } from './cleaner.js'
import type { LogConfig } from './config.js'
import { Log } from './log.js'
import { ReadCache } from './read-cache.js'

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown'
export const RECOVERY_POINT_FILE = 'recovery-point-offset-checkpoint'
/** How often logs are checked against `flush.ms` (Kafka's log.flush.scheduler.interval.ms). */
const FLUSH_CHECK_INTERVAL_MS = 1000
/** How often the recovery points are checkpointed, so a crash rescans at most this much. */
const CHECKPOINT_INTERVAL_MS = 60_000

export interface LogManagerOptions {
  clock: () => number
  logger: Logger
  /** Default 5 minutes, as Kafka's log.retention.check.interval.ms. */
  retentionCheckIntervalMs?: number
  /**
   * Runs the log cleaner over logs whose cleanup.policy includes compact. Absent: no cleaner, so
   * compacted logs only grow. A replicated broker must give `cleanableEndOffset` (the high
   * watermark), or a clean could let a record that is later truncated remove an older one.
   */
  cleaner?: LogCleanerOptions
  /** Bytes of recent appends kept in memory across all logs for reads at the tail (read-cache.ts); 0 or absent: none. */
  readCacheBytes?: number
}

export class LogManager {
  readonly dataDir: string
  readonly #clock: () => number
  readonly #logger: Logger
  /** Whether the previous run closed cleanly; decides how every log of this run is opened. */
  readonly #cleanShutdown: boolean
  readonly #recoveryPoints: Map<string, bigint>
  readonly #logs = new Map<string, Log>()
  readonly #timers: NodeJS.Timeout[] = []
  /** Logs being opened, so two callers asking for the same one share the open. */
  readonly #opening = new Map<string, Promise<Log>>()
  #cleaner: LogCleaner | null = null
  #closed = false
  /** Shared by every log this manager opens; null when disabled. */
  readonly #readCache: ReadCache | null

  private constructor(dataDir: string, options: LogManagerOptions, cleanShutdown: boolean, recoveryPoints: Map<string, bigint>) {
    this.dataDir = dataDir
    this.#clock = options.clock
    this.#logger = options.logger
    this.#cleanShutdown = cleanShutdown
    this.#recoveryPoints = recoveryPoints
    const cacheBytes = options.readCacheBytes ?? 0
    this.#readCache = cacheBytes > 0 ? new ReadCache(cacheBytes) : null
  }

  static async open(dataDir: string, options: LogManagerOptions): Promise<LogManager> {
    await mkdir(dataDir, { recursive: true })
    const marker = path.join(dataDir, CLEAN_SHUTDOWN_FILE)
    const cleanShutdown = await fileExists(marker)
    const recoveryPoints = await readOffsetCheckpoint(path.join(dataDir, RECOVERY_POINT_FILE), (why) =>
      options.logger.warn({ subsystem: 'log', why }, 'ignoring a damaged recovery-point checkpoint'),
    )
    if (cleanShutdown) {
      await removeIfExists(marker)
      await fsyncDir(dataDir)
    }
    options.logger.info({ subsystem: 'log', dataDir, cleanShutdown }, cleanShutdown ? 'opening logs after a clean shutdown' : 'opening logs; recovering from the last recovery points')
    const manager = new LogManager(dataDir, options, cleanShutdown, recoveryPoints)
    manager.#startTimers(options.retentionCheckIntervalMs ?? 5 * 60_000)
    if (options.cleaner !== undefined) {
      manager.#cleaner = await LogCleaner.open(dataDir, options.cleaner, { clock: options.clock, logger: options.logger, targets: () => manager.#cleanerTargets() })
      manager.#cleaner.start()
    }
    return manager
  }

  #startTimers(retentionCheckIntervalMs: number): void {
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const timer = setInterval(() => {
        fn().catch((err: unknown) => this.#logger.error({ subsystem: 'log', err }, 'background log task failed'))
      }, ms)
      timer.unref()
      this.#timers.push(timer)
    }
    every(FLUSH_CHECK_INTERVAL_MS, () => this.#eachLog((log) => log.flushIfDue()))
    every(retentionCheckIntervalMs, () => this.deleteExpiredSegments())
    every(CHECKPOINT_INTERVAL_MS, () => this.checkpointRecoveryPoints())
  }

  async #eachLog(fn: (log: Log) => Promise<unknown>): Promise<void> {
    for (const log of [...this.#logs.values()]) {
      if (this.#closed) return
      await fn(log)
    }
  }

  get cleanShutdown(): boolean {
    return this.#cleanShutdown
  }

  *#cleanerTargets(): Iterable<CleanerTarget> {
    for (const [key, log] of this.#logs) {
      // Topic names hold no spaces (topicNameProblem), so the key splits at its last one.
      const at = key.lastIndexOf(' ')
      yield { topic: key.slice(0, at), partition: Number(key.slice(at + 1)), log }
    }
  }

  /** One cleaner pass now (tests, tools): cleans the dirtiest compacted log, if any. Null without a cleaner. */
  async cleanLogs(): Promise<CleanPass | null> {
    return this.#cleaner === null ? null : this.#cleaner.cleanOnce()
  }

  /** The cleaner checkpoint of a partition's log: offsets below it are compacted. */
  cleanerCheckpoint(topic: string, partition: number): bigint | undefined {
    return this.#cleaner?.checkpointOf(topic, partition)
  }

  /** The open log of a partition, opening (and recovering) or creating it on first use. */
  getOrCreate(topic: string, partition: number, config: LogConfig): Promise<Log> {
    const key = checkpointKey(topic, partition)
    const open = this.#logs.get(key)
    if (open !== undefined) {
      open.config = config
      return Promise.resolve(open)
    }
    let opening = this.#opening.get(key)
    if (opening === undefined) {
      opening = this.#open(topic, partition, config).finally(() => this.#opening.delete(key))
      this.#opening.set(key, opening)
    }
    return opening
  }

  async #open(topic: string, partition: number, config: LogConfig): Promise<Log> {
    const key = checkpointKey(topic, partition)
    const { log } = await Log.open({
      dir: path.join(this.dataDir, `${topic}-${partition}`),
      config,
      clock: this.#clock,
      logger: this.#logger,
      recoveryPoint: this.#recoveryPoints.get(key) ?? 0n,
      cleanShutdown: this.#cleanShutdown,
      ...(this.#readCache === null ? {} : { readCache: this.#readCache }),
    })
    this.#logs.set(key, log)
    return log
  }

  get(topic: string, partition: number): Log | undefined {
    return this.#logs.get(checkpointKey(topic, partition))
  }

  /** Closes and deletes a partition's log and its directory. */
  async delete(topic: string, partition: number): Promise<void> {
    const key = checkpointKey(topic, partition)
    const log = this.#logs.get(key) ?? (await this.#opening.get(key))
    this.#logs.delete(key)
    this.#recoveryPoints.delete(key)
    this.#cleaner?.forget(topic, partition)
    if (log !== undefined) await this.#cleaner?.abort(log)
    await log?.delete()
  }

  async deleteExpiredSegments(): Promise<number> {
    let deleted = 0
    await this.#eachLog(async (log) => {
      deleted += await log.deleteExpiredSegments()
    })
    return deleted
  }

  async checkpointRecoveryPoints(): Promise<void> {
    for (const [key, log] of this.#logs) this.#recoveryPoints.set(key, log.recoveryPoint)
    await writeOffsetCheckpoint(path.join(this.dataDir, RECOVERY_POINT_FILE), this.#recoveryPoints)
  }

  /** Flushes and closes every log, checkpoints recovery points, then marks the shutdown clean. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearInterval(t)
    await this.#cleaner?.stop()
    await Promise.allSettled([...this.#opening.values()])
    const results = await Promise.allSettled([...this.#logs.values()].map((log) => log.close()))
    await this.checkpointRecoveryPoints()
    const failed = results.filter((r) => r.status === 'rejected')
    if (failed.length > 0) {
      // Without the marker the next start validates these logs instead of trusting them.
      this.#logger.error({ subsystem: 'log', failures: failed.length }, 'some logs did not close cleanly; not marking a clean shutdown')
      return
    }
    await writeFileAtomic(path.join(this.dataDir, CLEAN_SHUTDOWN_FILE), '')
  }
}

