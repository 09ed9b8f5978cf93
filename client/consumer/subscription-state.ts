// Which partitions the consumer reads and where it stands in each: the assignment, every
// partition's position (with the leader epoch it was read under), its pause, its backoff, and the
// offsets processed and committed. Kafka's SubscriptionState. Pure state: no I/O, no clock (the
// caller says what time it is). Callers:
// - consumer.ts (the facade): assign(), seek(), position(), pause() and resume();
// - fetcher.ts and position-validator.ts: what is fetchable, and positions moved by responses;
// - hand-out.ts: the position moves past a batch when it is handed out;
// - group-session.ts: a rebalance replaces the assignment; commits record what was committed.
//
// Every assignment (assign(), a rebalance) replaces the partition states wholesale, and every seek
// bumps the partition's epoch: an answer to a request sent before either is recognised as stale
// (isCurrent) and dropped, so a slow response never moves a position it no longer describes.

import { InvalidArgumentError } from '../errors.js'
import type { CommitOffset, OffsetSpec, ResetSpec, TopicPartition, TopicPartitionOffset } from './types.js'

/** No leader epoch known (Kafka's NO_PARTITION_LEADER_EPOCH); as a request's epoch, "do not check". */
export const NO_LEADER_EPOCH = -1

export interface PartitionState {
  readonly topic: string
  readonly partition: number
  /** Next offset to hand out and to fetch; null until `reset` is resolved with ListOffsets. */
  offset: bigint | null
  reset: ResetSpec
  /** Bumped by seek(): answers to requests sent before it are dropped. */
  epoch: number
  /** A Fetch, ListOffsets or OffsetsForLeaderEpoch for it is in flight. */
  busy: boolean
  /** A batch of it waits in the hand-out's queue. */
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

/**
 * Why a partition is, or is not, fetched now:
 * - 'paused': pause() holds it;
 * - 'buffered': a batch of it waits to be handed out (the prefetch bound: one batch per partition);
 * - 'in-flight': a request for it is out;
 * - 'backing-off': a retriable error, until its retryAtMs;
 * - 'fetchable': the fetcher may send its next request (a ListOffsets while its position is
 *   unresolved, a validation after a leader change, else a Fetch).
 */
export type Readiness = 'paused' | 'buffered' | 'in-flight' | 'backing-off' | 'fetchable'

export interface SubscriptionStateOptions {
  /** A partition's Fetch size to start from, and to go back to once a large batch got through. */
  partitionMaxBytes: number
}

/** The key of a topic-partition in maps; NUL cannot be in a topic name. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

/** Throws unless `tp` names a topic-partition and a valid starting offset. */
export function checkTopicPartition(tp: TopicPartitionOffset): void {
  if (typeof tp?.topic !== 'string' || tp.topic.length === 0 || !Number.isInteger(tp.partition) || tp.partition < 0) {
    throw new InvalidArgumentError(`Not a topic-partition: ${JSON.stringify({ topic: tp?.topic, partition: tp?.partition })}.`)
  }
  const o = tp.offset
  const validTimestamp = typeof o === 'object' && o !== null && Number.isSafeInteger(o.timestamp) && o.timestamp >= 0
  if (!(o === 'earliest' || o === 'latest' || (typeof o === 'bigint' && o >= 0n) || validTimestamp)) {
    throw new InvalidArgumentError(`${tp.topic}-${tp.partition}: offset must be a bigint >= 0n, 'earliest', 'latest' or { timestamp: ms >= 0 }.`)
  }
}

export class SubscriptionState {
  readonly #partitionMaxBytes: number
  /** Assigned partitions by topic-partition key. */
  #states = new Map<string, PartitionState>()
  /** Counts assignments; each partition state keeps the one it was made by. */
  #generation = 0
  /** A rebalance is taking the partitions away: nothing is fetched or handed out (Kafka's pendingRevocation). */
  #revoking = false

  constructor(options: SubscriptionStateOptions) {
    this.#partitionMaxBytes = options.partitionMaxBytes
  }

  /**
   * Replaces the assignment: each partition starts at its offset, with `committed` as the group's
   * committed offset known for it. The old states are dropped, so answers meant for them are stale.
   */
  assign(partitions: readonly TopicPartitionOffset[], committed: ReadonlyMap<string, bigint | null>): void {
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
      setOffset(state, tp.offset)
      next.set(key, state)
    }
    this.#states = next
  }

  /** The assigned partitions, in assignment order. */
  assignment(): TopicPartition[] {
    return [...this.#states.values()].map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  get size(): number {
    return this.#states.size
  }

  /** Every assigned partition's state, in assignment order. */
  states(): IterableIterator<PartitionState> {
    return this.#states.values()
  }

  /** The assigned topics, each once. */
  topics(): string[] {
    return [...new Set([...this.#states.values()].map((s) => s.topic))]
  }

  /** An assigned partition's state; throws for a partition not assigned (an application's mistake). */
  state(tp: TopicPartition): PartitionState {
    const s = this.#states.get(tpKey(tp?.topic, tp?.partition))
    if (s === undefined) throw new InvalidArgumentError(`${tp?.topic}-${tp?.partition} is not assigned to this consumer.`)
    return s
  }

  /** An assigned partition's state, or undefined. */
  find(topic: string, partition: number): PartitionState | undefined {
    return this.#states.get(tpKey(topic, partition))
  }

  /** True while `state` is the current assignment's (a rebalance or assign() replaces every state). */
  isAssigned(state: PartitionState): boolean {
    return this.#states.get(tpKey(state.topic, state.partition)) === state
  }

  /** True if the state is still assigned and was not moved by seek() since epoch `epoch`. */
  isCurrent(state: PartitionState, epoch: number): boolean {
    return state.epoch === epoch && this.isAssigned(state)
  }

  get revoking(): boolean {
    return this.#revoking
  }

  /** A rebalance takes the partitions away: stops fetching and handing out until endRevoke(). */
  beginRevoke(): void {
    this.#revoking = true
    // The hand-out's queue is emptied with it: no partition waits on a batch any more.
    for (const s of this.#states.values()) s.buffered = false
  }

  endRevoke(): void {
    this.#revoking = false
  }

  /**
   * Moves an assigned partition: the next batch of it starts at `offset`. Returns its state, whose
   * batches already fetched are now stale. Its backoff ends, as the new position is a new start.
   */
  seek(tp: TopicPartitionOffset): PartitionState {
    const state = this.state(tp)
    setOffset(state, tp.offset)
    // The application chose the position: it is not checked against the leader's log (as Kafka's
    // seek without a leader epoch), which is also how it moves on from a LogTruncationError.
    state.validatePosition = false
    state.epoch++
    state.buffered = false
    state.retryAtMs = 0
    state.errors = 0
    return state
  }

  /** The offset of the next message to be handed out; null while 'earliest'/'latest' is unresolved. */
  position(tp: TopicPartition): bigint | null {
    return this.state(tp).offset
  }

  /** Holds assigned partitions: not fetched, not handed out. Throws (before pausing any) for one not assigned. */
  pause(partitions: readonly TopicPartition[]): void {
    for (const s of partitions.map((tp) => this.state(tp))) s.paused = true
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const s of partitions.map((tp) => this.state(tp))) s.paused = false
  }

  paused(): TopicPartition[] {
    return [...this.#states.values()].filter((s) => s.paused).map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  /** Why `s` is or is not fetched at clock time `nowMs` (see Readiness); the first reason that holds. */
  readiness(s: PartitionState, nowMs: number): Readiness {
    // A paused partition's waiting batch must not hold back its broker's other partitions: paused first.
    if (s.paused) return 'paused'
    if (s.buffered) return 'buffered'
    if (s.busy) return 'in-flight'
    if (s.retryAtMs > nowMs) return 'backing-off'
    return 'fetchable'
  }

  /**
   * Takes in the partition's leader epoch from the metadata, and says whether its position must be
   * validated before the next fetch: a newer epoch than the one it was read under means a new
   * leader, whose log may have been truncated below the position.
   */
  observeLeaderEpoch(s: PartitionState, leaderEpoch: number): boolean {
    if (leaderEpoch > s.knownLeaderEpoch) {
      // The first epoch seen is the one the position is read under: nothing to compare it with.
      if (s.knownLeaderEpoch !== NO_LEADER_EPOCH) s.validatePosition = true
      s.knownLeaderEpoch = leaderEpoch
    }
    if (s.offset === null || s.offsetLeaderEpoch === NO_LEADER_EPOCH) s.validatePosition = false
    return s.validatePosition
  }

  /** A batch ending at `nextOffset` was handed out: the position moves past it. */
  handedOut(s: PartitionState, nextOffset: bigint, leaderEpoch: number): void {
    s.offset = nextOffset
    s.offsetLeaderEpoch = leaderEpoch
    s.buffered = false
  }

  /** ListOffsets answered: the position is the leader's offset, read under its epoch, so already valid. */
  resolved(s: PartitionState, offset: bigint, leaderEpoch: number): void {
    s.offset = offset
    // The leader's epoch: every record before an offset it answers is at or below it.
    s.offsetLeaderEpoch = leaderEpoch
    s.validatePosition = false
    s.errors = 0
  }

  /** The position is out of the log: look it up again with ListOffsets (autoOffsetReset). */
  requestReset(s: PartitionState, reset: ResetSpec): void {
    s.offset = null
    s.reset = reset
  }

  /**
   * Moves the position back to where the leader's log stops agreeing with what was read: the
   * records from there on are new, and are read next. Nothing past it counts as processed any
   * more, so auto-commit does not commit an offset past records this consumer never handed out.
   */
  rewind(s: PartitionState, offset: bigint, leaderEpoch: number): void {
    s.offset = offset
    s.offsetLeaderEpoch = leaderEpoch < 0 ? NO_LEADER_EPOCH : leaderEpoch
    s.validatePosition = false
    s.errors = 0
    // As a seek: answers to requests sent before, and the batch in hand, are the old position's.
    s.epoch++
    s.buffered = false
    if (s.processed !== null && s.processed > offset) s.processed = offset
  }

  /** Every resolved position, as offsets to commit (commit() with no argument). */
  positions(): CommitOffset[] {
    return [...this.#states.values()].filter((s) => s.offset !== null).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.offset as bigint }))
  }

  /** Processed offsets not committed yet: what auto-commit sends. */
  uncommitted(): CommitOffset[] {
    return [...this.#states.values()].filter((s) => s.processed !== null && s.processed !== s.committed).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.processed as bigint }))
  }

  /** The group now holds `offset` for the partition (if it is still assigned). */
  committed(topic: string, partition: number, offset: bigint): void {
    const s = this.#states.get(tpKey(topic, partition))
    if (s !== undefined) s.committed = offset
  }
}

function setOffset(state: PartitionState, offset: OffsetSpec): void {
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
