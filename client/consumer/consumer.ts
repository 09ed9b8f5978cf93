// The consumer: reads partitions from their leaders with long-polling Fetch requests and hands
// them out as batches through async iteration. Partitions come from assign() (the application
// chooses) or from subscribe() (a consumer group shares them out; client/group/). Callers: the
// application, through Strand.consumer() (client/index.ts); client/cdc/ sinks; the CLI.
//
//   consumer.assign([{ topic, partition, offset: 'earliest' }])        // or
//   await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
//   for await (const batch of consumer) { ... }   // break ends this loop; close() ends every loop
//
// This file is the facade: the public Consumer and its types. The work is split as Kafka's
// consumer splits it:
// - subscription-state.ts: the assignment, positions, pause and resume (pure state);
// - fetcher.ts: the fetch pump, its prefetch bound, ListOffsets resets, position validation;
// - hand-out.ts: fetched batches waiting for the loop, the batch in hand, errors for the loop;
// - group-session.ts: subscribe(), rebalances (revoke, install), commits and lag;
// - fetched-records.ts: the messages of fetched batches (control and aborted records dropped).
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
// - Delivery is at-least-once: a batch counts as processed when the loop asks for the next one,
//   and auto-commit commits only processed offsets (hand-out.ts, group-session.ts).

import type { Cluster } from '../cluster.js'
import { ClosedError, IllegalStateError, InvalidArgumentError } from '../errors.js'
import { resolveAssignors } from '../group/assignors.js'
import { BATCH_BYTES_MAX } from '../protocol/records.js'
import { Fetcher } from './fetcher.js'
import { checkGroupId, GroupSession } from './group-session.js'
import { HandOut } from './hand-out.js'
import { checkTopicPartition, SubscriptionState } from './subscription-state.js'
import {
  ISOLATION_LEVEL_CODES,
  type AutoOffsetReset,
  type CommitOffset,
  type ConsumerBatch,
  type ConsumerContext,
  type ConsumerOptions,
  type PartitionLag,
  type SubscribeOptions,
  type TopicPartition,
  type TopicPartitionOffset,
} from './types.js'

export { messagesFrom } from './fetched-records.js'
export type {
  AutoOffsetReset,
  CommitOffset,
  ConsumedMessage,
  ConsumerBatch,
  ConsumerContext,
  ConsumerOptions,
  IsolationLevel,
  OffsetSpec,
  PartitionLag,
  SubscribeOptions,
  TopicPartition,
  TopicPartitionOffset,
} from './types.js'

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

function intAtLeast(name: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}.`)
  return v
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
  readonly #onClose: (() => void) | undefined
  /** The assignment and every partition's position. */
  readonly #subscriptions: SubscriptionState
  /** Batches waiting for the loop, and the loop itself. */
  readonly #handOut: HandOut
  readonly #fetcher: Fetcher
  /** Group membership and commits (also for assign() users with a groupId, who commit). */
  readonly #session: GroupSession
  #closed = false

  constructor(context: ConsumerContext, options: ConsumerOptions = {}) {
    this.#cluster = context.cluster
    this.#onClose = context.onClose
    const groupId = checkGroupId(options.groupId)
    const maxWaitMs = intAtLeast('maxWaitMs', options.maxWaitMs, DEFAULTS.maxWaitMs, 0)
    const minBytes = intAtLeast('minBytes', options.minBytes, DEFAULTS.minBytes, 0)
    const maxBytes = intAtLeast('maxBytes', options.maxBytes, DEFAULTS.maxBytes, 1)
    const partitionMaxBytes = intAtLeast('partitionMaxBytes', options.partitionMaxBytes, DEFAULTS.partitionMaxBytes, 1)
    const autoOffsetReset: AutoOffsetReset = options.autoOffsetReset ?? DEFAULTS.autoOffsetReset
    const isolation = options.isolationLevel ?? 'read_uncommitted'
    if (!(isolation in ISOLATION_LEVEL_CODES)) throw new InvalidArgumentError(`isolationLevel must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(isolation)}.`)
    if (!['earliest', 'latest', 'none'].includes(autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none', got "${String(autoOffsetReset)}".`)
    }
    const sessionTimeoutMs = intAtLeast('sessionTimeoutMs', options.sessionTimeoutMs, DEFAULTS.sessionTimeoutMs, 1)
    const heartbeatIntervalMs = intAtLeast('heartbeatIntervalMs', options.heartbeatIntervalMs, DEFAULTS.heartbeatIntervalMs, 1)
    if (heartbeatIntervalMs >= sessionTimeoutMs) {
      throw new InvalidArgumentError(`heartbeatIntervalMs (${heartbeatIntervalMs}) must be below sessionTimeoutMs (${sessionTimeoutMs}).`)
    }
    const rebalanceTimeoutMs = intAtLeast('rebalanceTimeoutMs', options.rebalanceTimeoutMs, DEFAULTS.rebalanceTimeoutMs, 1)
    const autoCommitIntervalMs = intAtLeast('autoCommitIntervalMs', options.autoCommitIntervalMs, DEFAULTS.autoCommitIntervalMs, 0)
    const assignors = resolveAssignors(options.assignors)
    const { cluster, clock, requestTimeoutMs } = context
    this.#subscriptions = new SubscriptionState({ partitionMaxBytes })
    // The parts call one another through these closures: each is made before it is first called
    // (nothing runs until assign(), subscribe() or a loop).
    this.#handOut = new HandOut({ subscriptions: this.#subscriptions, fetchMore: () => this.#fetcher.pump(), onProcessed: () => this.#session.scheduleAutoCommit() })
    this.#fetcher = new Fetcher({ cluster, clock, requestTimeoutMs, subscriptions: this.#subscriptions, handOut: this.#handOut, maxWaitMs, minBytes, maxBytes, partitionMaxBytes, autoOffsetReset, isolationLevel: ISOLATION_LEVEL_CODES[isolation] })
    this.#session = new GroupSession({
      cluster,
      clock,
      requestTimeoutMs,
      connection: context.connection,
      groupId,
      sessionTimeoutMs,
      heartbeatIntervalMs,
      rebalanceTimeoutMs,
      autoCommit: options.autoCommit ?? true,
      autoCommitIntervalMs,
      assignors,
      subscriptions: this.#subscriptions,
      handOut: this.#handOut,
      assign: (partitions, committed) => this.#fetcher.assign(partitions, committed),
    })
  }

  /** Largest Fetch response this consumer accepts: maxBytes, plus one oversized first batch (KIP-74). */
  static frameBytesMax(options: ConsumerOptions): number {
    return (options.maxBytes ?? DEFAULTS.maxBytes) + BATCH_BYTES_MAX
  }

  /** The consumer group (from the options or subscribe()), if any. */
  get groupId(): string | undefined {
    return this.#session.groupId
  }

  // -------------------------------------------------------------------------------------------
  // Assignment and positions

  /**
   * Replaces the assignment: each partition starts at its given offset. Not for a consumer that
   * subscribed (its group assigns its partitions).
   */
  assign(partitions: readonly TopicPartitionOffset[]): void {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#session.subscribed) throw new IllegalStateError('This consumer subscribed to topics: its group assigns its partitions, so assign() is not allowed.')
    for (const tp of partitions) checkTopicPartition(tp)
    this.#fetcher.assign(partitions, new Map())
  }

  /** The partitions this consumer reads now (a rebalance changes them, for a group member). */
  assignment(): TopicPartition[] {
    return this.#subscriptions.assignment()
  }

  /** Moves an assigned partition: the next batch of it starts at `offset`. */
  seek(tp: TopicPartitionOffset): void {
    if (this.#closed) throw new ClosedError('consumer')
    const state = this.#subscriptions.seek(tp)
    this.#handOut.drop(state)
    this.#fetcher.pump()
  }

  /** The offset of the next message to be handed out; null while 'earliest'/'latest' is unresolved. */
  position(tp: TopicPartition): bigint | null {
    return this.#subscriptions.position(tp)
  }

  /**
   * Stops fetching and handing out the given assigned partitions until resume(); batches already
   * fetched wait. A rebalance that reassigns a partition starts it unpaused (as Kafka's).
   */
  pause(partitions: readonly TopicPartition[]): void {
    this.#subscriptions.pause(partitions)
  }

  /** Fetches and hands out paused partitions again. */
  resume(partitions: readonly TopicPartition[]): void {
    this.#subscriptions.resume(partitions)
    this.#handOut.wake()
    this.#fetcher.pump()
  }

  /** The assigned partitions that are paused. */
  paused(): TopicPartition[] {
    return this.#subscriptions.paused()
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
  subscribe(options: SubscribeOptions): Promise<void> {
    return this.#session.subscribe(options)
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
  commit(offsets?: ConsumerBatch | readonly CommitOffset[]): Promise<void> {
    return this.#session.commit(offsets)
  }

  /**
   * What a transactional producer's sendOffsets() needs from this consumer (KIP-447): its group,
   * its member id and generation (the group coordinator refuses the offsets of an older
   * generation, as it refuses commit()'s; an assign() consumer sends '' and -1, not checked), and
   * the offsets `offsets` names, resolved as commit() resolves them. Throws REBALANCE_IN_PROGRESS
   * between generations, and for a batch whose partition was reassigned since.
   */
  transactionOffsets(offsets?: ConsumerBatch | readonly CommitOffset[]): { groupId: string; generationId: number; memberId: string; offsets: CommitOffset[] } {
    return this.#session.transactionOffsets(offsets)
  }

  /**
   * Each assigned partition's high watermark, the group's committed offset, and the lag between
   * them (records not yet committed as processed).
   */
  lag(): Promise<PartitionLag[]> {
    return this.#session.lag()
  }

  // -------------------------------------------------------------------------------------------
  // Iteration

  [Symbol.asyncIterator](): AsyncGenerator<ConsumerBatch, void, undefined> {
    return this.#handOut.batches()
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
    this.#fetcher.close()
    this.#handOut.close()
    try {
      await this.#session.close()
    } finally {
      this.#cluster.close()
      this.#onClose?.()
    }
  }
}
