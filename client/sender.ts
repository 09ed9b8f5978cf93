// The producer's sender: the loop that takes ready batches from the accumulator (accumulator.ts),
// sends each leader one Produce request carrying every ready partition it leads, and settles each
// batch from its own partition's outcome. Only the Producer (producer.ts) makes and calls it: it
// wakes the sender when records are appended or a flush starts, and settles batches through it
// when a transaction is doomed.
//
// Retries (kafkajs got this wrong): only the partitions that failed with a retriable error are
// sent again, never those that succeeded, and a retried batch is re-sent before anything sent
// after it (accumulator.ts), so per-partition order holds. An error that says the metadata may be
// wrong (NOT_LEADER_OR_FOLLOWER, a leader epoch refused, a lost connection) marks it stale, and
// the retry waits for the refresh rather than go to the old leader again.
//
// Idempotence (KIP-98, on by default with acks=all): the sender gets a producer id from any
// broker (InitProducerId) before its first send, and stamps it with a per-partition sequence
// into every batch. The leader keeps its producers' last 5 batches per partition: a retry of one
// of them (its acknowledgement was lost with a connection, a timeout, a leader change) is
// answered with the original offset instead of being appended again, so retries never
// duplicate; a batch whose sequence does not follow the last appended one is refused
// (OUT_OF_ORDER_SEQUENCE_NUMBER), which is what keeps order with up to 5 batches per partition
// in flight. Such a refusal while an earlier batch of the partition is still unsettled only means
// that one has not landed yet: the batch is re-sent after it. Otherwise (and on
// UNKNOWN_PRODUCER_ID) the leader has lost track of the producer's sequence: the batch fails,
// saying its records may or may not be in the log, and the sender takes a new producer id,
// whose sequences start again at 0 on every partition. So does any failure for good of a batch
// that was sent, since the hole it may leave in the sequence would stall the partition.
//
// Without idempotence, a retry after a lost response may duplicate a batch; that is inherent to
// at-least-once delivery, and why retries are bounded (`retries`). And since nothing refuses the
// batches sent after one that failed, a retried batch lands after them when more than one batch of
// its partition is in flight (maxInflightPerPartition, default 5 as Kafka's
// max.in.flight.requests.per.connection): 1 keeps strict per-partition order under retries.

import { ApiKey } from './protocol/apis.js'
import type { ProduceRequest, ProduceResponse } from './protocol/messages/produce.js'
import type { Accumulator, ByteBudget, ProducerBatch, ProducerIdentity } from './accumulator.js'
import { backoffMs, needsMetadataRefresh, type Cluster } from './cluster.js'
import { isRetriable, StrandError, StrandProtocolError, wireError } from './errors.js'
import { REQUEST_FIXED_BYTES, type ResolvedProducerOptions } from './producer-options.js'
import { fencedError, TRANSACTION_TIMEOUT_MS_DEFAULT, type TransactionManager } from './transactions.js'
import { Wakeup } from './wakeup.js'

/** Sent in a non-transactional InitProducerId, where the broker ignores it. */
const TRANSACTION_TIMEOUT_MS = TRANSACTION_TIMEOUT_MS_DEFAULT

/** Room per partition entry (index, length prefix) on top of the batch and topic name. */
const PARTITION_ENTRY_BYTES = 16

/** What the sender works with, all of it owned by the Producer that makes it. */
export interface SenderContext {
  cluster: Cluster
  clock: () => number
  /** The client's request timeout: a Produce gets it on top of the leader's timeoutMs. */
  requestTimeoutMs: number
  options: ResolvedProducerOptions
  accumulator: Accumulator
  /** Each batch's reserved bytes go back here when it settles. */
  budget: ByteBudget
  /** A transactional producer's transaction state; null otherwise. */
  txn: TransactionManager | null
  /** Whether the producer wants ready batches sent without lingering (a flush or a close waits). */
  sendNow: () => boolean
  /** A batch settled (after its bytes went back to the budget, before its promise settles). */
  onSettled: (batch: ProducerBatch) => void
}

/** The leader refused a batch's sequence: it was not appended (this time). */
function isSequenceRefusal(err: Error): err is StrandProtocolError {
  return err instanceof StrandProtocolError && (err.code === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || err.code === 'UNKNOWN_PRODUCER_ID')
}

/** The error a batch fails with when its leader lost track of the producer's sequence. */
function lostSequence(b: ProducerBatch, err: StrandProtocolError): StrandProtocolError {
  return new StrandProtocolError(
    err.code,
    `${b.topic}-${b.partition}: the leader refused sequence ${b.baseSequence} of producer ${b.producerId} with no earlier batch of it pending, ` +
      `so it has lost track of this producer's sequence. The batch's ${b.recordCount} records may or may not be in the log ` +
      `(an earlier attempt may have been appended); the producer goes on with a new producer id.`,
    err,
  )
}

/**
 * One Produce body for batches that all go to the same broker, grouped by topic. Each partition
 * carries the leader epoch the metadata gives it, the same metadata that chose the broker, so a
 * broker that leads it at another epoch refuses the batch instead of appending it (KIP-320;
 * Produce v1, dropped when the broker speaks only v0).
 */
function produceBody(batches: readonly ProducerBatch[], acks: number, timeoutMs: number, cluster: Cluster, transactionalId: string | null): ProduceRequest {
  const byTopic = new Map<string, ProduceRequest['topics'][number]>()
  for (const b of batches) {
    let t = byTopic.get(b.topic)
    if (t === undefined) {
      t = { name: b.topic, partitions: [] }
      byTopic.set(b.topic, t)
    }
    t.partitions.push({ index: b.partition, currentLeaderEpoch: cluster.cachedLeaderEpoch(b.topic, b.partition), records: b.encoded as Buffer })
  }
  return { transactionalId, acks, timeoutMs, topics: [...byTopic.values()] }
}

type PartitionResponse = ProduceResponse['topics'][number]['partitions'][number]

function responsesByPartition(res: ProduceResponse): Map<string, PartitionResponse> {
  const m = new Map<string, PartitionResponse>()
  for (const t of res.topics) for (const p of t.partitions) m.set(`${t.name}\u0000${p.index}`, p)
  return m
}

export class Sender {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #o: ResolvedProducerOptions
  readonly #accumulator: Accumulator
  readonly #budget: ByteBudget
  readonly #txn: TransactionManager | null
  readonly #sendNow: () => boolean
  readonly #onSettled: (batch: ProducerBatch) => void
  /** A drain is queued for the next turn of the event loop (setImmediate). */
  #drainScheduled = false
  /** Wakes the loop at the earliest time it asked for (client/wakeup.ts). */
  readonly #wakeup: Wakeup
  /** A metadata refresh started by the sender is in flight. */
  #refreshing = false
  /** Refreshes that failed in a row, and when the next may start: brokers that are down are not hammered. */
  #refreshFailures = 0
  #refreshAtMs = 0
  /** The id, epoch and sequences' owner stamped into new batches; null before InitProducerId answers and after a reset. */
  #identity: ProducerIdentity | null = null
  /** InitProducerId in flight. */
  #initializing = false
  /** InitProducerId calls that failed in a row (each after the cluster's retries), and when the next may start. */
  #initFailures = 0
  #initAtMs = 0

  constructor(context: SenderContext) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#o = context.options
    this.#accumulator = context.accumulator
    this.#budget = context.budget
    this.#txn = context.txn
    this.#sendNow = context.sendNow
    this.#onSettled = context.onSettled
    this.#wakeup = new Wakeup(this.#clock, () => this.#drain())
  }

  /** The producer identity new batches are stamped with; a transactional producer sets its coordinator's. */
  get identity(): ProducerIdentity | null {
    return this.#identity
  }

  set identity(identity: ProducerIdentity | null) {
    this.#identity = identity
  }

  /** Looks at the accumulator again soon: something was appended, a flush started, a state changed. */
  wake(): void {
    if (this.#drainScheduled) return
    this.#drainScheduled = true
    // setImmediate, not a microtask: with lingerMs 0, records appended in the same tick share a batch.
    setImmediate(() => this.#drain())
  }

  /** No timed wake-up from now on (the producer is closing; what is in flight still settles). */
  close(): void {
    this.#wakeup.cancel()
  }

  #drain(): void {
    this.#drainScheduled = false
    const now = this.#clock()
    const flushAll = this.#sendNow() || this.#budget.waiting
    const { ready, nextReadyMs, needsProducerId } = this.#accumulator.ready(now, { flushAll, producer: this.#identity })
    const byNode = new Map<number, ProducerBatch[][]>()
    const leaderless: ProducerBatch[] = []
    for (const batches of ready) {
      const head = batches[0] as ProducerBatch
      // A retry waits for the refresh its failure asked for, rather than go to the old leader again.
      if (this.#refreshing && head.attempts > 0) continue
      // A transaction's first batch to a partition waits until the coordinator has the partition.
      if (this.#txn !== null && head.sendOrder < 0 && !this.#txn.ensureAdded(head.topic, head.partition)) continue
      const leader = this.#cluster.cachedLeader(head.topic, head.partition)
      if (leader === undefined) {
        leaderless.push(head)
        continue
      }
      const list = byNode.get(leader) ?? []
      list.push(batches)
      byNode.set(leader, list)
    }
    for (const [nodeId, partitions] of byNode) this.#sendTo(nodeId, partitions)
    let nextMs = nextReadyMs
    // A transactional producer's id comes from initTransactions(), from its coordinator.
    if (needsProducerId && this.#txn === null) {
      if (now >= this.#initAtMs) void this.#initProducerId()
      else nextMs = Math.min(nextMs, this.#initAtMs)
    }
    if (leaderless.length > 0 || this.#cluster.stale) {
      if (now >= this.#refreshAtMs) void this.#refreshMetadata(leaderless)
      else if (leaderless.length > 0) nextMs = Math.min(nextMs, this.#refreshAtMs)
    }
    this.#wakeup.at(nextMs)
  }

  /**
   * Takes and encodes the batches (per partition, in the order they must leave) and sends them
   * in rounds: round r carries each partition's r-th batch, since a request holds one batch per
   * partition (the leader refuses two idempotent batches of a partition in one request). Rounds
   * go out in order on the one connection to the leader, which answers them in order; a round is
   * split into requests of at most requestBytesMax.
   */
  #sendTo(nodeId: number, partitions: readonly ProducerBatch[][]): void {
    let rounds = 0
    for (const list of partitions) rounds = Math.max(rounds, list.length)
    for (let r = 0; r < rounds; r++) {
      let group: ProducerBatch[] = []
      let groupBytes = REQUEST_FIXED_BYTES
      for (const list of partitions) {
        const b = list[r]
        if (b === undefined) continue
        const encoded = this.#takeAndEncode(b)
        if (encoded === null) continue
        const bytes = encoded.length + PARTITION_ENTRY_BYTES + Buffer.byteLength(b.topic)
        if (group.length > 0 && groupBytes + bytes > this.#o.requestBytesMax) {
          void this.#produce(nodeId, group)
          group = []
          groupBytes = REQUEST_FIXED_BYTES
        }
        group.push(b)
        groupBytes += bytes
      }
      if (group.length > 0) void this.#produce(nodeId, group)
    }
  }

  /** Takes a ready batch (stamping it, the first time) and encodes it once; null if it failed. */
  #takeAndEncode(b: ProducerBatch): Buffer | null {
    this.#accumulator.take(b, this.#identity)
    try {
      return b.encode(this.#o.compression)
    } catch (err) {
      this.#fail(b, err as Error)
      return null
    }
  }

  /**
   * Gets a producer id for new batches (the first, or a new one after a reset), retried with the
   * cluster's retry options. If none comes, the batches waiting for it fail rather than wait
   * forever; later sends try again after a backoff.
   */
  async #initProducerId(): Promise<void> {
    if (this.#initializing) return
    this.#initializing = true
    try {
      const res = await this.#cluster.retry(async () => {
        const r = await this.#cluster.requestAny(ApiKey.InitProducerId, { transactionalId: null, transactionTimeoutMs: TRANSACTION_TIMEOUT_MS, producerId: -1n, producerEpoch: -1 })
        const err = wireError(r.errorCode, null, 'InitProducerId:')
        if (err !== null) throw err
        return r
      })
      this.#identity = { producerId: res.producerId, producerEpoch: res.producerEpoch }
      this.#initFailures = 0
    } catch (err) {
      this.#initFailures++
      this.#initAtMs = this.#clock() + backoffMs(this.#o.retry, this.#initFailures)
      // The typed error as it came (a wire error's message names InitProducerId), so its code tells what failed.
      const error = err instanceof StrandError ? err : new StrandError('UNKNOWN_SERVER_ERROR', `InitProducerId failed: ${String(err)}`, { retriable: false, cause: err })
      for (const b of this.#accumulator.removeUnsent()) this.settle(b, error)
    } finally {
      this.#initializing = false
      this.wake()
    }
  }

  /**
   * Stops stamping new batches with `stale` (the id of a batch that failed): the next drain gets
   * a new id, and each partition switches to it, at sequence 0, once its batches sent under the
   * old one are settled. A failure under an id already replaced changes nothing.
   */
  #resetProducerId(stale: ProducerBatch): void {
    const current = this.#identity
    if (current === null || current.producerId !== stale.producerId || current.producerEpoch !== stale.producerEpoch) return
    this.#identity = null
  }

  async #produce(nodeId: number, batches: ProducerBatch[]): Promise<void> {
    try {
      const conn = this.#cluster.connectionTo(nodeId)
      const body = produceBody(batches, this.#o.acks, this.#o.timeoutMs, this.#cluster, this.#o.transactionalId)
      if (this.#o.acks === 0) {
        await conn.send(ApiKey.Produce, body)
        for (const b of batches) this.settle(b, -1n)
      } else {
        // The leader may hold the request for timeoutMs waiting for the ISR; the network gets its own allowance.
        const res = await conn.request(ApiKey.Produce, body, { timeoutMs: this.#o.timeoutMs + this.#requestTimeoutMs })
        this.#onResponse(batches, res)
      }
    } catch (err) {
      for (const b of batches) this.#onFailure(b, err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.wake()
    }
  }

  #onResponse(batches: readonly ProducerBatch[], res: ProduceResponse): void {
    const byPartition = responsesByPartition(res)
    for (const b of batches) {
      const p = byPartition.get(`${b.topic}\u0000${b.partition}`)
      if (p === undefined) {
        // Whether the broker appended it is unknown, so a retry could duplicate: fail it instead.
        this.#fail(b, new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The Produce response has no result for ${b.topic}-${b.partition}.`))
        continue
      }
      const err = wireError(p.errorCode, p.errorMessage, `${b.topic}-${b.partition}:`)
      if (err === null) this.settle(b, p.baseOffset)
      else this.#onFailure(b, err)
    }
  }

  /** Retries a batch after a retriable error (within `retries`), else fails it for good. */
  #onFailure(b: ProducerBatch, err: Error): void {
    if (b.producerId >= 0n && isSequenceRefusal(err)) {
      // Not appended this time. If a batch sent before it is unsettled, that one has not landed
      // yet: re-send this one after it, without a backoff or an attempt (it is bounded: re-sent
      // only once everything before it is settled, it is then either appended or refused again
      // with nothing pending before it).
      if (this.#accumulator.hasEarlierUnsettled(b)) this.#accumulator.requeue(b, 0)
      else this.#fail(b, lostSequence(b, err))
      return
    }
    if (!isRetriable(err) || b.attempts >= this.#o.retries) {
      this.#fail(b, err)
      return
    }
    b.attempts++
    if (needsMetadataRefresh(err)) this.#cluster.invalidate()
    this.#accumulator.requeue(b, this.#clock() + backoffMs(this.#o.retry, b.attempts))
  }

  /**
   * Fails a batch for good. A stamped batch that failed may be missing from its partition's log,
   * a hole after which the leader would refuse every later sequence: new batches get a new
   * producer id instead.
   */
  #fail(b: ProducerBatch, err: Error): void {
    if (this.#txn !== null) {
      // In a transaction the producer id is the transactional id's: it is never reset. A stale
      // epoch means a newer instance took over (fatal); any other failure dooms the transaction.
      const error = err instanceof StrandProtocolError ? fencedError(err, this.#txn.transactionalId) : err
      this.settle(b, error)
      this.#txn.batchFailed(error)
      return
    }
    this.settle(b, err)
    if (b.producerId >= 0n) this.#resetProducerId(b)
  }

  /** Completes a batch: frees its in-flight slot and its bytes, then settles its promise, exactly once. */
  settle(b: ProducerBatch, outcome: bigint | Error): void {
    if (b.settled) throw new Error(`${b.topic}-${b.partition}: a batch is settled twice`)
    this.#accumulator.complete(b)
    this.#budget.release(b.reservedBytes)
    this.#onSettled(b)
    if (typeof outcome === 'bigint') b.resolve(outcome)
    else b.reject(outcome)
  }

  /**
   * Refreshes metadata for partitions with no known leader. Each refresh that still finds none
   * counts as an attempt of the waiting batch, so a partition that stays leaderless fails its
   * records after `retries` instead of holding them (and the buffer) forever.
   */
  async #refreshMetadata(leaderless: readonly ProducerBatch[]): Promise<void> {
    if (this.#refreshing) return
    this.#refreshing = true
    let error: Error | null = null
    try {
      await this.#cluster.refresh()
      this.#refreshFailures = 0
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err))
      this.#refreshFailures++
      this.#refreshAtMs = this.#clock() + backoffMs(this.#o.retry, this.#refreshFailures)
    } finally {
      this.#refreshing = false
    }
    const now = this.#clock()
    for (const b of leaderless) {
      if (!this.#accumulator.isWaitingHead(b) || this.#cluster.cachedLeader(b.topic, b.partition) !== undefined) continue
      b.attempts++
      if (b.attempts <= this.#o.retries) {
        b.retryAtMs = now + backoffMs(this.#o.retry, b.attempts)
        continue
      }
      this.#accumulator.abandon(b)
      this.#fail(b, error ?? new StrandProtocolError('LEADER_NOT_AVAILABLE', `${b.topic}-${b.partition} had no leader after ${b.attempts} metadata refreshes.`))
    }
    this.wake()
  }
}
