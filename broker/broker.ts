// Wires the layers together: storage (ReplicaManager over the log), request handlers, the TCP
// server. `startBroker` is also the library entry for users who embed a broker in their tests:
//
//   const broker = await startBroker({ dataDir, port: 0 })
//   // ... new Strand({ brokers: [broker.address] }) ...
//   await broker.close()

import { randomUUID, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { readFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { pino, type Logger } from 'pino'
import { FrameDecoder } from '../client/protocol/frame.js'
import { writeFileAtomic } from './log/checkpoint.js'
import { DEFAULT_BROKER_CONFIG, type BrokerConfig } from './config.js'
import { ConfigError } from './config-def.js'
import { BrokerLease, leaseMarginMs } from './metadata/broker-lease.js'
import { BrokerLifecycle } from './metadata/broker-lifecycle.js'
import { Controller } from './metadata/controller.js'
import { ControllerChannel } from './metadata/controller-channel.js'
import { parseVoters, QuorumNode } from './metadata/quorum.js'
import { ReplicaManager } from './replication/replica-manager.js'
import { METADATA_TOPIC, OFFSETS_TOPIC } from './topic-config.js'
import { GroupCoordinator } from './group/coordinator.js'
import { TransactionCoordinator } from './txn/coordinator.js'
import { ProducerIdManager } from './metadata/producer-ids.js'
import { createDispatcher } from './server/dispatch.js'
import type { HandlerContext } from './server/handlers/context.js'
import { Server } from './server/server.js'
import { startKafkaListener } from './kafka/listener.js'
import { Metrics } from './metrics/metrics.js'
import { serveMetrics, type MetricsEndpoint } from './metrics/http.js'
import { ApiKey, apiName } from '../client/protocol/apis.js'
import { errorCodeOf, nameOfCode } from '../client/protocol/errors.js'
import { SCRAM_SHA_256 } from '../client/protocol/scram.js'
import type { SecurityOptions } from '../client/net/security.js'
import { subjectDn } from './security/session.js'
import { Authorizer } from './security/authorizer.js'
import { SaslServer } from './security/sasl-server.js'
import { interBrokerSecurity, saslMechanisms, serverTlsOptions } from './security/tls.js'

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
  const metrics = new Metrics()
  const replicas = await ReplicaManager.open(config, logger, clock, metrics)
  let stopping = false
  let quorum: QuorumNode | null = null
  let controller: Controller | null = null
  let controllerChannel: ControllerChannel | null = null
  let groups: GroupCoordinator | null = null
  let transactions: TransactionCoordinator | null = null
  let producerIds: ProducerIdManager | null = null
  const incarnationId = randomUUID()
  // This broker's lease on its leaderships: the lifecycle's answered heartbeats keep it, every
  // partition led here checks it (metadata/broker-lease.ts). Monotonic time, not `clock`.
  const lease = new BrokerLease({
    sessionTimeoutMs: config.brokerSessionTimeoutMs,
    marginMs: leaseMarginMs({ sessionTimeoutMs: config.brokerSessionTimeoutMs, electionTimeoutMs: config.quorumElectionTimeoutMs }),
  })
  const security = interBrokerSecurity(config)
  const advertised = { host: config.advertisedHost === '' ? config.host : config.advertisedHost, port: config.port, kafkaPort: -1 }
  const authorizer = new Authorizer({
    superUsers: superUsersOf(config),
    enabled: config.authorizerEnabled,
    clusterActionEnforced: saslMechanisms(config).length > 0 || config.tlsClientAuth === 'required',
    source: { get aclVersion() { return quorum?.image.aclVersion ?? 0 }, acls: () => quorum?.image.acls() ?? [] },
  })
  const sasl = new SaslServer({
    mechanisms: saslMechanisms(config),
    allowPlaintextPasswords: config.allowPlaintextPasswords,
    failedAuthenticationDelayMs: config.saslFailedAuthenticationDelayMs,
    lookup: (username) => quorum?.image.scramCredentials.get(username)?.get(SCRAM_SHA_256),
    interBroker: saslMechanisms(config).length > 0 ? { username: config.interBrokerSaslUsername, password: config.interBrokerSaslPassword } : null,
    logger,
  })
  const ctx: HandlerContext = {
    nodeId: config.nodeId,
    authorizer,
    sasl,
    advertised,
    clusterId,
    config,
    replicas,
    metrics,
    clock,
    logger,
    stopping: () => stopping,
    quorum: () => quorum,
    controller: () => controller,
    groups: () => groups,
    transactions: () => transactions,
    producerIds: () => producerIds,
    controllerChannel: () => controllerChannel,
  }
  const server = new Server({
    host: config.host,
    port: config.port,
    maxConnections: config.maxConnections,
    inflightRequestsMax: config.inflightRequestsMax,
    idleTimeoutMs: config.connectionsMaxIdleMs,
    requestReadTimeoutMs: config.requestReadTimeoutMs,
    logger: logger.child({ subsystem: 'server' }),
    frameBytesMax: config.maxRequestBytes,
    tls: serverTlsOptions(config),
    saslRequired: sasl.enabled,
    saslAuthenticationTimeoutMs: config.saslAuthenticationTimeoutMs,
    newDecoder: (frameBytesMax) => new FrameDecoder({ frameBytesMax }),
    handle: createDispatcher(ctx, requestMetrics(metrics)),
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
  let kafkaServer: Server | null = null
  if (config.kafkaListenerPort >= 0) {
    try {
      const kafka = await startKafkaListener({ ctx, config, port: config.kafkaListenerPort, saslRequired: sasl.enabled, image: () => quorum?.image ?? null, logger: logger.child({ subsystem: 'kafka-listener' }), metrics: requestMetrics(metrics) })
      kafkaServer = kafka.server
      advertised.kafkaPort = kafka.port
    } catch (err) {
      await server.close()
      await replicas.close()
      throw err
    }
  }
  try {
    quorum = await startQuorum(config, advertised, security, logger, clock)
    controller = new Controller(quorum, { config, sessionTimeoutMs: config.brokerSessionTimeoutMs, clock, logger })
    const channel = new ControllerChannel(quorum, { clientId: `broker-${config.nodeId}`, timeoutMs: Math.max(config.brokerHeartbeatIntervalMs * 4, 1000), security })
    controllerChannel = channel
    const image = quorum.image
    const coordinator = new GroupCoordinator({
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
    groups = coordinator
    producerIds = new ProducerIdManager({ channel, brokerId: config.nodeId, incarnationId, logger })
    const txnCoordinator = new TransactionCoordinator({
      nodeId: config.nodeId,
      replicas,
      image: () => quorum?.image ?? image,
      producerIds: () => producerIds,
      maxTimeoutMs: config.transactionMaxTimeoutMs,
      timeoutCheckIntervalMs: config.transactionAbortTimedOutCheckIntervalMs,
      markerRetryBackoffMs: config.transactionMarkerRetryBackoffMs,
      commitTimeoutMs: config.offsetsCommitTimeoutMs,
      security,
      clock,
      logger,
    })
    transactions = txnCoordinator
    replicas.onLeadership((partition, leading) => coordinator.onLeadership(partition, leading))
    replicas.onLeadership((partition, leading) => txnCoordinator.onLeadership(partition, leading))
    replicas.attach(quorum.image, { channel, incarnationId, security, lease })
    quorum.onCommitted(() => void replicas.sync())
    // A snapshot from the leader replaces the image wholesale: topics may be gone, not just changed.
    quorum.onSnapshot(() => void replicas.sync())
  } catch (err) {
    await kafkaServer?.close()
    await server.close()
    await replicas.close()
    throw err
  }
  // How late timers and I/O callbacks run: on a busy or shared machine, the floor under every latency.
  const loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  loopDelay.enable()
  // The histogram holds the interval between samples (ns): the delay is what exceeds the resolution.
  const lateMs = (ns: number): number => Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS)
  metrics.gauge('strand_event_loop_delay_ms', 'How late the event loop ran a timer, since the broker started, in ms, by quantile (1 is the max).', () =>
    loopDelay.count === 0 ? [] : [0.5, 0.99, 1].map((q) => ({ labels: { quantile: String(q) }, value: lateMs(q === 1 ? loopDelay.max : loopDelay.percentile(q * 100)) })),
  )
  metrics.gauge('strand_memory_bytes', 'The broker process\'s memory, by kind: rss (resident), heap_used and heap_total (V8\'s heap), external (outside the heap, buffers included), array_buffers (buffers alone).', () => {
    const m = process.memoryUsage()
    return [
      { labels: { kind: 'rss' }, value: m.rss },
      { labels: { kind: 'heap_used' }, value: m.heapUsed },
      { labels: { kind: 'heap_total' }, value: m.heapTotal },
      { labels: { kind: 'external' }, value: m.external },
      { labels: { kind: 'array_buffers' }, value: m.arrayBuffers },
    ]
  })
  metrics.gauge('strand_active_controller', '1 on the broker whose quorum seat leads (the active controller), else 0.', () => [{ labels: {}, value: quorum?.isLeader === true ? 1 : 0 }])
  let metricsEndpoint: MetricsEndpoint | null = null
  if (config.metricsPort >= 0) {
    try {
      metricsEndpoint = await serveMetrics(metrics, { host: config.host, port: config.metricsPort, logger })
    } catch (err) {
      controller.close()
      await kafkaServer?.close()
      await server.close()
      await quorum.close()
      await replicas.close()
      throw err
    }
  }
  // Serve clients only once the metadata image has caught up with what this broker knew before a
  // restart; bounded, since a quorum whose other voters are down cannot commit anything yet.
  await Promise.race([quorum.caughtUp().then(() => replicas.sync()), delay(config.quorumElectionTimeoutMs * 10, undefined, { ref: false })])
  const lifecycle = new BrokerLifecycle(quorum, { brokerId: config.nodeId, advertised, heartbeatIntervalMs: config.brokerHeartbeatIntervalMs, logger, incarnationId, security, lease, beforeLeading: () => replicas.sync() })
  logger.info({ subsystem: 'server', host: bound.host, port: bound.port, kafkaPort: advertised.kafkaPort, nodeId: config.nodeId, dataDir: config.dataDir }, 'listening')
  return {
    nodeId: config.nodeId,
    host: bound.host,
    port: bound.port,
    address: `${bound.host}:${bound.port}`,
    config,
    quorum,
    metrics,
    metricsPort: metricsEndpoint?.port ?? null,
    kafkaPort: kafkaServer === null ? null : advertised.kafkaPort,
    async close() {
      if (stopping) return
      stopping = true
      // Wake long polls first so in-flight fetches answer now instead of at their maxWaitMs.
      replicas.waiters.notifyAll()
      lifecycle.close()
      // No more heartbeats: the lease runs out on its own; a stopping broker need not say so.
      lease.close()
      // Only worth it when another live broker can take over this one's work.
      const others = [...quorum.image.brokers.values()].some((b) => b.brokerId !== config.nodeId && !b.fenced)
      if (controllerChannel !== null && others) await controlledShutdown(controllerChannel, { brokerId: config.nodeId, incarnationId, timeoutMs: Math.min(config.brokerSessionTimeoutMs, CONTROLLED_SHUTDOWN_MS_MAX), logger, clock })
      replicas.stopServing()
      controller?.close()
      groups?.close()
      transactions?.close()
      controllerChannel?.close()
      await metricsEndpoint?.close()
      loopDelay.disable()
      await kafkaServer?.close()
      await server.close()
      await quorum?.close()
      await replicas.close()
    },
  }
}

/**
 * super.users, plus the principals the brokers themselves connect as: their SASL user, or (with
 * mTLS and no SASL) the subject of their own certificate, which every broker of a cluster shares
 * the shape of; list other brokers' subjects in super.users when they differ.
 */
function superUsersOf(config: BrokerConfig): string[] {
  const users = config.superUsers.split(';').map((u) => u.trim()).filter((u) => u !== '')
  if (saslMechanisms(config).length > 0 && config.interBrokerSaslUsername !== '') users.push(`User:${config.interBrokerSaslUsername}`)
  else if (config.tlsClientAuth === 'required' && config.tlsCertFile !== '') users.push(`User:${subjectDn(new X509Certificate(readFileSync(config.tlsCertFile)).raw)}`)
  return users
}

/** Sampling interval of the event-loop delay histogram. */
const EVENT_LOOP_RESOLUTION_MS = 10

/** Longest a clean stop waits for the controller to move this broker's leaderships away. */
const CONTROLLED_SHUTDOWN_MS_MAX = 5000

/**
 * Asks the controller to fence this broker and move its leaderships now (Kafka's controlled
 * shutdown), retrying while the controller is unknown or moving, within `timeoutMs`. If it cannot,
 * the broker stops anyway and its session timeout does the same job later.
 */
async function controlledShutdown(channel: ControllerChannel, options: { brokerId: number; incarnationId: string; timeoutMs: number; logger: Logger; clock: () => number }): Promise<void> {
  const { clock } = options
  const deadline = clock() + options.timeoutMs
  let lastError = 'no controller known'
  while (clock() < deadline) {
    const current = channel.current()
    if (current !== null) {
      try {
        const res = await current.connection.request(ApiKey.ControlledShutdown, { brokerId: options.brokerId, incarnationId: options.incarnationId }, { timeoutMs: Math.max(1, deadline - clock()) })
        if (res.errorCode === 0) {
          options.logger.info({ subsystem: 'lifecycle', remainingLeaderships: res.remainingLeaderships }, 'controlled shutdown: leaderships moved')
          return
        }
        lastError = nameOfCode(res.errorCode)
        if (res.errorCode === errorCodeOf('STALE_BROKER_EPOCH')) break
      } catch (err) {
        lastError = (err as Error).message
      }
    }
    await delay(50)
  }
  options.logger.warn({ subsystem: 'lifecycle', reason: lastError }, 'controlled shutdown failed; stopping anyway')
}

/** Request counts and latencies per API, for the dispatcher. */
function requestMetrics(metrics: Metrics): { observe(apiKey: number, latencyMs: number): void } {
  return {
    observe(apiKey, latencyMs) {
      const api = apiName(apiKey)
      metrics.inc('strand_requests_total', 'Requests answered, by API.', { api })
      metrics.observe('strand_request_latency_ms', 'Milliseconds from a request\'s arrival to its response, by API.', { api }, latencyMs)
    },
  }
}

/** Joins the configured quorum, or, with none configured, forms a quorum of this broker alone. */
function startQuorum(config: BrokerConfig, advertised: { host: string; port: number }, security: SecurityOptions, logger: Logger, clock: () => number): Promise<QuorumNode> {
  const voters = config.quorumVoters === '' ? [{ nodeId: config.nodeId, host: advertised.host, port: advertised.port }] : parseVoters(config.quorumVoters)
  if (config.quorumHeartbeatIntervalMs >= config.quorumElectionTimeoutMs) {
    throw new ConfigError(`controller.quorum.heartbeat.interval.ms (${config.quorumHeartbeatIntervalMs}) must be below controller.quorum.election.timeout.ms (${config.quorumElectionTimeoutMs}).`)
  }
  return QuorumNode.start({
    nodeId: config.nodeId,
    voters,
    dir: path.join(config.dataDir, `${METADATA_TOPIC}-0`),
    electionTimeoutMs: config.quorumElectionTimeoutMs,
    heartbeatIntervalMs: config.quorumHeartbeatIntervalMs,
    snapshotEntries: config.metadataSnapshotEntries,
    logSegmentBytes: config.metadataLogSegmentBytes,
    security,
    clock,
    logger,
  })
}
