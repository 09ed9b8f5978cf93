// The consumer: reads partitions from their leaders with long-polling Fetch requests and hands
// them out as batches through async iteration. Partitions come from assign() (the application
// chooses) or from subscribe() (a consumer group shares them out; client/group/).
//
//   consumer.assign([{ topic, partition, offset: 'earliest' }])        // or
//   await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
//   for await (const batch of consumer) { ... }   // break ends this loop; close() ends every loop
//
// Decisions (where Kafka or kafkajs leave a choice):
// - `break` out of a for-await loop ends that loop only: the consumer stays usable and a new loop
//   resumes at the position after the last batch handed out. close() ends every loop cleanly
//   (the loop exits, no error). Only one loop may run at a time.
// - A message's `timestamp` is a number of milliseconds since the epoch (safe as a JS number
//   until the year 287396, and what Date takes); offsets are bigint.
// - Headers come out as an array of { key, value }, which keeps repeated keys and their order.
// - Retriable errors (leader moved, connection lost...) are retried forever with backoff, as
//   Kafka's consumer does; a non-retriable one is thrown from the loop once, and the next loop
//   retries from the same position (so after OFFSET_OUT_OF_RANGE with autoOffsetReset 'none',
//   seek() first).
// - Fetching happens only while a loop runs. At most one Fetch per broker is in flight, and a
//   partition with a batch waiting to be handed out is not fetched again, which bounds memory to
//   about one response per broker plus one chunk per partition.
//
// Leader epochs (KIP-320):
// - Every Fetch and ListOffsets carries the partition's leader epoch from the metadata, the
//   newest this consumer has seen: a broker that leads the partition at another epoch refuses it
//   (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), and the consumer refreshes metadata and retries,
//   so it never reads from a broker whose leadership it knows to be over.
// - The position remembers the leader epoch of the records before it (the last batch handed out,
//   or the leader's when ListOffsets set it). When the partition's leader changes (a newer epoch in
//   the metadata, or a fetch refused as above or with NOT_LEADER_OR_FOLLOWER), the consumer asks
//   the leader, before fetching again, where that epoch ends in its log (OffsetsForLeaderEpoch). An
//   end below the position means the log was truncated under it (an unclean leader election lost
//   records this consumer read), and the records now at those offsets are new: the consumer goes
//   back to the end of the epoch and reads them, or, with autoOffsetReset 'none', throws a
//   LogTruncationError from the loop until seek(). Either is what Kafka does. A position with no
//   epoch (seek(), a committed offset) is not validated.
//
// Groups and commits (at-least-once by default):
// - A batch counts as processed when the loop asks for the next one (the body finished). Leaving
//   the loop (break, return, a throw) does not count the batch in hand: a throw looks the same
//   as a break from here, and counting a batch whose handler failed would skip it. Auto-commit
//   (on by default with a groupId) commits processed offsets every autoCommitIntervalMs, before a
//   rebalance takes partitions away, and at close(); commit() commits on demand.
// - A rebalance revokes every partition (the eager protocol): no batch is handed out, the batch
//   in hand is waited for (up to the rebalance timeout), processed offsets are committed, and only
//   then does the member rejoin. So a partition is never read by two members of one generation,
//   and its new owner starts right after what the old one processed.
// - A newly assigned partition starts at the group's committed offset; without one, at the log
//   start (subscribe's fromBeginning) or the log end (the default, as kafkajs).

import { ApiKey } from './protocol/apis.js'
import { abortedTransactionsOf, type FetchAbortedTransactions, type FetchRequest, type FetchResponse } from './protocol/messages/fetch.js'
import type { ListOffsetsResponse } from './protocol/messages/list-offsets.js'
import type { OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse } from './protocol/messages/replication.js'
import { BATCH_BYTES_MAX, decodeBatches, isControlBatch, isTransactionalBatch, nextOffsetOf, type DecodedBatch, type RecordHeader } from './protocol/records.js'
import { unpinned } from './protocol/primitives.js'
import { backoffMs, needsMetadataRefresh, type Cluster } from './cluster.js'
import { ClosedError, errorFromCode, IllegalStateError, InvalidArgumentError, isRetriable, LogTruncationError, RecordTooLargeError, StrandProtocolError } from './errors.js'
import { resolveAssignors, type AssignedPartition, type Assignor, type AssignorName } from './group/assignors.js'
import { GroupCoordinator, type CoordinatorConnectionOptions } from './group/coordinator.js'
import { CommitFailedError, type PartitionCommitResult } from './group/errors.js'
import { Membership } from './group/membership.js'
import { commitOffsets, fetchCommitted, highWatermarks, NO_GENERATION, offsetKey as offsetKeyOf, type GroupGeneration, type OffsetRequestOptions } from './group/offsets.js'
import { Wakeup } from './wakeup.js'

/**
 * Where to start: an offset, the log start or end, or `{ timestamp }` (ms): the first record
 * whose timestamp is at or after it, or the log end when none is that recent.
 */
export type OffsetSpec = bigint | 'earliest' | 'latest' | { timestamp: number }
type ResetSpec = 'earliest' | 'latest' | { timestamp: number }
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
const ISOLATION_LEVEL_CODES: Readonly<Record<IsolationLevel, number>> = { read_uncommitted: 0, read_committed: 1 }

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

const DEFAULTS = {
  maxWaitMs: 500,
  minBytes: 1,
  // kafkajs's default; Kafka's fetch.max.bytes is 50 MiB.
  maxBytes: 10 * 1024 * 1024,
  // Kafka's max.partition.fetch.bytes.
  partitionMaxBytes: 1024 * 1024,
  autoOffsetReset: 'earliest',
  // Kafka's session.timeout.ms and heartbeat.interval.ms.
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 3_000,
  // kafkajs's; Kafka's is max.poll.interval.ms (5 minutes), too long to wait for a stuck member.
  rebalanceTimeoutMs: 60_000,
  autoCommitIntervalMs: 5_000,
} as const

/** ListOffsets' special timestamps. */
const LATEST_TIMESTAMP = -1n
const EARLIEST_TIMESTAMP = -2n

/** A control batch whose record is an abort marker (key: version int16, type int16 0). */
function isAbortMarker(b: DecodedBatch): boolean {
  const key = b.records[0]?.key
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0
}
/** The replicaId of a consumer's Fetch, ListOffsets and OffsetsForLeaderEpoch: not a broker. */
const CONSUMER_REPLICA_ID = -1
/** No leader epoch known (Kafka's NO_PARTITION_LEADER_EPOCH); as a request's epoch, "do not check". */
const NO_LEADER_EPOCH = -1
/** A fetch refused with one of these may have met a new leader: the position is validated before the next. */
const LEADER_CHANGE_CODES: ReadonlySet<string> = new Set(['FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NOT_LEADER_OR_FOLLOWER'])

interface PartitionState {
  readonly topic: string
  readonly partition: number
  /** Next offset to hand out and to fetch; null until `reset` is resolved with ListOffsets. */
  offset: bigint | null
  reset: ResetSpec
  /** Bumped by seek(): answers to requests sent before it are dropped. */
  epoch: number
  /** A Fetch or ListOffsets for it is in flight. */
  busy: boolean
  /** A batch of it waits in the ready queue. */
  buffered: boolean
  /** Backoff after a retriable error, clock ms. */
  retryAtMs: number
  /** Retriable errors in a row, for the backoff. */
  errors: number
  /** partitionMaxBytes, doubled while a batch larger than it blocks the partition. */
  fetchBytes: number
  /** The assignment this state belongs to (assign() and rebalances replace it wholesale). */
  readonly generation: number
  /** Not fetched nor handed out (pause()). */
  paused: boolean
  /** The offset after the last batch the application finished: what auto-commit commits. */
  processed: bigint | null
  /** The group's committed offset as last read or written by this consumer. */
  committed: bigint | null
  /**
   * The leader epoch of the records just before `offset` (the last batch handed out, or the
   * leader's when ListOffsets set it): what OffsetsForLeaderEpoch asks about. NO_LEADER_EPOCH when
   * unknown (seek(), a committed offset), and then the position is never validated.
   */
  offsetLeaderEpoch: number
  /** The newest leader epoch the metadata has shown for the partition; sent with every request. */
  knownLeaderEpoch: number
  /** The leader changed since the position was read: validate it (OffsetsForLeaderEpoch) before fetching. */
  validatePosition: boolean
}

interface ReadyBatch {
  state: PartitionState
  epoch: number
  nextOffset: bigint
  /** The leader epoch of the batch that ends at nextOffset: the position's once this is handed out. */
  leaderEpoch: number
  batch: ConsumerBatch
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

/** Kafka's limit on a group id's length is the topic name's; ours is a sanity bound on a string sent in every group request. */
const GROUP_ID_LENGTH_MAX = 255

function checkGroupId(groupId: string | undefined): string | undefined {
  if (groupId === undefined) return undefined
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > GROUP_ID_LENGTH_MAX) {
    throw new InvalidArgumentError(`groupId must be a string of 1 to ${GROUP_ID_LENGTH_MAX} characters, got ${JSON.stringify(groupId)}.`)
  }
  return groupId
}

function checkTopics(topics: unknown): string[] {
  if (!Array.isArray(topics) || topics.length === 0 || !topics.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new InvalidArgumentError('subscribe() needs { topics: [...] } with at least one topic name.')
  }
  return [...new Set(topics as string[])]
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000')
}

function intAtLeast(name: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}.`)
  return v
}

/**
 * The messages of fetched batches at or after `fetchOffset` (a batch comes whole, so its first
 * records may be older). Control batches are never messages. With `aborted` (a read_committed
 * fetch's aborted transactions), the records of those transactions are dropped, as Kafka's
 * consumer does: a producer is aborted from the batch reaching its transaction's first offset
 * until its abort marker.
 */
export function messagesFrom(batches: readonly DecodedBatch[], fetchOffset: bigint, aborted: FetchAbortedTransactions = null): ConsumedMessage[] {
  const out: ConsumedMessage[] = []
  const pending = aborted === null || aborted.length === 0 ? null : [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
  let next = 0
  const abortedProducers = new Set<bigint>()
  for (const b of batches) {
    if (pending !== null) {
      const lastOffset = b.header.baseOffset + BigInt(b.header.lastOffsetDelta)
      while (next < pending.length && pending[next]!.firstOffset <= lastOffset) abortedProducers.add(pending[next++]!.producerId)
    }
    if (isControlBatch(b.header)) {
      if (abortedProducers.has(b.header.producerId) && isAbortMarker(b)) abortedProducers.delete(b.header.producerId)
      continue
    }
    if (isTransactionalBatch(b.header) && abortedProducers.has(b.header.producerId)) continue
    for (const r of b.records) {
      if (r.offset >= fetchOffset) out.push({ key: r.key, value: r.value, offset: r.offset, timestamp: r.timestamp, headers: r.headers })
    }
  }
  return out
}

/**
 * Reads partitions as batches, with `for await` or run(). Either assign() partitions yourself, or
 * subscribe() to topics with a groupId and let the group share their partitions out:
 *
 * ```ts
 * const consumer = strand.consumer({ groupId: 'billing' })        // autoCommit on by default
 * await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
 * for await (const batch of consumer) {
 *   for (const m of batch.messages) await apply(m)                  // processed when the loop asks for more
 * }
 * ```
 * Delivery is at-least-once: after a crash or a rebalance, records processed but not yet
 * committed are read again by the partition's next owner; none is skipped.
 */
export class Consumer {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #connectionOptions: CoordinatorConnectionOptions
  readonly #onClose: (() => void) | undefined
  readonly #maxWaitMs: number
  readonly #minBytes: number
  readonly #maxBytes: number
  readonly #partitionMaxBytes: number
  readonly #autoOffsetReset: AutoOffsetReset
  /** Fetch's and ListOffsets' isolationLevel (ISOLATION_LEVEL_CODES). */
  readonly #isolationLevel: number
  readonly #sessionTimeoutMs: number
  readonly #heartbeatIntervalMs: number
  readonly #rebalanceTimeoutMs: number
  readonly #autoCommit: boolean
  readonly #autoCommitIntervalMs: number
  readonly #assignors: Assignor[]
  /** The consumer group, from the options or subscribe(). */
  #groupId: string | undefined
  /** Assigned partitions by topic-partition key. */
  #states = new Map<string, PartitionState>()
  #generation = 0
  /** Fetched batches not yet handed out, oldest first. */
  #ready: ReadyBatch[] = []
  /** The batch handed out last, until the loop asks for the next one (or ends). */
  #inHand: ReadyBatch | null = null
  /** Called when the batch in hand is finished (a rebalance waits for it). */
  #inHandWaiters: Array<() => void> = []
  /** Where each handed-out batch of the current assignment ends, for commit(batch). */
  #batchEnds = new WeakMap<ConsumerBatch, ReadyBatch>()
  /** Brokers with a Fetch in flight (one each). */
  readonly #fetching = new Set<number>()
  /**
   * Brokers whose last non-waiting Fetch found nothing: not asked again until their buffered
   * batches are handed out (see #pump).
   */
  readonly #dryNodes = new Set<number>()
  /** A non-retriable error for the loop to throw. */
  #error: Error | null = null
  /** Wakes the loop waiting in #next(). */
  #signal: (() => void) | null = null
  #iterating = false
  /** Wakes the loop at the earliest time it asked for (client/wakeup.ts). */
  readonly #wakeup: Wakeup
  #refreshing = false
  #refreshFailures = 0
  #refreshAtMs = 0
  #closed = false
  /** The way to the group's coordinator; created with the first group request. */
  #coordinator: GroupCoordinator | null = null
  /** Group membership, from the first subscribe(). */
  #membership: Membership | null = null
  /** subscribe()'s fromBeginning: where partitions without a committed offset start. */
  #fromBeginning = false
  /** subscribe()'s rebalance callbacks. */
  #listener: Pick<SubscribeOptions, 'onAssigned' | 'onRevoked'> = {}
  /** A rebalance is taking the partitions away: nothing is fetched or handed out. */
  #revoking = false
  /** Bumped by every revoke, loss and assignment: a slower install of an older one is dropped. */
  #assignmentToken = 0
  /** subscribe() calls waiting for the next assignment to be installed. */
  #assignedWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  /** Commits run one at a time, in order, so an older offset never lands after a newer one. */
  #commitQueue: Promise<unknown> = Promise.resolve()
  #autoCommitTimer: NodeJS.Timeout | null = null

  constructor(context: ConsumerContext, options: ConsumerOptions = {}) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#wakeup = new Wakeup(this.#clock, () => this.#pump())
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#connectionOptions = context.connection
    this.#onClose = context.onClose
    this.#groupId = checkGroupId(options.groupId)
    this.#maxWaitMs = intAtLeast('maxWaitMs', options.maxWaitMs, DEFAULTS.maxWaitMs, 0)
    this.#minBytes = intAtLeast('minBytes', options.minBytes, DEFAULTS.minBytes, 0)
    this.#maxBytes = intAtLeast('maxBytes', options.maxBytes, DEFAULTS.maxBytes, 1)
    this.#partitionMaxBytes = intAtLeast('partitionMaxBytes', options.partitionMaxBytes, DEFAULTS.partitionMaxBytes, 1)
    this.#autoOffsetReset = options.autoOffsetReset ?? DEFAULTS.autoOffsetReset
    const isolation = options.isolationLevel ?? 'read_uncommitted'
    if (!(isolation in ISOLATION_LEVEL_CODES)) throw new InvalidArgumentError(`isolationLevel must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(isolation)}.`)
    this.#isolationLevel = ISOLATION_LEVEL_CODES[isolation]
    if (!['earliest', 'latest', 'none'].includes(this.#autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none', got "${String(this.#autoOffsetReset)}".`)
    }
    this.#sessionTimeoutMs = intAtLeast('sessionTimeoutMs', options.sessionTimeoutMs, DEFAULTS.sessionTimeoutMs, 1)
    this.#heartbeatIntervalMs = intAtLeast('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs, 1)
    if (this.#heartbeatIntervalMs >= this.#sessionTimeoutMs) {
      throw new InvalidArgumentError(`heartbeatIntervalMs (${this.#heartbeatIntervalMs}) must be below sessionTimeoutMs (${this.#sessionTimeoutMs}).`)
    }
    this.#rebalanceTimeoutMs = intAtLeast('rebalanceTimeoutMs', options.rebalanceTimeoutMs, DEFAULTS.rebalanceTimeoutMs, 1)
    this.#autoCommit = options.autoCommit ?? true
    this.#autoCommitIntervalMs = intAtLeast('autoCommitIntervalMs', options.autoCommitIntervalMs, DEFAULTS.autoCommitIntervalMs, 0)
    this.#assignors = resolveAssignors(options.assignors)
  }

  /** Largest Fetch response this consumer accepts: maxBytes, plus one oversized first batch (KIP-74). */
  static frameBytesMax(options: ConsumerOptions): number {
    return (options.maxBytes ?? DEFAULTS.maxBytes) + BATCH_BYTES_MAX
  }

  /** The consumer group (from the options or subscribe()), if any. */
  get groupId(): string | undefined {
    return this.#groupId
  }

  // -------------------------------------------------------------------------------------------
  // Assignment and positions

  /**
   * Replaces the assignment: each partition starts at its given offset. Not for a consumer that
   * subscribed (its group assigns its partitions).
   */
  assign(partitions: readonly TopicPartitionOffset[]): void {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#membership !== null) throw new IllegalStateError('This consumer subscribed to topics: its group assigns its partitions, so assign() is not allowed.')
    for (const tp of partitions) this.#checkTopicPartition(tp)
    this.#replaceAssignment(partitions, new Map())
  }

  /** The partitions this consumer reads now (a rebalance changes them, for a group member). */
  assignment(): TopicPartition[] {
    return [...this.#states.values()].map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  /** Moves an assigned partition: the next batch of it starts at `offset`. */
  seek(tp: TopicPartitionOffset): void {
    if (this.#closed) throw new ClosedError('consumer')
    const state = this.#state(tp)
    this.#setOffset(state, tp.offset)
    // The application chose the position: it is not checked against the leader's log (as Kafka's
    // seek without a leader epoch), which is also how it moves on from a LogTruncationError.
    state.validatePosition = false
    state.epoch++
    state.buffered = false
    state.retryAtMs = 0
    state.errors = 0
    this.#ready = this.#ready.filter((r) => r.state !== state)
    this.#pump()
  }

  /** The offset of the next message to be handed out; null while 'earliest'/'latest' is unresolved. */
  position(tp: TopicPartition): bigint | null {
    return this.#state(tp).offset
  }

  /**
   * Stops fetching and handing out the given assigned partitions until resume(); batches already
   * fetched wait. A rebalance that reassigns a partition starts it unpaused (as Kafka's).
   */
  pause(partitions: readonly TopicPartition[]): void {
    for (const s of partitions.map((tp) => this.#state(tp))) s.paused = true
  }

  /** Fetches and hands out paused partitions again. */
  resume(partitions: readonly TopicPartition[]): void {
    for (const s of partitions.map((tp) => this.#state(tp))) s.paused = false
    this.#wakeLoop()
    this.#pump()
  }

  /** The assigned partitions that are paused. */
  paused(): TopicPartition[] {
    return [...this.#states.values()].filter((s) => s.paused).map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  #replaceAssignment(partitions: readonly TopicPartitionOffset[], committed: ReadonlyMap<string, bigint | null>): void {
    const next = new Map<string, PartitionState>()
    const generation = ++this.#generation
    for (const tp of partitions) {
      const key = tpKey(tp.topic, tp.partition)
      if (next.has(key)) throw new InvalidArgumentError(`${tp.topic}-${tp.partition} is assigned twice.`)
      const state: PartitionState = {
        topic: tp.topic,
        partition: tp.partition,
        offset: null,
        reset: 'earliest',
        epoch: 0,
        busy: false,
        buffered: false,
        retryAtMs: 0,
        errors: 0,
        fetchBytes: this.#partitionMaxBytes,
        generation,
        paused: false,
        processed: null,
        committed: committed.get(key) ?? null,
        offsetLeaderEpoch: NO_LEADER_EPOCH,
        knownLeaderEpoch: NO_LEADER_EPOCH,
        validatePosition: false,
      }
      this.#setOffset(state, tp.offset)
      next.set(key, state)
    }
    this.#states = next
    this.#ready = []
    if (partitions.length > 0) void this.#cluster.refresh([...new Set(partitions.map((p) => p.topic))]).catch(() => undefined)
    this.#pump()
  }

  #checkTopicPartition(tp: TopicPartitionOffset): void {
    if (typeof tp?.topic !== 'string' || tp.topic.length === 0 || !Number.isInteger(tp.partition) || tp.partition < 0) {
      throw new InvalidArgumentError(`Not a topic-partition: ${JSON.stringify({ topic: tp?.topic, partition: tp?.partition })}.`)
    }
    const o = tp.offset
    const validTimestamp = typeof o === 'object' && o !== null && Number.isSafeInteger(o.timestamp) && o.timestamp >= 0
    if (!(o === 'earliest' || o === 'latest' || (typeof o === 'bigint' && o >= 0n) || validTimestamp)) {
      throw new InvalidArgumentError(`${tp.topic}-${tp.partition}: offset must be a bigint >= 0n, 'earliest', 'latest' or { timestamp: ms >= 0 }.`)
    }
  }

  #setOffset(state: PartitionState, offset: OffsetSpec): void {
    if (typeof offset === 'object' && (!Number.isSafeInteger(offset.timestamp) || offset.timestamp < 0)) {
      throw new InvalidArgumentError(`A seek timestamp must be a non-negative integer number of milliseconds, got ${offset.timestamp}.`)
    }
    // An offset from outside (the application, the group's commit) comes with no leader epoch.
    state.offsetLeaderEpoch = NO_LEADER_EPOCH
    if (typeof offset === 'bigint') {
      state.offset = offset
    } else {
      state.offset = null
      state.reset = offset
    }
  }

  #state(tp: TopicPartition): PartitionState {
    const s = this.#states.get(tpKey(tp?.topic, tp?.partition))
    if (s === undefined) throw new InvalidArgumentError(`${tp?.topic}-${tp?.partition} is not assigned to this consumer.`)
    return s
  }

  // -------------------------------------------------------------------------------------------
  // Consumer group: subscribe, commit, lag

  /**
   * Joins the consumer group and reads the partitions it assigns this member, rebalancing as
   * members come and go. Resolves once the first assignment is in place (each partition at its
   * committed offset, else per `fromBeginning`); rejects on a permanent group error
   * (INVALID_GROUP_ID, INCONSISTENT_GROUP_PROTOCOL...). Calling it again changes the topics
   * (and rebalances).
   */
  async subscribe(options: SubscribeOptions): Promise<void> {
    if (this.#closed) throw new ClosedError('consumer')
    const topics = checkTopics(options?.topics)
    this.#useGroupId(options.groupId)
    if (this.#groupId === undefined) throw new InvalidArgumentError('subscribe() needs a groupId: consumer({ groupId }) or subscribe({ groupId }).')
    if (this.#membership === null && this.#states.size > 0) {
      throw new IllegalStateError('This consumer has partitions from assign(); a consumer either assigns its partitions or subscribes.')
    }
    this.#fromBeginning = options.fromBeginning === true
    this.#listener = { onAssigned: options.onAssigned, onRevoked: options.onRevoked }
    const current = this.#membership
    const unchanged = current !== null && current.state !== 'failed' && sameTopics(current.topics, topics)
    // The same subscription again changes nothing: no rebalance for it.
    if (unchanged && current.generation() !== null && current.state === 'stable') return
    const assigned = new Promise<void>((resolve, reject) => this.#assignedWaiters.push({ resolve, reject }))
    // Unchanged but mid-rebalance: that rebalance ends with an assignment for this subscription.
    if (!unchanged) {
      if (current === null || current.state === 'failed') {
        this.#membership = this.#newMembership(topics)
        this.#membership.start()
      } else {
        current.setTopics(topics)
      }
    }
    await assigned
  }

  /**
   * Commits offsets to the group (each the offset of the NEXT record to read):
   * - `commit()`: every assigned partition's position (after the last batch handed out);
   * - `commit(batch)`: the batch's partition, right after the batch;
   * - `commit([{ topic, partition, offset }])`: exactly these.
   * Rejects with CommitFailedError listing every partition's outcome when some failed (the others
   * are committed); after a rebalance took a batch's partition away, committing that batch fails
   * rather than overwrite its new owner's progress. Works for assign() users with a groupId too.
   */
  async commit(offsets?: ConsumerBatch | readonly CommitOffset[]): Promise<void> {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#groupId === undefined) throw new IllegalStateError('commit() needs a groupId: consumer({ groupId }).')
    const { list, refused } = this.#offsetsToCommit(offsets)
    const generation = this.#currentGeneration()
    if (generation === null) {
      const err = new StrandProtocolError('REBALANCE_IN_PROGRESS', 'The consumer is between generations: its partitions are being reassigned.')
      throw new CommitFailedError([...refused, ...list.map((o) => ({ ...o, error: err }))])
    }
    const results = list.length === 0 ? [] : await this.#commitInOrder(generation, () => list)
    if (refused.length > 0 || results.some((r) => r.error !== null)) throw new CommitFailedError([...refused, ...results])
  }

  /**
   * What a transactional producer's sendOffsets() needs from this consumer (KIP-447): its group,
   * its member id and generation (the group coordinator refuses the offsets of an older
   * generation, as it refuses commit()'s; an assign() consumer sends '' and -1, not checked), and
   * the offsets `offsets` names, resolved as commit() resolves them. Throws REBALANCE_IN_PROGRESS
   * between generations, and for a batch whose partition was reassigned since.
   */
  transactionOffsets(offsets?: ConsumerBatch | readonly CommitOffset[]): { groupId: string; generationId: number; memberId: string; offsets: CommitOffset[] } {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#groupId === undefined) throw new IllegalStateError('Sending offsets to a transaction needs a consumer with a groupId.')
    const { list, refused } = this.#offsetsToCommit(offsets)
    if (refused.length > 0) throw refused[0]!.error
    const generation = this.#currentGeneration()
    if (generation === null) throw new StrandProtocolError('REBALANCE_IN_PROGRESS', 'The consumer is between generations: its partitions are being reassigned.')
    return { groupId: this.#groupId, generationId: generation.generationId, memberId: generation.memberId, offsets: list }
  }

  /**
   * Each assigned partition's high watermark, the group's committed offset, and the lag between
   * them (records not yet committed as processed).
   */
  async lag(): Promise<PartitionLag[]> {
    if (this.#closed) throw new ClosedError('consumer')
    const partitions = this.assignment()
    if (partitions.length === 0) return []
    const options = this.#offsetOptions()
    const [hws, committed] = await Promise.all([
      highWatermarks(this.#cluster, partitions, options),
      this.#groupId === undefined ? Promise.resolve([]) : fetchCommitted(this.#groupCoordinator(), partitions, options),
    ])
    const committedByKey = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c.offset]))
    return partitions.map(({ topic, partition }) => {
      const highWatermark = hws.get(offsetKeyOf(topic, partition)) ?? 0n
      const c = committedByKey.get(tpKey(topic, partition)) ?? null
      const position = this.#states.get(tpKey(topic, partition))?.offset ?? null
      return { topic, partition, highWatermark, committed: c, position, lag: c === null ? null : highWatermark > c ? highWatermark - c : 0n }
    })
  }

  #useGroupId(groupId: string | undefined): void {
    const g = checkGroupId(groupId)
    if (g === undefined) return
    if (this.#groupId !== undefined && this.#groupId !== g) throw new InvalidArgumentError(`This consumer is in group "${this.#groupId}"; subscribe() named "${g}".`)
    this.#groupId = g
  }

  #groupCoordinator(): GroupCoordinator {
    this.#coordinator ??= new GroupCoordinator({ cluster: this.#cluster, groupId: this.#groupId as string, connection: this.#connectionOptions })
    return this.#coordinator
  }

  #offsetOptions(): OffsetRequestOptions {
    return { retry: this.#cluster.retryOptions, requestTimeoutMs: this.#requestTimeoutMs }
  }

  /** The generation to commit as: a member's current one, NO_GENERATION for assign(), null mid-rebalance. */
  #currentGeneration(): GroupGeneration | null {
    return this.#membership === null ? NO_GENERATION : this.#membership.generation()
  }

  #newMembership(topics: string[]): Membership {
    return new Membership({
      coordinator: this.#groupCoordinator(),
      topics,
      assignors: this.#assignors,
      sessionTimeoutMs: this.#sessionTimeoutMs,
      rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
      heartbeatIntervalMs: this.#heartbeatIntervalMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      retry: this.#cluster.retryOptions,
      clock: this.#clock,
      partitionCounts: (t) => this.#partitionCounts(t),
      hooks: {
        revoke: (generation) => this.#revoke(generation),
        lost: () => {
          const partitions = this.assignment()
          this.#dropAssignment()
          void this.#callListener(() => this.#listener.onRevoked?.(partitions, { lost: true }))
        },
        assigned: (partitions) => void this.#install(partitions, ++this.#assignmentToken),
        failed: (err) => {
          this.#dropAssignment()
          this.#surface(err)
          for (const w of this.#assignedWaiters.splice(0)) w.reject(err)
        },
      },
    })
  }

  async #partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    await this.#cluster.refresh(topics)
    return new Map(topics.map((t) => [t, this.#cluster.cachedTopic(t)?.partitions.length ?? 0]))
  }

  /**
   * The membership gives every partition up before rejoining: stop handing out, wait for the
   * batch in hand, commit what was processed, drop the assignment.
   */
  async #revoke(generation: GroupGeneration): Promise<void> {
    this.#revoking = true
    this.#assignmentToken++
    try {
      this.#ready = []
      for (const s of this.#states.values()) s.buffered = false
      // The coordinator started its rebalance timeout up to a heartbeat interval before this
      // member heard of it, and the commit and JoinGroup need time too: keep a margin.
      await this.#waitForInHand(Math.max(0, this.#rebalanceTimeoutMs - 2 * this.#heartbeatIntervalMs))
      // A failed commit (the generation already gone) only means some records are read again
      // by the partition's next owner: at-least-once still holds, so it does not stop the rejoin.
      if (this.#autoCommit) await this.#commitProcessed(generation).catch(() => undefined)
      const partitions = this.assignment()
      if (partitions.length > 0) await this.#callListener(() => this.#listener.onRevoked?.(partitions, { lost: false }))
    } finally {
      this.#dropAssignment()
      this.#revoking = false
    }
  }

  #dropAssignment(): void {
    this.#assignmentToken++
    this.#replaceAssignment([], new Map())
  }

  /** A new generation's partitions: look up their committed offsets, then start reading. */
  async #install(partitions: AssignedPartition[], token: number): Promise<void> {
    const stale = (): boolean => token !== this.#assignmentToken || this.#closed
    let committed: Map<string, bigint | null>
    try {
      // Retried until it works or stops mattering: the partitions sit idle meanwhile.
      const found = partitions.length === 0 ? [] : await fetchCommitted(this.#groupCoordinator(), partitions, { ...this.#offsetOptions(), retriesMax: Number.POSITIVE_INFINITY, cancelled: stale })
      committed = new Map(found.map((c) => [tpKey(c.topic, c.partition), c.offset]))
    } catch (err) {
      if (stale()) return
      this.#surface(err as Error)
      for (const w of this.#assignedWaiters.splice(0)) w.reject(err as Error)
      return
    }
    if (stale()) return
    const reset = this.#fromBeginning ? 'earliest' : 'latest'
    this.#replaceAssignment(partitions.map((tp) => ({ ...tp, offset: committed.get(tpKey(tp.topic, tp.partition)) ?? reset })), committed)
    this.#wakeLoop()
    await this.#callListener(() => this.#listener.onAssigned?.(this.assignment()))
    for (const w of this.#assignedWaiters.splice(0)) w.resolve()
  }

  /** Runs a rebalance callback; what it throws is thrown from the consuming loop. */
  async #callListener(call: () => void | Promise<void>): Promise<void> {
    try {
      await call()
    } catch (err) {
      this.#surface(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Resolves when no batch is in hand, or after `timeoutMs`. */
  #waitForInHand(timeoutMs: number): Promise<void> {
    if (this.#inHand === null || this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      this.#inHandWaiters.push(done)
    })
  }

  /** What commit() was asked to commit; batches of partitions no longer this consumer's are refused. */
  #offsetsToCommit(offsets: ConsumerBatch | readonly CommitOffset[] | undefined): { list: CommitOffset[]; refused: PartitionCommitResult[] } {
    if (offsets === undefined) {
      const list = [...this.#states.values()].filter((s) => s.offset !== null).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.offset as bigint }))
      return { list, refused: [] }
    }
    if (Array.isArray(offsets)) {
      for (const o of offsets) {
        if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || typeof o.offset !== 'bigint' || o.offset < 0n) {
          throw new InvalidArgumentError(`Not an offset to commit: ${JSON.stringify({ topic: o?.topic, partition: o?.partition, offset: String(o?.offset) })}.`)
        }
      }
      return { list: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })), refused: [] }
    }
    const r = this.#batchEnds.get(offsets as ConsumerBatch)
    if (r === undefined) throw new InvalidArgumentError('commit(batch) takes a batch this consumer handed out.')
    const offset = { topic: r.state.topic, partition: r.state.partition, offset: r.nextOffset }
    if (this.#states.get(tpKey(r.state.topic, r.state.partition)) === r.state) return { list: [offset], refused: [] }
    const error = new IllegalStateError(`${r.state.topic}-${r.state.partition} was reassigned after this batch was handed out; its new owner commits it now.`)
    return { list: [], refused: [{ ...offset, error }] }
  }

  /** Commits processed offsets not committed yet (auto-commit, revoke, close). */
  #commitProcessed(generation: GroupGeneration): Promise<PartitionCommitResult[]> {
    return this.#commitInOrder(generation, () =>
      [...this.#states.values()].filter((s) => s.processed !== null && s.processed !== s.committed).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.processed as bigint })),
    )
  }

  /**
   * Runs a commit after those before it. `offsets` is evaluated when its turn comes, so an
   * auto-commit sends the latest processed offsets. Successes update each partition's committed
   * offset; group errors go to the membership (which rejoins).
   */
  #commitInOrder(generation: GroupGeneration, offsets: () => CommitOffset[]): Promise<PartitionCommitResult[]> {
    const run = async (): Promise<PartitionCommitResult[]> => {
      const list = offsets()
      if (list.length === 0) return []
      const results = await commitOffsets(this.#groupCoordinator(), generation, list, this.#offsetOptions())
      for (const r of results) {
        const s = this.#states.get(tpKey(r.topic, r.partition))
        if (r.error === null && s !== undefined) s.committed = r.offset
        else if (r.error !== null) this.#membership?.reportError(r.error, generation)
      }
      return results
    }
    const next = this.#commitQueue.then(run, run)
    this.#commitQueue = next.catch(() => undefined)
    return next
  }

  #scheduleAutoCommit(): void {
    if (!this.#autoCommit || this.#groupId === undefined || this.#autoCommitTimer !== null || this.#closed) return
    this.#autoCommitTimer = setTimeout(() => {
      this.#autoCommitTimer = null
      const generation = this.#currentGeneration()
      // Mid-rebalance there is nothing to do: the revoke commits.
      if (generation !== null) void this.#commitProcessed(generation).catch(() => undefined)
    }, this.#autoCommitIntervalMs)
  }

  // -------------------------------------------------------------------------------------------
  // Iteration

  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumerBatch, void, undefined> {
    if (this.#iterating) throw new IllegalStateError('The consumer is already being iterated; use one loop at a time.')
    this.#iterating = true
    try {
      this.#pump()
      for (;;) {
        const batch = await this.#next()
        if (batch === null) return
        yield batch
      }
    } finally {
      this.#iterating = false
      // Left by break, return or a throw: the batch in hand does not count as processed.
      this.#finishInHand({ processed: false })
    }
  }

  /** Calls eachBatch for every batch until close() (or eachBatch throws); resolves when the loop ends. */
  async run(options: { eachBatch: (batch: ConsumerBatch) => Promise<void> | void }): Promise<void> {
    for await (const batch of this) await options.eachBatch(batch)
  }

  /**
   * Ends every loop (they exit normally), commits processed offsets (auto-commit), leaves the
   * group (so it rebalances at once rather than after the session timeout), and closes the
   * connections. A batch whose handler is still running is not counted: call commit() in the
   * handler first if it should be.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#wakeup.cancel()
    if (this.#autoCommitTimer !== null) clearTimeout(this.#autoCommitTimer)
    this.#autoCommitTimer = null
    this.#ready = []
    this.#wakeLoop()
    for (const w of this.#inHandWaiters.splice(0)) w()
    for (const w of this.#assignedWaiters.splice(0)) w.reject(new ClosedError('consumer'))
    try {
      const generation = this.#currentGeneration()
      if (this.#autoCommit && this.#groupId !== undefined && generation !== null) await this.#commitProcessed(generation).catch(() => undefined)
      await this.#membership?.close()
    } finally {
      this.#coordinator?.close()
      this.#cluster.close()
      this.#onClose?.()
    }
  }

  async #next(): Promise<ConsumerBatch | null> {
    this.#finishInHand({ processed: true })
    for (;;) {
      if (this.#closed) return null
      if (this.#error !== null) {
        const err = this.#error
        this.#error = null
        throw err
      }
      const r = this.#takeReady()
      if (r !== null) {
        r.state.offset = r.nextOffset
        r.state.offsetLeaderEpoch = r.leaderEpoch
        r.state.buffered = false
        this.#inHand = r
        this.#batchEnds.set(r.batch, r)
        this.#pump()
        return r.batch
      }
      await new Promise<void>((resolve) => {
        this.#signal = resolve
      })
    }
  }

  /** The oldest batch to hand out (none while revoking); skips paused partitions, drops stale batches. */
  #takeReady(): ReadyBatch | null {
    if (this.#revoking) return null
    for (let i = 0; i < this.#ready.length; ) {
      const r = this.#ready[i] as ReadyBatch
      if (r.epoch !== r.state.epoch || this.#states.get(tpKey(r.state.topic, r.state.partition)) !== r.state) {
        this.#ready.splice(i, 1)
      } else if (r.state.paused) {
        i++
      } else {
        this.#ready.splice(i, 1)
        return r
      }
    }
    return null
  }

  /** The batch in hand is done: processed (the loop asked for more) or abandoned (the loop ended). */
  #finishInHand(options: { processed: boolean }): void {
    const r = this.#inHand
    if (r === null) return
    this.#inHand = null
    if (options.processed && this.#isCurrent(r.state, r.epoch)) {
      r.state.processed = r.nextOffset
      this.#scheduleAutoCommit()
    }
    for (const w of this.#inHandWaiters.splice(0)) w()
  }

  #wakeLoop(): void {
    const signal = this.#signal
    this.#signal = null
    signal?.()
  }

  #surface(err: Error): void {
    if (this.#closed) return
    this.#error ??= err
    this.#wakeLoop()
  }

  // -------------------------------------------------------------------------------------------
  // Fetching

  /**
   * Starts what can start: offset lookups, one Fetch per broker, metadata refreshes.
   *
   * A broker with a batch still waiting to be handed out is not long-polled: that Fetch would
   * hold the broker's one slot for maxWaitMs, and the waiting partition, once handed out, could
   * not be fetched again until it ended (a hot partition beside a cold one would get one batch
   * per maxWaitMs). Its other partitions are fetched without waiting while that finds data; once
   * it finds none, the broker waits for its batches to be handed out, then is long-polled again.
   */
  #pump(): void {
    if (this.#closed || !this.#iterating || this.#revoking) return
    const now = this.#clock()
    // Runs after every fetch and every batch handed out: the collections are made only when
    // something goes in them, and a broker already being fetched from is passed over early.
    let toResolve: Map<number, PartitionState[]> | null = null
    let toValidate: Map<number, PartitionState[]> | null = null
    let toFetch: Map<number, PartitionState[]> | null = null
    let bufferedNodes: Set<number> | null = null
    let nextMs = Number.POSITIVE_INFINITY
    let needMetadata = false
    for (const s of this.#states.values()) {
      // A paused partition's waiting batch must not hold back its broker's other partitions.
      if (s.paused) continue
      if (s.buffered) {
        const leader = this.#cluster.cachedLeader(s.topic, s.partition)
        if (leader !== undefined) (bufferedNodes ??= new Set()).add(leader)
        continue
      }
      if (s.busy) continue
      if (s.retryAtMs > now) {
        nextMs = Math.min(nextMs, s.retryAtMs)
        continue
      }
      const leader = this.#leader(s)
      if (leader === undefined) {
        needMetadata = true
        continue
      }
      const validate = this.#mustValidate(s)
      if (s.offset !== null && !validate && this.#fetching.has(leader)) continue
      const into = s.offset === null ? (toResolve ??= new Map()) : validate ? (toValidate ??= new Map()) : (toFetch ??= new Map())
      const list = into.get(leader)
      if (list === undefined) into.set(leader, [s])
      else list.push(s)
    }
    if (toResolve !== null) for (const [nodeId, states] of toResolve) void this.#resolveOffsets(nodeId, states)
    if (toValidate !== null) for (const [nodeId, states] of toValidate) void this.#validatePositions(nodeId, states)
    if (toFetch !== null) for (const [nodeId, states] of toFetch) {
      const poll = bufferedNodes === null || !bufferedNodes.has(nodeId)
      if (poll) this.#dryNodes.delete(nodeId)
      else if (this.#dryNodes.has(nodeId)) continue
      void this.#fetch(nodeId, states, poll ? this.#maxWaitMs : 0)
    }
    // A cached leader may be wrong (errors invalidate the cache) or just old: refresh either way,
    // or a consumer would keep asking a broker that no longer leads the partition.
    if (this.#states.size > 0 && this.#cluster.stale) needMetadata = true
    if (needMetadata) {
      if (now >= this.#refreshAtMs) void this.#refreshMetadata()
      else nextMs = Math.min(nextMs, this.#refreshAtMs)
    }
    this.#schedule(nextMs)
  }

  /**
   * Takes in the partition's leader epoch from the metadata, and says whether its position must be
   * validated before the next fetch: a newer epoch than the one it was read under means a new
   * leader, whose log may have been truncated below the position.
   */
  #mustValidate(s: PartitionState): boolean {
    const epoch = this.#cluster.cachedLeaderEpoch(s.topic, s.partition)
    if (epoch > s.knownLeaderEpoch) {
      // The first epoch seen is the one the position is read under: nothing to compare it with.
      if (s.knownLeaderEpoch !== NO_LEADER_EPOCH) s.validatePosition = true
      s.knownLeaderEpoch = epoch
    }
    if (s.offset === null || s.offsetLeaderEpoch === NO_LEADER_EPOCH) s.validatePosition = false
    return s.validatePosition
  }

  /** The partition's leader, or undefined; a topic-partition that cannot exist is thrown from the loop. */
  #leader(s: PartitionState): number | undefined {
    const leader = this.#cluster.cachedLeader(s.topic, s.partition)
    if (leader !== undefined) return leader
    const topicError = this.#cluster.topicError(s.topic)
    if (topicError !== undefined && !topicError.retriable) this.#surface(topicError)
    const info = this.#cluster.cachedTopic(s.topic)
    if (info !== undefined && info.partitions[s.partition] === undefined) {
      this.#surface(new InvalidArgumentError(`Topic "${s.topic}" has ${info.partitions.length} partitions; there is no partition ${s.partition}.`))
    }
    return undefined
  }

  #schedule(atMs: number): void {
    this.#wakeup.at(atMs)
  }

  async #refreshMetadata(): Promise<void> {
    if (this.#refreshing) return
    this.#refreshing = true
    try {
      await this.#cluster.refresh([...new Set([...this.#states.values()].map((s) => s.topic))])
      // Metadata can come back without a leader (an election, a topic not created yet): back off
      // as after a failure, so a missing topic is not polled in a tight loop.
      const leaderless = [...this.#states.values()].some((s) => this.#cluster.cachedLeader(s.topic, s.partition) === undefined)
      this.#refreshFailures = leaderless ? this.#refreshFailures + 1 : 0
      this.#refreshAtMs = this.#clock() + (leaderless ? backoffMs(this.#cluster.retryOptions, this.#refreshFailures) : 0)
    } catch (err) {
      this.#refreshFailures++
      this.#refreshAtMs = this.#clock() + backoffMs(this.#cluster.retryOptions, this.#refreshFailures)
      if (!isRetriable(err)) this.#surface(err as Error)
    } finally {
      this.#refreshing = false
    }
    this.#pump()
  }

  async #fetch(nodeId: number, states: PartitionState[], maxWaitMs: number): Promise<void> {
    this.#fetching.add(nodeId)
    const sent = states.map((s) => ({ state: s, epoch: s.epoch, offset: s.offset as bigint }))
    for (const s of states) s.busy = true
    try {
      const conn = this.#cluster.connectionTo(nodeId)
      const res = await conn.request(ApiKey.Fetch, this.#fetchBody(sent, maxWaitMs), { timeoutMs: this.#requestTimeoutMs + maxWaitMs })
      const buffered = this.#onFetchResponse(sent, res)
      if (maxWaitMs === 0 && buffered === 0) this.#dryNodes.add(nodeId)
    } catch (err) {
      for (const { state, epoch } of sent) if (this.#isCurrent(state, epoch)) this.#onPartitionError(state, err as Error)
    } finally {
      this.#fetching.delete(nodeId)
      for (const s of states) s.busy = false
      this.#pump()
    }
  }

  #fetchBody(sent: ReadonlyArray<{ state: PartitionState; offset: bigint }>, maxWaitMs: number): FetchRequest {
    const topics = new Map<string, FetchRequest['topics'][number]>()
    for (const { state, offset } of sent) {
      let t = topics.get(state.topic)
      if (t === undefined) {
        t = { name: state.topic, partitions: [] }
        topics.set(state.topic, t)
      }
      t.partitions.push({ partition: state.partition, currentLeaderEpoch: state.knownLeaderEpoch, fetchOffset: offset, logStartOffset: -1n, partitionMaxBytes: state.fetchBytes })
    }
    return { replicaId: CONSUMER_REPLICA_ID, maxWaitMs, minBytes: this.#minBytes, maxBytes: this.#maxBytes, isolationLevel: this.#isolationLevel, topics: [...topics.values()] }
  }

  /** Settles each partition from its part of the response; returns how many got a batch to hand out. */
  #onFetchResponse(sent: ReadonlyArray<{ state: PartitionState; epoch: number; offset: bigint }>, res: FetchResponse): number {
    let buffered = 0
    const topLevel = errorFromCode(res.errorCode)
    const byKey = new Map<string, FetchResponse['topics'][number]['partitions'][number]>()
    for (const t of res.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partitionIndex), p)
    for (const { state, epoch, offset } of sent) {
      if (!this.#isCurrent(state, epoch)) continue
      const p = byKey.get(tpKey(state.topic, state.partition))
      const err = topLevel ?? (p === undefined ? null : errorFromCode(p.errorCode))
      if (err !== null) {
        this.#onPartitionError(state, err)
        continue
      }
      if (p === undefined) {
        // Retried with backoff: resending at once would spin against a broker that omits it.
        this.#onPartitionError(state, new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The Fetch response has no result for ${state.topic}-${state.partition}.`))
        continue
      }
      try {
        if (this.#onFetchedData(state, offset, p)) buffered++
      } catch (e) {
        this.#onDecodeError(state, offset, e as Error)
      }
    }
    return buffered
  }

  /**
   * A batch the broker stored fails to decode here (its CRC matched, its records do not parse):
   * retrying would fetch the same bytes forever, so the error reaches the application, which may
   * seek past it. The partition then waits before fetching again.
   */
  #onDecodeError(state: PartitionState, offset: bigint, err: Error): void {
    if (err instanceof StrandProtocolError && err.code === 'CORRUPT_MESSAGE') {
      state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      this.#surface(new StrandProtocolError('CORRUPT_MESSAGE', `${state.topic}-${state.partition} at offset ${offset}: ${err.message}`))
      return
    }
    this.#onPartitionError(state, err)
  }

  /** True if the state is still assigned and was not moved by seek() since the request was sent. */
  #isCurrent(state: PartitionState, epoch: number): boolean {
    return !this.#closed && state.epoch === epoch && this.#states.get(tpKey(state.topic, state.partition)) === state
  }

  /** Returns true when a batch was queued for handing out. */
  #onFetchedData(state: PartitionState, fetchOffset: bigint, p: FetchResponse['topics'][number]['partitions'][number]): boolean {
    // Messages are views of the records; a partition's records that are a small part of the response are copied, so messages kept by the application do not keep the whole response alive.
    const { batches, partialBytes } = decodeBatches(unpinned(p.records))
    state.errors = 0
    const last = batches[batches.length - 1]
    if (last === undefined) {
      if (partialBytes > 0) this.#growFetchBytes(state, partialBytes)
      return false
    }
    state.fetchBytes = this.#partitionMaxBytes
    const nextOffset = nextOffsetOf(last.header)
    const messages = messagesFrom(batches, fetchOffset, abortedTransactionsOf(p))
    const leaderEpoch = last.header.partitionLeaderEpoch
    if (messages.length === 0) {
      // Only control records or records before the fetch offset: move past them silently.
      if (nextOffset > fetchOffset) {
        state.offset = nextOffset
        state.offsetLeaderEpoch = leaderEpoch
      }
      return false
    }
    state.buffered = true
    this.#ready.push({
      state,
      epoch: state.epoch,
      nextOffset,
      leaderEpoch,
      batch: { topic: state.topic, partition: state.partition, messages, highWatermark: p.highWatermark, nextOffset },
    })
    this.#wakeLoop()
    return true
  }

  /** Only part of one batch came back: it is larger than the per-partition limit. */
  #growFetchBytes(state: PartitionState, partialBytes: number): void {
    if (state.fetchBytes >= this.#maxBytes) {
      this.#surface(new RecordTooLargeError(`${state.topic}-${state.partition} holds a batch larger than maxBytes ${this.#maxBytes} (got ${partialBytes} bytes of it).`))
      state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      return
    }
    state.fetchBytes = Math.min(this.#maxBytes, state.fetchBytes * 2)
  }

  #onPartitionError(state: PartitionState, err: Error): void {
    if (this.#closed || err instanceof ClosedError) return
    if (err instanceof StrandProtocolError && err.code === 'OFFSET_OUT_OF_RANGE') {
      if (this.#autoOffsetReset === 'none') {
        this.#surface(err)
        state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      } else {
        state.offset = null
        state.reset = this.#autoOffsetReset
      }
      return
    }
    if (needsMetadataRefresh(err)) this.#cluster.invalidate()
    if (err instanceof StrandProtocolError && LEADER_CHANGE_CODES.has(err.code)) state.validatePosition = true
    state.errors++
    state.retryAtMs = this.#clock() + backoffMs(this.#cluster.retryOptions, state.errors)
    if (!isRetriable(err)) this.#surface(err)
  }

  // -------------------------------------------------------------------------------------------
  // Resolving 'earliest' / 'latest'

  async #resolveOffsets(nodeId: number, states: PartitionState[]): Promise<void> {
    const sent = states.map((s) => ({ state: s, epoch: s.epoch, reset: s.reset }))
    for (const s of states) s.busy = true
    try {
      const conn = this.#cluster.connectionTo(nodeId)
      const topics = new Map<string, Array<{ partitionIndex: number; currentLeaderEpoch: number; timestamp: bigint }>>()
      for (const { state, reset } of sent) {
        const list = topics.get(state.topic) ?? []
        list.push({ partitionIndex: state.partition, currentLeaderEpoch: state.knownLeaderEpoch, timestamp: listOffsetsTimestamp(reset) })
        topics.set(state.topic, list)
      }
      const res = await conn.request(ApiKey.ListOffsets, {
        replicaId: CONSUMER_REPLICA_ID,
        isolationLevel: this.#isolationLevel,
        topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
      })
      this.#onOffsets(sent, res)
    } catch (err) {
      for (const s of states) this.#onPartitionError(s, err as Error)
    } finally {
      for (const s of states) s.busy = false
      this.#pump()
    }
  }

  #onOffsets(sent: ReadonlyArray<{ state: PartitionState; epoch: number }>, res: ListOffsetsResponse): void {
    const byKey = new Map<string, ListOffsetsResponse['topics'][number]['partitions'][number]>()
    for (const t of res.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partitionIndex), p)
    for (const { state, epoch } of sent) {
      if (!this.#isCurrent(state, epoch) || state.offset !== null) continue
      const p = byKey.get(tpKey(state.topic, state.partition))
      if (p === undefined) continue
      const err = errorFromCode(p.errorCode)
      if (err !== null) this.#onPartitionError(state, err)
      else if (p.offset >= 0n) {
        state.offset = p.offset
        // The leader's epoch: every record before an offset it answers is at or below it.
        state.offsetLeaderEpoch = p.leaderEpoch
        state.validatePosition = false
        state.errors = 0
      } else if (typeof state.reset === 'object') {
        // No record is that recent: start at the end, as Kafka's seek after offsetsForTimes does.
        state.reset = 'latest'
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Validating positions after a leader change (KIP-320)

  /** Asks the leader where each position's leader epoch ends in its log, then settles each position. */
  async #validatePositions(nodeId: number, states: PartitionState[]): Promise<void> {
    const sent = states.map((s) => ({ state: s, epoch: s.epoch, offset: s.offset as bigint }))
    for (const s of states) s.busy = true
    try {
      const conn = this.#cluster.connectionTo(nodeId)
      const topics = new Map<string, OffsetsForLeaderEpochRequest['topics'][number]>()
      for (const { state } of sent) {
        let t = topics.get(state.topic)
        if (t === undefined) {
          t = { name: state.topic, partitions: [] }
          topics.set(state.topic, t)
        }
        t.partitions.push({ partition: state.partition, currentLeaderEpoch: state.knownLeaderEpoch, leaderEpoch: state.offsetLeaderEpoch })
      }
      const res = await conn.request(ApiKey.OffsetsForLeaderEpoch, { replicaId: CONSUMER_REPLICA_ID, topics: [...topics.values()] })
      const byKey = new Map<string, EpochEnd>()
      for (const t of res.topics) for (const p of t.partitions) byKey.set(tpKey(t.name, p.partition), p)
      for (const { state, epoch, offset } of sent) {
        if (!this.#isCurrent(state, epoch)) continue
        const p = byKey.get(tpKey(state.topic, state.partition))
        const err = p === undefined ? new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The OffsetsForLeaderEpoch response has no result for ${state.topic}-${state.partition}.`) : errorFromCode(p.errorCode)
        if (err !== null) this.#onPartitionError(state, err)
        else this.#onEpochEnd(state, offset, p as EpochEnd)
      }
    } catch (err) {
      for (const { state, epoch } of sent) if (this.#isCurrent(state, epoch)) this.#onPartitionError(state, err as Error)
    } finally {
      for (const s of states) s.busy = false
      this.#pump()
    }
  }

  /**
   * The leader's end of the position's epoch: at or past the position, the records read are still
   * in its log (validated); below it, the log was truncated under the position.
   */
  #onEpochEnd(state: PartitionState, offset: bigint, end: EpochEnd): void {
    if (end.endOffset < 0n) {
      // The leader knows no epoch at all: nothing in its log can vouch for what was read.
      this.#onPartitionError(state, new StrandProtocolError('OFFSET_OUT_OF_RANGE', `${state.topic}-${state.partition}: the leader has no end for leader epoch ${state.offsetLeaderEpoch}, the epoch of position ${offset}.`))
      return
    }
    if (end.endOffset >= offset) {
      state.validatePosition = false
      state.errors = 0
      return
    }
    if (this.#autoOffsetReset === 'none') {
      // Thrown once per attempt; the position stays (and is validated again) until a seek().
      this.#surface(new LogTruncationError(state.topic, state.partition, offset, end.endOffset))
      state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      return
    }
    this.#rewindTo(state, end.endOffset, end.leaderEpoch)
  }

  /**
   * Moves the position back to where the leader's log stops agreeing with what was read: the
   * records from there on are new, and are read next. Nothing past it counts as processed any
   * more, so auto-commit does not commit an offset past records this consumer never handed out.
   */
  #rewindTo(state: PartitionState, offset: bigint, leaderEpoch: number): void {
    state.offset = offset
    state.offsetLeaderEpoch = leaderEpoch < 0 ? NO_LEADER_EPOCH : leaderEpoch
    state.validatePosition = false
    state.errors = 0
    // As a seek: answers to requests sent before, and the batch in hand, are the old position's.
    state.epoch++
    state.buffered = false
    this.#ready = this.#ready.filter((r) => r.state !== state)
    if (state.processed !== null && state.processed > offset) state.processed = offset
  }
}

type EpochEnd = OffsetsForLeaderEpochResponse['topics'][number]['partitions'][number]

function listOffsetsTimestamp(reset: ResetSpec): bigint {
  if (reset === 'earliest') return EARLIEST_TIMESTAMP
  if (reset === 'latest') return LATEST_TIMESTAMP
  return BigInt(reset.timestamp)
}
