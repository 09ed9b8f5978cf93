// The admin client's transactions (Admin delegates here), as Kafka's `kafka-transactions.sh`:
// every transactional id of the cluster (each broker lists those of the `__transaction_state`
// partitions it leads), and ids' state at their coordinators, found with FindCoordinator and
// asked again while a coordinator moves or loads, until the request timeout.

import type { AdminScope } from './admin-scope.js'
import { backoffMs, needsMetadataRefresh, sleep } from './cluster.js'
import { ClosedError, errorFromCode, InvalidArgumentError, StrandError, StrandProtocolError, wireError } from './errors.js'
import { isCoordinatorError } from './group/coordinator.js'
import { ApiKey } from './protocol/apis.js'
import { TRANSACTION_STATES, type DescribedTransactionState, type TransactionStateName } from './protocol/messages/transaction-admin.js'

/** FindCoordinator's key type for a transactional id. */
const KEY_TYPE_TRANSACTION = 1

export type { TransactionStateName }

export interface ListTransactionsOptions {
  /** Only transactions in one of these states; default every state. */
  states?: readonly TransactionStateName[]
  /** Only transactions of these producer ids; default every producer. */
  producerIds?: readonly bigint[]
}

/** A transactional id as its coordinator lists it. */
export interface TransactionListing {
  transactionalId: string
  producerId: bigint
  /** Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or CompleteAbort. */
  state: string
  /** The broker coordinating the id (the leader of its `__transaction_state` partition). */
  coordinatorId: number
}

/** A transactional id's state at its coordinator, or why it could not be described. */
export interface TransactionDescription {
  transactionalId: string
  /** The broker that answered for it; -1 when none did. */
  coordinatorId: number
  /** Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or CompleteAbort; '' when `error` is set. */
  state: string
  producerId: bigint
  producerEpoch: number
  /** The producer's transaction timeout (transactionTimeoutMs): an open transaction older than it is aborted. */
  timeoutMs: number
  /** When the open transaction added its first partition, ms since the epoch; -1 when none is open. */
  startTimeMs: number
  /** The open transaction's partitions, sorted by topic and partition. */
  partitions: Array<{ topic: string; partition: number }>
  /** TRANSACTIONAL_ID_NOT_FOUND, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, ...; null on success. */
  error: StrandError | null
}

function asStrandError(err: unknown): StrandError {
  if (err instanceof StrandError) return err
  return new StrandProtocolError('UNKNOWN_SERVER_ERROR', (err as Error)?.message ?? String(err), err)
}

/**
 * Every transactional id of the cluster with its producer id and state, sorted by id (Kafka's
 * `kafka-transactions.sh list`). Each broker lists the ids of the `__transaction_state`
 * partitions it leads, so every live broker is asked; one that still cannot answer after the
 * retries (COORDINATOR_LOAD_IN_PROGRESS while it loads a partition) fails the call rather than
 * leave its ids out silently. A broker whose coordinator has not started
 * (COORDINATOR_NOT_AVAILABLE) leads none of those partitions: nothing to list there (as Kafka's
 * admin client reads it).
 */
export async function listTransactions(scope: AdminScope, options: ListTransactionsOptions = {}): Promise<TransactionListing[]> {
  scope.checkOpen()
  const stateFilters = [...(options.states ?? [])]
  for (const s of stateFilters) if (!(TRANSACTION_STATES as readonly string[]).includes(s)) throw new InvalidArgumentError(`Unknown transaction state ${JSON.stringify(s)}; expected one of ${TRANSACTION_STATES.join(', ')}.`)
  const producerIdFilters = [...(options.producerIds ?? [])]
  for (const p of producerIdFilters) if (typeof p !== 'bigint' || p < 0n) throw new InvalidArgumentError(`A producer id is a bigint >= 0, got ${String(p)}.`)
  await scope.cluster.retry(() => scope.cluster.refresh())
  const md = await scope.metadata([])
  const perBroker = await Promise.all(
    md.brokers.map((b) =>
      scope.cluster.retry(async (): Promise<TransactionListing[]> => {
        // A state a broker does not know (in unknownStateFilters) matches nothing there, which is the right answer.
        const res = await scope.cluster.connectionTo(b.nodeId).request(ApiKey.ListTransactions, { stateFilters, producerIdFilters })
        const err = errorFromCode(res.errorCode, `Broker ${b.nodeId}.`)
        if (err?.code === 'COORDINATOR_NOT_AVAILABLE') return []
        if (err !== null) throw err
        return res.transactionStates.map((s) => ({ transactionalId: s.transactionalId, producerId: s.producerId, state: s.transactionState, coordinatorId: b.nodeId }))
      }),
    ),
  )
  // While a state partition changes leader, the old and the new leader may both list its ids: one entry each.
  const byId = new Map<string, TransactionListing>()
  for (const l of perBroker.flat()) byId.set(l.transactionalId, l)
  return [...byId.values()].sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0))
}

/**
 * Transactional ids' state at their coordinators (Kafka's `kafka-transactions.sh describe`), one
 * result per id in the order asked, each with its own error (TRANSACTIONAL_ID_NOT_FOUND for an
 * id no producer has initialized). Each id's coordinator is found first (FindCoordinator key
 * type 1); while a coordinator moves or loads (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
 * COORDINATOR_LOAD_IN_PROGRESS, a lost connection) the id is asked again, until the request
 * timeout has passed, then its result carries that error.
 */
export async function describeTransactions(scope: AdminScope, transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
  scope.checkOpen()
  for (const id of transactionalIds) if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('A transactional id is a non-empty string.')
  const deadlineMs = scope.clock() + scope.requestTimeoutMs
  const done = new Map<string, TransactionDescription>()
  await scope.cluster.retry(() => scope.cluster.refresh())
  let pending = [...new Set(transactionalIds)]
  for (let attempt = 1; pending.length > 0; attempt++) {
    const again = await describeTransactionsOnce(scope, pending, done)
    pending = [...again.keys()]
    const pauseMs = backoffMs(scope.cluster.retryOptions, attempt)
    if (pending.length > 0 && scope.clock() + pauseMs >= deadlineMs) {
      for (const [id, err] of again) done.set(id, failedDescription(id, err))
      break
    }
    if (pending.length > 0) await sleep(pauseMs)
    scope.checkOpen()
    if (scope.cluster.stale) await scope.cluster.refresh().catch(() => undefined)
  }
  return transactionalIds.map((id) => done.get(id) as TransactionDescription)
}

/**
 * One round of describeTransactions: each id's coordinator, then one DescribeTransactions per
 * coordinator. Settled ids go into `done`; returns the others with the retriable error of each.
 */
async function describeTransactionsOnce(scope: AdminScope, ids: readonly string[], done: Map<string, TransactionDescription>): Promise<Map<string, StrandError>> {
  const again = new Map<string, StrandError>()
  const settle = (id: string, e: unknown, coordinatorId = -1): void => {
    const err = asStrandError(e)
    if (err instanceof ClosedError) throw err
    if (isCoordinatorError(err) || err.retriable) {
      if (needsMetadataRefresh(err)) scope.cluster.invalidate()
      again.set(id, err)
    } else done.set(id, failedDescription(id, err, coordinatorId))
  }
  const byCoordinator = new Map<number, string[]>()
  await Promise.all(
    ids.map(async (id) => {
      try {
        const res = await scope.cluster.requestAny(ApiKey.FindCoordinator, { key: id, keyType: KEY_TYPE_TRANSACTION })
        const err = wireError(res.errorCode, res.errorMessage, `Transactional id "${id}":`)
        if (err !== null) throw err
        byCoordinator.set(res.nodeId, [...(byCoordinator.get(res.nodeId) ?? []), id])
      } catch (err) {
        settle(id, err)
      }
    }),
  )
  await Promise.all(
    [...byCoordinator].map(async ([nodeId, list]) => {
      try {
        const res = await scope.cluster.connectionTo(nodeId).request(ApiKey.DescribeTransactions, { transactionalIds: list })
        for (const id of list) {
          const s = res.transactionStates.find((x) => x.transactionalId === id)
          if (s === undefined) settle(id, new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeTransactions response of broker ${nodeId} has no result for "${id}".`), nodeId)
          else if (s.errorCode !== 0) settle(id, wireError(s.errorCode, null, `Transactional id "${id}" (coordinator: broker ${nodeId}).`), nodeId)
          else done.set(id, describedTransaction(s, nodeId))
        }
      } catch (err) {
        for (const id of list) settle(id, err)
      }
    }),
  )
  return again
}

/** A DescribeTransactions result, its partitions flattened and sorted. */
function describedTransaction(s: DescribedTransactionState, coordinatorId: number): TransactionDescription {
  const partitions = s.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
  partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  return {
    transactionalId: s.transactionalId,
    coordinatorId,
    state: s.transactionState,
    producerId: s.producerId,
    producerEpoch: s.producerEpoch,
    timeoutMs: s.transactionTimeoutMs,
    startTimeMs: Number(s.transactionStartTimeMs),
    partitions,
    error: null,
  }
}

function failedDescription(transactionalId: string, error: StrandError, coordinatorId = -1): TransactionDescription {
  return { transactionalId, coordinatorId, state: '', producerId: -1n, producerEpoch: -1, timeoutMs: 0, startTimeMs: -1, partitions: [], error }
}
