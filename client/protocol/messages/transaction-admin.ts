// The transaction tools' APIs (KIP-664), with Kafka's keys and shapes: what `strand transactions
// list | describe` (Kafka's kafka-transactions.sh) asks the transaction coordinators.
//
// ListTransactions (66) is answered by every broker for the `__transaction_state` partitions it
// leads (a tool asks every broker and merges): each transactional id with its producer id and
// state, filtered by state and producer id (an empty filter lets everything through). State names
// the broker does not know come back in `unknownStateFilters` and match nothing. While one of its
// partitions is loading, a broker answers COORDINATOR_LOAD_IN_PROGRESS rather than a partial list.
//
// DescribeTransactions (65) goes to an id's coordinator (FindCoordinator key type 1) and answers
// per id: its state, producer id and epoch, timeout, when the open transaction started (-1: none
// open) and the partitions it has added. An id the coordinator has no state for is
// TRANSACTIONAL_ID_NOT_FOUND; one it does not coordinate NOT_COORDINATOR (find it again).
//
// `transactionState` is one of TRANSACTION_STATES.

import { array, int, long, record, string, type Value } from '../avro.js'

/** The coordinator's states of a transactional id, as the wire names them (Kafka's names). */
export const TRANSACTION_STATES = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead'] as const
export type TransactionStateName = (typeof TRANSACTION_STATES)[number]

export const ListTransactionsRequestV0 = record('ListTransactionsRequestV0', {
  /** Only ids in one of these states; empty: every state. */
  stateFilters: array(string),
  /** Only ids of these producer ids; empty: every producer. */
  producerIdFilters: array(long),
})
export const ListTransactionsResponseV0 = record('ListTransactionsResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  /** The stateFilters that name no state. */
  unknownStateFilters: array(string),
  transactionStates: array(record('ListedTransactionState', { transactionalId: string, producerId: long, transactionState: string })),
})

export const DescribeTransactionsRequestV0 = record('DescribeTransactionsRequestV0', { transactionalIds: array(string) })
export const DescribeTransactionsResponseV0 = record('DescribeTransactionsResponseV0', {
  throttleTimeMs: int,
  transactionStates: array(
    record('DescribedTransactionState', {
      errorCode: int,
      transactionalId: string,
      transactionState: string,
      transactionTimeoutMs: int,
      /** When the open transaction added its first partition, ms since the epoch; -1 when none is open. */
      transactionStartTimeMs: long,
      producerId: long,
      producerEpoch: int,
      /** The open transaction's partitions. */
      topics: array(record('DescribedTransactionTopic', { topic: string, partitions: array(int) })),
    }),
  ),
})

export type ListTransactionsRequest = Value<typeof ListTransactionsRequestV0>
export type ListTransactionsResponse = Value<typeof ListTransactionsResponseV0>
export type DescribeTransactionsRequest = Value<typeof DescribeTransactionsRequestV0>
export type DescribeTransactionsResponse = Value<typeof DescribeTransactionsResponseV0>
export type DescribedTransactionState = DescribeTransactionsResponse['transactionStates'][number]

export const listTransactionsVersions = { 0: { request: ListTransactionsRequestV0, response: ListTransactionsResponseV0 } } as const
export const describeTransactionsVersions = { 0: { request: DescribeTransactionsRequestV0, response: DescribeTransactionsResponseV0 } } as const
