// The consumer's public types (options, offsets, batches) and the context Strand gives it. Only
// declarations live here, so every part of the consumer (consumer.ts, the fetcher, the group
// session, the subscription state) can share them without importing one another; consumer.ts
// re-exports the public ones, and client/index.ts exports them from there.

import type { Cluster } from '../cluster.js'
import type { CoordinatorConnectionOptions } from '../group/coordinator.js'
import type { AssignorName, Assignor } from '../group/assignors.js'
import type { RecordHeader } from '../protocol/records.js'

/**
 * Where to start: an offset, the log start or end, or `{ timestamp }` (ms): the first record
 * whose timestamp is at or after it, or the log end when none is that recent.
 */
export type OffsetSpec = bigint | 'earliest' | 'latest' | { timestamp: number }
/** Where an unresolved position goes: an OffsetSpec that ListOffsets must answer. */
export type ResetSpec = 'earliest' | 'latest' | { timestamp: number }
export type AutoOffsetReset = 'earliest' | 'latest' | 'none'

export interface ConsumerOptions {
  /**
   * The consumer group: needed by subscribe() (or given there) and by commit(). With assign(),
   * a groupId only says where commit() and auto-commit store offsets.
   */
  groupId?: string
  /** The coordinator evicts a member it has not heard from for this long (Kafka's session.timeout.ms). Default 10000. */
  sessionTimeoutMs?: number
  /** Time between heartbeats; must be below sessionTimeoutMs (a third of it is usual). Default 3000. */
  heartbeatIntervalMs?: number
  /**
   * How long the coordinator waits for every member to rejoin in a rebalance, which is also how
   * long a rebalance waits for the batch in hand to be processed. Default 60000 (kafkajs's).
   */
  rebalanceTimeoutMs?: number
  /** Commit processed offsets periodically, before a rebalance and at close(). Default true; needs a groupId. */
  autoCommit?: boolean
  /** Time between auto-commits (Kafka's auto.commit.interval.ms); 0 commits after every batch. Default 5000. */
  autoCommitIntervalMs?: number
  /**
   * Assignors this member supports, preferred first; the coordinator picks the first that every
   * member supports, and the group leader runs it. Default ['range', 'roundrobin'] (Kafka's range first).
   */
  assignors?: Array<AssignorName | Assignor>
  /** How long the broker may hold a Fetch waiting for minBytes. */
  maxWaitMs?: number
  /** The broker answers once it has this many bytes (or maxWaitMs passed). */
  minBytes?: number
  /** Bytes per Fetch response (the broker still returns a first batch larger than this, as KIP-74). */
  maxBytes?: number
  /** Bytes per partition in a Fetch response. */
  partitionMaxBytes?: number
  /**
   * Where to go after OFFSET_OUT_OF_RANGE; 'none' throws it from the loop. Default 'earliest'.
   * After a truncation of the log under the position (KIP-320), anything but 'none' goes back to
   * where the log diverged; 'none' throws a LogTruncationError.
   */
  autoOffsetReset?: AutoOffsetReset
  /**
   * Which records of transactional producers (KIP-98) to hand out. 'read_uncommitted' (default):
   * every record, as soon as it is below the high watermark, whether its transaction commits,
   * aborts or is still open. 'read_committed': only records of committed transactions (and of
   * non-transactional producers), and nothing at or past the partition's last stable offset (the
   * first offset of its oldest open transaction) until that transaction is decided. Either way
   * transaction markers (control records) are never handed out; the position moves past them.
   */
  isolationLevel?: IsolationLevel
}

export type IsolationLevel = 'read_uncommitted' | 'read_committed'
/** Fetch's and ListOffsets' isolationLevel on the wire. */
export const ISOLATION_LEVEL_CODES: Readonly<Record<IsolationLevel, number>> = { read_uncommitted: 0, read_committed: 1 }

export interface TopicPartition {
  topic: string
  partition: number
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: OffsetSpec
}

export interface SubscribeOptions {
  topics: string[]
  /** Where a partition with no committed offset starts: true, the log start; false (default), the log end. */
  fromBeginning?: boolean
  /** The group to join, if not given to consumer({ groupId }) (the two must agree). */
  groupId?: string
  /**
   * Called when a rebalance has given this member its partitions, once each knows where to start.
   * Kafka's onPartitionsAssigned. An error thrown here is thrown from the consuming loop.
   */
  onAssigned?: (partitions: TopicPartition[]) => void | Promise<void>
  /**
   * Called when partitions are taken away: after the batch in hand finished and processed offsets
   * were committed (auto-commit), before the member rejoins; flush per-partition state here.
   * `lost` is true when the member was evicted (nothing could be committed; the partitions may
   * already be someone else's). Kafka's onPartitionsRevoked / onPartitionsLost.
   */
  onRevoked?: (partitions: TopicPartition[], info: { lost: boolean }) => void | Promise<void>
}

/** An offset to commit: the offset of the NEXT record to read (last processed + 1). */
export interface CommitOffset extends TopicPartition {
  offset: bigint
}

export interface PartitionLag extends TopicPartition {
  /** The offset after the last record consumers can read. */
  highWatermark: bigint
  /** The group's committed offset; null when nothing is committed (or no groupId). */
  committed: bigint | null
  /** This consumer's position (next offset to hand out); null while unresolved. */
  position: bigint | null
  /** highWatermark - committed (never below 0); null when nothing is committed. */
  lag: bigint | null
}

export interface ConsumedMessage {
  key: Buffer | null
  value: Buffer | null
  offset: bigint
  /** Milliseconds since the epoch. */
  timestamp: number
  headers: RecordHeader[]
}

export interface ConsumerBatch {
  topic: string
  partition: number
  messages: ConsumedMessage[]
  /** The partition's high watermark when fetched: lag is highWatermark - nextOffset. */
  highWatermark: bigint
  /**
   * The offset after this batch: the last message's + 1, or past it when transaction markers (or,
   * read_committed, aborted records) follow it in the fetch. What `commit(batch)` commits, and the
   * position to commit for a partition once the batch is processed (Kafka's `position()`): the
   * last message's offset + 1 would leave a caught-up group a marker short of the log's end.
   */
  nextOffset: bigint
}

export interface ConsumerContext {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
  /** Settings of the coordinator's own connection. */
  connection: CoordinatorConnectionOptions
  onClose?: () => void
}
