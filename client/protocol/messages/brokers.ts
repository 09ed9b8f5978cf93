// Broker lifecycle and cluster description: BrokerRegistration (key 62) and BrokerHeartbeat
// (key 63), sent by every broker to the active controller (the quorum leader), which answers
// NOT_CONTROLLER when it is not; DescribeCluster (key 60) reports the registered brokers from a
// broker's metadata image. An incarnation id is new each time a broker process starts, so a
// restarted broker is told apart from its previous run.
//
// ControlledShutdown (key 7, Kafka's name) is a broker's last word before a clean stop: the
// controller fences it and moves the leadership of its partitions to other ISR members, so
// producers and consumers fail over at once instead of after the session timeout.
// `remainingLeaderships` counts the partitions it still leads (no other ISR member could take them).
//
// BrokerRegistration v1 adds `kafkaPort`: the port of the broker's Apache Kafka wire listener
// (`kafka.listener.port`) at its advertised host, -1 when it has none, so every broker's metadata
// image knows where every other broker speaks Kafka's protocol (Metadata and FindCoordinator
// answers on that listener name those ports). A v0 registration has none: -1
// (registrationKafkaPortOf). The response is unchanged.
//
// DescribeCluster v1 reports each broker's `kafkaPort` as registered (-1: none). The request is unchanged.

import { array, boolean, int, record, string, type Value } from '../avro.js'

export const BrokerRegistrationRequestV0 = record('BrokerRegistrationRequestV0', { brokerId: int, host: string, port: int, incarnationId: string })
export const BrokerRegistrationResponseV0 = record('BrokerRegistrationResponseV0', { errorCode: int })
export const BrokerRegistrationRequestV1 = record('BrokerRegistrationRequestV1', { brokerId: int, host: string, port: int, incarnationId: string, kafkaPort: int })

export const BrokerHeartbeatRequestV0 = record('BrokerHeartbeatRequestV0', { brokerId: int, incarnationId: string })
export const BrokerHeartbeatResponseV0 = record('BrokerHeartbeatResponseV0', { errorCode: int, isFenced: boolean })

export const ControlledShutdownRequestV0 = record('ControlledShutdownRequestV0', { brokerId: int, incarnationId: string })
export const ControlledShutdownResponseV0 = record('ControlledShutdownResponseV0', { errorCode: int, remainingLeaderships: int })

export const DescribeClusterRequestV0 = record('DescribeClusterRequestV0', {})
export const DescribeClusterResponseV0 = record('DescribeClusterResponseV0', {
  errorCode: int,
  /** The quorum leader as this broker knows it; -1 when unknown. */
  controllerId: int,
  brokers: array(record('DescribedBroker', { brokerId: int, host: string, port: int, fenced: boolean })),
})
export const DescribeClusterResponseV1 = record('DescribeClusterResponseV1', {
  errorCode: int,
  /** The quorum leader as this broker knows it; -1 when unknown. */
  controllerId: int,
  brokers: array(record('DescribedBrokerV1', { brokerId: int, host: string, port: int, fenced: boolean, kafkaPort: int })),
})

/** What brokers send: the latest version's shape (v0's codec leaves `kafkaPort` out). */
export type BrokerRegistrationRequest = Value<typeof BrokerRegistrationRequestV1>
/** What the controller decodes: a body of any version (a v0 body has no `kafkaPort`). */
export type BrokerRegistrationRequestAnyVersion = Value<typeof BrokerRegistrationRequestV0> | BrokerRegistrationRequest
export type BrokerRegistrationResponse = Value<typeof BrokerRegistrationResponseV0>
export type BrokerHeartbeatRequest = Value<typeof BrokerHeartbeatRequestV0>
export type BrokerHeartbeatResponse = Value<typeof BrokerHeartbeatResponseV0>
export type ControlledShutdownRequest = Value<typeof ControlledShutdownRequestV0>
export type ControlledShutdownResponse = Value<typeof ControlledShutdownResponseV0>
export type DescribeClusterRequest = Value<typeof DescribeClusterRequestV0>
type DescribedBrokerV1 = Value<typeof DescribeClusterResponseV1>['brokers'][number]
/**
 * One broker as the broker describes it and a client decodes it at any version: the broker
 * always sets `kafkaPort` (v0's codec leaves it out); a v0 answer has none.
 */
export type DescribedBroker = Omit<DescribedBrokerV1, 'kafkaPort'> & { kafkaPort?: number }
export interface DescribeClusterResponse {
  errorCode: number
  controllerId: number
  brokers: DescribedBroker[]
}

export const brokerRegistrationVersions = {
  0: { request: BrokerRegistrationRequestV0, response: BrokerRegistrationResponseV0 },
  1: { request: BrokerRegistrationRequestV1, response: BrokerRegistrationResponseV0 },
} as const
export const brokerHeartbeatVersions = { 0: { request: BrokerHeartbeatRequestV0, response: BrokerHeartbeatResponseV0 } } as const
export const controlledShutdownVersions = { 0: { request: ControlledShutdownRequestV0, response: ControlledShutdownResponseV0 } } as const
export const describeClusterVersions = {
  0: { request: DescribeClusterRequestV0, response: DescribeClusterResponseV0 },
  1: { request: DescribeClusterRequestV0, response: DescribeClusterResponseV1 },
} as const

/** A decoded registration's Kafka listener port: -1 (none) for a v0 body, which cannot carry one. */
export function registrationKafkaPortOf(req: BrokerRegistrationRequestAnyVersion): number {
  return 'kafkaPort' in req ? req.kafkaPort : -1
}
