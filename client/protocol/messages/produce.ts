// Produce (key 0). `records` is one or more whole record batches, opaque to the codec: the leader
// validates them and patches their offsets in place (see records.ts). acks: -1 all, 0 none (no
// response frame at all), 1 leader.
//
// v1 adds each partition's `currentLeaderEpoch`: the leader epoch the producer's metadata gives the
// partition. A leader at another epoch refuses the partition (FENCED_LEADER_EPOCH when the
// producer's is older, UNKNOWN_LEADER_EPOCH when newer) and appends nothing, so a producer whose
// metadata is stale cannot write to a broker that leads the partition only in an epoch the
// producer does not know (as KIP-320 does for Fetch). -1 skips the check. Kafka's Produce has no
// such field; Strand adds it so produces are fenced like fetches. The response is unchanged.

import { array, bytes, int, long, nullable, record, string, type Value } from '../avro.js'

export const ProduceRequestV0 = record('ProduceRequestV0', {
  transactionalId: nullable(string),
  acks: int,
  timeoutMs: int,
  topics: array(
    record('ProduceTopic', {
      name: string,
      partitions: array(record('ProducePartition', { index: int, records: bytes })),
    }),
  ),
})
export const ProduceResponseV0 = record('ProduceResponseV0', {
  topics: array(
    record('ProduceTopicResponse', {
      name: string,
      partitions: array(
        record('ProducePartitionResponse', {
          index: int,
          errorCode: int,
          errorMessage: nullable(string),
          baseOffset: long,
          logAppendTimeMs: long,
          logStartOffset: long,
        }),
      ),
    }),
  ),
  throttleTimeMs: int,
})

export const ProduceRequestV1 = record('ProduceRequestV1', {
  transactionalId: nullable(string),
  acks: int,
  timeoutMs: int,
  topics: array(
    record('ProduceTopicV1', {
      name: string,
      partitions: array(record('ProducePartitionV1', { index: int, currentLeaderEpoch: int, records: bytes })),
    }),
  ),
})

/** What clients build: the latest version's shape (an older version's codec leaves out the newer fields). */
export type ProduceRequest = Value<typeof ProduceRequestV1>
/** What the broker decodes: a body of any version (a v0 body has no `currentLeaderEpoch`). */
export type ProduceRequestAnyVersion = Value<typeof ProduceRequestV0> | ProduceRequest
export type ProduceResponse = Value<typeof ProduceResponseV0>
export const produceVersions = {
  0: { request: ProduceRequestV0, response: ProduceResponseV0 },
  1: { request: ProduceRequestV1, response: ProduceResponseV0 },
} as const

/** A decoded partition's leader epoch to check: -1 (no check) for a v0 body, which cannot carry one. */
export function produceLeaderEpochOf(p: ProduceRequestAnyVersion['topics'][number]['partitions'][number]): number {
  return 'currentLeaderEpoch' in p ? p.currentLeaderEpoch : -1
}
