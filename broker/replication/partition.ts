// One partition replica on this broker: its log, its leader epochs, its high watermark, and the
// role the metadata image gives this broker for it (leader or follower).
//
// As leader it appends producers' batches, tracks each follower's log end offset from their
// fetches, and moves the high watermark to the smallest log end offset over the ISR; produce
// requests with acks=all wait here until the high watermark passes their batch (Kafka's produce
// purgatory). As follower it appends the leader's batches unchanged and takes the leader's high
// watermark. The ReplicaManager drives role changes; the fetcher drives follower appends and
// truncation; request handlers drive leader appends and reads.
//
// Leading also takes the broker's lease (metadata/broker-lease.ts): while it has lapsed, the
// controller may have given the partition to another broker, so a leader here appends nothing,
// moves no high watermark and serves no consumer, though the image still names it. Followers'
// fetches are still answered; see `read`.
//
// The roles it delegates: producer state and transaction bookkeeping (partition-producers.ts),
// what the leader knows of its followers (follower-state.ts), the acks=all waiters
// (commit-waiters.ts) and the checks of produced batches (leader-batches.ts). The Partition holds
// the state they work on and decides when each runs.

import assert from 'node:assert/strict'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { encodeTxnMarker, readBatchHeader, verifyBatches } from '../../client/protocol/records.js'
import type { Log } from '../log/log.js'
import type { AbortedTxn } from '../log/txn-index.js'
import type { TopicConfig } from '../topic-config.js'
import { partitionKey } from './append-waiters.js'
import { CommitWaiters } from './commit-waiters.js'
import { AppendTimes, laggingMembers, newFollowerState, recordFetch, smallestLogEndOffset, type FollowerState, type LagSink } from './follower-state.js'
import { checkProducedBatches, ValidationChains, type AppendOrigin } from './leader-batches.js'
import type { LeaderEpochCache } from './leader-epoch-cache.js'
import { DuplicateBatch, PartitionProducers } from './partition-producers.js'
import type { CompletedTxn, ProducerStateManager } from './producer-state.js'

export { PRODUCER_STATE_SCAN_BYTES } from './partition-producers.js'
export type { AppendOrigin } from './leader-batches.js'
export type { FollowerState, LagSink } from './follower-state.js'

/** What a read with nothing to return answers: shared, since a zero-length buffer has no bytes to share. */
const NO_RECORDS = Buffer.alloc(0)
/**
 * How long a transactional batch of a producer's next transaction waits for the marker of its
 * previous one here (written by the coordinator already, usually within a millisecond or two)
 * before it is refused CONCURRENT_TRANSACTIONS, which the producer retries.
 */
export const PREVIOUS_TXN_WAIT_MS = 5000

export interface AppendResult {
  baseOffset: bigint
  lastOffset: bigint
  logAppendTimeMs: bigint
  logStartOffset: bigint
  /** A retried batch already in the log (idempotence): answered with its offsets, nothing appended. */
  duplicate: boolean
}

export interface ReadResult {
  records: Buffer
  highWatermark: bigint
  /** The last stable offset when the read was made (a read_committed read stops there). */
  lastStableOffset: bigint
  logStartOffset: bigint
  /** read_committed only: the aborted transactions overlapping what was read; null when none. */
  abortedTransactions: Array<{ producerId: bigint; firstOffset: bigint }> | null
}

/** A commit or abort marker the transaction coordinator asks this leader to write (WriteTxnMarkers). */
export interface TxnMarker {
  producerId: bigint
  /** The epoch the marker is written at: the producer's batches at older epochs are fenced here from then on. */
  producerEpoch: number
  /** The epoch of the transaction it closes (an epoch per transaction: one before `producerEpoch`); absent: `producerEpoch`. */
  transactionEpoch?: number
  commit: boolean
  coordinatorEpoch: number
  timestampMs: number
}

/** Whether this broker may act as leader now (metadata/broker-lease.ts). Asked per append and read: must not allocate. */
export interface LeaderLease {
  valid(): boolean
}

/** For a partition with no controller to answer to (tests, tools): leading needs no lease. */
export const NO_LEASE: LeaderLease = { valid: () => true }

/** The partition as the metadata image states it. */
export interface PartitionState {
  leader: number
  leaderEpoch: number
  partitionEpoch: number
  replicas: readonly number[]
  isr: readonly number[]
}

export class Partition {
  readonly topic: string
  readonly index: number
  /** `partitionKey(topic, index)`, built once: fetch waiters are keyed by it. */
  readonly key: string
  readonly log: Log
  readonly epochs: LeaderEpochCache
  readonly #nodeId: number
  /** Topic config in force; changes only through the metadata layer. */
  config: TopicConfig
  #state: PartitionState
  #role: 'leader' | 'follower' | 'none' = 'none'
  /** Offsets below it are committed (on every ISR member) and visible to consumers. */
  #highWatermark: bigint
  readonly followers = new Map<number, FollowerState>()
  /** An ISR change sent to the controller and not yet answered. */
  pendingIsr: readonly number[] | null = null
  /** The acks=all produces waiting for the high watermark. */
  readonly #commitWaiters = new CommitWaiters()
  /** Recent leader appends, to time each follower's replication lag. */
  readonly #appendTimes = new AppendTimes()
  /** Producer state and the transaction bookkeeping built on it, kept in line with the log. */
  readonly #txn: PartitionProducers
  /** Idempotent producers' sequences and open transactions (`#txn`'s): read by the handlers and tests. */
  readonly producers: ProducerStateManager
  readonly #clock: () => number
  /**
   * Times replication lag (append to confirming fetch): a monotonic sub-millisecond clock by
   * default, since lags are a few ms and Date.now's whole milliseconds blurred them by up to one.
   */
  readonly #lagClock: () => number
  /** Orders each producer's appends through record validation, which may yield. */
  readonly #validation = new ValidationChains()
  /** The broker's lease on leadership: leading acts only while it holds. */
  readonly #lease: LeaderLease

  constructor(options: { topic: string; index: number; log: Log; epochs: LeaderEpochCache; config: TopicConfig; nodeId: number; highWatermark: bigint; state: PartitionState; clock?: () => number; lagClock?: () => number; lease?: LeaderLease }) {
    this.topic = options.topic
    this.index = options.index
    this.key = partitionKey(options.topic, options.index)
    this.log = options.log
    this.epochs = options.epochs
    this.config = options.config
    this.#nodeId = options.nodeId
    this.#state = options.state
    this.#clock = options.clock ?? Date.now
    this.#lagClock = options.lagClock ?? (() => performance.now())
    this.#lease = options.lease ?? NO_LEASE
    this.#highWatermark = minBigint(options.highWatermark, options.log.logEndOffset)
    this.#txn = new PartitionProducers(options.log)
    this.producers = this.#txn.producers
  }

  get state(): PartitionState {
    return this.#state
  }

  get isLeader(): boolean {
    return this.#role === 'leader'
  }

  get leaderEpoch(): number {
    return this.#state.leaderEpoch
  }

  get highWatermark(): bigint {
    return this.#highWatermark
  }

  /**
   * KIP-207: a new leader's high watermark can lag the one its predecessor acknowledged up to,
   * until its followers' next fetches tell it their log ends. Until it reaches the offset where
   * this leader's epoch began (everything before that was the predecessor's, and may be
   * committed), an offset looked up against it ('latest', or a timestamp) could be behind records
   * already acknowledged: OFFSET_NOT_AVAILABLE (retriable), as Kafka answers.
   */
  checkHighWatermarkKnown(): void {
    if (this.#role !== 'leader') return
    const start = this.epochs.entries().find((e) => e.epoch === this.#state.leaderEpoch)?.startOffset
    if (start !== undefined && this.#highWatermark < start) {
      throw new StrandProtocolError('OFFSET_NOT_AVAILABLE', `${this.topic}-${this.index}: the high watermark ${this.#highWatermark} has not reached offset ${start}, where leader epoch ${this.#state.leaderEpoch} began, yet; retry.`)
    }
  }

  get logEndOffset(): bigint {
    return this.log.logEndOffset
  }

  /**
   * The last stable offset (KIP-98): below it every transaction is decided, so read_committed
   * consumers read only below it. The high watermark, held back to the first offset of the oldest
   * open transaction. While producer state is not yet rebuilt, no later than where the replay
   * starts (the open transactions are unknown until then). Asked per fetch: must not allocate.
   */
  get lastStableOffset(): bigint {
    return this.#txn.lastStableOffset(this.#highWatermark)
  }

  /** Resolves once producer state (and with it the last stable offset) is known. */
  producerStateLoaded(): Promise<void> {
    return this.#txn.ensure()
  }

  get logStartOffset(): bigint {
    return this.log.logStartOffset
  }

  /** The ISR the high watermark waits for: the committed one plus members being added (Kafka's maximal ISR). */
  get effectiveIsr(): number[] {
    const isr = new Set(this.#state.isr)
    for (const r of this.pendingIsr ?? []) isr.add(r)
    return [...isr]
  }

  /** Where the current leader epoch starts in this log; the leader's high watermark is trustworthy only past it (KIP-207). */
  get leaderEpochStartOffset(): bigint {
    const own = this.epochs.entries().filter((e) => e.epoch === this.#state.leaderEpoch)
    return own[0]?.startOffset ?? this.log.logEndOffset
  }

  /**
   * Leads from now on, at `state.leaderEpoch`. A new epoch is recorded at the log end (KIP-101),
   * and every follower starts unknown; an ISR member gets a full lag time from now to show up.
   */
  async becomeLeader(state: PartitionState, now: number): Promise<void> {
    // Invariants of the controller's decisions (KRaft's too): a leader is in its own ISR, and a
    // partition's leader epoch never goes back.
    assert.ok(state.leader === this.#nodeId && state.isr.includes(this.#nodeId), `broker ${this.#nodeId} leads ${this.topic}-${this.index} only from inside its ISR [${state.isr.join(', ')}]`)
    assert.ok(state.leaderEpoch >= this.#state.leaderEpoch, `leader epoch of ${this.topic}-${this.index} goes back from ${this.#state.leaderEpoch} to ${state.leaderEpoch}`)
    const newEpoch = this.#role !== 'leader' || state.leaderEpoch !== this.#state.leaderEpoch
    if (state.partitionEpoch !== this.#state.partitionEpoch) this.pendingIsr = null
    this.#state = state
    this.#role = 'leader'
    if (newEpoch) {
      if (state.leaderEpoch > this.epochs.latestEpoch) await this.epochs.assign(state.leaderEpoch, this.log.logEndOffset)
      this.followers.clear()
      this.pendingIsr = null
    }
    for (const r of state.replicas) {
      if (r === this.#nodeId || this.followers.has(r)) continue
      this.followers.set(r, newFollowerState(now, this.#appendTimes.end))
    }
    this.maybeAdvanceHighWatermark()
    // The last stable offset needs the open transactions: replay the tail now rather than on the
    // first read_committed fetch or transactional append, without holding up leadership for it.
    this.#txn.ensure().catch(() => undefined)
  }

  /** Transactional appends waiting for their producer's previous transaction's marker here. */
  get appendsAwaitingMarker(): number {
    return this.#txn.markerWaiters
  }

  /** Follows `state.leader` (or nobody when it is -1). Waiting acks=all produces fail: another broker leads now. */
  becomeFollower(state: PartitionState): void {
    assert.ok(state.leaderEpoch >= this.#state.leaderEpoch, `leader epoch of ${this.topic}-${this.index} goes back from ${this.#state.leaderEpoch} to ${state.leaderEpoch}`)
    this.#state = state
    this.#role = 'follower'
    this.followers.clear()
    this.pendingIsr = null
    this.#txn.wakeMarkerWaiters()
    this.#commitWaiters.failAll(() => new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.#nodeId} no longer leads ${this.topic}-${this.index}; broker ${state.leader} does at epoch ${state.leaderEpoch}.`))
  }

  /** Fails the produces waiting for acks=all (a shutdown: they can be retried on the next leader). */
  failPendingAcks(): void {
    this.#commitWaiters.failAll(() => new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.#nodeId} is shutting down; retry on the next leader of ${this.topic}-${this.index}.`))
  }

  /**
   * The broker's lease lapsed: the produces waiting for acks=all fail now. The high watermark they
   * wait for is frozen until the lease returns, and by then another broker may lead.
   */
  leaseLapsed(): void {
    this.#commitWaiters.failAll(() => this.#notLeadingError())
  }

  /** Stops hosting: fails what waits on it. */
  close(): void {
    this.#role = 'none'
    this.#txn.wakeMarkerWaiters()
    this.#commitWaiters.failAll(() => new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.#nodeId} no longer hosts ${this.topic}-${this.index}.`))
  }

  #requireLeader(): void {
    if (this.#role !== 'leader') {
      throw new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.#nodeId} does not lead ${this.topic}-${this.index}; broker ${this.#state.leader} does.`)
    }
    if (!this.#lease.valid()) throw this.#notLeadingError()
  }

  /** NOT_LEADER_OR_FOLLOWER for a leader whose lease lapsed: retriable, so clients look for the leader again. */
  #notLeadingError(): StrandProtocolError {
    return new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.#nodeId} lost contact with the controller and does not act as leader of ${this.topic}-${this.index} until it is back; another broker may lead it by now.`)
  }

  /**
   * A consumer's request (a fetch, ListOffsets) may be answered here: this broker leads with its
   * lease held. Otherwise NOT_LEADER_OR_FOLLOWER, so the consumer refreshes its metadata and finds
   * the partition's current leader rather than reading on from a log that may have moved on.
   */
  checkServesConsumers(): void {
    if (!this.#lease.valid()) throw this.#notLeadingError()
  }

  /**
   * The leader's append: check the size limit and that every record parses (Kafka's
   * LogValidator: a valid CRC over garbage records would poison the partition for every
   * consumer), then hand the bytes to the log, which checks bounds and CRCs again before writing
   * and patches offsets and the leader epoch in place. Never re-encodes.
   *
   * `origin: 'coordinator'` is a coordinator's own transactional batch for a producer (the group
   * coordinator's TxnOffsetCommit, as Kafka's AppendOrigin.Coordinator): it carries no sequence
   * number, so only the producer's epoch is checked (a fenced producer's offsets are refused).
   *
   * `orderKey`: what a batch without a producer id is ordered with (its connection): appends of
   * one key keep their arrival order, other keys' do not wait for them.
   */
  async appendAsLeader(records: Buffer, clientLeaderEpoch = -1, options: { origin?: AppendOrigin; transactionalId?: string | null; orderKey?: object; onWritten?: () => void } = {}): Promise<AppendResult> {
    this.#requireLeader()
    if (records.length > this.config.maxMessageBytes) {
      throw new StrandProtocolError('MESSAGE_TOO_LARGE', `The payload is ${records.length} bytes; max.message.bytes is ${this.config.maxMessageBytes}.`)
    }
    const spans = verifyBatches(records)
    await this.#validation.validate(records, spans, options.orderKey)
    const { idempotent } = checkProducedBatches(spans, options)
    // Producer state replayed first; a batch of a producer's next transaction waits for the marker of its previous one.
    if (idempotent) await this.#txn.untilPreviousTxnClosed(spans[0]!.header, PREVIOUS_TXN_WAIT_MS)
    this.#requireLeader()
    // Again after the awaits: the epoch the producer named must still be the one appended under.
    if (clientLeaderEpoch >= 0) this.checkLeaderEpoch(clientLeaderEpoch)
    const epoch = this.#state.leaderEpoch
    let appended
    try {
      appended = await this.log.append(records, {
        assignOffsets: true,
        leaderEpoch: epoch,
        verified: spans,
        ...(options.onWritten === undefined ? {} : { onWritten: options.onWritten }),
        beforeWrite: idempotent ? (placed) => this.#txn.recordLeaderBatch(spans[0]!.header, placed[0]!.baseOffset, options.origin) : undefined,
      })
    } catch (err) {
      if (err instanceof DuplicateBatch) {
        // The first append of it may still wait for its fsync: the retry is answered no sooner.
        await this.log.untilDurable(err.batch.lastOffset + 1n)
        return { baseOffset: err.batch.firstOffset, lastOffset: err.batch.lastOffset, logAppendTimeMs: -1n, logStartOffset: this.log.logStartOffset, duplicate: true }
      }
      // The sequence was recorded but the write failed: replay the log before trusting the state again.
      if (idempotent && !(err instanceof StrandProtocolError)) this.#txn.reset()
      throw err
    }
    if (this.followers.size > 0) this.#appendTimes.record(appended.lastOffset + 1n, this.#lagClock())
    this.maybeAdvanceHighWatermark()
    // The lease may have lapsed during the write (a disk stall past its deadline): the batch is in
    // this log but is not acknowledged, not even for acks=1, since another broker may lead by now.
    if (!this.#lease.valid()) throw this.#notLeadingError()
    return {
      baseOffset: appended.firstOffset,
      lastOffset: appended.lastOffset,
      logAppendTimeMs: BigInt(appended.logAppendTimeMs),
      logStartOffset: this.log.logStartOffset,
      duplicate: false,
    }
  }

  /**
   * KIP-320 fencing: FENCED_LEADER_EPOCH when `requested` is older than this partition's leader
   * epoch (the sender's metadata is stale), UNKNOWN_LEADER_EPOCH when newer (this broker has not
   * caught up with the leader change yet). Both are retriable.
   */
  checkLeaderEpoch(requested: number): void {
    const current = this.#state.leaderEpoch
    if (requested < current) {
      throw new StrandProtocolError('FENCED_LEADER_EPOCH', `Epoch ${requested} of ${this.topic}-${this.index} is older than the leader's ${current}.`)
    }
    if (requested > current) {
      throw new StrandProtocolError('UNKNOWN_LEADER_EPOCH', `Epoch ${requested} of ${this.topic}-${this.index} is newer than this leader's ${current}.`)
    }
  }

  /** The follower's append: the leader's batches as they are, offsets and epochs kept. */
  async appendAsFollower(records: Buffer): Promise<void> {
    const spans = verifyBatches(records)
    if (spans.length === 0) return
    // The state this follower needs to lead (and the aborted transactions it indexes) builds on
    // the log before this append: replayed once, after opening or a truncation.
    await this.#txn.ensure()
    await this.log.append(records, { assignOffsets: false, verified: spans })
    const aborted: AbortedTxn[] = []
    for (const span of spans) {
      const epoch = span.header.partitionLeaderEpoch
      if (epoch > this.epochs.latestEpoch) await this.epochs.assign(epoch, span.header.baseOffset)
      const abort = this.#txn.applyBatch(records, span.pos, span.sizeBytes, span.header)
      if (abort !== null) aborted.push(abort)
    }
    await this.#txn.addAborts(aborted)
  }

  /**
   * The leader's append of a transaction marker (WriteTxnMarkers): a control batch for the
   * producer at this leader's epoch, closing its open transaction; an abort is indexed in the
   * segment's .txnindex. INVALID_PRODUCER_EPOCH for a marker older than the producer's epoch.
   * The caller waits for the high watermark to pass it.
   */
  async appendTxnMarker(m: TxnMarker): Promise<AppendResult> {
    this.#requireLeader()
    await this.#txn.ensure()
    this.#requireLeader()
    const records = encodeTxnMarker({ producerId: m.producerId, producerEpoch: m.producerEpoch, commit: m.commit, coordinatorEpoch: m.coordinatorEpoch, timestamp: m.timestampMs })
    const header = readBatchHeader(records, 0)
    let done: CompletedTxn | null = null
    let appended
    try {
      appended = await this.log.append(records, {
        assignOffsets: true,
        leaderEpoch: this.#state.leaderEpoch,
        beforeWrite: (placed) => {
          done = this.#txn.recordLeaderMarker(header, placed[0]!.baseOffset, m)
        },
      })
    } catch (err) {
      if (!(err instanceof StrandProtocolError)) this.#txn.reset()
      throw err
    }
    const closed = done as CompletedTxn | null
    if (closed !== null && !closed.commit) await this.#txn.indexAbort(closed)
    if (this.followers.size > 0) this.#appendTimes.record(appended.lastOffset + 1n, this.#lagClock())
    this.maybeAdvanceHighWatermark()
    if (!this.#lease.valid()) throw this.#notLeadingError()
    return { baseOffset: appended.firstOffset, lastOffset: appended.lastOffset, logAppendTimeMs: -1n, logStartOffset: this.log.logStartOffset, duplicate: false }
  }

  /**
   * A follower about to fetch, at leader epoch `leaderEpoch`, into an empty leader epoch cache.
   * When the partition is still in its first epoch (0) and this log is empty from offset 0, every
   * record it will append carries epoch 0 from offset 0, so the entry its first append would write
   * is written now, when the follower joins, instead of on the first produce to a new topic: there
   * each is a file write with two fsyncs (~0.5 ms of CPU, ~0.7 ms of wall time on an idle disk),
   * awaited one after another in the fetch loop, and at 600 partitions the 400 a broker follows
   * stalled replication, and with it every acks=all produce, for hundreds of ms (the brokers' CPU
   * per record in the first 1,000,000 records to a new 600-partition topic was twice that of the
   * next 1,000,000).
   * The entry cannot outlive a wrong guess: a first record of a later epoch at offset 0 replaces it
   * (`assign` drops entries at or after the new start), and a restart at the leader's log start
   * (`truncateFullyAndStartAt`) or a truncation to 0 drops it.
   */
  async prepareToFollow(leaderEpoch: number): Promise<void> {
    if (leaderEpoch !== 0 || this.epochs.latestEpoch >= 0 || this.log.logEndOffset !== 0n || this.log.logStartOffset !== 0n) return
    await this.epochs.assign(0, 0n)
  }

  /** The leader's high watermark, as a follower learns it from a fetch response. Returns true when it moved. */
  updateFollowerHighWatermark(leaderHighWatermark: bigint): boolean {
    const next = minBigint(leaderHighWatermark, this.log.logEndOffset)
    if (next <= this.#highWatermark) return false
    this.#highWatermark = next
    return true
  }

  /** Removes every record at or after `offset`: the tail a new leader does not have. */
  async truncateTo(offset: bigint): Promise<void> {
    await this.log.truncateTo(offset)
    this.#txn.reset()
    await this.epochs.truncateFromEnd(offset)
    this.#highWatermark = minBigint(this.#highWatermark, this.log.logEndOffset)
  }

  /** Empties the log to restart at `offset` (a follower behind the leader's log start). */
  async truncateFullyAndStartAt(offset: bigint): Promise<void> {
    await this.log.truncateFullyAndStartAt(offset)
    this.#txn.reset()
    await this.epochs.truncateFromEnd(0n)
    this.#highWatermark = offset
  }

  /**
   * A follower fetched from `fetchOffset`: it has everything below it. Updates its state the way
   * Kafka's leader does (caught up if it reached the log end now, or the log end of its previous
   * fetch) and advances the high watermark. Returns true when the high watermark moved. `lag`
   * gets the follower's replication lag.
   */
  recordFollowerFetch(replicaId: number, fetchOffset: bigint, now: number, lag?: LagSink): boolean {
    const f = this.followers.get(replicaId)
    if (f === undefined) return false
    const leo = this.log.logEndOffset
    if (lag !== undefined) {
      lag.offsets(replicaId, Number(leo - fetchOffset))
      f.appendCursor = this.#appendTimes.confirm(f.appendCursor, fetchOffset, lag, replicaId, this.#lagClock())
    }
    recordFetch(f, { fetchOffset, leaderLogEndOffset: leo, nowMs: now })
    return this.maybeAdvanceHighWatermark()
  }

  /** A follower outside the ISR that has caught up to the high watermark in this epoch may join it. */
  followerMayJoinIsr(replicaId: number): boolean {
    const f = this.followers.get(replicaId)
    if (f === undefined || this.#state.isr.includes(replicaId)) return false
    return f.logEndOffset >= this.#highWatermark && f.logEndOffset >= this.leaderEpochStartOffset
  }

  /** ISR members (other than this leader) that have not caught up for longer than `lagMaxMs`. */
  laggingIsrMembers(now: number, lagMaxMs: number): number[] {
    return laggingMembers(this.followers, this.#state.isr, this.#nodeId, { nowMs: now, lagMaxMs })
  }

  /** Leader: the high watermark becomes the smallest log end offset over the ISR. */
  maybeAdvanceHighWatermark(): boolean {
    // Without the lease the high watermark stays where it is: the ISR this leader counts may no
    // longer be the partition's, and a commit it declared could be one the new leader lacks.
    if (this.#role !== 'leader' || !this.#lease.valid()) return false
    // The leader counts only what it has fsynced when it runs fsync: always (Log.durableEndOffset).
    let next = smallestLogEndOffset(this.followers, this.#state.isr, this.#nodeId, this.log.durableEndOffset)
    // Runs on every append and every follower fetch: the pending members are checked on their own
    // rather than through `effectiveIsr`, which builds a set and an array each time.
    if (next !== null && this.pendingIsr !== null) next = smallestLogEndOffset(this.followers, this.pendingIsr, this.#nodeId, next)
    if (next === null || next <= this.#highWatermark) return false
    assert.ok(next <= this.log.durableEndOffset, 'the high watermark stays within what this leader has (fsynced, under fsync: always)')
    this.#highWatermark = next
    this.#commitWaiters.completeUpTo(next, () => this.#checkIsrAfterAppend())
    return true
  }

  /**
   * acks=all: resolves once the high watermark reaches `offset` (every ISR member has the batch);
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below min.insync.replicas meanwhile;
   * REQUEST_TIMED_OUT after `timeoutMs`; NOT_LEADER_OR_FOLLOWER when leadership moves.
   */
  waitForCommit(offset: bigint, timeoutMs: number): Promise<void> {
    if (this.#highWatermark >= offset) return this.#checkIsrAfterAppend()
    // The lease lapsed since the append: the high watermark is frozen (see `leaseLapsed`).
    if (!this.#lease.valid()) return Promise.reject(this.#notLeadingError())
    return this.#commitWaiters.wait(offset, timeoutMs, () => new StrandProtocolError('REQUEST_TIMED_OUT', `The ISR ${JSON.stringify(this.effectiveIsr)} of ${this.topic}-${this.index} did not replicate offset ${offset - 1n} within ${timeoutMs} ms.`))
  }

  get ackWaiterCount(): number {
    return this.#commitWaiters.count
  }

  #checkIsrAfterAppend(): Promise<void> {
    const isr = this.#state.isr.length
    if (isr < this.config.minInsyncReplicas) {
      return Promise.reject(new StrandProtocolError('NOT_ENOUGH_REPLICAS_AFTER_APPEND', `${this.topic}-${this.index} has ${isr} in-sync replicas; min.insync.replicas is ${this.config.minInsyncReplicas}.`))
    }
    return Promise.resolve()
  }

  /**
   * Whole batches from `offset`. Consumers read only below the high watermark; an offset between
   * it and the log end (a new leader whose high watermark is catching up) reads nothing yet.
   * Replicas read up to the log end.
   *
   * Without the lease, consumers are refused (`checkServesConsumers`) but followers still read.
   * That is safe: nothing was appended here since the lease lapsed, so what a follower copies is
   * what this broker led while it held the lease, at its own leader epoch; the high watermark it
   * learns is the frozen one, so it makes nothing visible that was not committed. If another
   * broker leads by now, a follower that knows it fetches from that one and truncates to where
   * the epochs agree (KIP-101), as after any leader change. And a follower that still reaches this
   * broker keeps its copy current, so that if the controller never fenced this broker (the lease
   * ends a margin before the session does, and the contact may come back), no leader change finds
   * it behind. Kafka's followers, too, keep fetching from a leader until they hear of a new one.
   */
  async read(offset: bigint, maxBytes: number, options: { replica?: boolean; committed?: boolean } = {}): Promise<ReadResult> {
    const replica = options.replica === true
    const committed = !replica && options.committed === true
    if (!this.mayHaveRecordsAt(offset, { replica, committed })) {
      return { records: NO_RECORDS, highWatermark: this.#highWatermark, lastStableOffset: this.lastStableOffset, logStartOffset: this.log.logStartOffset, abortedTransactions: null }
    }
    const hw = this.#highWatermark
    const lso = this.lastStableOffset
    const logStartOffset = this.log.logStartOffset
    const { records, nextOffset } = await this.log.read(offset, maxBytes, { maxOffset: replica ? this.log.logEndOffset : committed ? lso : hw })
    let abortedTransactions: ReadResult['abortedTransactions'] = null
    if (committed && records.length > 0) {
      const found = this.#txn.abortedIn(offset, nextOffset)
      if (found.length > 0) abortedTransactions = found.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset }))
    }
    return { records, highWatermark: hw, lastStableOffset: lso, logStartOffset, abortedTransactions }
  }

  /**
   * Whether `read` could return records from `offset` (false: it answers with none, at once),
   * without a promise: a fetch names every partition it follows, most of them with nothing new,
   * and reading each through an async call was a third of what a broker allocated under load.
   * Throws OFFSET_OUT_OF_RANGE as `read` does.
   */
  mayHaveRecordsAt(offset: bigint, reader: { replica: boolean; committed?: boolean }): boolean {
    const { replica, committed = false } = reader
    if (!replica) this.checkServesConsumers()
    const end = this.log.logEndOffset
    if (offset < this.log.logStartOffset || offset > end) {
      throw new StrandProtocolError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside [${this.log.logStartOffset}, ${end}] of ${this.topic}-${this.index}.`)
    }
    if (replica) return offset < end
    if (!committed) return offset < this.#highWatermark
    // read_committed before producer state is known: start the replay (a follower that just became
    // leader has it running already), and answer nothing past its start until it is done.
    if (!this.#txn.loaded && !this.#txn.started) this.#txn.ensure().catch(() => undefined)
    return offset < this.lastStableOffset
  }
}

function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}
