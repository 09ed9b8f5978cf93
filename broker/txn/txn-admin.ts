// The transaction coordinator's answers to the tools (ListTransactions, DescribeTransactions:
// KIP-664; `strand transactions list|describe`), from the states it holds (txn-meta.ts).

import { StrandProtocolError, errorCodeOf, toWireCode } from '../../client/protocol/errors.js'
import type { DescribedTransactionState, ListTransactionsResponse } from '../../client/protocol/messages/transaction-admin.js'
import { TXN_STATES } from './records.js'
import type { TxnMeta } from './txn-meta.js'

/**
 * The transactional ids of the partitions led here, filtered by state and producer id (an empty
 * filter lets all through), sorted by id. While a partition is loading the list would be
 * partial, so the answer is COORDINATOR_LOAD_IN_PROGRESS instead (Kafka's rule). An id whose
 * first InitProducerId is still being written, or that is Dead, is left out.
 */
export function listTransactionStates(
  metas: Iterable<TxnMeta>,
  partitions: ReadonlyMap<number, 'loading' | 'loaded'>,
  filters: { states: readonly string[]; producerIds: readonly bigint[] },
): Omit<ListTransactionsResponse, 'throttleTimeMs'> {
  const unknownStateFilters = filters.states.filter((s) => !(TXN_STATES as readonly string[]).includes(s))
  if ([...partitions.values()].includes('loading')) return { errorCode: errorCodeOf('COORDINATOR_LOAD_IN_PROGRESS'), unknownStateFilters, transactionStates: [] }
  const states = new Set(filters.states)
  const producerIds = new Set(filters.producerIds)
  const transactionStates: ListTransactionsResponse['transactionStates'] = []
  for (const m of metas) {
    if (m.producerId < 0n || m.state === 'Dead' || partitions.get(m.partition) !== 'loaded') continue
    if (states.size > 0 && !states.has(m.state)) continue
    if (producerIds.size > 0 && !producerIds.has(m.producerId)) continue
    transactionStates.push({ transactionalId: m.transactionalId, producerId: m.producerId, transactionState: m.state })
  }
  transactionStates.sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0))
  return { errorCode: 0, unknownStateFilters, transactionStates }
}

/**
 * One transactional id's state as last applied here (the caller has checked that this broker
 * coordinates it); TRANSACTIONAL_ID_NOT_FOUND for one it has no state for.
 */
export function describeTransactionState(nodeId: number, transactionalId: string, m: TxnMeta | undefined): DescribedTransactionState {
  if (m === undefined || m.producerId < 0n || m.state === 'Dead') throw new StrandProtocolError('TRANSACTIONAL_ID_NOT_FOUND', `Broker ${nodeId} has no state for "${transactionalId}".`)
  return {
    errorCode: 0,
    transactionalId,
    transactionState: m.state,
    transactionTimeoutMs: m.timeoutMs,
    transactionStartTimeMs: BigInt(m.startMs),
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    topics: [...m.partitions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, ps]) => ({ topic, partitions: [...ps].sort((a, b) => a - b) })),
  }
}

/** DescribeTransactions' answer for an id it could not describe (not coordinated here, unknown). */
export function describeTransactionError(transactionalId: string, err: unknown): DescribedTransactionState {
  return { errorCode: toWireCode(err), transactionalId, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1n, producerId: -1n, producerEpoch: -1, topics: [] }
}
