// Wires the layers together, in start-up phases (broker/startup/), each a function that returns
// the collaborators it made:
//
//   storage        the data dir and the partitions' logs                      startup/storage.ts
//   quorum         the metadata quorum seat, the controller, its channel      startup/quorum.ts
//   coordinators   consumer groups, transactions, producer ids                startup/coordinators.ts
//   replication    the leadership lease; partitions follow the image          startup/replication.ts
//   listeners      the Strand and Kafka listeners, the metrics endpoint       startup/listeners.ts
//
// then waits for the metadata image to catch up and registers with the controller. The listeners
// open last, so every request handler gets its collaborators non-null (server/handlers/context.ts)
// and the first request a port accepts is served like any other. A start that fails closes what
// it had started, in reverse; a stop first makes the listeners take no new work, then stops the
// phases in reverse.
//
// `startBroker` is also the library entry for users who embed a broker in their tests:
//
//   const broker = await startBroker({ dataDir, port: 0 })
//   // ... new Strand({ brokers: [broker.address] }) ...
//   await broker.close()

import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import { DEFAULT_BROKER_CONFIG, type BrokerConfig } from './config.js'
import { BrokerLifecycle } from './metadata/broker-lifecycle.js'
import type { QuorumNode } from './metadata/quorum.js'
import { Metrics } from './metrics/metrics.js'
import { interBrokerSecurity } from './security/tls.js'
import type { HandlerContext } from './server/handlers/context.js'
import { startCoordinators, type Coordinators } from './startup/coordinators.js'
import { controlledShutdown, CONTROLLED_SHUTDOWN_MS_MAX } from './startup/controlled-shutdown.js'
import { registerBrokerGauges } from './startup/gauges.js'
import { openListeners, type Advertised, type Listeners } from './startup/listeners.js'
import { startQuorumPhase, type QuorumPhase } from './startup/quorum.js'
import { startReplication, type Replication } from './startup/replication.js'
import { requestSecurity } from './startup/security.js'
import { openStorage, type Storage } from './startup/storage.js'

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
  readonly metrics: Metrics
  /** The HTTP port serving /metrics, or null when `metrics.port` is -1. */
  readonly metricsPort: number | null
  /** The Kafka-protocol listener's port, or null when `kafka.listener.port` is -1. */
  readonly kafkaPort: number | null
  /** Graceful stop: stop accepting, answer in-flight requests, flush and close the logs. */
  close(): Promise<void>
}

/** What every phase is started with. */
interface Basics {
  config: BrokerConfig
  logger: Logger
  clock: () => number
  metrics: Metrics
  /** This run of the broker: the controller tells a restarted broker from a stale one by it. */
  incarnationId: string
  /** TLS and SASL of this broker's connections to the others. */
  security: ReturnType<typeof interBrokerSecurity>
  /** The address registered and answered in Metadata; the listeners fill in the ports they bound. */
  advertised: Advertised
  /** Set once a stop begins: long polls return at once. */
  state: { stopping: boolean }
}

interface Phases {
  storage: Storage
  quorum: QuorumPhase
  coordinators: Coordinators
  replication: Replication
  gauges: { close(): void }
  listeners: Listeners
}

export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const { config: nested, logger: givenLogger, clock: givenClock, ...flat } = options
  const config: BrokerConfig = { ...DEFAULT_BROKER_CONFIG, ...nested, ...flat }
  const basics: Basics = {
    config,
    logger: givenLogger ?? pino({ level: 'silent' }),
    clock: givenClock ?? Date.now,
    metrics: new Metrics(),
    incarnationId: randomUUID(),
    security: interBrokerSecurity(config),
    advertised: { host: config.advertisedHost === '' ? config.host : config.advertisedHost, port: config.port, kafkaPort: -1 },
    state: { stopping: false },
  }
  const started = new StartedPhases(basics.logger)
  try {
    const phases = await startPhases(basics, started)
    const lifecycle = await join(basics, phases)
    return runningBroker(basics, phases, lifecycle)
  } catch (err) {
    await started.closeAll()
    throw err
  }
}

/** Every phase in order, each recorded in `started` as soon as it exists. */
async function startPhases(basics: Basics, started: StartedPhases): Promise<Phases> {
  const { config, logger, clock, metrics, incarnationId, security, advertised } = basics
  const storage = started.add(await openStorage(config, { logger, clock, metrics }))
  const { replicas } = storage
  const quorum = started.add(await startQuorumPhase({ config, advertised, security, clock, logger }))
  const { controllerChannel } = quorum
  // No await from here to the listeners: the coordinators subscribe to leadership changes before
  // replication can make any.
  const coordinators = started.add(startCoordinators({ config, replicas, quorum: quorum.quorum, controllerChannel, incarnationId, security, clock, logger }))
  const replication = started.add(startReplication({ config, replicas, quorum: quorum.quorum, controllerChannel, incarnationId, security }))
  const gauges = started.add(registerBrokerGauges(metrics, quorum.quorum))
  const ctx: HandlerContext = {
    nodeId: config.nodeId,
    ...requestSecurity(config, quorum.quorum.image, logger),
    advertised,
    clusterId: storage.clusterId,
    config,
    replicas,
    metrics,
    clock,
    logger,
    quorum: quorum.quorum,
    controller: quorum.controller,
    controllerChannel,
    groups: coordinators.groups,
    transactions: coordinators.transactions,
    producerIds: coordinators.producerIds,
    stopping: () => basics.state.stopping,
  }
  const listeners = started.add(await openListeners(ctx, { config, advertised, image: quorum.quorum.image, metrics, logger }))
  // A quorum of one reads its own port from `advertised` (startup/quorum.ts): now the bound one.
  if (config.quorumVoters === '') assert.equal(quorum.quorum.voterAddress(config.nodeId)?.port, listeners.port, 'the quorum of one has its listener\'s bound port')
  return { storage, quorum, coordinators, replication, gauges, listeners }
}

/**
 * Joins the cluster: serve with a metadata image that has caught up with what this broker knew
 * before a restart (bounded, since a quorum whose other voters are down cannot commit anything
 * yet), then register with the controller and heartbeat.
 */
async function join(basics: Basics, phases: Phases): Promise<BrokerLifecycle> {
  const { config, logger, incarnationId, security, advertised } = basics
  const { quorum } = phases.quorum
  const { replicas } = phases.storage
  await Promise.race([quorum.caughtUp().then(() => replicas.sync()), delay(config.quorumElectionTimeoutMs * 10, undefined, { ref: false })])
  const lease = phases.replication.lease
  const lifecycle = new BrokerLifecycle(quorum, { brokerId: config.nodeId, advertised, heartbeatIntervalMs: config.brokerHeartbeatIntervalMs, logger, incarnationId, security, lease, beforeLeading: () => replicas.sync() })
  const { listeners } = phases
  logger.info({ subsystem: 'server', host: listeners.host, port: listeners.port, kafkaPort: advertised.kafkaPort, nodeId: config.nodeId, dataDir: config.dataDir }, 'listening')
  return lifecycle
}

function runningBroker(basics: Basics, phases: Phases, lifecycle: BrokerLifecycle): RunningBroker {
  const { config, logger, clock, incarnationId, state } = basics
  const { storage, quorum, coordinators, replication, gauges, listeners } = phases
  return {
    nodeId: config.nodeId,
    host: listeners.host,
    port: listeners.port,
    address: `${listeners.host}:${listeners.port}`,
    config,
    quorum: quorum.quorum,
    metrics: basics.metrics,
    metricsPort: listeners.metricsPort,
    kafkaPort: listeners.kafkaPort,
    async close() {
      if (state.stopping) return
      state.stopping = true
      // Wake long polls first so in-flight fetches answer now instead of at their maxWaitMs.
      storage.replicas.waiters.notifyAll()
      lifecycle.close()
      // No more heartbeats: the lease runs out on its own; a stopping broker need not say so.
      replication.lease.close()
      // Only worth it when another live broker can take over this one's work. The listeners still
      // accept meanwhile: when this broker is the active controller, the request comes in on its own.
      const others = [...quorum.quorum.image.brokers.values()].some((b) => b.brokerId !== config.nodeId && !b.fenced)
      if (others) await controlledShutdown(quorum.controllerChannel, { brokerId: config.nodeId, incarnationId, timeoutMs: Math.min(config.brokerSessionTimeoutMs, CONTROLLED_SHUTDOWN_MS_MAX), logger, clock })
      // No new connections or requests from here on; those in flight are answered below.
      await listeners.stopAccepting()
      // The phases in reverse, each first answering what waits on it (acks=all produces,
      // rebalances, requests forwarded to the controller), so the listeners' drain is short; then
      // the seat and the logs those answers read from.
      replication.close()
      coordinators.close()
      quorum.stop()
      await listeners.close()
      gauges.close()
      await quorum.close()
      await storage.close()
    },
  }
}

/** The phases a start has made so far, closed in reverse if a later one fails. */
class StartedPhases {
  readonly #closers: Array<() => unknown> = []
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  add<T extends { close(): unknown }>(phase: T): T {
    this.#closers.push(() => phase.close())
    return phase
  }

  /** Every close is tried; one failing is logged, so the start's own error is what the caller sees. */
  async closeAll(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close()
      } catch (err) {
        this.#logger.error({ err, subsystem: 'server' }, 'closing a start-up phase after a failed start failed')
      }
    }
  }
}
