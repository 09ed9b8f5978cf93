// The transaction coordinator (Kafka's TransactionCoordinator, KIP-98): producer ids, epochs and
// the state of each transaction of the transactional ids whose `__transaction_state` partition
// this broker leads.
//
// A transactional id's partition is `abs(javaHashCode(id)) % partitions`, as for groups (and as
// in Kafka). Loading, leadership and writing mirror the group coordinator (internal-partition.ts):
// when this broker becomes the leader of a partition it replays it (COORDINATOR_LOAD_IN_PROGRESS
// meanwhile), and finishes every transaction it finds prepared; when it stops leading one, its ids
// are dropped and clients are told NOT_COORDINATOR.
//
// Every state change is written to the partition, and replicated, BEFORE the coordinator acts on
// it or answers (the write-ahead rule that makes failover safe):
//
//   Empty / CompleteCommit / CompleteAbort --AddPartitionsToTxn--> Ongoing --AddPartitionsToTxn--+
//                                                                    |   ^------------------------+
//                                     EndTxn(commit) / EndTxn(abort) | timeout / InitProducerId
//                                                                    v        (abort, epoch + 1)
//                                             PrepareCommit / PrepareAbort  (EndTxn answered here)
//                                                                    | markers written on every
//                                                                    v partition (WriteTxnMarkers)
//                                             CompleteCommit / CompleteAbort
//
// AddOffsetsToTxn (exactly-once consume-transform-produce) adds a group's `__consumer_offsets`
// partition to the transaction as AddPartitionsToTxn adds a data partition (which refuses
// internal topics): its marker is what makes the group coordinator commit or drop the offsets
// the producer sent it with TxnOffsetCommit.
//
// While a state write or the markers of a prepared transaction are in flight, the id's other
// requests are answered CONCURRENT_TRANSACTIONS (retriable). A producer whose epoch is not the
// id's current one is answered PRODUCER_FENCED: each InitProducerId bumps the epoch (after
// aborting the previous instance's open transaction with the bumped epoch, so its partitions fence
// it too), and so does aborting a transaction past its timeout.
//
// An epoch per transaction (KIP-890; EndTxn with `bumpEpoch`): the producer's next transaction
// runs at the next epoch, and the ended one's markers are written at it too (naming the epoch of
// the transaction they close apart), which fences that transaction's late batches at its
// partitions. The next may begin while the markers are still being written (they are owed:
// `TxnMeta.owed`, written in every record until one is written after they are all in). Its first
// batch to a partition of the ended one waits at that partition's leader for the marker
// (producer-state.ts), so nothing of it can join the ended transaction; a marker sent again later
// (a new coordinator replaying the owed ones) names an older transaction than the one open there
// and is refused, so it cannot close the next one.
// The next transaction's end, and its offsets to a group whose partition is owed a marker, wait
// for the owed markers. A transaction so costs three replicated writes in a row (its Ongoing
// record, its data, its Prepare record) rather than four (npm run bench -- --workload txn).

import type { Logger } from 'pino'
import { FAILPOINTS, failpoint, isArmed } from '../failpoints.js'
import { setTimeout as delay } from 'node:timers/promises'
import { StrandProtocolError, errorCodeOf, toWireCode, type WireErrorName } from '../../client/protocol/errors.js'
import type { InitProducerIdResponse } from '../../client/protocol/messages/producer-ids.js'
import type { AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest } from '../../client/protocol/messages/transactions.js'
import type { DescribedTransactionState, ListTransactionsResponse } from '../../client/protocol/messages/transaction-admin.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { groupPartition } from '../group/coordinator.js'
import { appendCommitted, replayPartition } from '../internal-partition.js'
import type { MetadataImage } from '../metadata/image.js'
import type { ProducerIdManager } from '../metadata/producer-ids.js'
import type { Partition } from '../replication/partition.js'
import type { ReplicaManager } from '../replication/replica-manager.js'
import { OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC } from '../topic-config.js'
import { MarkerChannel } from './markers.js'
import { describeTransactionError, describeTransactionState, listTransactionStates } from './txn-admin.js'
import { decodeTxnRecord, type TxnValue } from './records.js'
import { partitionCount, sameProducer, TxnMeta, type Change, type Owed } from './txn-meta.js'

/** Errors of a state write that the coordinator answers as COORDINATOR_NOT_AVAILABLE (retried). */
const STATE_WRITE_UNAVAILABLE: ReadonlySet<string> = new Set(['NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT', 'UNKNOWN_TOPIC_OR_PARTITION'])

/** Kafka's largest producer epoch (a short); past it the id gets a new producer id at epoch 0. */
const PRODUCER_EPOCH_MAX = 32_767
/** How long AddPartitionsToTxn waits for the previous transaction's markers before answering CONCURRENT_TRANSACTIONS. */
const COMPLETION_WAIT_MS = 1000
/** How long InitProducerId waits for the previous instance's transaction to complete before answering CONCURRENT_TRANSACTIONS. */
const INIT_WAIT_MS_MAX = 5000
/** How long a completed transaction's Complete* record waits for the id's next record to make it unneeded. */
const COMPLETE_WRITE_DELAY_MS = 25
/** Partitions one transaction may hold: every one gets a marker, and the state is one record. */
const TXN_PARTITIONS_MAX = 10_000

export interface TransactionCoordinatorOptions {
  nodeId: number
  replicas: ReplicaManager
  image: () => MetadataImage
  producerIds: () => ProducerIdManager | null
  /** transaction.max.timeout.ms */
  maxTimeoutMs: number
  /** How often open transactions are checked against their timeout. */
  timeoutCheckIntervalMs: number
  markerRetryBackoffMs: number
  /** How long a write to the state partition may wait for the ISR. */
  commitTimeoutMs: number
  security: SecurityOptions
  clock: () => number
  logger: Logger
}

function initError(code: WireErrorName | number): InitProducerIdResponse {
  return { throttleTimeMs: 0, errorCode: typeof code === 'number' ? code : errorCodeOf(code), producerId: -1n, producerEpoch: -1 }
}

export class TransactionCoordinator {
  readonly #o: TransactionCoordinatorOptions
  readonly #logger: Logger
  readonly #markers: MarkerChannel
  readonly #txns = new Map<string, TxnMeta>()
  /** State partitions led here: 'loading' until replayed. */
  readonly #partitions = new Map<number, 'loading' | 'loaded'>()
  /** Bumped on every leadership change of a partition: work begun under an older one stops. */
  readonly #loadEpoch = new Map<number, number>()
  /** The partition's leader epoch when it was loaded: the coordinator epoch written into markers. */
  readonly #coordinatorEpoch = new Map<number, number>()
  readonly #timer: NodeJS.Timeout
  #closed = false

  constructor(options: TransactionCoordinatorOptions) {
    this.#o = options
    this.#logger = options.logger.child({ subsystem: 'txn' })
    this.#markers = new MarkerChannel({ nodeId: options.nodeId, image: options.image, security: options.security, logger: this.#logger })
    this.#timer = setInterval(() => this.#abortTimedOut(), options.timeoutCheckIntervalMs)
    this.#timer.unref()
  }

  // --- leadership and loading ---

  /** Called by the ReplicaManager when this broker starts or stops leading a partition. */
  onLeadership(partition: Partition, leading: boolean): void {
    if (partition.topic !== TRANSACTION_STATE_TOPIC) return
    const index = partition.index
    const epoch = (this.#loadEpoch.get(index) ?? 0) + 1
    this.#loadEpoch.set(index, epoch)
    this.#unload(index)
    if (!leading || this.#closed) return
    this.#partitions.set(index, 'loading')
    this.#coordinatorEpoch.set(index, partition.leaderEpoch)
    this.#load(partition, epoch).catch((err: unknown) => {
      this.#logger.error({ err, partition: index }, 'loading the transaction state partition failed')
      if (this.#loadEpoch.get(index) === epoch) this.#partitions.delete(index)
    })
  }

  #unload(index: number): void {
    if (!this.#partitions.delete(index)) return
    for (const [id, m] of this.#txns) if (m.partition === index) this.#txns.delete(id)
    this.#logger.info({ partition: index }, 'no longer coordinating the transactional ids of this partition')
  }

  async #load(partition: Partition, epoch: number): Promise<void> {
    const index = partition.index
    const values = new Map<string, TxnValue | null>()
    const end = await replayPartition(partition, (key, value) => {
      const stored = decodeTxnRecord(key, value)
      if (stored !== null) values.set(stored.transactionalId, stored.value)
    })
    if (this.#loadEpoch.get(index) !== epoch) return
    const prepared: TxnMeta[] = []
    for (const [id, v] of values) {
      if (v === null) continue
      const m = TxnMeta.fromValue(id, index, v)
      this.#txns.set(id, m)
      if (m.owed !== null) prepared.push(m)
    }
    this.#partitions.set(index, 'loaded')
    this.#logger.info({ partition: index, transactionalIds: values.size, prepared: prepared.length, upTo: String(end) }, 'loaded the transaction state partition')
    // A predecessor decided these and may not have written every marker: write them (again). An
    // owed transaction before an ongoing one included: its markers carry an epoch older than the
    // ongoing one's, so where that one has begun they are refused rather than close it.
    for (const m of prepared) this.#startCompletion(m, epoch)
  }

  /** The id's partition and its load epoch, if this broker coordinates it; throws NOT_COORDINATOR and the like otherwise. */
  #route(transactionalId: string): { index: number; epoch: number } {
    if (transactionalId.length === 0) throw new StrandProtocolError('INVALID_REQUEST', 'The transactional id is empty.')
    const partitions = this.#o.image().topics.get(TRANSACTION_STATE_TOPIC)?.partitions.length ?? 0
    if (partitions === 0) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', `The ${TRANSACTION_STATE_TOPIC} topic does not exist yet.`)
    const index = groupPartition(transactionalId, partitions)
    const state = this.#partitions.get(index)
    if (state === undefined) throw new StrandProtocolError('NOT_COORDINATOR', `Broker ${this.#o.nodeId} does not coordinate transactional id "${transactionalId}" (${TRANSACTION_STATE_TOPIC}-${index}).`)
    if (state === 'loading') throw new StrandProtocolError('COORDINATOR_LOAD_IN_PROGRESS', `${TRANSACTION_STATE_TOPIC}-${index} is still loading.`)
    return { index, epoch: this.#loadEpoch.get(index) ?? 0 }
  }

  // --- writing state ---

  /**
   * Writes the id's next state and waits until the ISR has it, then applies it. Throws
   * NOT_COORDINATOR if leadership of the partition moved meanwhile (the write may or may not
   * survive; the new coordinator's replay decides).
   */
  async #write(m: TxnMeta, c: Change, loadEpoch: number): Promise<void> {
    const nowMs = this.#o.clock()
    m.writes++
    try {
      await appendCommitted(this.#o.replicas, TRANSACTION_STATE_TOPIC, m.partition, [m.record(c, nowMs)], { timestamp: nowMs, commitTimeoutMs: this.#o.commitTimeoutMs })
    } catch (err) {
      // Kafka's mapping (TransactionStateManager): a state write short of its ISR or timed out is
      // COORDINATOR_NOT_AVAILABLE, which producers retry (the state was not applied; the retry
      // writes it again), not an error of the producer's request.
      if (err instanceof StrandProtocolError && STATE_WRITE_UNAVAILABLE.has(err.code)) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', `Writing the state of "${m.transactionalId}": ${err.message}`, err)
      // Leadership of the state partition moved (or its lease lapsed): this broker no longer coordinates the id.
      if (err instanceof StrandProtocolError && err.code === 'NOT_LEADER_OR_FOLLOWER') throw new StrandProtocolError('NOT_COORDINATOR', `Writing the state of "${m.transactionalId}": ${err.message}`, err)
      throw err
    }
    this.#checkStillCoordinating(m, loadEpoch)
    m.apply(c, nowMs)
  }

  #checkStillCoordinating(m: TxnMeta, loadEpoch: number): void {
    if (this.#loadEpoch.get(m.partition) !== loadEpoch || this.#txns.get(m.transactionalId) !== m) {
      throw new StrandProtocolError('NOT_COORDINATOR', `Broker ${this.#o.nodeId} stopped coordinating "${m.transactionalId}" during the write.`)
    }
  }

  /** Runs `fn` as the id's one state change in flight; concurrent requests get CONCURRENT_TRANSACTIONS. */
  async #exclusive<T>(m: TxnMeta, fn: () => Promise<T>): Promise<T> {
    if (m.pending) throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${m.transactionalId}" has a state change in flight.`)
    m.pending = true
    try {
      return await fn()
    } finally {
      m.pending = false
    }
  }

  // --- the producer's requests ---

  async initProducerId(transactionalId: string, timeoutMs: number): Promise<InitProducerIdResponse> {
    try {
      const { index, epoch } = this.#route(transactionalId)
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > this.#o.maxTimeoutMs) return initError('INVALID_TRANSACTION_TIMEOUT')
      let m = this.#txns.get(transactionalId)
      if (m === undefined) {
        const fresh = new TxnMeta(transactionalId, index)
        m = fresh
        this.#txns.set(transactionalId, fresh)
        return await this.#exclusive(fresh, async () => {
          try {
            const ids = this.#o.producerIds()
            if (ids === null) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', 'Producer ids are not available yet.')
            const producerId = await ids.nextId()
            await this.#write(fresh, { producerId, producerEpoch: 0, timeoutMs, state: 'Empty', partitions: new Map(), startMs: -1, owed: null, ended: null }, epoch)
          } catch (err) {
            if (this.#txns.get(transactionalId) === fresh && fresh.producerId < 0n) this.#txns.delete(transactionalId)
            throw err
          }
          this.#logger.info({ transactionalId, producerId: String(fresh.producerId) }, 'new transactional producer')
          return { throttleTimeMs: 0, errorCode: 0, producerId: fresh.producerId, producerEpoch: 0 }
        })
      }
      const meta = m
      const deadline = this.#o.clock() + INIT_WAIT_MS_MAX
      const settle = async (): Promise<void> => {
        if (meta.completion !== null) await Promise.race([meta.completion, delay(Math.max(0, deadline - this.#o.clock()), undefined, { ref: false })])
      }
      // The owed markers first (of a transaction before the open one), then the previous
      // instance's open transaction: aborted with a bumped epoch (fencing it at its partitions
      // too), and its markers waited for.
      await settle()
      if (!meta.pending && meta.completion === null && meta.state === 'Ongoing') await this.#prepareEnd(meta, { commit: false, fence: true, nextEpoch: false }, epoch)
      await settle()
      if (meta.owed !== null || meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort') return initError('CONCURRENT_TRANSACTIONS')
      return await this.#exclusive(meta, async () => {
        const exhausted = meta.producerEpoch >= PRODUCER_EPOCH_MAX - 1
        const producerId = exhausted ? await this.#nextProducerId() : meta.producerId
        const producerEpoch = exhausted ? 0 : meta.producerEpoch + 1
        // The previous instance's EndTxn retries are fenced from now on, not answered with this epoch.
        await this.#write(meta, { producerId, producerEpoch, timeoutMs, state: 'Empty', partitions: new Map(), startMs: -1, owed: null, ended: null }, epoch)
        this.#logger.info({ transactionalId, producerId: String(producerId), producerEpoch }, 'transactional producer epoch bumped; earlier instances are fenced')
        return { throttleTimeMs: 0, errorCode: 0, producerId, producerEpoch }
      })
    } catch (err) {
      return initError(toWireCode(err))
    }
  }

  async #nextProducerId(): Promise<bigint> {
    const ids = this.#o.producerIds()
    if (ids === null) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', 'Producer ids are not available yet.')
    return ids.nextId()
  }

  /** The id's state for a request from producer (id, epoch): PRODUCER_FENCED for an old epoch. */
  #producerState(transactionalId: string, producerId: bigint, producerEpoch: number): { m: TxnMeta; epoch: number } {
    const { epoch } = this.#route(transactionalId)
    const m = this.#txns.get(transactionalId)
    if (m === undefined || m.producerId !== producerId) throw new StrandProtocolError('INVALID_PRODUCER_ID_MAPPING', `Producer ${producerId} is not the producer of "${transactionalId}".`)
    if (producerEpoch !== m.producerEpoch) throw new StrandProtocolError('PRODUCER_FENCED', `"${transactionalId}" is at producer epoch ${m.producerEpoch}, not ${producerEpoch}.`)
    return { m, epoch }
  }

  async addPartitions(req: AddPartitionsToTxnRequest): Promise<AddPartitionsToTxnResponse> {
    const answer = (code: (topic: string, p: number) => number): AddPartitionsToTxnResponse => ({
      throttleTimeMs: 0,
      results: req.topics.map((t) => ({ name: t.name, results: t.partitions.map((p) => ({ partitionIndex: p, errorCode: code(t.name, p) })) })),
    })
    try {
      const { m, epoch } = await this.#openable(req)
      const image = this.#o.image()
      const unknown = (topic: string, p: number): boolean => {
        const t = image.topics.get(topic)
        return t === undefined || !Number.isInteger(p) || p < 0 || p >= t.partitions.length || topic.startsWith('__')
      }
      if (req.topics.some((t) => t.partitions.some((p) => unknown(t.name, p)))) {
        return answer((t, p) => (unknown(t, p) ? errorCodeOf('UNKNOWN_TOPIC_OR_PARTITION') : errorCodeOf('OPERATION_NOT_ATTEMPTED')))
      }
      await this.#add(m, epoch, req.topics)
      return answer(() => 0)
    } catch (err) {
      const code = toWireCode(err)
      return answer(() => code)
    }
  }

  /**
   * AddOffsetsToTxn (KIP-98): the group's `__consumer_offsets` partition joins the transaction,
   * so EndTxn writes its marker there too, which is what commits (or drops) the offsets the
   * producer sends the group coordinator with TxnOffsetCommit. (Internal topics are refused by
   * AddPartitionsToTxn; this is the one way in.)
   */
  async addOffsets(req: AddOffsetsToTxnRequest): Promise<number> {
    try {
      if (req.groupId.length === 0) throw new StrandProtocolError('INVALID_GROUP_ID', 'The group id is empty.')
      const partitions = this.#o.image().topics.get(OFFSETS_TOPIC)?.partitions.length ?? 0
      if (partitions === 0) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', `The ${OFFSETS_TOPIC} topic does not exist yet.`)
      const offsetsPartition = groupPartition(req.groupId, partitions)
      // The group coordinator holds a producer's pending offsets by producer id: offsets of this
      // transaction sent before the previous one's marker reached the group's partition would be
      // committed (or dropped) by that marker. So they wait for it here.
      const { m, epoch } = await this.#openable(req, { topic: OFFSETS_TOPIC, partition: offsetsPartition })
      await this.#add(m, epoch, [{ name: OFFSETS_TOPIC, partitions: [offsetsPartition] }])
      return 0
    } catch (err) {
      return toWireCode(err)
    }
  }

  /**
   * Whether the producer's next transaction may begin (or go on) beside the owed markers: they
   * carry an older epoch than the producer's (an epoch per transaction), and none is owed to
   * `partition` when one is named.
   */
  #besideOwed(m: TxnMeta, partition?: { topic: string; partition: number }): boolean {
    const owed = m.owed
    if (owed === null || sameProducer(owed, m)) return false
    return partition === undefined || owed.partitions.get(partition.topic)?.has(partition.partition) !== true
  }

  /** The id's state if its producer may add to a transaction now; throws PRODUCER_FENCED, CONCURRENT_TRANSACTIONS and the like otherwise. */
  async #openable(req: { transactionalId: string; producerId: bigint; producerEpoch: number }, partition?: { topic: string; partition: number }): Promise<{ m: TxnMeta; epoch: number }> {
    let { m, epoch } = this.#producerState(req.transactionalId, req.producerId, req.producerEpoch)
    // The previous transaction's markers are being written (EndTxn was answered once it was
    // prepared): unless the next transaction may go on beside them, its first request waits for
    // them, briefly, rather than send the producer back to retry after its backoff (a transaction
    // of one record took ~107 ms so, ~3.5 ms after; npm run bench -- --workload txn).
    if (m.completion !== null && !this.#besideOwed(m, partition)) {
      await Promise.race([m.completion, delay(COMPLETION_WAIT_MS, undefined, { ref: false })])
      ;({ m, epoch } = this.#producerState(req.transactionalId, req.producerId, req.producerEpoch))
    }
    const prepared = m.state === 'PrepareCommit' || m.state === 'PrepareAbort'
    if (m.pending || ((prepared || m.owed !== null) && !this.#besideOwed(m, partition))) throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${req.transactionalId}" is completing its previous transaction.`)
    if (m.state === 'Dead') throw new StrandProtocolError('INVALID_TXN_STATE', `"${req.transactionalId}" is ${m.state}.`)
    return { m, epoch }
  }

  /** Adds partitions to the id's transaction (opening it), written before the answer; nothing to write if it has them all. */
  async #add(m: TxnMeta, epoch: number, topics: readonly { name: string; partitions: readonly number[] }[]): Promise<void> {
    const ongoing = m.state === 'Ongoing'
    const partitions = ongoing ? new Map([...m.partitions].map(([t, s]) => [t, new Set(s)])) : new Map<string, Set<number>>()
    let added = 0
    for (const t of topics) {
      const s = partitions.get(t.name) ?? new Set<number>()
      for (const p of t.partitions) if (!s.has(p)) (s.add(p), added++)
      partitions.set(t.name, s)
    }
    if (ongoing && added === 0) return
    if (partitionCount(partitions) > TXN_PARTITIONS_MAX) throw new StrandProtocolError('INVALID_REQUEST', `A transaction may hold at most ${TXN_PARTITIONS_MAX} partitions.`)
    await this.#exclusive(m, () => this.#write(m, { state: 'Ongoing', partitions, startMs: ongoing ? m.startMs : this.#o.clock() }, epoch))
    if (!ongoing && m.owed !== null) failpoint(FAILPOINTS.txnOwed, m.transactionalId)
  }

  /**
   * EndTxn: answered once PrepareCommit / PrepareAbort is durable; the markers follow. With
   * `bumpEpoch` (EndTxn v1) the answer names the producer id and epoch of the producer's next
   * transaction, which may begin while the markers are written.
   */
  async endTxn(req: EndTxnRequest): Promise<{ errorCode: number; producerId: bigint; producerEpoch: number }> {
    // A version 0 request decodes without the field.
    const bump = req.bumpEpoch === true
    try {
      const retried = this.#retriedEnd(req, bump)
      if (retried !== null) return { errorCode: 0, ...retried }
      let { m, epoch } = this.#producerState(req.transactionalId, req.producerId, req.producerEpoch)
      const same = req.committed ? 'Commit' : 'Abort'
      if (m.pending) throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${req.transactionalId}" has a state change in flight.`)
      switch (m.state) {
        case 'Ongoing': {
          // The transaction before this one may still owe markers: they are written first.
          if (m.completion !== null) {
            await Promise.race([m.completion, delay(COMPLETION_WAIT_MS, undefined, { ref: false })])
            ;({ m, epoch } = this.#producerState(req.transactionalId, req.producerId, req.producerEpoch))
          }
          if (m.pending || m.owed !== null || m.state !== 'Ongoing') throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${req.transactionalId}" is completing its previous transaction.`)
          const next = await this.#prepareEnd(m, { commit: req.committed, fence: false, nextEpoch: bump }, epoch)
          return { errorCode: 0, ...next }
        }
        case 'PrepareCommit':
        case 'PrepareAbort':
          if (m.state === `Prepare${same}`) throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${req.transactionalId}" is writing its markers.`)
          throw new StrandProtocolError('INVALID_TXN_STATE', `"${req.transactionalId}" is ${m.state}.`)
        case 'CompleteCommit':
        case 'CompleteAbort':
          // A retry of an EndTxn whose answer was lost.
          if (m.state === `Complete${same}`) return { errorCode: 0, producerId: m.producerId, producerEpoch: m.producerEpoch }
          throw new StrandProtocolError('INVALID_TXN_STATE', `"${req.transactionalId}" is ${m.state}.`)
        default:
          throw new StrandProtocolError('INVALID_TXN_STATE', `"${req.transactionalId}" has no open transaction (${m.state}).`)
      }
    } catch (err) {
      return { errorCode: toWireCode(err), producerId: -1n, producerEpoch: -1 }
    }
  }

  /**
   * An EndTxn with `bumpEpoch` retried after its answer was lost (the coordinator moved, the
   * connection dropped): its epoch is the ended transaction's, one before the producer's now.
   * Answered as the first was, with the epoch it gave, when that transaction ended the same way.
   */
  #retriedEnd(req: EndTxnRequest, bump: boolean): { producerId: bigint; producerEpoch: number } | null {
    if (!bump) return null
    this.#route(req.transactionalId)
    const m = this.#txns.get(req.transactionalId)
    if (m === undefined || sameProducer(req, m)) return null
    const decided = m.owed !== null ? (m.owed.fenced ? null : m.owed) : m.ended
    if (decided === null || !sameProducer(req, decided) || decided.commit !== req.committed) return null
    // Only the epoch that EndTxn gave: one after the ended transaction's (or a new producer id at
    // epoch 0 past the largest epoch); a fencing abort's bumped epoch is not the producer's to take.
    const next = decided.producerEpoch >= PRODUCER_EPOCH_MAX - 1 ? m.producerId !== decided.producerId && m.producerEpoch === 0 : m.producerId === decided.producerId && m.producerEpoch === decided.producerEpoch + 1
    if (!next) return null
    return { producerId: m.producerId, producerEpoch: m.producerEpoch }
  }

  /**
   * Writes PrepareCommit / PrepareAbort (durable before this returns), then completes the
   * transaction in the background; returns the producer id and epoch the producer goes on with.
   * `fence`: the markers carry a bumped epoch (a timed-out transaction, or the previous
   * instance's), which fences the producer. `nextEpoch`: the producer's next transaction gets the
   * next epoch (a new producer id at epoch 0 past the largest), the markers this one's.
   */
  async #prepareEnd(m: TxnMeta, how: { commit: boolean; fence: boolean; nextEpoch: boolean }, loadEpoch: number): Promise<{ producerId: bigint; producerEpoch: number }> {
    const next = await this.#exclusive(m, async () => {
      // One decided transaction's markers owed at a time: the record names one.
      if (m.owed !== null) throw new StrandProtocolError('CONCURRENT_TRANSACTIONS', `"${m.transactionalId}" is completing its previous transaction.`)
      // Fenced, or with an epoch per transaction, the markers are written at the next epoch: from
      // then on the transaction's late batches are refused at its partitions (a batch delayed
      // past an abort would otherwise open a transaction there that nobody closes).
      const markerEpoch = how.fence || how.nextEpoch ? Math.min(m.producerEpoch + 1, PRODUCER_EPOCH_MAX) : m.producerEpoch
      const owed: Owed = { producerId: m.producerId, producerEpoch: m.producerEpoch, markerEpoch, fenced: how.fence, commit: how.commit, partitions: m.partitions }
      let next = { producerId: m.producerId, producerEpoch: markerEpoch }
      if (how.nextEpoch) next = m.producerEpoch >= PRODUCER_EPOCH_MAX - 1 ? { producerId: await this.#nextProducerId(), producerEpoch: 0 } : { producerId: m.producerId, producerEpoch: m.producerEpoch + 1 }
      await this.#write(m, { state: how.commit ? 'PrepareCommit' : 'PrepareAbort', producerId: next.producerId, producerEpoch: next.producerEpoch, owed }, loadEpoch)
      return next
    })
    this.#logger.debug({ transactionalId: m.transactionalId, state: m.state, producerEpoch: m.producerEpoch, partitions: partitionCount(m.partitions) }, 'transaction prepared')
    failpoint(FAILPOINTS.txnPrepared, m.transactionalId)
    if (m.ended === null && isArmed(FAILPOINTS.txnOwed, m.transactionalId)) {
      this.#logger.warn({ transactionalId: m.transactionalId }, `failpoint ${FAILPOINTS.txnOwed}: the markers are held back`)
      return next
    }
    this.#startCompletion(m, loadEpoch)
    return next
  }

  /** Writes the owed markers in the background; `completion` settles once they are all in. */
  #startCompletion(m: TxnMeta, loadEpoch: number): void {
    const owed = m.owed
    if (owed === null) return
    const completion: Promise<void> = this.#complete(m, owed, loadEpoch)
      .catch((err: unknown) => this.#logger.warn({ transactionalId: m.transactionalId, err: (err as Error).message }, 'transaction not completed here; its next coordinator completes it'))
      .finally(() => {
        if (m.completion === completion) m.completion = null
      })
    m.completion = completion
  }

  /** Writes the markers to every partition, retrying until all have them; then the transaction is Complete*, unless the producer's next one has begun. */
  async #complete(m: TxnMeta, owed: Owed, loadEpoch: number): Promise<void> {
    const stillCoordinator = (): boolean => !this.#closed && this.#loadEpoch.get(m.partition) === loadEpoch && this.#txns.get(m.transactionalId) === m
    let remaining: Map<string, Set<number>> = owed.partitions
    for (let round = 0; partitionCount(remaining) > 0; round++) {
      if (!stillCoordinator()) throw new StrandProtocolError('NOT_COORDINATOR', 'Leadership of the transaction state partition moved.')
      if (round > 0) await delay(this.#o.markerRetryBackoffMs, undefined, { ref: false })
      remaining = await this.#markers.round({ producerId: owed.producerId, producerEpoch: owed.markerEpoch, transactionEpoch: owed.producerEpoch, commit: owed.commit, coordinatorEpoch: this.#coordinatorEpoch.get(m.partition) ?? -1, partitions: remaining })
    }
    if (!stillCoordinator()) throw new StrandProtocolError('NOT_COORDINATOR', 'Leadership of the transaction state partition moved.')
    if (m.owed === owed) m.owed = null
    // A retried EndTxn is answered for a transaction its producer ended, not one the coordinator did.
    m.ended = owed.fenced ? null : { producerId: owed.producerId, producerEpoch: owed.producerEpoch, commit: owed.commit }
    // The producer's next transaction began beside the markers: its records named them owed, and
    // its next record (or a coordinator replaying, harmlessly) settles that.
    if (m.state !== (owed.commit ? 'PrepareCommit' : 'PrepareAbort')) return
    // Every partition has its marker: the transaction is over, and the id's next transaction may
    // begin. Its Complete* record is not written at once: a producer committing transaction after
    // transaction is usually waiting already with its next AddPartitionsToTxn, whose Ongoing
    // record supersedes the prepared one as well, so the Complete* record is written only if no
    // other record of the id follows within COMPLETE_WRITE_DELAY_MS. That takes a replicated write
    // off every transaction (npm run bench -- --workload txn). Until a record follows, a
    // coordinator taking over finds the prepared state and writes the markers again: harmless,
    // since where the next transaction has begun they are refused (an older epoch, or, at the same
    // epoch, no record of it can be there before its Ongoing record, after the prepared one).
    const change: Change = { state: owed.commit ? 'CompleteCommit' : 'CompleteAbort', partitions: new Map(), startMs: -1, owed: null }
    m.apply(change, this.#o.clock())
    this.#logger.debug({ transactionalId: m.transactionalId, state: m.state }, 'transaction complete')
    const written = m.writes
    setTimeout(() => this.#writeComplete(m, change, written, loadEpoch, 0), COMPLETE_WRITE_DELAY_MS).unref()
  }

  /** Writes a completed transaction's Complete* record, unless another record of the id was written since it completed. */
  #writeComplete(m: TxnMeta, change: Change, written: number, loadEpoch: number, attempt: number): void {
    if (this.#closed || m.writes !== written || m.state !== change.state || this.#loadEpoch.get(m.partition) !== loadEpoch || this.#txns.get(m.transactionalId) !== m) return
    if (m.pending) return // a write in flight supersedes it
    m.pending = true
    // Requests of the id wait for it (as for markers) rather than meet CONCURRENT_TRANSACTIONS.
    const completion: Promise<void> = this.#write(m, change, loadEpoch)
      .catch((err: unknown) => {
        this.#logger.debug({ transactionalId: m.transactionalId, err: (err as Error).message }, 'writing the Complete state failed; retrying')
        if (attempt < 10) setTimeout(() => this.#writeComplete(m, change, written, loadEpoch, attempt + 1), this.#o.markerRetryBackoffMs * (attempt + 1)).unref()
      })
      .finally(() => {
        m.pending = false
        if (m.completion === completion) m.completion = null
      })
    m.completion = completion
  }

  /** Aborts every open transaction past its timeout, bumping the epoch so its producer is fenced. */
  #abortTimedOut(): void {
    const now = this.#o.clock()
    for (const m of this.#txns.values()) {
      if (m.state !== 'Ongoing' || m.pending || m.completion !== null || m.owed !== null || m.startMs < 0 || now - m.startMs <= m.timeoutMs) continue
      if (this.#partitions.get(m.partition) !== 'loaded') continue
      const epoch = this.#loadEpoch.get(m.partition) ?? 0
      this.#logger.info({ transactionalId: m.transactionalId, timeoutMs: m.timeoutMs }, 'aborting a transaction open past its timeout')
      this.#prepareEnd(m, { commit: false, fence: true, nextEpoch: false }, epoch).catch((err: unknown) => this.#logger.warn({ transactionalId: m.transactionalId, err: (err as Error).message }, 'aborting a timed-out transaction failed; retried at the next check'))
    }
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    for (const index of [...this.#partitions.keys()]) this.#unload(index)
    this.#markers.close()
  }

  // --- the tools' requests (ListTransactions, DescribeTransactions: KIP-664; txn-admin.ts) ---

  listTransactions(filters: { states: readonly string[]; producerIds: readonly bigint[] }): Omit<ListTransactionsResponse, 'throttleTimeMs'> {
    return listTransactionStates(this.#txns.values(), this.#partitions, filters)
  }

  describeTransaction(transactionalId: string): DescribedTransactionState {
    try {
      this.#route(transactionalId)
      return describeTransactionState(this.#o.nodeId, transactionalId, this.#txns.get(transactionalId))
    } catch (err) {
      return describeTransactionError(transactionalId, err)
    }
  }
}
