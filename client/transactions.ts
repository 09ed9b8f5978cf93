// The transactional producer's side of KIP-98: its transactional id's coordinator (found with
// FindCoordinator key type 1, on a connection of its own, as a consumer's group coordinator), the
// producer id and epoch it gets there (InitProducerId), the partitions the current transaction
// has added (AddPartitionsToTxn, batched: every partition whose first batch waits when a round
// starts goes in one request), and the end of each transaction (EndTxn, version 1: its answer
// names the epoch the next transaction runs under, KIP-890, so the next may begin while the
// coordinator is still writing the ended one's markers; its batches start again at sequence 0).
//
// States: uninitialized --initTransactions--> ready --begin--> inTransaction --commit/abort--> ready
// and, from anywhere, fatal: a newer instance with the same transactional id fenced this one
// (PRODUCER_FENCED), or the coordinator refused the producer for good. Fatal is for good: every
// pending and later send fails with that error.
//
// Exactly-once consume-transform-produce (KIP-98 / KIP-447): sendOffsets() adds a group's
// `__consumer_offsets` partition to the transaction (AddOffsetsToTxn, to the transaction
// coordinator, once per group and transaction), then sends the offsets to the group's coordinator
// (TxnOffsetCommit, on a connection of its own found with FindCoordinator key type 0); they become
// the group's committed offsets only if the transaction commits.
//
// Retried here (with the cluster's retry options): NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS and a failed connection (find the coordinator again), and
// CONCURRENT_TRANSACTIONS (the previous transaction's markers are still being written).

import { ApiKey, type ApiKeyValue, type ApiTypes } from './protocol/apis.js'
import type { ProducerIdentity } from './accumulator.js'
import { backoffMs, sleep, type Cluster } from './cluster.js'
import { GroupCoordinator, isCoordinatorError, type CoordinatorConnectionOptions } from './group/coordinator.js'
import { IllegalStateError, StrandError, StrandProtocolError, wireError } from './errors.js'
import type { TopicPartitionOffsetValue } from './group/offsets.js'

/** FindCoordinator's key type for a transactional id. */
const KEY_TYPE_TRANSACTION = 1
/** Kafka's transaction.timeout.ms default. */
export const TRANSACTION_TIMEOUT_MS_DEFAULT = 60_000
/** Group coordinators' connections a producer keeps (one per group it sent offsets for, most recent). */
const GROUP_COORDINATORS_MAX = 16
/** Errors after which this producer instance can never write again. */
const FATAL_CODES: ReadonlySet<string> = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'TRANSACTION_COORDINATOR_FENCED', 'INVALID_TRANSACTION_TIMEOUT'])

export type TransactionState = 'uninitialized' | 'ready' | 'inTransaction' | 'committing' | 'aborting' | 'fatal'

/** Whether `err` ends this producer instance (a fenced epoch reads as PRODUCER_FENCED). */
export function isFatalTransactionError(err: unknown): err is StrandProtocolError {
  return err instanceof StrandProtocolError && FATAL_CODES.has(err.code)
}

/** The error a fenced producer fails with, whichever request found out. */
export function fencedError(err: StrandProtocolError, transactionalId: string): StrandProtocolError {
  if (err.code !== 'INVALID_PRODUCER_EPOCH') return err
  return new StrandProtocolError('PRODUCER_FENCED', `Transactional id "${transactionalId}": ${err.message}`, err)
}

export interface TransactionManagerOptions {
  cluster: Cluster
  transactionalId: string
  transactionTimeoutMs: number
  connection: CoordinatorConnectionOptions
  /** Partitions were added (or failed to be): the producer's sender looks again. */
  onChange: () => void
  /**
   * The transaction is doomed (a send failed: it can only abort) or this instance is fenced: the
   * producer fails every batch not sent yet with `err`.
   */
  onDoomed: (err: Error) => void
}

const partitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

/** The consumer a transaction's offsets are for (KIP-447): its group, and its member and generation when it is a member (else '' and -1, not checked). */
export interface TransactionGroup {
  groupId: string
  generationId: number
  memberId: string
}

export class TransactionManager {
  readonly transactionalId: string
  readonly #o: TransactionManagerOptions
  readonly #coordinator: GroupCoordinator
  state: TransactionState = 'uninitialized'
  identity: ProducerIdentity | null = null
  /** Why this instance can no longer write (fatal state). */
  fatalError: StrandProtocolError | null = null
  /** A failure in the current transaction: it can only be aborted. */
  abortableError: Error | null = null
  /** Partitions the coordinator has in the current transaction. */
  readonly #added = new Set<string>()
  /** Partitions whose first batch waits for AddPartitionsToTxn. */
  readonly #toAdd = new Map<string, { topic: string; partition: number }>()
  #adding: Promise<void> | null = null
  #initializing: Promise<void> | null = null
  /** Groups whose offsets partition the coordinator has in the current transaction (AddOffsetsToTxn done). */
  readonly #offsetGroups = new Set<string>()
  /** Group coordinators' connections for TxnOffsetCommit, by group id, oldest first. */
  readonly #groupCoordinators = new Map<string, GroupCoordinator>()

  constructor(options: TransactionManagerOptions) {
    this.transactionalId = options.transactionalId
    this.#o = options
    this.#coordinator = new GroupCoordinator({ cluster: options.cluster, groupId: options.transactionalId, connection: options.connection, keyType: KEY_TYPE_TRANSACTION })
  }

  /** Gets (or bumps) the producer epoch: the previous instance with this id is fenced, its open transaction aborted. */
  init(): Promise<void> {
    if (this.state === 'fatal') return Promise.reject(this.fatalError)
    if (this.state !== 'uninitialized') return Promise.resolve()
    this.#initializing ??= this.#init().finally(() => (this.#initializing = null))
    return this.#initializing
  }

  async #init(): Promise<void> {
    const res = await this.#request(ApiKey.InitProducerId, { transactionalId: this.transactionalId, transactionTimeoutMs: this.#o.transactionTimeoutMs, producerId: -1n, producerEpoch: -1 }, (r) => wireError(r.errorCode, null, `InitProducerId for "${this.transactionalId}":`))
    this.identity = { producerId: res.producerId, producerEpoch: res.producerEpoch }
    this.state = 'ready'
  }

  begin(): void {
    this.#checkNotFatal()
    if (this.state === 'uninitialized') throw new IllegalStateError('beginTransaction() before initTransactions().')
    if (this.state !== 'ready') throw new IllegalStateError(`beginTransaction() while a transaction is ${this.state === 'inTransaction' ? 'open' : this.state}.`)
    this.state = 'inTransaction'
    this.abortableError = null
  }

  #checkNotFatal(): void {
    if (this.state === 'fatal') throw this.fatalError as StrandProtocolError
  }

  /** Whether the partition is in the current transaction; else it is queued for the next AddPartitionsToTxn round. */
  ensureAdded(topic: string, partition: number): boolean {
    const key = partitionKey(topic, partition)
    if (this.#added.has(key)) return true
    if (this.state !== 'fatal' && !this.#toAdd.has(key)) {
      this.#toAdd.set(key, { topic, partition })
      this.#adding ??= this.#addRounds().finally(() => {
        this.#adding = null
        this.#o.onChange()
      })
    }
    return false
  }

  async #addRounds(): Promise<void> {
    // The sender asks for every partition of its drain in one synchronous pass: the first round
    // takes them all once that pass is over, not only the first (which would cost the rest a
    // second AddPartitionsToTxn, and the transaction a second replicated state write).
    await Promise.resolve()
    while (this.#toAdd.size > 0 && this.state !== 'fatal') {
      const round = [...this.#toAdd.values()]
      const byTopic = new Map<string, number[]>()
      for (const { topic, partition } of round) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition])
      const identity = this.identity as ProducerIdentity
      try {
        await this.#request(ApiKey.AddPartitionsToTxn, { transactionalId: this.transactionalId, producerId: identity.producerId, producerEpoch: identity.producerEpoch, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) }, (r) => {
          for (const t of r.results) {
            for (const p of t.results) {
              const err = wireError(p.errorCode, null, `AddPartitionsToTxn ${t.name}-${p.partitionIndex}:`)
              if (err !== null) return err
            }
          }
          return null
        })
        for (const { topic, partition } of round) {
          const key = partitionKey(topic, partition)
          this.#added.add(key)
          this.#toAdd.delete(key)
        }
      } catch (err) {
        for (const { topic, partition } of round) this.#toAdd.delete(partitionKey(topic, partition))
        this.#fail(err)
      }
      this.#o.onChange()
    }
  }

  /** A failure in the current transaction: fatal if it fences this instance, else the transaction can only abort. */
  #fail(err: unknown): void {
    if (err instanceof StrandProtocolError && isFatalTransactionError(err)) {
      this.fatal(fencedError(err, this.transactionalId))
      return
    }
    const first = this.abortableError === null
    this.abortableError ??= err instanceof Error ? err : new Error(String(err))
    if (first) this.#o.onDoomed(this.abortableError)
  }

  fatal(err: StrandProtocolError): void {
    if (this.state === 'fatal') return
    this.state = 'fatal'
    this.fatalError = err
    this.#toAdd.clear()
    this.#o.onDoomed(err)
  }

  /** A batch of the current transaction failed for good. */
  batchFailed(err: Error): void {
    this.#fail(err)
  }

  /** Waits for the AddPartitionsToTxn rounds in flight (commit and abort flush after this). */
  async settled(): Promise<void> {
    while (this.#adding !== null) await this.#adding
  }

  /**
   * Adds the group's offsets to the current transaction (Kafka's sendOffsetsToTransaction):
   * AddOffsetsToTxn to the transaction coordinator (once per group and transaction), then
   * TxnOffsetCommit to the group's coordinator, retrying only the partitions whose error is
   * retriable. The offsets become the group's committed offsets only if the transaction commits.
   * A failure dooms the transaction (it can only abort), or ends this instance if it is fenced.
   */
  async sendOffsets(group: TransactionGroup, offsets: readonly TopicPartitionOffsetValue[]): Promise<void> {
    this.#checkNotFatal()
    if (this.state !== 'inTransaction') throw new IllegalStateError(`sendOffsets() with no open transaction (${this.state}).`)
    if (this.abortableError !== null) throw new IllegalStateError(`The transaction cannot take offsets: a send in it failed (${this.abortableError.message}); abort it.`)
    if (offsets.length === 0) return
    const identity = this.identity as ProducerIdentity
    try {
      if (!this.#offsetGroups.has(group.groupId)) {
        await this.#request(ApiKey.AddOffsetsToTxn, { transactionalId: this.transactionalId, producerId: identity.producerId, producerEpoch: identity.producerEpoch, groupId: group.groupId }, (r) => wireError(r.errorCode, null, `AddOffsetsToTxn for group "${group.groupId}":`))
        this.#offsetGroups.add(group.groupId)
      }
      await this.#txnOffsetCommit(group, identity, offsets)
    } catch (err) {
      this.#fail(err)
      // #fail may have made this instance fatal (TS narrowed the state before the awaits).
      throw (this.state as TransactionState) === 'fatal' ? this.fatalError : err
    }
  }

  async #txnOffsetCommit(group: TransactionGroup, identity: ProducerIdentity, offsets: readonly TopicPartitionOffsetValue[]): Promise<void> {
    const retry = this.#o.cluster.retryOptions
    const coordinator = this.#groupCoordinator(group.groupId)
    // The last offset given for a partition wins, as with commit().
    let pending = [...new Map(offsets.map((o) => [partitionKey(o.topic, o.partition), o])).values()]
    for (let attempt = 0; ; attempt++) {
      const failed = new Map<string, StrandError>()
      const byTopic = new Map<string, TopicPartitionOffsetValue[]>()
      for (const o of pending) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o])
      const body = {
        transactionalId: this.transactionalId,
        groupId: group.groupId,
        producerId: identity.producerId,
        producerEpoch: identity.producerEpoch,
        generationId: group.generationId,
        memberId: group.memberId,
        topics: [...byTopic].map(([name, list]) => ({ name, partitions: list.map((o) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, committedMetadata: null })) })),
      }
      try {
        const res = await coordinator.request(ApiKey.TxnOffsetCommit, body)
        const codes = new Map<string, number>()
        for (const t of res.topics) for (const p of t.partitions) codes.set(partitionKey(t.name, p.partitionIndex), p.errorCode)
        for (const o of pending) {
          const code = codes.get(partitionKey(o.topic, o.partition))
          const err = code === undefined ? new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The TxnOffsetCommit response has no result for ${o.topic}-${o.partition}.`) : wireError(code, null, `TxnOffsetCommit ${o.topic}-${o.partition} for group "${group.groupId}":`)
          if (err !== null) failed.set(partitionKey(o.topic, o.partition), err)
        }
      } catch (err) {
        const e = err instanceof StrandError ? err : new StrandError('UNKNOWN_SERVER_ERROR', String(err), { retriable: false, cause: err })
        for (const o of pending) failed.set(partitionKey(o.topic, o.partition), e)
      }
      if (failed.size === 0) return
      const errors = [...failed.values()]
      if (errors.some(isCoordinatorError)) coordinator.reset()
      const permanent = errors.find((e) => !isCoordinatorError(e) && !e.retriable)
      if (permanent !== undefined) throw permanent
      if (attempt >= retry.retriesMax || this.#o.cluster.closed) throw errors[0]
      pending = pending.filter((o) => failed.has(partitionKey(o.topic, o.partition)))
      await sleep(backoffMs(retry, attempt + 1))
    }
  }

  #groupCoordinator(groupId: string): GroupCoordinator {
    let c = this.#groupCoordinators.get(groupId)
    if (c === undefined) {
      // A producer sends one group's offsets at a time in practice; the bound keeps a long-lived
      // producer that serves many groups from holding a connection per group forever.
      if (this.#groupCoordinators.size >= GROUP_COORDINATORS_MAX) {
        const [oldest, conn] = this.#groupCoordinators.entries().next().value as [string, GroupCoordinator]
        conn.close()
        this.#groupCoordinators.delete(oldest)
      }
      c = new GroupCoordinator({ cluster: this.#o.cluster, groupId, connection: this.#o.connection })
      this.#groupCoordinators.set(groupId, c)
    }
    return c
  }

  /** EndTxn: commit or abort the current transaction; nothing to send if it added no partition and no offsets. */
  async end(commit: boolean): Promise<void> {
    this.#checkNotFatal()
    if (this.#added.size > 0 || this.#offsetGroups.size > 0) {
      const identity = this.identity as ProducerIdentity
      try {
        const res = await this.#request(ApiKey.EndTxn, { transactionalId: this.transactionalId, producerId: identity.producerId, producerEpoch: identity.producerEpoch, committed: commit, bumpEpoch: true }, (r) => wireError(r.errorCode, null, `EndTxn(${commit ? 'commit' : 'abort'}) for "${this.transactionalId}":`))
        // EndTxn v1 (KIP-890): the next transaction's producer id and epoch. A broker that
        // answers at version 0 keeps the epoch (the field is then absent).
        if (typeof res.producerId === 'bigint' && res.producerId >= 0n) this.identity = { producerId: res.producerId, producerEpoch: res.producerEpoch }
      } catch (err) {
        if (isFatalTransactionError(err)) this.fatal(fencedError(err, this.transactionalId))
        throw this.state === 'fatal' ? this.fatalError : err
      }
    }
    this.#added.clear()
    this.#offsetGroups.clear()
    this.abortableError = null
    this.state = 'ready'
  }

  /** A request to the coordinator, retried while the coordinator moves or the previous transaction completes. */
  async #request<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request'], check: (res: ApiTypes[K]['response']) => StrandProtocolError | null): Promise<ApiTypes[K]['response']> {
    const retry = this.#o.cluster.retryOptions
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#coordinator.request(apiKey, body)
        const err = check(res)
        if (err !== null) throw err
        return res
      } catch (err) {
        if (isCoordinatorError(err)) this.#coordinator.reset()
        const again = isCoordinatorError(err) || (err instanceof StrandProtocolError && err.code === 'CONCURRENT_TRANSACTIONS')
        if (!again || attempt >= retry.retriesMax || this.#o.cluster.closed) throw err instanceof StrandError ? err : new StrandError('UNKNOWN_SERVER_ERROR', String(err), { retriable: false, cause: err })
        await sleep(backoffMs(retry, attempt + 1))
      }
    }
  }

  close(): void {
    this.#coordinator.close()
    for (const c of this.#groupCoordinators.values()) c.close()
    this.#groupCoordinators.clear()
  }
}
