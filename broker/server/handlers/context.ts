// What every request handler may use. Handlers live one per API in this folder; they turn a
// decoded request body into a response body, and report per-partition failures as error codes
// in the response rather than throwing, so one bad partition never fails its neighbours.
//
// startBroker (broker/broker.ts, phases in broker/startup/) makes every collaborator here before
// either listener opens, so none is ever absent while requests are served. During a stop they
// stay in place, closed: a request still in flight then gets the answer a closed part gives
// (NOT_COORDINATOR, NOT_LEADER_OR_FOLLOWER, ...), all retriable.

import type { Logger } from 'pino'
import type { BrokerConfig } from '../../config.js'
import type { GroupCoordinator } from '../../group/coordinator.js'
import type { TransactionCoordinator } from '../../txn/coordinator.js'
import type { Controller } from '../../metadata/controller.js'
import type { ControllerChannel } from '../../metadata/controller-channel.js'
import type { ProducerIdManager } from '../../metadata/producer-ids.js'
import type { QuorumNode } from '../../metadata/quorum.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { ReplicaManager } from '../../replication/replica-manager.js'
import type { Authorizer } from '../../security/authorizer.js'
import type { SaslServer } from '../../security/sasl-server.js'

export interface HandlerContext {
  readonly nodeId: number
  /** The address clients are told to connect to. */
  readonly advertised: { host: string; port: number }
  readonly clusterId: string
  readonly config: BrokerConfig
  readonly replicas: ReplicaManager
  readonly metrics: Metrics
  readonly clock: () => number
  readonly logger: Logger
  /** Every request's permission check (security/request-auth.ts). */
  readonly authorizer: Authorizer
  /** SaslHandshake and SaslAuthenticate; disabled when sasl.enabled.mechanisms is empty. */
  readonly sasl: SaslServer
  /** This broker's seat in the metadata quorum, with the metadata image it keeps. */
  readonly quorum: QuorumNode
  /**
   * Topics, ISRs, registrations and heartbeats: on every broker (each is a voter), acting only
   * while this broker's quorum seat leads and answering NOT_CONTROLLER otherwise.
   */
  readonly controller: Controller
  /** Consumer groups whose offsets partition this broker leads (NOT_COORDINATOR for the rest). */
  readonly groups: GroupCoordinator
  /** Transactional ids whose `__transaction_state` partition this broker leads. */
  readonly transactions: TransactionCoordinator
  /** Producer ids for InitProducerId. */
  readonly producerIds: ProducerIdManager
  /** The connection to the active controller, for requests only it can answer. */
  readonly controllerChannel: ControllerChannel
  /** Set once shutdown begins: long polls return at once. */
  readonly stopping: () => boolean
}
