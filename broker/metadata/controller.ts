// The active controller's broker bookkeeping: registrations, heartbeats, and fencing of brokers
// whose heartbeats stop. It runs on every broker but acts only while its quorum seat leads; every
// decision is a metadata record proposed to the quorum, so the image on every broker shows it.
//
// Heartbeat times are kept in memory only: a newly elected controller gives every broker a full
// session timeout from its election before fencing anyone (it cannot know when they last beat).

import type { Logger } from 'pino'
import { errorCodeOf, StrandProtocolError, toWireCode } from '../../client/protocol/errors.js'
import type { BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse } from '../../client/protocol/messages/brokers.js'
import { createHash, randomUUID } from 'node:crypto'
import type { BrokerConfig } from '../config.js'
import { parseTopicConfig, topicNameProblem } from '../topic-config.js'
import type { MetadataRecord } from './records.js'
import type { QuorumNode } from './quorum.js'

/** Upper bound on the interval between session checks. */
const CHECK_INTERVAL_MS_MAX = 250
/** Partitions one topic may have; bounds the work and memory one CreateTopics can cause. */
export const PARTITIONS_PER_TOPIC_MAX = 10_000

export interface NewTopic {
  name: string
  partitions: number
  replicationFactor: number
  configs: Record<string, string>
}

export interface ControllerOptions {
  config: BrokerConfig
  sessionTimeoutMs: number
  clock: () => number
  logger: Logger
}

export class Controller {
  readonly #quorum: QuorumNode
  readonly #options: ControllerOptions
  readonly #logger: Logger
  /** When each broker last heartbeat to this controller. */
  readonly #lastHeartbeatMs = new Map<number, number>()
  /** Brokers with a fencing or unfencing record in flight, so it is proposed once. */
  readonly #changing = new Set<number>()
  #leaderSinceMs: number | null = null
  /** Topic changes run one at a time, so two creations of one name cannot both pass the check. */
  #topicChain: Promise<unknown> = Promise.resolve()
  readonly #timer: NodeJS.Timeout

  constructor(quorum: QuorumNode, options: ControllerOptions) {
    this.#quorum = quorum
    this.#options = options
    this.#logger = options.logger.child({ subsystem: 'controller' })
    // Often enough to name the cluster soon after the first election and to fence within about a
    // quarter of the session timeout past it; each check only walks the registered brokers.
    this.#timer = setInterval(() => this.#checkSessions(), Math.min(CHECK_INTERVAL_MS_MAX, Math.max(10, Math.floor(options.sessionTimeoutMs / 4))))
    this.#timer.unref()
  }

  #proposeTimeoutMs(): number {
    return this.#options.sessionTimeoutMs
  }

  async handleRegistration(req: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER') }
    if (!Number.isSafeInteger(req.brokerId) || req.brokerId < 0 || req.incarnationId.length === 0 || req.port <= 0 || req.port > 65535) {
      return { errorCode: errorCodeOf('INVALID_REQUEST') }
    }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    const same = known !== undefined && known.incarnationId === req.incarnationId && known.host === req.host && known.port === req.port
    try {
      if (!same) await this.#quorum.propose({ kind: 'registerBroker', record: { ...req } }, this.#proposeTimeoutMs())
      this.#lastHeartbeatMs.set(req.brokerId, this.#options.clock())
      if (!same) this.#logger.info({ brokerId: req.brokerId, host: req.host, port: req.port, incarnationId: req.incarnationId }, 'broker registered')
      return { errorCode: 0 }
    } catch (err) {
      return { errorCode: toWireCode(err) }
    }
  }

  async handleHeartbeat(req: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER'), isFenced: true }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    // An unknown broker or a previous incarnation must register (again) first.
    if (known === undefined || known.incarnationId !== req.incarnationId) return { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), isFenced: true }
    this.#lastHeartbeatMs.set(req.brokerId, this.#options.clock())
    if (!known.fenced) return { errorCode: 0, isFenced: false }
    try {
      await this.#setFenced(req.brokerId, false)
      return { errorCode: 0, isFenced: this.#quorum.image.brokers.get(req.brokerId)?.fenced ?? true }
    } catch (err) {
      return { errorCode: toWireCode(err), isFenced: true }
    }
  }

  async #setFenced(brokerId: number, fenced: boolean): Promise<void> {
    if (this.#changing.has(brokerId)) throw new StrandProtocolError('REQUEST_TIMED_OUT', `A change to broker ${brokerId} is already in flight.`)
    this.#changing.add(brokerId)
    try {
      await this.#quorum.propose({ kind: 'brokerFencing', record: { brokerId, fenced } }, this.#proposeTimeoutMs())
      this.#logger.info({ brokerId, fenced }, fenced ? 'broker fenced: its heartbeats stopped' : 'broker unfenced')
    } finally {
      this.#changing.delete(brokerId)
    }
  }

  /** Fences every unfenced broker silent for longer than the session timeout. */
  #checkSessions(): void {
    if (!this.#quorum.isLeader) {
      this.#leaderSinceMs = null
      return
    }
    const now = this.#options.clock()
    if (this.#leaderSinceMs === null) {
      this.#leaderSinceMs = now
      this.#lastHeartbeatMs.clear()
    }
    if (this.#quorum.image.clusterId === null) this.#chooseClusterId()
    for (const b of this.#quorum.image.brokers.values()) {
      if (b.fenced || this.#changing.has(b.brokerId)) continue
      const last = this.#lastHeartbeatMs.get(b.brokerId) ?? this.#leaderSinceMs
      if (now - last > this.#options.sessionTimeoutMs) {
        this.#setFenced(b.brokerId, true).catch((err: unknown) => this.#logger.warn({ brokerId: b.brokerId, err: (err as Error).message }, 'fencing failed; will retry'))
      }
    }
  }

  #choosingClusterId = false

  /** The first controller names the cluster; a racing second proposal is refused by the image. */
  #chooseClusterId(): void {
    if (this.#choosingClusterId) return
    this.#choosingClusterId = true
    this.#quorum
      .propose({ kind: 'cluster', record: { clusterId: randomUUID() } }, this.#proposeTimeoutMs())
      .then(
        () => this.#logger.info({ clusterId: this.#quorum.image.clusterId }, 'cluster id chosen'),
        (err: unknown) => this.#logger.debug({ err: (err as Error).message }, 'cluster id not committed yet; will retry'),
      )
      .finally(() => (this.#choosingClusterId = false))
  }

  #serializeTopics<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#topicChain.then(fn, fn)
    this.#topicChain = next.catch(() => undefined)
    return next
  }

  /**
   * Validates a new topic against the image, places its partitions and commits the topic with
   * all its partitions as one entry. Leaders are spread round-robin over the unfenced brokers from
   * a start derived from the name, so topics created together do not all lead on one broker.
   */
  createTopic(topic: NewTopic, options: { validateOnly: boolean }): Promise<void> {
    return this.#serializeTopics(async () => {
      if (!this.#quorum.isLeader) throw new StrandProtocolError('NOT_CONTROLLER', `Broker ${this.#options.config.nodeId} is not the active controller.`)
      this.#validateTopic(topic)
      const brokers = [...this.#quorum.image.brokers.values()].filter((b) => !b.fenced).map((b) => b.brokerId).sort((a, b) => a - b)
      if (brokers.length === 0) throw new StrandProtocolError('BROKER_NOT_AVAILABLE', 'No broker is registered and unfenced yet to host partitions.')
      if (topic.replicationFactor > brokers.length) {
        throw new StrandProtocolError('INVALID_REPLICATION_FACTOR', `Replication factor ${topic.replicationFactor} needs that many brokers; ${brokers.length} are available.`)
      }
      if (options.validateOnly) return
      const records: MetadataRecord[] = [{ kind: 'topic', record: { name: topic.name, topicId: randomUUID(), configs: Object.entries(topic.configs).map(([key, value]) => ({ key, value })) } }]
      const start = createHash('sha1').update(topic.name).digest().readUInt32BE(0) % brokers.length
      for (let p = 0; p < topic.partitions; p++) {
        const replicas = Array.from({ length: topic.replicationFactor }, (_, r) => brokers[(start + p + r) % brokers.length]!)
        records.push({ kind: 'partition', record: { topic: topic.name, partition: p, replicas, isr: replicas, leader: replicas[0]!, leaderEpoch: 0, partitionEpoch: 0 } })
      }
      await this.#quorum.propose(records, this.#proposeTimeoutMs())
      this.#logger.info({ topic: topic.name, partitions: topic.partitions, brokers }, 'topic created')
    })
  }

  #validateTopic(topic: NewTopic): void {
    const problem = topicNameProblem(topic.name)
    if (problem !== null) throw new StrandProtocolError('INVALID_TOPIC', `"${topic.name}": ${problem}.`)
    if (this.#quorum.image.topics.has(topic.name)) throw new StrandProtocolError('TOPIC_ALREADY_EXISTS', `Topic "${topic.name}" already exists.`)
    if (!Number.isInteger(topic.partitions) || topic.partitions < 1 || topic.partitions > PARTITIONS_PER_TOPIC_MAX) {
      throw new StrandProtocolError('INVALID_PARTITIONS', `Partitions must be 1 to ${PARTITIONS_PER_TOPIC_MAX}, got ${topic.partitions}.`)
    }
    // Until partitions replicate (the replication issue), a second replica would only pretend.
    if (topic.replicationFactor !== 1) {
      throw new StrandProtocolError('INVALID_REPLICATION_FACTOR', `Replication factor ${topic.replicationFactor}: replication across brokers is not available yet; use 1.`)
    }
    try {
      parseTopicConfig(this.#options.config, topic.configs)
    } catch (err) {
      throw new StrandProtocolError('INVALID_CONFIG', (err as Error).message)
    }
  }

  deleteTopic(name: string): Promise<void> {
    return this.#serializeTopics(async () => {
      if (!this.#quorum.isLeader) throw new StrandProtocolError('NOT_CONTROLLER', `Broker ${this.#options.config.nodeId} is not the active controller.`)
      if (!this.#quorum.image.topics.has(name)) throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${name}" does not exist.`)
      await this.#quorum.propose({ kind: 'removeTopic', record: { name, reason: null } }, this.#proposeTimeoutMs())
      this.#logger.info({ topic: name }, 'topic deleted')
    })
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
