// Start-up phase 3, the coordinators: consumer groups (broker/group), transactions (broker/txn)
// and the block of producer ids InitProducerId hands out. startBroker (broker/broker.ts) starts
// them after the quorum phase and before replication: each subscribes to the partitions'
// leadership changes here, and replication is what starts changing leaders, so none is missed.

import type { Logger } from 'pino'
import type { SecurityOptions } from '../../client/net/security.js'
import type { BrokerConfig } from '../config.js'
import { GroupCoordinator } from '../group/coordinator.js'
import type { ControllerChannel } from '../metadata/controller-channel.js'
import { ProducerIdManager } from '../metadata/producer-ids.js'
import type { QuorumNode } from '../metadata/quorum.js'
import type { ReplicaManager } from '../replication/replica-manager.js'
import { OFFSETS_TOPIC } from '../topic-config.js'
import { TransactionCoordinator } from '../txn/coordinator.js'

export interface Coordinators {
  /** Consumer groups whose `__consumer_offsets` partition this broker leads. */
  readonly groups: GroupCoordinator
  /** Transactional ids whose `__transaction_state` partition this broker leads. */
  readonly transactions: TransactionCoordinator
  /** Producer ids for InitProducerId, in blocks from the controller. */
  readonly producerIds: ProducerIdManager
  /** Unloads every group and transaction: requests waiting on them are answered now. */
  close(): void
}

export interface CoordinatorsOptions {
  config: BrokerConfig
  replicas: ReplicaManager
  quorum: QuorumNode
  controllerChannel: ControllerChannel
  /** This run of the broker, as the controller knows it (AllocateProducerIds checks it). */
  incarnationId: string
  security: SecurityOptions
  clock: () => number
  logger: Logger
}

export function startCoordinators(options: CoordinatorsOptions): Coordinators {
  const { config, replicas, quorum, clock, logger } = options
  const image = quorum.image
  const groups = new GroupCoordinator({
    nodeId: config.nodeId,
    replicas,
    offsetsPartitions: () => image.topics.get(OFFSETS_TOPIC)?.partitions.length ?? null,
    initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
    maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
    groupMaxSize: config.groupMaxSize,
    commitTimeoutMs: config.offsetsCommitTimeoutMs,
    clock,
    logger,
  })
  const producerIds = new ProducerIdManager({ channel: options.controllerChannel, brokerId: config.nodeId, incarnationId: options.incarnationId, logger })
  const transactions = new TransactionCoordinator({
    nodeId: config.nodeId,
    replicas,
    image: () => image,
    producerIds: () => producerIds,
    maxTimeoutMs: config.transactionMaxTimeoutMs,
    timeoutCheckIntervalMs: config.transactionAbortTimedOutCheckIntervalMs,
    markerRetryBackoffMs: config.transactionMarkerRetryBackoffMs,
    commitTimeoutMs: config.offsetsCommitTimeoutMs,
    security: options.security,
    clock,
    logger,
  })
  replicas.onLeadership((partition, leading) => groups.onLeadership(partition, leading))
  replicas.onLeadership((partition, leading) => transactions.onLeadership(partition, leading))
  return {
    groups,
    transactions,
    producerIds,
    close() {
      groups.close()
      transactions.close()
    },
  }
}
