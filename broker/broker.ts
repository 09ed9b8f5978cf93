// Wires the layers together: storage (ReplicaManager over the log), request handlers, the TCP
// server. `startBroker` is also the library entry for users who embed a broker in their tests:
//
//   const broker = await startBroker({ dataDir, port: 0 })
//   // ... new Strand({ brokers: [broker.address] }) ...
//   await broker.close()

import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { readFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { pino, type Logger } from 'pino'
import { FrameDecoder } from '../client/protocol/frame.js'
import { writeFileAtomic } from './log/checkpoint.js'
import { DEFAULT_BROKER_CONFIG, type BrokerConfig } from './config.js'
import { ConfigError } from './config-def.js'
import { BrokerLifecycle } from './metadata/broker-lifecycle.js'
import { Controller } from './metadata/controller.js'
import { ControllerChannel } from './metadata/controller-channel.js'
import { parseVoters, QuorumNode } from './metadata/quorum.js'
import { ReplicaManager } from './replication/replica-manager.js'
import { METADATA_TOPIC } from './topic-config.js'
import { createDispatcher } from './server/dispatch.js'
import type { HandlerContext } from './server/handlers/context.js'
import { Server } from './server/server.js'

/**
 * Any subset of the broker config, given flat (`{ dataDir, port: 0 }`) or as `config` (both may
 * be used; flat keys win); the rest takes defaults. `dataDir` is required in practice.
 */
export interface StartBrokerOptions extends Partial<BrokerConfig> {
  config?: Partial<BrokerConfig>
  /** Defaults to a silent logger, so an embedded broker does not write to the host's stdout. */
  logger?: Logger
  clock?: () => number
}

export interface RunningBroker {
  readonly nodeId: number
  readonly host: string
  readonly port: number
  /** `host:port`, ready for a client's `brokers` list. */
  readonly address: string
  readonly config: BrokerConfig
  /** This broker's seat in the metadata quorum, with the metadata image it maintains. */
  readonly quorum: QuorumNode
  /** Graceful stop: stop accepting, answer in-flight requests, flush and close the logs. */
  close(): Promise<void>
}

/** The cluster id is made once per data dir and kept, like Kafka's meta.properties. */
async function clusterIdOf(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'meta.json')
  try {
    const meta = JSON.parse(await readFile(file, 'utf8')) as { clusterId: string }
    return meta.clusterId
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const clusterId = randomUUID()
  await writeFileAtomic(file, `${JSON.stringify({ clusterId })}\n`)
  return clusterId
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const { config: nested, logger: givenLogger, clock: givenClock, ...flat } = options
  const config: BrokerConfig = { ...DEFAULT_BROKER_CONFIG, ...nested, ...flat }
  const logger = givenLogger ?? pino({ level: 'silent' })
  const clock = givenClock ?? Date.now
  await mkdir(config.dataDir, { recursive: true })
  const clusterId = await clusterIdOf(config.dataDir)
  const replicas = await ReplicaManager.open(config, logger, clock)
  let stopping = false
  let quorum: QuorumNode | null = null
  let controller: Controller | null = null
  let controllerChannel: ControllerChannel | null = null
  const incarnationId = randomUUID()
  const advertised = { host: config.advertisedHost === '' ? config.host : config.advertisedHost, port: config.port }
  const ctx: HandlerContext = {
    nodeId: config.nodeId,
    advertised,
    clusterId,
    config,
    replicas,
    clock,
    logger,
    stopping: () => stopping,
    quorum: () => quorum,
    controller: () => controller,
  }
  const server = new Server({
    host: config.host,
    port: config.port,
    maxConnections: config.maxConnections,
    inflightRequestsMax: config.inflightRequestsMax,
    idleTimeoutMs: config.connectionsMaxIdleMs,
    logger: logger.child({ subsystem: 'server' }),
    newDecoder: () => new FrameDecoder({ frameBytesMax: config.maxRequestBytes }),
    handle: createDispatcher(ctx),
  })
  let bound
  try {
    bound = await server.listen()
  } catch (err) {
    await replicas.close()
    throw err
  }
  // With port 0 the OS chose the port: that is the one to advertise.
  advertised.port = bound.port
  try {
    quorum = await startQuorum(config, advertised, logger, clock)
    controller = new Controller(quorum, { config, sessionTimeoutMs: config.brokerSessionTimeoutMs, clock, logger })
    replicas.attach(quorum.image, { channel: controllerChannel = new ControllerChannel(quorum, { clientId: `broker-${config.nodeId}`, timeoutMs: Math.max(config.brokerHeartbeatIntervalMs * 4, 1000) }), incarnationId })
    quorum.onCommitted(() => void replicas.sync())
  } catch (err) {
    await server.close()
    await replicas.close()
    throw err
  }
  // Serve clients only once the metadata image has caught up with what this broker knew before a
  // restart; bounded, since a quorum whose other voters are down cannot commit anything yet.
  await Promise.race([quorum.caughtUp().then(() => replicas.sync()), delay(config.quorumElectionTimeoutMs * 10, undefined, { ref: false })])
  const lifecycle = new BrokerLifecycle(quorum, { brokerId: config.nodeId, advertised, heartbeatIntervalMs: config.brokerHeartbeatIntervalMs, logger, incarnationId })
  logger.info({ subsystem: 'server', host: bound.host, port: bound.port, nodeId: config.nodeId, dataDir: config.dataDir }, 'listening')
  return {
    nodeId: config.nodeId,
    host: bound.host,
    port: bound.port,
    address: `${bound.host}:${bound.port}`,
    config,
    quorum,
    async close() {
      if (stopping) return
      stopping = true
      // Wake long polls first so in-flight fetches answer now instead of at their maxWaitMs.
      replicas.waiters.notifyAll()
      lifecycle.close()
      controller?.close()
      controllerChannel?.close()
      await server.close()
      await quorum?.close()
      await replicas.close()
    },
  }
}

/** Joins the configured quorum, or, with none configured, forms a quorum of this broker alone. */
function startQuorum(config: BrokerConfig, advertised: { host: string; port: number }, logger: Logger, clock: () => number): Promise<QuorumNode> {
  const voters = config.quorumVoters === '' ? [{ nodeId: config.nodeId, ...advertised }] : parseVoters(config.quorumVoters)
  if (config.quorumHeartbeatIntervalMs >= config.quorumElectionTimeoutMs) {
    throw new ConfigError(`controller.quorum.heartbeat.interval.ms (${config.quorumHeartbeatIntervalMs}) must be below controller.quorum.election.timeout.ms (${config.quorumElectionTimeoutMs}).`)
  }
  return QuorumNode.start({
    nodeId: config.nodeId,
    voters,
    dir: path.join(config.dataDir, `${METADATA_TOPIC}-0`),
    electionTimeoutMs: config.quorumElectionTimeoutMs,
    heartbeatIntervalMs: config.quorumHeartbeatIntervalMs,
    clock,
    logger,
  })
}
