// Start-up phase 4, replication: this broker's lease on its leaderships, and the ReplicaManager
// attached to the metadata image so that its partitions follow what the quorum commits (leading,
// following, fetching from leaders). startBroker (broker/broker.ts) starts it after the
// coordinators, which must hear every leadership change it makes.

import type { SecurityOptions } from '../../client/net/security.js'
import type { BrokerConfig } from '../config.js'
import { BrokerLease, leaseMarginMs } from '../metadata/broker-lease.js'
import type { ControllerChannel } from '../metadata/controller-channel.js'
import type { QuorumNode } from '../metadata/quorum.js'
import type { ReplicaManager } from '../replication/replica-manager.js'

export interface Replication {
  /**
   * The lease on this broker's leaderships: the lifecycle's answered heartbeats keep it, every
   * partition led here checks it (metadata/broker-lease.ts).
   */
  readonly lease: BrokerLease
  /** Produces waiting for acks=all fail now (retriable) instead of holding a stop until their timeout. */
  close(): void
}

export interface ReplicationOptions {
  config: BrokerConfig
  replicas: ReplicaManager
  quorum: QuorumNode
  controllerChannel: ControllerChannel
  incarnationId: string
  /** How replica fetchers and ISR changes reach other brokers. */
  security: SecurityOptions
}

export function startReplication(options: ReplicationOptions): Replication {
  const { config, replicas, quorum } = options
  // Its own monotonic clock, not the broker's `clock`: the lease is a duration on this machine,
  // which a wall clock stepped by NTP would stretch or cut.
  const lease = new BrokerLease({
    sessionTimeoutMs: config.brokerSessionTimeoutMs,
    marginMs: leaseMarginMs({ sessionTimeoutMs: config.brokerSessionTimeoutMs, electionTimeoutMs: config.quorumElectionTimeoutMs }),
  })
  replicas.attach(quorum.image, { channel: options.controllerChannel, incarnationId: options.incarnationId, security: options.security, lease })
  quorum.onCommitted(() => void replicas.sync())
  // A snapshot from the leader replaces the image wholesale: topics may be gone, not just changed.
  quorum.onSnapshot(() => void replicas.sync())
  return {
    lease,
    close() {
      lease.close()
      replicas.stopServing()
    },
  }
}
