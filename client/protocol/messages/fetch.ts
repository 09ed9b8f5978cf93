// Fetch (key 1), for consumers (replicaId -1) and, later, follower replicas. `records` holds whole
// batches and may end with a partial one when a size limit cut it (the reader ignores that tail).
//
// v1 (KIP-98) adds each partition's `abortedTransactions`: for a read_committed fetch
// (isolationLevel 1), the aborted transactions (producer id, first offset) that overlap the
// returned records, which the consumer drops; null otherwise. A read_committed fetch reads only
// below the last stable offset, which `lastStableOffset` carries. The request is unchanged.

import { array, bytes, int, long, nullable, record, string, type Value } from '../avro.js'

export const FetchRequestV0 = record('FetchRequestV0', {
  replicaId: int,
  maxWaitMs: int,
  minBytes: int,
  maxBytes: int,
  isolationLevel: int,
  topics: array(
    record('FetchTopic', {
      name: string,
      partitions: array(
        record('FetchPartition', {
          partition: int,
          currentLeaderEpoch: int,
          fetchOffset: long,
          logStartOffset: long,
          partitionMaxBytes: int,
        }),
      ),
    }),
  ),
})
export const FetchResponseV0 = record('FetchResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  topics: array(
    record('FetchTopicResponse', {
      name: string,
      partitions: array(
        record('FetchPartitionResponse', {
          partitionIndex: int,
          errorCode: int,
          highWatermark: long,
          lastStableOffset: long,
          logStartOffset: long,
          records: bytes,
        }),
      ),
    }),
  ),
})

export const FetchResponseV1 = record('FetchResponseV1', {
  throttleTimeMs: int,
  errorCode: int,
  topics: array(
    record('FetchTopicResponseV1', {
      name: string,
      partitions: array(
        record('FetchPartitionResponseV1', {
          partitionIndex: int,
          errorCode: int,
          highWatermark: long,
          lastStableOffset: long,
          logStartOffset: long,
          abortedTransactions: nullable(array(record('FetchAbortedTransaction', { producerId: long, firstOffset: long }))),
          records: bytes,
        }),
      ),
    }),
  ),
})

export type FetchRequest = Value<typeof FetchRequestV0>
type FetchPartitionResponseV1 = Value<typeof FetchResponseV1>['topics'][number]['partitions'][number]
export type FetchAbortedTransactions = FetchPartitionResponseV1['abortedTransactions']
/**
 * One partition's answer, as the broker builds it and a client decodes it at any version: the
 * broker always sets `abortedTransactions` (v0's codec leaves it out); a v0 body has none.
 */
export type FetchPartitionResponse = Omit<FetchPartitionResponseV1, 'abortedTransactions'> & { abortedTransactions?: FetchAbortedTransactions }
export interface FetchResponse {
  throttleTimeMs: number
  errorCode: number
  topics: Array<{ name: string; partitions: FetchPartitionResponse[] }>
}
export const fetchVersions = {
  0: { request: FetchRequestV0, response: FetchResponseV0 },
  1: { request: FetchRequestV0, response: FetchResponseV1 },
} as const

/** A decoded partition's aborted transactions: null for a v0 body, which cannot carry them. */
export function abortedTransactionsOf(p: FetchPartitionResponse): FetchAbortedTransactions {
  return p.abortedTransactions ?? null
}
