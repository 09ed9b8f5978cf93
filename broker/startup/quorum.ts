// Start-up phase 2, the metadata quorum: this broker's seat (QuorumNode, with the metadata image
// it keeps), the controller that acts while the seat leads, and the channel to whichever seat
// leads. startBroker (broker/broker.ts) starts it after storage and before everything that reads
// the image. Every broker holds a seat (QuorumNode refuses a node.id that is not a voter), so the
// controller exists on every broker too; it answers NOT_CONTROLLER while its seat does not lead.

import path from 'node:path'
import type { Logger } from 'pino'
import type { SecurityOptions } from '../../client/net/security.js'
import type { BrokerConfig } from '../config.js'
import { ConfigError } from '../config-def.js'
import { Controller } from '../metadata/controller.js'
import { ControllerChannel } from '../metadata/controller-channel.js'
import { parseVoters, QuorumNode, type Voter } from '../metadata/quorum.js'
import { METADATA_TOPIC } from '../topic-config.js'
import type { Advertised } from './listeners.js'

/** The channel's connect and request timeout, as a multiple of the heartbeat interval, with a floor. */
const CHANNEL_TIMEOUT_HEARTBEATS = 4
const CHANNEL_TIMEOUT_MS_MIN = 1000

export interface QuorumPhase {
  readonly quorum: QuorumNode
  readonly controller: Controller
  /** The connection to the active controller, for requests only it can answer. */
  readonly controllerChannel: ControllerChannel
  /**
   * Stops the controller's timers and the channel, so a request forwarded to the controller fails
   * now rather than hold a stopping broker's drain; the seat itself keeps running until close().
   */
  stop(): void
  close(): Promise<void>
}

export interface QuorumPhaseOptions {
  config: BrokerConfig
  /** This broker's address; with `port: 0`, the listeners fill in its port once bound. */
  advertised: Advertised
  security: SecurityOptions
  clock: () => number
  logger: Logger
}

export async function startQuorumPhase(options: QuorumPhaseOptions): Promise<QuorumPhase> {
  const { config, security, clock, logger } = options
  if (config.quorumHeartbeatIntervalMs >= config.quorumElectionTimeoutMs) {
    throw new ConfigError(`controller.quorum.heartbeat.interval.ms (${config.quorumHeartbeatIntervalMs}) must be below controller.quorum.election.timeout.ms (${config.quorumElectionTimeoutMs}).`)
  }
  const quorum = await QuorumNode.start({
    nodeId: config.nodeId,
    voters: votersOf(config, options.advertised),
    dir: path.join(config.dataDir, `${METADATA_TOPIC}-0`),
    electionTimeoutMs: config.quorumElectionTimeoutMs,
    heartbeatIntervalMs: config.quorumHeartbeatIntervalMs,
    snapshotEntries: config.metadataSnapshotEntries,
    logSegmentBytes: config.metadataLogSegmentBytes,
    security,
    clock,
    logger,
  })
  const controller = new Controller(quorum, { config, sessionTimeoutMs: config.brokerSessionTimeoutMs, clock, logger })
  const timeoutMs = Math.max(config.brokerHeartbeatIntervalMs * CHANNEL_TIMEOUT_HEARTBEATS, CHANNEL_TIMEOUT_MS_MIN)
  const controllerChannel = new ControllerChannel(quorum, { clientId: `broker-${config.nodeId}`, timeoutMs, security })
  const stop = (): void => {
    controller.close()
    controllerChannel.close()
  }
  return {
    quorum,
    controller,
    controllerChannel,
    stop,
    async close() {
      stop()
      await quorum.close()
    },
  }
}

/**
 * The configured voters or, with none configured, a quorum of this broker alone. Alone, its entry
 * reads its port from `advertised` each time: with `port: 0` the OS picks the port only when the
 * listener binds, and the listener opens last, once every phase its handlers use exists. QuorumNode
 * reads a voter's address only to connect to it or to describe the quorum, never while starting; a
 * quorum of one never connects to itself, and nothing connects through the controller channel
 * before the listener has bound (the lifecycle registers this broker only then). startBroker
 * asserts the entry once the port is known.
 */
function votersOf(config: BrokerConfig, advertised: Advertised): Voter[] {
  if (config.quorumVoters !== '') return parseVoters(config.quorumVoters)
  return [{ nodeId: config.nodeId, host: advertised.host, get port() { return advertised.port } }]
}
