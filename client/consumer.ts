// The consumer: reads assigned partitions from their leaders with long-polling Fetch requests
// and hands them out as batches through async iteration.
//
//   consumer.assign([{ topic, partition, offset: 'earliest' }])
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
// - Consumer groups (subscribe, commit) are a later issue: those methods reject with
//   NotAvailableYetError rather than pretend.

import { ApiKey } from './protocol/apis.js'
import type { FetchRequest, FetchResponse } from './protocol/messages/fetch.js'
import type { ListOffsetsResponse } from './protocol/messages/list-offsets.js'
import { BATCH_BYTES_MAX, decodeBatches, nextOffsetOf, type DecodedBatch, type RecordHeader } from './protocol/records.js'
import { backoffMs, needsMetadataRefresh, type Cluster } from './cluster.js'
import { ClosedError, errorFromCode, IllegalStateError, InvalidArgumentError, isRetriable, NotAvailableYetError, RecordTooLargeError, StrandProtocolError } from './errors.js'

/**
 * Where to start: an offset, the log start or end, or `{ timestamp }` (ms): the first record
 * whose timestamp is at or after it, or the log end when none is that recent.
 */
export type OffsetSpec = bigint | 'earliest' | 'latest' | { timestamp: number }
type ResetSpec = 'earliest' | 'latest' | { timestamp: number }
export type AutoOffsetReset = 'earliest' | 'latest' | 'none'

export interface ConsumerOptions {
  /** Recorded for consumer groups (a later issue); no effect yet. */
  groupId?: string
  /** How long the broker may hold a Fetch waiting for minBytes. */
  maxWaitMs?: number
  /** The broker answers once it has this many bytes (or maxWaitMs passed). */
  minBytes?: number
  /** Bytes per Fetch response (the broker still returns a first batch larger than this, as KIP-74). */
  maxBytes?: number
  /** Bytes per partition in a Fetch response. */
  partitionMaxBytes?: number
  /** Where to go after OFFSET_OUT_OF_RANGE; 'none' throws it from the loop. Default 'earliest'. */
  autoOffsetReset?: AutoOffsetReset
}

export interface TopicPartition {
  topic: string
  partition: number
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: OffsetSpec
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
  /** The partition's high watermark when fetched: lag is highWatermark - (last offset + 1). */
  highWatermark: bigint
}

export interface ConsumerContext {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
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
} as const

/** ListOffsets' special timestamps. */
const LATEST_TIMESTAMP = -1n
const EARLIEST_TIMESTAMP = -2n
/** Attribute bit of control batches (transaction markers): never handed to users. */
const CONTROL_ATTRIBUTE = 0x20

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
  /** The assignment this state belongs to (assign() replaces it wholesale). */
  readonly generation: number
}

interface ReadyBatch {
  state: PartitionState
  epoch: number
  nextOffset: bigint
  batch: ConsumerBatch
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function intAtLeast(name: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}.`)
  return v
}

/** The messages of fetched batches at or after `fetchOffset` (a batch comes whole, so its first records may be older). */
export function messagesFrom(batches: readonly DecodedBatch[], fetchOffset: bigint): ConsumedMessage[] {
  const out: ConsumedMessage[] = []
  for (const b of batches) {
    if ((b.header.attributes & CONTROL_ATTRIBUTE) !== 0) continue
    for (const r of b.records) {
      if (r.offset >= fetchOffset) out.push({ key: r.key, value: r.value, offset: r.offset, timestamp: r.timestamp, headers: r.headers })
    }
  }
  return out
}

export class Consumer {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #onClose: (() => void) | undefined
  readonly #maxWaitMs: number
  readonly #minBytes: number
  readonly #maxBytes: number
  readonly #partitionMaxBytes: number
  readonly #autoOffsetReset: AutoOffsetReset
  readonly groupId: string | undefined
  /** Assigned partitions by topic-partition key. */
  #states = new Map<string, PartitionState>()
  #generation = 0
  /** Fetched batches not yet handed out, oldest first. */
  #ready: ReadyBatch[] = []
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
  #timer: NodeJS.Timeout | null = null
  #timerAtMs = Number.POSITIVE_INFINITY
  #refreshing = false
  #refreshFailures = 0
  #refreshAtMs = 0
  #closed = false

  constructor(context: ConsumerContext, options: ConsumerOptions = {}) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#onClose = context.onClose
    this.groupId = options.groupId
    this.#maxWaitMs = intAtLeast('maxWaitMs', options.maxWaitMs, DEFAULTS.maxWaitMs, 0)
    this.#minBytes = intAtLeast('minBytes', options.minBytes, DEFAULTS.minBytes, 0)
    this.#maxBytes = intAtLeast('maxBytes', options.maxBytes, DEFAULTS.maxBytes, 1)
    this.#partitionMaxBytes = intAtLeast('partitionMaxBytes', options.partitionMaxBytes, DEFAULTS.partitionMaxBytes, 1)
    this.#autoOffsetReset = options.autoOffsetReset ?? DEFAULTS.autoOffsetReset
    if (!['earliest', 'latest', 'none'].includes(this.#autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none', got "${String(this.#autoOffsetReset)}".`)
    }
  }

  /** Largest Fetch response this consumer accepts: maxBytes, plus one oversized first batch (KIP-74). */
  static frameBytesMax(options: ConsumerOptions): number {
    return (options.maxBytes ?? DEFAULTS.maxBytes) + BATCH_BYTES_MAX
  }

  // -------------------------------------------------------------------------------------------
  // Assignment and positions

  /** Replaces the assignment: each partition starts at its given offset. */
  assign(partitions: readonly TopicPartitionOffset[]): void {
    if (this.#closed) throw new ClosedError('consumer')
    const next = new Map<string, PartitionState>()
    const generation = ++this.#generation
    for (const tp of partitions) {
      this.#checkTopicPartition(tp)
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
      }
      this.#setOffset(state, tp.offset)
      next.set(key, state)
    }
    this.#states = next
    this.#ready = []
    void this.#cluster.refresh([...new Set(partitions.map((p) => p.topic))]).catch(() => undefined)
    this.#pump()
  }

  assignment(): TopicPartition[] {
    return [...this.#states.values()].map((s) => ({ topic: s.topic, partition: s.partition }))
  }

  /** Moves an assigned partition: the next batch of it starts at `offset`. */
  seek(tp: TopicPartitionOffset): void {
    if (this.#closed) throw new ClosedError('consumer')
    const state = this.#state(tp)
    this.#setOffset(state, tp.offset)
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

  async subscribe(_options: { topics: string[]; fromBeginning?: boolean }): Promise<never> {
    throw new NotAvailableYetError('Consumer groups are not available yet: use assign() with explicit partitions.')
  }

  async commit(_batch?: unknown): Promise<never> {
    throw new NotAvailableYetError('Consumer groups are not available yet, so there is nowhere to commit offsets: keep position() yourself.')
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
    if (typeof offset === 'bigint') {
      state.offset = offset
    } else {
      state.offset = null
      state.reset = offset
    }
  }

  #state(tp: TopicPartition): PartitionState {
    const s = this.#states.get(tpKey(tp.topic, tp.partition))
    if (s === undefined) throw new InvalidArgumentError(`${tp.topic}-${tp.partition} is not assigned to this consumer.`)
    return s
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
    }
  }

  /** Calls eachBatch for every batch until close() (or eachBatch throws); resolves when the loop ends. */
  async run(options: { eachBatch: (batch: ConsumerBatch) => Promise<void> | void }): Promise<void> {
    for await (const batch of this) await options.eachBatch(batch)
  }

  /** Ends every loop (they exit normally), stops fetching and closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#ready = []
    this.#wakeLoop()
    this.#cluster.close()
    this.#onClose?.()
  }

  async #next(): Promise<ConsumerBatch | null> {
    for (;;) {
      if (this.#closed) return null
      if (this.#error !== null) {
        const err = this.#error
        this.#error = null
        throw err
      }
      const r = this.#ready.shift()
      if (r !== undefined) {
        if (r.epoch !== r.state.epoch || this.#states.get(tpKey(r.state.topic, r.state.partition)) !== r.state) continue
        r.state.offset = r.nextOffset
        r.state.buffered = false
        this.#pump()
        return r.batch
      }
      await new Promise<void>((resolve) => {
        this.#signal = resolve
      })
    }
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
    if (this.#closed || !this.#iterating) return
    const now = this.#clock()
    const toResolve = new Map<number, PartitionState[]>()
    const toFetch = new Map<number, PartitionState[]>()
    const bufferedNodes = new Set<number>()
    let nextMs = Number.POSITIVE_INFINITY
    let needMetadata = false
    for (const s of this.#states.values()) {
      if (s.buffered) {
        const leader = this.#cluster.cachedLeader(s.topic, s.partition)
        if (leader !== undefined) bufferedNodes.add(leader)
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
      const into = s.offset === null ? toResolve : toFetch
      into.set(leader, [...(into.get(leader) ?? []), s])
    }
    for (const [nodeId, states] of toResolve) void this.#resolveOffsets(nodeId, states)
    for (const [nodeId, states] of toFetch) {
      if (this.#fetching.has(nodeId)) continue
      const poll = !bufferedNodes.has(nodeId)
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
    if (atMs === Number.POSITIVE_INFINITY || atMs >= this.#timerAtMs) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerAtMs = atMs
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#timerAtMs = Number.POSITIVE_INFINITY
      this.#pump()
    }, Math.max(0, atMs - this.#clock()))
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
      // currentLeaderEpoch -1: no fencing check yet (KIP-320 truncation detection is a later issue).
      t.partitions.push({ partition: state.partition, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1n, partitionMaxBytes: state.fetchBytes })
    }
    return { replicaId: -1, maxWaitMs, minBytes: this.#minBytes, maxBytes: this.#maxBytes, isolationLevel: 0, topics: [...topics.values()] }
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
    const { batches, partialBytes } = decodeBatches(p.records)
    state.errors = 0
    const last = batches[batches.length - 1]
    if (last === undefined) {
      if (partialBytes > 0) this.#growFetchBytes(state, partialBytes)
      return false
    }
    state.fetchBytes = this.#partitionMaxBytes
    const nextOffset = nextOffsetOf(last.header)
    const messages = messagesFrom(batches, fetchOffset)
    if (messages.length === 0) {
      // Only control records or records before the fetch offset: move past them silently.
      if (nextOffset > fetchOffset) state.offset = nextOffset
      return false
    }
    state.buffered = true
    this.#ready.push({
      state,
      epoch: state.epoch,
      nextOffset,
      batch: { topic: state.topic, partition: state.partition, messages, highWatermark: p.highWatermark },
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
        list.push({ partitionIndex: state.partition, currentLeaderEpoch: -1, timestamp: listOffsetsTimestamp(reset) })
        topics.set(state.topic, list)
      }
      const res = await conn.request(ApiKey.ListOffsets, {
        replicaId: -1,
        isolationLevel: 0,
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
        state.errors = 0
      } else if (typeof state.reset === 'object') {
        // No record is that recent: start at the end, as Kafka's seek after offsetsForTimes does.
        state.reset = 'latest'
      }
    }
  }
}

function listOffsetsTimestamp(reset: ResetSpec): bigint {
  if (reset === 'earliest') return EARLIEST_TIMESTAMP
  if (reset === 'latest') return LATEST_TIMESTAMP
  return BigInt(reset.timestamp)
}
