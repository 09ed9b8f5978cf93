// Fetch (key 1), for consumers (replicaId -1) and, later, follower replicas. `records` holds whole
// batches and may end with a partial one when a size limit cut it (the reader ignores that tail).

import { array, bytes, int, long, record, string, type Value } from '../avro.js'

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

export type FetchRequest = Value<typeof FetchRequestV0>
export type FetchResponse = Value<typeof FetchResponseV0>
export const fetchVersions = { 0: { request: FetchRequestV0, response: FetchResponseV0 } } as const
