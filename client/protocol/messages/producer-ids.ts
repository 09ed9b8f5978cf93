// Producer ids for idempotent producers (KIP-98). InitProducerId (key 22, Kafka's) gives a
// producer a cluster-wide unique id and an epoch; any broker answers it from a block of ids the
// active controller allocated to that broker with AllocateProducerIds (key 67, Kafka's), which is
// a metadata record, so no two brokers ever hand out the same id, even across controller changes.
// A producer stamps its id, epoch and per-partition sequence numbers into every batch; the
// partition leader uses them to drop retried duplicates and to detect gaps.

import { int, long, nullable, record, string, type Value } from '../avro.js'

export const InitProducerIdRequestV0 = record('InitProducerIdRequestV0', {
  /** Transactions are not supported: must be null. */
  transactionalId: nullable(string),
  transactionTimeoutMs: int,
  /** -1 for a new producer; else its current id and epoch, to get the epoch bumped (KIP-360). */
  producerId: long,
  producerEpoch: int,
})
export const InitProducerIdResponseV0 = record('InitProducerIdResponseV0', { throttleTimeMs: int, errorCode: int, producerId: long, producerEpoch: int })

export const AllocateProducerIdsRequestV0 = record('AllocateProducerIdsRequestV0', { brokerId: int, incarnationId: string })
export const AllocateProducerIdsResponseV0 = record('AllocateProducerIdsResponseV0', { throttleTimeMs: int, errorCode: int, producerIdStart: long, producerIdLen: int })

export type InitProducerIdRequest = Value<typeof InitProducerIdRequestV0>
export type InitProducerIdResponse = Value<typeof InitProducerIdResponseV0>
export type AllocateProducerIdsRequest = Value<typeof AllocateProducerIdsRequestV0>
export type AllocateProducerIdsResponse = Value<typeof AllocateProducerIdsResponseV0>

export const initProducerIdVersions = { 0: { request: InitProducerIdRequestV0, response: InitProducerIdResponseV0 } } as const
export const allocateProducerIdsVersions = { 0: { request: AllocateProducerIdsRequestV0, response: AllocateProducerIdsResponseV0 } } as const
