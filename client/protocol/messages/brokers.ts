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

import { array, boolean, int, record, string, type Value } from '../avro.js'

export const BrokerRegistrationRequestV0 = record('BrokerRegistrationRequestV0', { brokerId: int, host: string, port: int, incarnationId: string })
export const BrokerRegistrationResponseV0 = record('BrokerRegistrationResponseV0', { errorCode: int })

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

export type BrokerRegistrationRequest = Value<typeof BrokerRegistrationRequestV0>
export type BrokerRegistrationResponse = Value<typeof BrokerRegistrationResponseV0>
export type BrokerHeartbeatRequest = Value<typeof BrokerHeartbeatRequestV0>
export type BrokerHeartbeatResponse = Value<typeof BrokerHeartbeatResponseV0>
export type ControlledShutdownRequest = Value<typeof ControlledShutdownRequestV0>
export type ControlledShutdownResponse = Value<typeof ControlledShutdownResponseV0>
export type DescribeClusterRequest = Value<typeof DescribeClusterRequestV0>
export type DescribeClusterResponse = Value<typeof DescribeClusterResponseV0>

export const brokerRegistrationVersions = { 0: { request: BrokerRegistrationRequestV0, response: BrokerRegistrationResponseV0 } } as const
export const brokerHeartbeatVersions = { 0: { request: BrokerHeartbeatRequestV0, response: BrokerHeartbeatResponseV0 } } as const
export const controlledShutdownVersions = { 0: { request: ControlledShutdownRequestV0, response: ControlledShutdownResponseV0 } } as const
export const describeClusterVersions = { 0: { request: DescribeClusterRequestV0, response: DescribeClusterResponseV0 } } as const
