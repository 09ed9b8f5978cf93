// Produce (key 0). `records` is one or more whole record batches, opaque to the codec: the leader
// validates them and patches their offsets in place (see records.ts). acks: -1 all, 0 none (no
// response frame at all), 1 leader.

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

export type ProduceRequest = Value<typeof ProduceRequestV0>
export type ProduceResponse = Value<typeof ProduceResponseV0>
export const produceVersions = { 0: { request: ProduceRequestV0, response: ProduceResponseV0 } } as const
