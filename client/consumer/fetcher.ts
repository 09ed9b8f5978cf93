// The fetch pump: for every fetchable partition it sends what that partition needs next to its
// leader: a ListOffsets to resolve 'earliest', 'latest' or a timestamp (and to reset after
// OFFSET_OUT_OF_RANGE), an OffsetsForLeaderEpoch to validate the position after a leader change,
// or a long-polling Fetch. What comes back goes to the hand-out (hand-out.ts) as batches. Kafka's
// Fetcher and OffsetFetcher. Callers: consumer.ts (the facade) makes it, assigns through it and
// closes it; the hand-out pumps it when a loop starts and after each batch handed out; its own
// timer (client/wakeup.ts) pumps it when a backoff or a metadata refresh comes due.
//
// Decisions:
// - Fetching happens only while a loop runs. At most one Fetch per broker is in flight, and a
//   partition with a batch waiting to be handed out is not fetched again, which bounds memory to
//   about one response per broker plus one chunk per partition.
// - Retriable errors (leader moved, connection lost...) are retried forever with backoff, as
//   Kafka's consumer does; a non-retriable one is surfaced to the loop, which throws it once.
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

import { ApiKey } from '../protocol/apis.js'
import { abortedTransactionsOf, type FetchRequest, type FetchResponse } from '../protocol/messages/fetch.js'
import type { ListOffsetsResponse } from '../protocol/messages/list-offsets.js'
import type { OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse } from '../protocol/messages/replication.js'
import { decodeBatches, nextOffsetOf } from '../protocol/records.js'
import { unpinned } from '../protocol/primitives.js'
import { backoffMs, needsMetadataRefresh, type Cluster } from '../cluster.js'
import { ClosedError, errorFromCode, InvalidArgumentError, isRetriable, LogTruncationError, RecordTooLargeError, StrandProtocolError } from '../errors.js'
import { Wakeup } from '../wakeup.js'
import { messagesFrom } from './fetched-records.js'
import type { HandOut } from './hand-out.js'
import { tpKey, type PartitionState, type SubscriptionState } from './subscription-state.js'
import type { AutoOffsetReset, ResetSpec, TopicPartitionOffset } from './types.js'

/** ListOffsets' special timestamps. */
const LATEST_TIMESTAMP = -1n
const EARLIEST_TIMESTAMP = -2n
/** The replicaId of a consumer's Fetch, ListOffsets and OffsetsForLeaderEpoch: not a broker. */
const CONSUMER_REPLICA_ID = -1
/** A fetch refused with one of these may have met a new leader: the position is validated before the next. */
const LEADER_CHANGE_CODES: ReadonlySet<string> = new Set(['FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NOT_LEADER_OR_FOLLOWER'])

export interface FetcherOptions {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
  subscriptions: SubscriptionState
  handOut: HandOut
  /** How long a broker may hold a Fetch waiting for minBytes. */
  maxWaitMs: number
  minBytes: number
  /** Bytes per Fetch response; also the most a partition's fetch size grows to for one large batch. */
  maxBytes: number
  /** Bytes per partition in a Fetch response, to start with. */
  partitionMaxBytes: number
  /** Where to go after OFFSET_OUT_OF_RANGE or a truncation; 'none' surfaces the error. */
  autoOffsetReset: AutoOffsetReset
  /** Fetch's and ListOffsets' isolationLevel on the wire (ISOLATION_LEVEL_CODES). */
  isolationLevel: number
}

export class Fetcher {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #subscriptions: SubscriptionState
  readonly #handOut: HandOut
  readonly #maxWaitMs: number
  readonly #minBytes: number
  readonly #maxBytes: number
  readonly #partitionMaxBytes: number
  readonly #autoOffsetReset: AutoOffsetReset
  readonly #isolationLevel: number
  /** Wakes the pump at the earliest time it asked for (a backoff ending, a refresh coming due). */
  readonly #wakeup: Wakeup
  /** Brokers with a Fetch in flight (one each). */
  readonly #fetching = new Set<number>()
  /**
   * Brokers whose last non-waiting Fetch found nothing: not asked again until their buffered
   * batches are handed out (see pump).
   */
  readonly #dryNodes = new Set<number>()
  /** A metadata refresh is in flight (one at a time). */
  #refreshing = false
  /** Refreshes in a row that failed or found a partition without a leader, for the backoff. */
  #refreshFailures = 0
  /** No refresh before this clock time. */
  #refreshAtMs = 0
  #closed = false

  constructor(options: FetcherOptions) {
    this.#cluster = options.cluster
    this.#clock = options.clock
    this.#requestTimeoutMs = options.requestTimeoutMs
    this.#subscriptions = options.subscriptions
    this.#handOut = options.handOut
    this.#maxWaitMs = options.maxWaitMs
    this.#minBytes = options.minBytes
    this.#maxBytes = options.maxBytes
    this.#partitionMaxBytes = options.partitionMaxBytes
    this.#autoOffsetReset = options.autoOffsetReset
    this.#isolationLevel = options.isolationLevel
    this.#wakeup = new Wakeup(this.#clock, () => this.pump())
  }

  /**
   * Replaces the assignment (assign(), a rebalance): what was fetched for the old one is dropped,
   * the new partitions' leaders are looked up, and fetching starts if a loop runs.
   */
  assign(partitions: readonly TopicPartitionOffset[], committed: ReadonlyMap<string, bigint | null>): void {
    this.#subscriptions.assign(partitions, committed)
    this.#handOut.clear()
    if (partitions.length > 0) void this.#cluster.refresh([...new Set(partitions.map((p) => p.topic))]).catch(() => undefined)
    this.pump()
  }

  /** Stops pumping; answers still in flight are dropped when they come. */
  close(): void {
    this.#closed = true
    this.#wakeup.cancel()
  }

  /**
   * Starts what can start: offset lookups, one Fetch per broker, metadata refreshes.
   *
   * A broker with a batch still waiting to be handed out is not long-polled: that Fetch would
   * hold the broker's one slot for maxWaitMs, and the waiting partition, once handed out, could
   * not be fetched again until it ended (a hot partition beside a cold one would get one batch
   * per maxWaitMs). Its other partitions are fetched without waiting while that finds data; once
   * it finds none, the broker waits for its batches to be handed out, then is long-polled again.
   */
  pump(): void {
    if (this.#closed || !this.#handOut.iterating || this.#subscriptions.revoking) return
    const now = this.#clock()
    // Runs after every fetch and every batch handed out: the collections are made only when
    // something goes in them, and a broker already being fetched from is passed over early.
    let toResolve: Map<number, PartitionState[]> | null = null
    let toValidate: Map<number, PartitionState[]> | null = null
    let toFetch: Map<number, PartitionState[]> | null = null
    let bufferedNodes: Set<number> | null = null
    let nextMs = Number.POSITIVE_INFINITY
    let needMetadata = false
    for (const s of this.#subscriptions.states()) {
      const readiness = this.#subscriptions.readiness(s, now)
      if (readiness === 'buffered') {
        const leader = this.#cluster.cachedLeader(s.topic, s.partition)
        if (leader !== undefined) (bufferedNodes ??= new Set()).add(leader)
        continue
      }
      if (readiness === 'backing-off') {
        nextMs = Math.min(nextMs, s.retryAtMs)
        continue
      }
      if (readiness !== 'fetchable') continue
      const leader = this.#leader(s)
      if (leader === undefined) {
        needMetadata = true
        continue
      }
      const validate = this.#subscriptions.observeLeaderEpoch(s, this.#cluster.cachedLeaderEpoch(s.topic, s.partition))
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
    if (this.#subscriptions.size > 0 && this.#cluster.stale) needMetadata = true
    if (needMetadata) {
      if (now >= this.#refreshAtMs) void this.#refreshMetadata()
      else nextMs = Math.min(nextMs, this.#refreshAtMs)
    }
    this.#wakeup.at(nextMs)
  }

  /** The partition's leader, or undefined; a topic-partition that cannot exist is thrown from the loop. */
  #leader(s: PartitionState): number | undefined {
    const leader = this.#cluster.cachedLeader(s.topic, s.partition)
    if (leader !== undefined) return leader
    const topicError = this.#cluster.topicError(s.topic)
    if (topicError !== undefined && !topicError.retriable) this.#handOut.surface(topicError)
    const info = this.#cluster.cachedTopic(s.topic)
    if (info !== undefined && info.partitions[s.partition] === undefined) {
      this.#handOut.surface(new InvalidArgumentError(`Topic "${s.topic}" has ${info.partitions.length} partitions; there is no partition ${s.partition}.`))
    }
    return undefined
  }

  async #refreshMetadata(): Promise<void> {
    if (this.#refreshing) return
    this.#refreshing = true
    try {
      await this.#cluster.refresh(this.#subscriptions.topics())
      // Metadata can come back without a leader (an election, a topic not created yet): back off
      // as after a failure, so a missing topic is not polled in a tight loop.
      const leaderless = [...this.#subscriptions.states()].some((s) => this.#cluster.cachedLeader(s.topic, s.partition) === undefined)
      this.#refreshFailures = leaderless ? this.#refreshFailures + 1 : 0
      this.#refreshAtMs = this.#clock() + (leaderless ? backoffMs(this.#cluster.retryOptions, this.#refreshFailures) : 0)
    } catch (err) {
      this.#refreshFailures++
      this.#refreshAtMs = this.#clock() + backoffMs(this.#cluster.retryOptions, this.#refreshFailures)
      if (!isRetriable(err)) this.#handOut.surface(err as Error)
    } finally {
      this.#refreshing = false
    }
    this.pump()
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
      this.pump()
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
      this.#handOut.surface(new StrandProtocolError('CORRUPT_MESSAGE', `${state.topic}-${state.partition} at offset ${offset}: ${err.message}`))
      return
    }
    this.#onPartitionError(state, err)
  }

  /** True if the state is still assigned and was not moved by seek() since the request was sent. */
  #isCurrent(state: PartitionState, epoch: number): boolean {
    return !this.#closed && this.#subscriptions.isCurrent(state, epoch)
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
    this.#handOut.push({
      state,
      epoch: state.epoch,
      nextOffset,
      leaderEpoch,
      batch: { topic: state.topic, partition: state.partition, messages, highWatermark: p.highWatermark, nextOffset },
    })
    return true
  }

  /** Only part of one batch came back: it is larger than the per-partition limit. */
  #growFetchBytes(state: PartitionState, partialBytes: number): void {
    if (state.fetchBytes >= this.#maxBytes) {
      this.#handOut.surface(new RecordTooLargeError(`${state.topic}-${state.partition} holds a batch larger than maxBytes ${this.#maxBytes} (got ${partialBytes} bytes of it).`))
      state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      return
    }
    state.fetchBytes = Math.min(this.#maxBytes, state.fetchBytes * 2)
  }

  #onPartitionError(state: PartitionState, err: Error): void {
    if (this.#closed || err instanceof ClosedError) return
    if (err instanceof StrandProtocolError && err.code === 'OFFSET_OUT_OF_RANGE') {
      if (this.#autoOffsetReset === 'none') {
        this.#handOut.surface(err)
        state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      } else {
        this.#subscriptions.requestReset(state, this.#autoOffsetReset)
      }
      return
    }
    if (needsMetadataRefresh(err)) this.#cluster.invalidate()
    if (err instanceof StrandProtocolError && LEADER_CHANGE_CODES.has(err.code)) state.validatePosition = true
    state.errors++
    state.retryAtMs = this.#clock() + backoffMs(this.#cluster.retryOptions, state.errors)
    if (!isRetriable(err)) this.#handOut.surface(err)
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
      this.pump()
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
        this.#subscriptions.resolved(state, p.offset, p.leaderEpoch)
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
      this.pump()
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
      this.#handOut.surface(new LogTruncationError(state.topic, state.partition, offset, end.endOffset))
      state.retryAtMs = this.#clock() + this.#cluster.retryOptions.retryBackoffMsMax
      return
    }
    this.#subscriptions.rewind(state, end.endOffset, end.leaderEpoch)
    this.#handOut.drop(state)
  }
}

type EpochEnd = OffsetsForLeaderEpochResponse['topics'][number]['partitions'][number]

function listOffsetsTimestamp(reset: ResetSpec): bigint {
  if (reset === 'earliest') return EARLIEST_TIMESTAMP
  if (reset === 'latest') return LATEST_TIMESTAMP
  return BigInt(reset.timestamp)
}
