// The active controller: broker registrations, heartbeats and fencing; topic creation and
// deletion; partition leadership and ISRs. It runs on every broker but acts only while its quorum
// seat leads; every decision is a metadata record proposed to the quorum, so the image on every
// broker shows it.
//
// Partition leadership follows the brokers: a broker that is fenced (its heartbeats stopped) or
// comes back as a new incarnation (it restarted) leaves every ISR, and each partition it led gets
// a new leader from the rest of the ISR with the leader epoch bumped, in the same metadata entry
// as the fencing. A partition whose last ISR member is gone keeps that member and has no leader
// until it returns (or, with unclean.leader.election.enable, until any replica is alive). Leaders
// change ISRs with AlterPartition, a compare-and-set on the partition epoch, and the preferred
// (first) replica gets leadership back once it is in sync again.
//
// Heartbeat times are kept in memory only: a newly elected controller gives every broker a full
// session timeout from its election before fencing anyone (it cannot know when they last beat).

import type { Logger } from 'pino'
import { errorCodeOf, StrandProtocolError, toWireCode } from '../../client/protocol/errors.js'
import {
  registrationKafkaPortOf,
  type BrokerHeartbeatRequest,
  type BrokerHeartbeatResponse,
  type BrokerRegistrationRequestAnyVersion,
  type BrokerRegistrationResponse,
  type ControlledShutdownRequest,
  type ControlledShutdownResponse,
} from '../../client/protocol/messages/brokers.js'
import type { AllocateProducerIdsRequest, AllocateProducerIdsResponse } from '../../client/protocol/messages/producer-ids.js'
import { createHash, randomUUID } from 'node:crypto'
import type { BrokerConfig } from '../config.js'
import type { AlterPartitionRequest, AlterPartitionResponse } from '../../client/protocol/messages/replication.js'
import { OFFSETS_TOPIC, parseTopicConfig, topicNameProblem, TRANSACTION_STATE_TOPIC } from '../topic-config.js'
import type { MetadataImage } from './image.js'
import type { MetadataRecord, PartitionRecord, RegisterBrokerRecord } from './records.js'
import type { QuorumNode } from './quorum.js'

/** Upper bound on the interval between session checks. */
const CHECK_INTERVAL_MS_MAX = 250
/** Producer ids handed to a broker at a time. */
export const PRODUCER_ID_BLOCK = 1000
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

/** Ports a broker may advertise: a listener the OS chose (0) has its real port by registration time. */
const isPort = (port: number): boolean => Number.isSafeInteger(port) && port > 0 && port <= 65535

/** A registration the controller may record: an id, an incarnation, a Strand port, and a Kafka port or -1. */
function validRegistration(r: RegisterBrokerRecord): boolean {
  return Number.isSafeInteger(r.brokerId) && r.brokerId >= 0 && r.incarnationId.length > 0 && isPort(r.port) && (r.kafkaPort === -1 || isPort(r.kafkaPort))
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
  /**
   * Changes to topics and partitions run one at a time, each checked against the image its
   * predecessor left, so two of them never race on one partition epoch or topic name.
   */
  #changeChain: Promise<unknown> = Promise.resolve()
  #lastRebalanceCheckMs = 0
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

  async handleRegistration(req: BrokerRegistrationRequestAnyVersion): Promise<BrokerRegistrationResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER') }
    const registration: RegisterBrokerRecord = { brokerId: req.brokerId, host: req.host, port: req.port, incarnationId: req.incarnationId, kafkaPort: registrationKafkaPortOf(req) }
    if (!validRegistration(registration)) return { errorCode: errorCodeOf('INVALID_REQUEST') }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    // Any change of address (a Kafka listener port too) is a new registration: the image and every
    // broker's answers about this one follow it.
    const same = known !== undefined && known.incarnationId === req.incarnationId && known.host === req.host && known.port === req.port && known.kafkaPort === registration.kafkaPort
    try {
      if (!same) {
        // A new incarnation lost whatever it had not flushed: it leaves every ISR and leadership,
        // in the same entry, and earns them back by catching up.
        await this.#serialize(() =>
          this.#quorum.propose([{ kind: 'registerBroker', record: registration }, ...this.#brokerLost(req.brokerId)], this.#proposeTimeoutMs()),
        )
      }
      this.#lastHeartbeatMs.set(req.brokerId, this.#options.clock())
      if (!same) this.#logger.info({ brokerId: req.brokerId, host: req.host, port: req.port, kafkaPort: registration.kafkaPort, incarnationId: req.incarnationId }, 'broker registered')
      return { errorCode: 0 }
    } catch (err) {
      return { errorCode: toWireCode(err) }
    }
  }

  async handleHeartbeat(req: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER'), isFenced: true }
    // A new controller answers once its image holds what its predecessors committed (a fencing of
    // this broker among it): an answer renews the broker's lease (broker-lease.ts).
    if (!this.#quorum.isReadyLeader) return { errorCode: errorCodeOf('REQUEST_TIMED_OUT'), isFenced: true }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    // An unknown broker or a previous incarnation must register (again) first.
    if (known === undefined || known.incarnationId !== req.incarnationId) return { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), isFenced: true }
    // Its fencing (or unfencing, or controlled shutdown) is being committed: the image still shows
    // the broker as it was, and an answer from it would renew the broker's lease on leaderships
    // that this very change is moving away (broker-lease.ts).
    if (this.#changing.has(req.brokerId)) return { errorCode: errorCodeOf('REQUEST_TIMED_OUT'), isFenced: true }
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
      await this.#serialize(() => {
        const partitions = fenced ? this.#brokerLost(brokerId) : this.#brokerBack(brokerId)
        return this.#quorum.propose([{ kind: 'brokerFencing', record: { brokerId, fenced } }, ...partitions], this.#proposeTimeoutMs())
      })
      this.#logger.info({ brokerId, fenced }, fenced ? 'broker fenced: its heartbeats stopped' : 'broker unfenced')
    } finally {
      this.#changing.delete(brokerId)
    }
  }

  /**
   * A broker about to stop cleanly: fence it now and move its leaderships to other ISR members,
   * rather than leave its partitions leaderless until its session times out.
   */
  async controlledShutdown(req: ControlledShutdownRequest): Promise<ControlledShutdownResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER'), remainingLeaderships: -1 }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    if (known === undefined || known.incarnationId !== req.incarnationId) return { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), remainingLeaderships: -1 }
    this.#changing.add(req.brokerId)
    try {
      await this.#serialize(() => this.#quorum.propose([{ kind: 'brokerFencing', record: { brokerId: req.brokerId, fenced: true } }, ...this.#brokerLost(req.brokerId)], this.#proposeTimeoutMs()))
      let remaining = 0
      for (const p of this.#partitions()) if (p.leader === req.brokerId) remaining++
      this.#logger.info({ brokerId: req.brokerId, remainingLeaderships: remaining }, 'broker shutting down: fenced, leaderships moved')
      return { errorCode: 0, remainingLeaderships: remaining }
    } catch (err) {
      return { errorCode: toWireCode(err), remainingLeaderships: -1 }
    } finally {
      this.#changing.delete(req.brokerId)
    }
  }

  /**
   * Gives a broker the next block of producer ids, as a metadata record, so ids stay unique
   * across brokers and controller changes.
   */
  allocateProducerIds(req: AllocateProducerIdsRequest): Promise<AllocateProducerIdsResponse> {
    return this.#serialize(async () => {
      const refused = (name: Parameters<typeof errorCodeOf>[0]): AllocateProducerIdsResponse => ({ throttleTimeMs: 0, errorCode: errorCodeOf(name), producerIdStart: -1n, producerIdLen: 0 })
      if (!this.#quorum.isLeader) return refused('NOT_CONTROLLER')
      const known = this.#quorum.image.brokers.get(req.brokerId)
      if (known === undefined || known.incarnationId !== req.incarnationId || known.fenced) return refused('STALE_BROKER_EPOCH')
      const start = this.#quorum.image.nextProducerId
      try {
        await this.#quorum.propose({ kind: 'producerIds', record: { brokerId: req.brokerId, nextProducerId: start + BigInt(PRODUCER_ID_BLOCK) } }, this.#proposeTimeoutMs())
      } catch (err) {
        return { ...refused('UNKNOWN_SERVER_ERROR'), errorCode: toWireCode(err) }
      }
      return { throttleTimeMs: 0, errorCode: 0, producerIdStart: start, producerIdLen: PRODUCER_ID_BLOCK }
    })
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
    if (this.#options.config.autoLeaderRebalance && now - this.#lastRebalanceCheckMs >= this.#options.config.leaderImbalanceCheckIntervalMs) {
      this.#lastRebalanceCheckMs = now
      this.#electPreferredLeaders().catch((err: unknown) => this.#logger.debug({ err: (err as Error).message }, 'preferred leader election failed; will retry'))
    }
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

  /**
   * Runs `decide` against the current image, in turn with every other change, and proposes the
   * records it returns (none: nothing to do). For changes decided outside this class (users and
   * ACLs, handlers/security.ts). Throws NOT_CONTROLLER unless this broker's seat leads.
   */
  change<T>(decide: (image: MetadataImage) => { records: MetadataRecord[]; result: T }): Promise<T> {
    return this.#serialize(async () => {
      if (!this.#quorum.isLeader) throw new StrandProtocolError('NOT_CONTROLLER', `Broker ${this.#options.config.nodeId} is not the active controller.`)
      const { records, result } = decide(this.#quorum.image)
      if (records.length > 0) await this.#quorum.propose(records, this.#proposeTimeoutMs())
      return result
    })
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#changeChain.then(fn, fn)
    this.#changeChain = next.catch(() => undefined)
    return next
  }

  /** Every partition of the image, for the partition-wide decisions below. */
  *#partitions(): Generator<PartitionRecord> {
    for (const topic of this.#quorum.image.topics.values()) for (const p of topic.partitions) if (p !== undefined) yield p
  }

  #uncleanAllowed(topic: string): boolean {
    const configs = this.#quorum.image.topics.get(topic)?.configs ?? {}
    try {
      return parseTopicConfig(this.#options.config, configs).uncleanLeaderElection
    } catch {
      return false
    }
  }

  #usable(brokerId: number, lost: number): boolean {
    const b = this.#quorum.image.brokers.get(brokerId)
    return brokerId !== lost && b !== undefined && !b.fenced
  }

  /**
   * Partition changes for a broker that stopped serving (fenced, or restarted as a new
   * incarnation): out of every ISR, and a new leader from the remaining ISR where it led.
   */
  #brokerLost(brokerId: number): MetadataRecord[] {
    const changes: MetadataRecord[] = []
    for (const p of this.#partitions()) {
      if (p.leader !== brokerId && !p.isr.includes(brokerId)) continue
      let isr = p.isr.filter((r) => r !== brokerId)
      let leader = p.leader
      if (leader === brokerId || leader === -1) leader = p.replicas.find((r) => isr.includes(r) && this.#usable(r, brokerId)) ?? -1
      if (leader === -1 && this.#uncleanAllowed(p.topic)) {
        leader = p.replicas.find((r) => this.#usable(r, brokerId)) ?? -1
        if (leader !== -1) {
          this.#logger.warn({ topic: p.topic, partition: p.partition, leader }, 'unclean leader election: records acknowledged by the lost ISR may be gone')
          isr = [leader]
        }
      }
      // The last ISR member stays in the ISR: only it is known to have every committed record.
      if (isr.length === 0) isr = [...p.isr]
      changes.push(this.#change(p, leader, isr))
    }
    return changes
  }

  /** Partition changes for a broker that is serving again: leadership of partitions that had none and that it may lead. */
  #brokerBack(brokerId: number): MetadataRecord[] {
    const changes: MetadataRecord[] = []
    for (const p of this.#partitions()) {
      if (p.leader !== -1 || !p.replicas.includes(brokerId)) continue
      if (p.isr.includes(brokerId)) changes.push(this.#change(p, brokerId, p.isr))
      else if (this.#uncleanAllowed(p.topic)) changes.push(this.#change(p, brokerId, [brokerId]))
    }
    return changes
  }

  #change(p: PartitionRecord, leader: number, isr: readonly number[]): MetadataRecord {
    const leaderEpoch = leader !== p.leader ? p.leaderEpoch + 1 : p.leaderEpoch
    if (leader !== p.leader) this.#logger.info({ topic: p.topic, partition: p.partition, from: p.leader, to: leader, leaderEpoch, isr }, 'partition leader changes')
    return { kind: 'partition', record: { ...p, leader, isr: [...isr], leaderEpoch, partitionEpoch: p.partitionEpoch + 1 } }
  }

  /** Moves leadership back to each partition's first replica when it is in the ISR and unfenced. */
  #electPreferredLeaders(): Promise<void> {
    return this.#serialize(async () => {
      if (!this.#quorum.isLeader) return
      const changes: MetadataRecord[] = []
      for (const p of this.#partitions()) {
        const preferred = p.replicas[0]!
        if (p.leader === preferred || !p.isr.includes(preferred) || !this.#usable(preferred, -1)) continue
        changes.push(this.#change(p, preferred, p.isr))
      }
      if (changes.length > 0) await this.#quorum.propose(changes, this.#proposeTimeoutMs())
    })
  }

  /**
   * A partition leader's ISR change: applied only when the leader and both epochs match the image
   * (compare-and-set), the new ISR holds the leader, and every added member is a live replica.
   */
  alterPartition(req: AlterPartitionRequest): Promise<AlterPartitionResponse> {
    return this.#serialize(async () => {
      if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER'), topics: [] }
      const image = this.#quorum.image
      const broker = image.brokers.get(req.brokerId)
      if (broker === undefined || broker.incarnationId !== req.incarnationId || broker.fenced) return { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), topics: [] }
      type Answer = AlterPartitionResponse['topics'][number]['partitions'][number]
      const refused = (partition: number, name: Parameters<typeof errorCodeOf>[0]): Answer => ({ partition, errorCode: errorCodeOf(name), leaderId: -1, leaderEpoch: -1, isr: [], partitionEpoch: -1 })
      const answers = new Map<string, Answer>()
      const proposed: { topic: string; partition: number; record: PartitionRecord }[] = []
      for (const t of req.topics) {
        for (const r of t.partitions) {
          const key = `${t.name}/${r.partition}`
          const current = image.topics.get(t.name)?.partitions[r.partition]
          const isr = [...new Set(r.newIsr)].sort((a, b) => a - b)
          let problem: Parameters<typeof errorCodeOf>[0] | null = null
          if (answers.has(key)) problem = 'INVALID_REQUEST'
          else if (current === undefined) problem = 'UNKNOWN_TOPIC_OR_PARTITION'
          else if (current.leader !== req.brokerId) problem = 'NOT_LEADER_OR_FOLLOWER'
          else if (r.leaderEpoch !== current.leaderEpoch) problem = 'FENCED_LEADER_EPOCH'
          else if (r.partitionEpoch !== current.partitionEpoch) problem = 'INVALID_UPDATE_VERSION'
          else if (isr.length !== r.newIsr.length || !isr.includes(req.brokerId)) problem = 'INVALID_REQUEST'
          else if (isr.some((m) => !current.replicas.includes(m) || (!current.isr.includes(m) && !this.#usable(m, -1)))) problem = 'INELIGIBLE_REPLICA'
          if (problem !== null || current === undefined) {
            answers.set(key, refused(r.partition, problem ?? 'UNKNOWN_TOPIC_OR_PARTITION'))
            continue
          }
          const record = { ...current, isr, partitionEpoch: current.partitionEpoch + 1 }
          proposed.push({ topic: t.name, partition: r.partition, record })
          answers.set(key, refused(r.partition, 'REQUEST_TIMED_OUT'))
        }
      }
      if (proposed.length > 0) {
        try {
          await this.#quorum.propose(proposed.map((p) => ({ kind: 'partition', record: p.record })), this.#proposeTimeoutMs())
          for (const p of proposed) {
            const now = this.#quorum.image.topics.get(p.topic)?.partitions[p.partition]
            const won = now !== undefined && now.partitionEpoch === p.record.partitionEpoch && now.leaderEpoch === p.record.leaderEpoch
            answers.set(`${p.topic}/${p.partition}`, won ? { partition: p.partition, errorCode: 0, leaderId: now.leader, leaderEpoch: now.leaderEpoch, isr: [...now.isr], partitionEpoch: now.partitionEpoch } : refused(p.partition, 'INVALID_UPDATE_VERSION'))
            if (won) this.#logger.info({ topic: p.topic, partition: p.partition, isr: now.isr, partitionEpoch: now.partitionEpoch }, 'ISR changed')
          }
        } catch (err) {
          const code = toWireCode(err)
          for (const p of proposed) answers.set(`${p.topic}/${p.partition}`, { ...refused(p.partition, 'REQUEST_TIMED_OUT'), errorCode: code })
        }
      }
      return {
        errorCode: 0,
        topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((r) => answers.get(`${t.name}/${r.partition}`)!) })),
      }
    })
  }

  /**
   * Validates a new topic against the image, places its partitions and commits the topic with
   * all its partitions as one entry. Leaders are spread round-robin over the unfenced brokers from
   * a start derived from the name, so topics created together do not all lead on one broker.
   */
  createTopic(requested: NewTopic, options: { validateOnly: boolean }): Promise<void> {
    return this.#serialize(async () => {
      if (!this.#quorum.isLeader) throw new StrandProtocolError('NOT_CONTROLLER', `Broker ${this.#options.config.nodeId} is not the active controller.`)
      // The internal offsets topic is made with the cluster's settings, whatever was asked: a
      // request for it means "make sure it exists" (brokers send one on the first group request).
      // The same for the transaction state topic.
      const internal = requested.name === OFFSETS_TOPIC || requested.name === TRANSACTION_STATE_TOPIC
      if (internal && this.#quorum.image.topics.has(requested.name)) return
      const { config } = this.#options
      const live = [...this.#quorum.image.brokers.values()].filter((b) => !b.fenced).length
      const txnReplicas = Math.max(1, Math.min(config.transactionStateLogReplicationFactor, live))
      const topic: NewTopic = !internal
        ? requested
        : requested.name === OFFSETS_TOPIC
          ? { name: OFFSETS_TOPIC, partitions: config.offsetsTopicPartitions, replicationFactor: Math.max(1, Math.min(config.offsetsTopicReplicationFactor, live)), configs: { 'cleanup.policy': 'compact' } }
          : { name: TRANSACTION_STATE_TOPIC, partitions: config.transactionStateLogPartitions, replicationFactor: txnReplicas, configs: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(Math.min(config.transactionStateLogMinIsr, txnReplicas)) } }
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
    if (!Number.isInteger(topic.replicationFactor) || topic.replicationFactor < 1) {
      throw new StrandProtocolError('INVALID_REPLICATION_FACTOR', `Replication factor must be at least 1, got ${topic.replicationFactor}.`)
    }
    try {
      parseTopicConfig(this.#options.config, topic.configs)
    } catch (err) {
      throw new StrandProtocolError('INVALID_CONFIG', (err as Error).message)
    }
  }

  deleteTopic(name: string): Promise<void> {
    return this.#serialize(async () => {
      if (!this.#quorum.isLeader) throw new StrandProtocolError('NOT_CONTROLLER', `Broker ${this.#options.config.nodeId} is not the active controller.`)
      if (!this.#quorum.image.topics.has(name)) throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${name}" does not exist.`)
      if (name === OFFSETS_TOPIC) throw new StrandProtocolError('POLICY_VIOLATION', `${OFFSETS_TOPIC} is internal: it holds every group's committed offsets.`)
      if (name === TRANSACTION_STATE_TOPIC) throw new StrandProtocolError('POLICY_VIOLATION', `${TRANSACTION_STATE_TOPIC} is internal: it holds every transactional producer's state.`)
      await this.#quorum.propose({ kind: 'removeTopic', record: { name, reason: null } }, this.#proposeTimeoutMs())
      this.#logger.info({ topic: name }, 'topic deleted')
    })
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
