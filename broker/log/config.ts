// What one partition's log needs to know; derived from the topic config by the replica manager.

export interface LogConfig {
  /** Roll the active segment before it would pass this size. */
  segmentBytes: number
  /** Roll the active segment once its first batch is this old. */
  segmentMs: number
  /** Bytes of log between two offset-index entries (and time-index entries). */
  indexIntervalBytes: number
  /** Delete segments whose newest record is older than this; -1 keeps them. */
  retentionMs: number
  /** Delete the oldest segments while the log is larger than this; -1 keeps them. */
  retentionBytes: number
  /** fsync once this many records are unflushed; -1 leaves it to the OS (and flush.ms). */
  flushMessages: number
  /** fsync once unflushed data is this old; -1 leaves it to the OS. */
  flushMs: number
  /** fsync every append before acknowledging it (one-node durability). */
  fsync: boolean
  /**
   * 'delete': retention removes whole old segments. 'compact': the cleaner keeps the latest record
   * per key and retention never runs. 'compact,delete': both.
   */
  cleanupPolicy: CleanupPolicy
  /** A compacted log keeps a tombstone until its segment's newest timestamp is this old. */
  deleteRetentionMs: number
  /** The cleaner picks a compacted log once dirty bytes / closed bytes exceed this (0..1). */
  minCleanableDirtyRatio: number
  /** Segments holding a record newer than this are not compacted yet. */
  minCompactionLagMs: number
}

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete'

export function compacts(config: LogConfig): boolean {
  return config.cleanupPolicy !== 'delete'
}

export function deletesOnRetention(config: LogConfig): boolean {
  return config.cleanupPolicy !== 'compact'
}

export const DEFAULT_LOG_CONFIG: LogConfig = {
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  flushMessages: -1,
  flushMs: -1,
  fsync: false,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
}
