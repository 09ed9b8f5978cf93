// The admin client: topics, cluster metadata, offsets, consumer groups. Every wire error becomes
// its typed error (TOPIC_ALREADY_EXISTS, INVALID_TOPIC, ...) with the broker's message.
//
// Topic changes go to the controller and are retried only when the request may not have reached
// it (a connection error, NOT_CONTROLLER): a retried create may then answer TOPIC_ALREADY_EXISTS
// for a topic the first attempt did create, which the caller can treat as success.

import { createAcls, deleteAcls, deleteScramUser, describeAcls, listScramUsers, upsertScramUser, type AclBinding, type AclFilter, type AdminRoutes, type ScramUser } from './admin-security.js'
import { ApiKey } from './protocol/apis.js'
import { ConfigResourceType } from './protocol/messages/configs.js'
import { backoffMs, needsMetadataRefresh, sleep, toClusterMetadata, type BrokerInfo, type Cluster, type ClusterMetadata } from './cluster.js'
import type { Connection } from './net/connection.js'
import { ClosedError, ConnectionError, errorFromCode, wireError, InvalidArgumentError, StrandError, StrandProtocolError } from './errors.js'
import { GroupCoordinator, isCoordinatorError, type CoordinatorConnectionOptions } from './group/coordinator.js'
import { CommitFailedError } from './group/errors.js'
import { commitOffsets, fetchCommitted, highWatermarks, NO_GENERATION, offsetKey } from './group/offsets.js'
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment, decodeSubscription } from './group/protocol.js'
import type { IsolationLevel } from './consumer.js'
import { TRANSACTION_STATES, type DescribedTransactionState, type TransactionStateName } from './protocol/messages/transaction-admin.js'

/** FindCoordinator's key type for a transactional id. */
const KEY_TYPE_TRANSACTION = 1

export interface CreateTopicOptions {
  topic: string
  /** Broker default (num.partitions) when absent. */
  partitions?: number
  /** Broker default when absent. */
  replicationFactor?: number
  configs?: Record<string, string>
  /** Only validate, create nothing. */
  validateOnly?: boolean
  /** Resolve only once every partition has a leader, so a producer can start at once. Default true. */
  waitForLeaders?: boolean
}

export interface ListOffsetsOptions {
  topic: string
  partition: number
  /**
   * 'earliest' = log start, 'latest' = high watermark, 'logEnd' = the leader's log end offset
   * (past the high watermark while followers catch up; nothing past the high watermark can be
   * consumed), else the first offset at or after this time (ms).
   */
  timestamp: 'earliest' | 'latest' | 'logEnd' | bigint | number
  /** 'read_committed': 'latest' is the last stable offset (before any open transaction's records), as a read_committed consumer sees the log. Default 'read_uncommitted'. */
  isolationLevel?: IsolationLevel
}

export interface OffsetAndTimestamp {
  /** -1n when no record is at or after the timestamp asked for. */
  offset: bigint
  /** The record's timestamp in ms (-1 for 'earliest' / 'latest'). */
  timestamp: number
}

export interface ClusterDescription {
  clusterId: string
  controllerId: number
  brokers: BrokerInfo[]
}

/** One voter of the metadata quorum as it describes itself (null fields: it did not answer). */
export interface QuorumVoterStatus {
  nodeId: number
  address: string
  reachable: boolean
  role: string | null
  term: number | null
  leaderId: number | null
  commitIndex: bigint | null
  /** Entries the voter's log is behind the leader's log end; null when unknown. */
  lag: bigint | null
}

export interface QuorumDescription {
  leaderId: number
  term: number
  voters: QuorumVoterStatus[]
}

/** What DescribeConfigs describes: a topic by name, a broker by node id. */
export interface ConfigResource {
  type: 'topic' | 'broker'
  name: string
}

/** One configuration key of a topic or broker. */
export interface ConfigEntry {
  /** The dotted key (`retention.ms`). */
  name: string
  /** The effective value as a string; null when the key has no value. */
  value: string | null
  /** True when the value is the default; false for a topic's override or a broker's set key. */
  isDefault: boolean
}

/** One resource's configuration, or why the broker could not describe it. */
export interface ConfigResourceDescription extends ConfigResource {
  configs: ConfigEntry[]
  /** UNKNOWN_TOPIC_OR_PARTITION, ...; null on success (then `configs` holds every key). */
  error: StrandError | null
}

/** One broker's metrics as Prometheus text (exposition format 0.0.4), or why it could not be read. */
export interface BrokerMetricsText {
  nodeId: number
  /** The broker's listener address. */
  address: string
  /** The text the broker's GET /metrics would serve; null when `error` is set. */
  text: string | null
  error: StrandError | null
}

export interface GroupListing {
  groupId: string
  /** 'consumer' for Strand and Kafka consumers. */
  protocolType: string
  /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead. */
  state: string
}

export interface GroupMemberDescription {
  memberId: string
  clientId: string
  clientHost: string
  /** The topics the member subscribed to; null when its subscription is not the consumer protocol's. */
  topics: string[] | null
  /** The partitions the leader gave it in the current generation (empty while rebalancing). */
  assignment: Array<{ topic: string; partition: number }>
}

export interface GroupDescription {
  groupId: string
  /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (an unknown group is Dead). */
  state: string
  protocolType: string
  /** The assignor the group uses ('range', 'roundrobin'...); empty while none is chosen. */
  protocol: string
  generationId: number
  /** The broker coordinating the group. */
  coordinatorId: number
  members: GroupMemberDescription[]
}

export interface GroupPartitionOffset {
  topic: string
  partition: number
  /** The group's committed offset: the next record it will read. */
  committed: bigint
  /** The offset after the last record consumers can read. */
  highWatermark: bigint
  /** highWatermark - committed (never below 0): records the group has yet to process. */
  lag: bigint
}

/** How groupOffsets measures a group's lag. */
export interface GroupOffsetsOptions {
  /**
   * 'read_uncommitted' (the default): against each partition's high watermark. 'read_committed':
   * against its last stable offset, what a read_committed consumer can reach (the records of an
   * open transaction are past it); `highWatermark` then holds the last stable offset.
   */
  isolationLevel?: IsolationLevel
}

export type { TransactionStateName }

export interface ListTransactionsOptions {
  /** Only transactions in one of these states; default every state. */
  states?: readonly TransactionStateName[]
  /** Only transactions of these producer ids; default every producer. */
  producerIds?: readonly bigint[]
}

/** A transactional id as its coordinator lists it. */
export interface TransactionListing {
  transactionalId: string
  producerId: bigint
  /** Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or CompleteAbort. */
  state: string
  /** The broker coordinating the id (the leader of its `__transaction_state` partition). */
  coordinatorId: number
}

/** A transactional id's state at its coordinator, or why it could not be described. */
export interface TransactionDescription {
  transactionalId: string
  /** The broker that answered for it; -1 when none did. */
  coordinatorId: number
  /** Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or CompleteAbort; '' when `error` is set. */
  state: string
  producerId: bigint
  producerEpoch: number
  /** The producer's transaction timeout (transactionTimeoutMs): an open transaction older than it is aborted. */
  timeoutMs: number
  /** When the open transaction added its first partition, ms since the epoch; -1 when none is open. */
  startTimeMs: number
  /** The open transaction's partitions, sorted by topic and partition. */
  partitions: Array<{ topic: string; partition: number }>
  /** TRANSACTIONAL_ID_NOT_FOUND, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, ...; null on success. */
  error: StrandError | null
}

/** An offset to commit for a group: the offset of the NEXT record its consumers will read. */
export interface GroupOffsetToCommit {
  topic: string
  partition: number
  offset: bigint
}

export interface AdminContext {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
  /** Settings of the connections to group coordinators. */
  connection: CoordinatorConnectionOptions
  onClose?: () => void
}

/**
 * Retry a topic change only when it may not have taken effect: the connection failed, the broker
 * is not the controller, or the controller is not a known broker (nothing was sent).
 */
function topicChangeRetriable(err: StrandError): boolean {
  if (err instanceof ConnectionError) return true
  return err instanceof StrandProtocolError && (err.code === 'NOT_CONTROLLER' || err.code === 'BROKER_NOT_AVAILABLE')
}

function timestampOf(t: ListOffsetsOptions['timestamp']): bigint {
  if (t === 'earliest') return -2n
  if (t === 'latest' || t === 'logEnd') return -1n
  if ((typeof t === 'bigint' && t >= 0n) || (typeof t === 'number' && Number.isSafeInteger(t) && t >= 0)) return BigInt(t)
  throw new InvalidArgumentError(`timestamp must be 'earliest', 'latest', 'logEnd' or a time in ms >= 0, got ${String(t)}.`)
}

/** ListOffsets' isolationLevel on the wire. */
function isolationCodeOf(level: IsolationLevel | undefined): number {
  if (level === undefined || level === 'read_uncommitted') return 0
  if (level === 'read_committed') return 1
  throw new InvalidArgumentError(`isolationLevel must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(level)}.`)
}

function asStrandError(err: unknown): StrandError {
  if (err instanceof StrandError) return err
  return new StrandProtocolError('UNKNOWN_SERVER_ERROR', (err as Error)?.message ?? String(err), err)
}

export class Admin {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #connectionOptions: CoordinatorConnectionOptions
  readonly #onClose: (() => void) | undefined
  #closed = false

  constructor(context: AdminContext) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#connectionOptions = context.connection
    this.#onClose = context.onClose
  }

  async createTopic(options: CreateTopicOptions): Promise<void> {
    if (typeof options?.topic !== 'string') throw new InvalidArgumentError('createTopic() needs { topic: string }.')
    const configs = Object.entries(options.configs ?? {}).map(([name, value]) => ({ name, value: String(value) }))
    const body = {
      topics: [{ name: options.topic, numPartitions: options.partitions ?? -1, replicationFactor: options.replicationFactor ?? -1, configs }],
      timeoutMs: this.#requestTimeoutMs,
      validateOnly: options.validateOnly ?? false,
    }
    // The controller may take up to timeoutMs itself; the network gets its own allowance.
    const result = await this.#toController(async (c) => {
      const res = await c.request(ApiKey.CreateTopics, body, { timeoutMs: 2 * this.#requestTimeoutMs })
      const found = res.topics.find((t) => t.name === options.topic)
      if (found === undefined) throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The CreateTopics response has no result for "${options.topic}".`)
      this.#throwIfRetriable(wireError(found.errorCode, found.errorMessage))
      return found
    })
    const err = wireError(result.errorCode, result.errorMessage)
    if (err !== null) throw err
    if (options.validateOnly !== true && options.waitForLeaders !== false) await this.#waitForLeaders(options.topic, result.numPartitions)
  }

  async deleteTopic(topic: string): Promise<void> {
    if (typeof topic !== 'string') throw new InvalidArgumentError('deleteTopic() takes a topic name.')
    const body = { topicNames: [topic], timeoutMs: this.#requestTimeoutMs }
    const result = await this.#toController(async (c) => {
      const res = await c.request(ApiKey.DeleteTopics, body, { timeoutMs: 2 * this.#requestTimeoutMs })
      const found = res.responses.find((r) => r.name === topic)
      if (found === undefined) throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DeleteTopics response has no result for "${topic}".`)
      this.#throwIfRetriable(wireError(found.errorCode, found.errorMessage))
      return found
    })
    this.#cluster.forget(topic)
    const err = wireError(result.errorCode, result.errorMessage)
    if (err !== null) throw err
  }

  /**
   * The metadata quorum: asks every live broker for its own view (DescribeQuorum) and reports
   * each voter's role, term and how far its log is behind the leader's.
   */
  async describeQuorum(): Promise<QuorumDescription> {
    const md = await this.metadata()
    // Learn the brokers' addresses, so each can be asked directly.
    await this.#cluster.retry(() => this.#cluster.refresh())
    const views = await Promise.all(
      md.brokers.map(async (b) => {
        try {
          return await this.#cluster.connectionTo(b.nodeId).request(ApiKey.DescribeQuorum, {})
        } catch {
          return null
        }
      }),
    )
    const answered = views.filter((v): v is NonNullable<typeof v> => v !== null && v.errorCode === 0)
    if (answered.length === 0) throw new ConnectionError('cluster', 'no broker answered DescribeQuorum')
    const newest = answered.reduce((a, b) => (b.term > a.term ? b : a))
    const leaderView = answered.find((v) => v.nodeId === newest.leaderId && v.role === 'leader')
    const voters = newest.voters.map((voter): QuorumVoterStatus => {
      const v = answered.find((x) => x.nodeId === voter.nodeId)
      const address = `${voter.host}:${voter.port}`
      if (v === undefined) return { nodeId: voter.nodeId, address, reachable: false, role: null, term: null, leaderId: null, commitIndex: null, lag: null }
      const lag = leaderView === undefined ? null : leaderView.lastIndex - v.lastIndex
      return { nodeId: v.nodeId, address, reachable: true, role: v.role, term: v.term, leaderId: v.leaderId, commitIndex: v.commitIndex, lag: lag !== null && lag < 0n ? 0n : lag }
    })
    return { leaderId: newest.leaderId, term: newest.term, voters }
  }

  /**
   * The configuration of topics and brokers, one result per resource in the order asked, each
   * with its own error. Topics are described by any broker (from its metadata image, defaults
   * from its own config); a broker only describes itself, so each broker resource goes to it.
   */
  async describeConfigs(resources: readonly ConfigResource[]): Promise<ConfigResourceDescription[]> {
    this.#checkOpen()
    for (const r of resources) {
      const ok = (r?.type === 'topic' && typeof r.name === 'string') || (r?.type === 'broker' && /^\d+$/.test(String(r.name)))
      if (!ok) throw new InvalidArgumentError(`Not a config resource: ${JSON.stringify(r)} (a { type: 'topic', name } or a { type: 'broker', name: '<node id>' }).`)
    }
    const topics = resources.filter((r) => r.type === 'topic')
    const brokers = resources.filter((r) => r.type === 'broker')
    const ask = (send: () => Promise<{ results: DescribedConfigs[] }>): Promise<DescribedConfigs[]> => this.#cluster.retry(async () => (await send()).results)
    const answers = await Promise.all([
      topics.length === 0 ? [] : ask(() => this.#cluster.requestAny(ApiKey.DescribeConfigs, { resources: topics.map((r) => ({ resourceType: ConfigResourceType.Topic, resourceName: r.name })) })),
      ...brokers.map(async (r) => {
        await this.#cluster.retry(() => this.#cluster.refresh())
        return ask(() => this.#cluster.connectionTo(Number(r.name)).request(ApiKey.DescribeConfigs, { resources: [{ resourceType: ConfigResourceType.Broker, resourceName: r.name }] }))
      }),
    ])
    const results = answers.flat()
    return resources.map((r) => {
      const type = r.type === 'topic' ? ConfigResourceType.Topic : ConfigResourceType.Broker
      const found = results.find((x) => x.resourceType === type && x.resourceName === r.name)
      if (found === undefined) return { ...r, configs: [], error: new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeConfigs response has no result for ${r.type} "${r.name}".`) }
      return { type: r.type, name: r.name, configs: found.configs, error: wireError(found.errorCode, found.errorMessage) }
    })
  }

  /** Every config key of a topic with its effective value; rejects with the topic's error (UNKNOWN_TOPIC_OR_PARTITION...). */
  async topicConfigs(topic: string): Promise<ConfigEntry[]> {
    if (typeof topic !== 'string') throw new InvalidArgumentError('topicConfigs() takes a topic name.')
    const [result] = await this.describeConfigs([{ type: 'topic', name: topic }])
    if (result!.error !== null) throw result!.error
    return result!.configs
  }

  /**
   * Brokers' metrics over the wire (DescribeMetrics): broker `nodeId`'s, or every live broker's
   * when absent, sorted by node id. Each result carries its own error, so one broker that does not
   * answer leaves the others' figures; an unknown `nodeId` rejects with BROKER_NOT_AVAILABLE.
   */
  async brokerMetrics(nodeId?: number): Promise<BrokerMetricsText[]> {
    this.#checkOpen()
    await this.#cluster.retry(() => this.#cluster.refresh())
    const md = await this.metadata([])
    const targets = md.brokers.filter((b) => nodeId === undefined || b.nodeId === nodeId).sort((a, b) => a.nodeId - b.nodeId)
    if (targets.length === 0) throw new StrandProtocolError('BROKER_NOT_AVAILABLE', `Broker ${nodeId} is not a live broker of the cluster.`)
    return Promise.all(
      targets.map(async (b): Promise<BrokerMetricsText> => {
        const address = `${b.host}:${b.port}`
        try {
          const text = await this.#cluster.retry(async () => {
            const res = await this.#cluster.connectionTo(b.nodeId).request(ApiKey.DescribeMetrics, {})
            const err = errorFromCode(res.errorCode, `Broker ${b.nodeId}.`)
            if (err !== null) throw err
            return res.text
          })
          return { nodeId: b.nodeId, address, text, error: null }
        } catch (err) {
          if (!(err instanceof StrandError) || err instanceof ClosedError) throw err
          return { nodeId: b.nodeId, address, text: null, error: err }
        }
      }),
    )
  }

  /** Names of the topics, internal ones (such as __consumer_offsets) left out, sorted. */
  async listTopics(): Promise<string[]> {
    const md = await this.metadata()
    return md.topics.filter((t) => !t.internal).map((t) => t.name).sort()
  }

  /**
   * Brokers and topics (every topic when `topics` is absent). Note: with the broker's topic
   * auto-creation on, naming a topic that does not exist creates it (Metadata v0 cannot say not to).
   */
  async metadata(topics?: readonly string[]): Promise<ClusterMetadata> {
    this.#checkOpen()
    const res = await this.#cluster.retry(() => this.#cluster.requestAny(ApiKey.Metadata, { topics: topics === undefined ? null : [...topics] }))
    if (topics !== undefined) {
      for (const t of res.topics) {
        const err = errorFromCode(t.errorCode, `Topic "${t.name}".`)
        if (err !== null) throw err
      }
    }
    return toClusterMetadata(res)
  }

  async describeCluster(): Promise<ClusterDescription> {
    const md = await this.metadata([])
    return { clusterId: md.clusterId, controllerId: md.controllerId, brokers: md.brokers }
  }

  async listOffsets(options: ListOffsetsOptions): Promise<OffsetAndTimestamp> {
    this.#checkOpen()
    const timestamp = timestampOf(options.timestamp)
    const isolationLevel = isolationCodeOf(options.isolationLevel)
    const { topic, partition } = options
    // An unknown topic is an answer here, not a transient state to wait out (unlike a producer's
    // first send, which may race the topic's creation).
    const retriable = (err: StrandError): boolean => err.retriable && err.code !== 'UNKNOWN_TOPIC_OR_PARTITION'
    return this.#cluster.retry(async () => {
      const leader = await this.#cluster.leaderFor(topic, partition, { retry: false })
      // The epoch of the same metadata that named the leader: a broker that leads at another
      // epoch answers FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, and the retry refreshes first.
      const currentLeaderEpoch = this.#cluster.cachedLeaderEpoch(topic, partition)
      const res = await this.#cluster.connectionTo(leader).request(ApiKey.ListOffsets, {
        // Kafka's debugging replica id: the broker answers up to the log end, not the high watermark.
        replicaId: options.timestamp === 'logEnd' ? -2 : -1,
        isolationLevel,
        topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch, timestamp }] }],
      })
      const p = res.topics.find((t) => t.name === topic)?.partitions.find((x) => x.partitionIndex === partition)
      if (p === undefined) throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The ListOffsets response has no result for ${topic}-${partition}.`)
      const err = errorFromCode(p.errorCode, `${topic}-${partition}.`)
      if (err !== null) throw err
      return { offset: p.offset, timestamp: Number(p.timestamp) }
    }, { retriable })
  }

  /**
   * Every consumer group of the cluster, sorted by id. Each broker knows the groups it
   * coordinates, so every live broker is asked; one that cannot answer fails the call rather than
   * leave its groups out silently.
   */
  async listGroups(): Promise<GroupListing[]> {
    this.#checkOpen()
    await this.#cluster.retry(() => this.#cluster.refresh())
    const md = await this.metadata([])
    const perBroker = await Promise.all(
      md.brokers.map((b) =>
        this.#cluster.retry(async () => {
          const res = await this.#cluster.connectionTo(b.nodeId).request(ApiKey.ListGroups, { statesFilter: [] })
          const err = errorFromCode(res.errorCode, `Broker ${b.nodeId}.`)
          if (err !== null) throw err
          return res.groups
        }),
      ),
    )
    const groups = new Map<string, GroupListing>()
    for (const g of perBroker.flat()) groups.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState })
    return [...groups.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
  }

  /**
   * A group's state, assignor and members, with each member's subscription and assigned
   * partitions. A group the coordinator does not know rejects with GROUP_ID_NOT_FOUND.
   */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    return this.#withCoordinator(groupId, async (coordinator) => {
      const group = await this.#cluster.retry(async () => {
        const res = await coordinator.request(ApiKey.DescribeGroups, { groups: [groupId] })
        const g = res.groups.find((x) => x.groupId === groupId)
        if (g === undefined) throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeGroups response has no result for group "${groupId}".`)
        const err = errorFromCode(g.errorCode, `Group "${groupId}".`)
        if (err !== null) {
          if (isCoordinatorError(err)) coordinator.reset()
          throw err
        }
        return g
      })
      return {
        groupId: group.groupId,
        state: group.groupState,
        protocolType: group.protocolType,
        protocol: group.protocolData,
        generationId: group.generationId,
        coordinatorId: coordinator.nodeId,
        members: group.members.map((m) => describeMember(group.protocolType, m)),
      }
    })
  }

  /**
   * The group's committed offsets, each with its partition's high watermark (read_committed: last
   * stable offset) and the lag between them, sorted by topic and partition. Partitions the group
   * never committed are left out.
   */
  async groupOffsets(groupId: string, groupOptions: GroupOffsetsOptions = {}): Promise<GroupPartitionOffset[]> {
    const isolationLevel = isolationCodeOf(groupOptions.isolationLevel)
    return this.#withCoordinator(groupId, async (coordinator) => {
      const options = { retry: this.#cluster.retryOptions, requestTimeoutMs: this.#requestTimeoutMs }
      const committed = (await fetchCommitted(coordinator, null, options)).filter((c): c is { topic: string; partition: number; offset: bigint } => c.offset !== null)
      const hws = await highWatermarks(this.#cluster, committed, options, isolationLevel)
      return committed
        .map((c) => {
          const highWatermark = hws.get(offsetKey(c.topic, c.partition)) ?? 0n
          return { topic: c.topic, partition: c.partition, committed: c.offset, highWatermark, lag: highWatermark > c.offset ? highWatermark - c.offset : 0n }
        })
        .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
    })
  }

  /**
   * Commits offsets for a group from outside it, as `strand groups reset-offsets` does: with no
   * generation (generationId -1, memberId ''), which the coordinator accepts only while the group
   * has no members, so a tool cannot move a running consumer's position under it (Kafka's rule).
   * Rejects with CommitFailedError listing every partition's outcome when some failed
   * (UNKNOWN_MEMBER_ID for each: the group has members); the others are committed.
   */
  async commitGroupOffsets(groupId: string, offsets: readonly GroupOffsetToCommit[]): Promise<void> {
    for (const o of offsets) {
      if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || typeof o.offset !== 'bigint' || o.offset < 0n) {
        throw new InvalidArgumentError(`Not an offset to commit: ${JSON.stringify({ topic: o?.topic, partition: o?.partition, offset: String(o?.offset) })}.`)
      }
    }
    if (offsets.length === 0) return
    const results = await this.#withCoordinator(groupId, (coordinator) =>
      commitOffsets(coordinator, NO_GENERATION, offsets, { retry: this.#cluster.retryOptions, requestTimeoutMs: this.#requestTimeoutMs }),
    )
    if (results.some((r) => r.error !== null)) throw new CommitFailedError(results)
  }

  /**
   * Every transactional id of the cluster with its producer id and state, sorted by id (Kafka's
   * `kafka-transactions.sh list`). Each broker lists the ids of the `__transaction_state`
   * partitions it leads, so every live broker is asked; one that still cannot answer after the
   * retries (COORDINATOR_LOAD_IN_PROGRESS while it loads a partition) fails the call rather than
   * leave its ids out silently. A broker whose coordinator has not started
   * (COORDINATOR_NOT_AVAILABLE) leads none of those partitions: nothing to list there (as Kafka's
   * admin client reads it).
   */
  async listTransactions(options: ListTransactionsOptions = {}): Promise<TransactionListing[]> {
    this.#checkOpen()
    const stateFilters = [...(options.states ?? [])]
    for (const s of stateFilters) if (!(TRANSACTION_STATES as readonly string[]).includes(s)) throw new InvalidArgumentError(`Unknown transaction state ${JSON.stringify(s)}; expected one of ${TRANSACTION_STATES.join(', ')}.`)
    const producerIdFilters = [...(options.producerIds ?? [])]
    for (const p of producerIdFilters) if (typeof p !== 'bigint' || p < 0n) throw new InvalidArgumentError(`A producer id is a bigint >= 0, got ${String(p)}.`)
    await this.#cluster.retry(() => this.#cluster.refresh())
    const md = await this.metadata([])
    const perBroker = await Promise.all(
      md.brokers.map((b) =>
        this.#cluster.retry(async (): Promise<TransactionListing[]> => {
          // A state a broker does not know (in unknownStateFilters) matches nothing there, which is the right answer.
          const res = await this.#cluster.connectionTo(b.nodeId).request(ApiKey.ListTransactions, { stateFilters, producerIdFilters })
          const err = errorFromCode(res.errorCode, `Broker ${b.nodeId}.`)
          if (err?.code === 'COORDINATOR_NOT_AVAILABLE') return []
          if (err !== null) throw err
          return res.transactionStates.map((s) => ({ transactionalId: s.transactionalId, producerId: s.producerId, state: s.transactionState, coordinatorId: b.nodeId }))
        }),
      ),
    )
    // While a state partition changes leader, the old and the new leader may both list its ids: one entry each.
    const byId = new Map<string, TransactionListing>()
    for (const l of perBroker.flat()) byId.set(l.transactionalId, l)
    return [...byId.values()].sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0))
  }

  /**
   * Transactional ids' state at their coordinators (Kafka's `kafka-transactions.sh describe`), one
   * result per id in the order asked, each with its own error (TRANSACTIONAL_ID_NOT_FOUND for an
   * id no producer has initialized). Each id's coordinator is found first (FindCoordinator key
   * type 1); while a coordinator moves or loads (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
   * COORDINATOR_LOAD_IN_PROGRESS, a lost connection) the id is asked again, until the request
   * timeout has passed, then its result carries that error.
   */
  async describeTransactions(transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
    this.#checkOpen()
    for (const id of transactionalIds) if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('A transactional id is a non-empty string.')
    const deadlineMs = this.#clock() + this.#requestTimeoutMs
    const done = new Map<string, TransactionDescription>()
    await this.#cluster.retry(() => this.#cluster.refresh())
    let pending = [...new Set(transactionalIds)]
    for (let attempt = 1; pending.length > 0; attempt++) {
      const again = await this.#describeTransactionsOnce(pending, done)
      pending = [...again.keys()]
      const pauseMs = backoffMs(this.#cluster.retryOptions, attempt)
      if (pending.length > 0 && this.#clock() + pauseMs >= deadlineMs) {
        for (const [id, err] of again) done.set(id, failedDescription(id, err))
        break
      }
      if (pending.length > 0) await sleep(pauseMs)
      this.#checkOpen()
      if (this.#cluster.stale) await this.#cluster.refresh().catch(() => undefined)
    }
    return transactionalIds.map((id) => done.get(id) as TransactionDescription)
  }

  /**
   * One round of describeTransactions: each id's coordinator, then one DescribeTransactions per
   * coordinator. Settled ids go into `done`; returns the others with the retriable error of each.
   */
  async #describeTransactionsOnce(ids: readonly string[], done: Map<string, TransactionDescription>): Promise<Map<string, StrandError>> {
    const again = new Map<string, StrandError>()
    const settle = (id: string, e: unknown, coordinatorId = -1): void => {
      const err = asStrandError(e)
      if (err instanceof ClosedError) throw err
      if (isCoordinatorError(err) || err.retriable) {
        if (needsMetadataRefresh(err)) this.#cluster.invalidate()
        again.set(id, err)
      } else done.set(id, failedDescription(id, err, coordinatorId))
    }
    const byCoordinator = new Map<number, string[]>()
    await Promise.all(
      ids.map(async (id) => {
        try {
          const res = await this.#cluster.requestAny(ApiKey.FindCoordinator, { key: id, keyType: KEY_TYPE_TRANSACTION })
          const err = wireError(res.errorCode, res.errorMessage, `Transactional id "${id}":`)
          if (err !== null) throw err
          byCoordinator.set(res.nodeId, [...(byCoordinator.get(res.nodeId) ?? []), id])
        } catch (err) {
          settle(id, err)
        }
      }),
    )
    await Promise.all(
      [...byCoordinator].map(async ([nodeId, list]) => {
        try {
          const res = await this.#cluster.connectionTo(nodeId).request(ApiKey.DescribeTransactions, { transactionalIds: list })
          for (const id of list) {
            const s = res.transactionStates.find((x) => x.transactionalId === id)
            if (s === undefined) settle(id, new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeTransactions response of broker ${nodeId} has no result for "${id}".`), nodeId)
            else if (s.errorCode !== 0) settle(id, wireError(s.errorCode, null, `Transactional id "${id}" (coordinator: broker ${nodeId}).`), nodeId)
            else done.set(id, describedTransaction(s, nodeId))
          }
        } catch (err) {
          for (const id of list) settle(id, err)
        }
      }),
    )
    return again
  }

  /** Creates or replaces a SCRAM-SHA-256 user; the password never leaves this process (a salted hash does). */
  upsertUser(user: { name: string; password: string; iterations?: number }): Promise<void> {
    return upsertScramUser(this.#routes, user)
  }

  deleteUser(name: string): Promise<void> {
    return deleteScramUser(this.#routes, name)
  }

  listUsers(): Promise<ScramUser[]> {
    return listScramUsers(this.#routes)
  }

  createAcls(acls: readonly AclBinding[]): Promise<void> {
    return createAcls(this.#routes, acls)
  }

  describeAcls(filter?: AclFilter): Promise<Array<Required<AclBinding>>> {
    return describeAcls(this.#routes, filter)
  }

  /** Deletes every ACL that matches any filter; resolves with those deleted. */
  deleteAcls(filters: readonly AclFilter[]): Promise<Array<Required<AclBinding>>> {
    return deleteAcls(this.#routes, filters)
  }

  /** Users' and ACLs' requests: to the controller; a NOT_CONTROLLER answer refreshes the metadata before the retry. */
  readonly #routes: AdminRoutes = {
    toController: (send) =>
      this.#toController(async (conn) => {
        try {
          return await send(conn)
        } catch (err) {
          if (err instanceof StrandProtocolError) this.#throwIfRetriable(err)
          throw err
        }
      }),
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#cluster.close()
    this.#onClose?.()
  }

  /** Runs `fn` with a connection to the group's coordinator, closed afterwards. */
  async #withCoordinator<T>(groupId: string, fn: (coordinator: GroupCoordinator) => Promise<T>): Promise<T> {
    this.#checkOpen()
    if (typeof groupId !== 'string' || groupId.length === 0) throw new InvalidArgumentError('A group id is a non-empty string.')
    const coordinator = new GroupCoordinator({ cluster: this.#cluster, groupId, connection: this.#connectionOptions })
    try {
      return await fn(coordinator)
    } finally {
      coordinator.close()
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('admin client')
  }

  /**
   * A per-topic NOT_CONTROLLER (the controller moved) or BROKER_NOT_AVAILABLE (no broker to
   * place partitions on yet) changed nothing: refresh the metadata and let the retry loop resend.
   */
  #throwIfRetriable(err: StrandError | null): void {
    if (err === null || !topicChangeRetriable(err)) return
    this.#cluster.invalidate()
    throw err
  }

  /** Runs a topic change against the active controller (from metadata), retrying as topicChangeRetriable allows. */
  async #toController<T>(send: (conn: Connection) => Promise<T>): Promise<T> {
    this.#checkOpen()
    return this.#cluster.retry(
      async () => {
        if (this.#cluster.controllerId < 0 || this.#cluster.stale) await this.#cluster.refresh()
        return send(this.#cluster.connectionTo(this.#cluster.controllerId))
      },
      { retriable: topicChangeRetriable },
    )
  }

  /** Polls metadata until every partition of a new topic has a leader, within requestTimeoutMs. */
  async #waitForLeaders(topic: string, partitions: number): Promise<void> {
    const deadlineMs = this.#clock() + this.#requestTimeoutMs
    for (let attempt = 1; ; attempt++) {
      await this.#cluster.refresh([topic]).catch(() => undefined)
      const info = this.#cluster.cachedTopic(topic)
      const ready = info !== undefined && info.partitions.length >= Math.max(partitions, 1) && info.partitions.every((p) => p !== undefined && p.leaderId >= 0)
      if (ready) return
      if (this.#clock() >= deadlineMs) {
        throw new StrandProtocolError('LEADER_NOT_AVAILABLE', `Topic "${topic}" was created, but not all its partitions had a leader within ${this.#requestTimeoutMs} ms.`)
      }
      await sleep(backoffMs(this.#cluster.retryOptions, attempt))
    }
  }
}

/** One result of a DescribeConfigs response. */
interface DescribedConfigs {
  errorCode: number
  errorMessage: string | null
  resourceType: number
  resourceName: string
  configs: ConfigEntry[]
}

/** A DescribeTransactions result, its partitions flattened and sorted. */
function describedTransaction(s: DescribedTransactionState, coordinatorId: number): TransactionDescription {
  const partitions = s.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
  partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  return {
    transactionalId: s.transactionalId,
    coordinatorId,
    state: s.transactionState,
    producerId: s.producerId,
    producerEpoch: s.producerEpoch,
    timeoutMs: s.transactionTimeoutMs,
    startTimeMs: Number(s.transactionStartTimeMs),
    partitions,
    error: null,
  }
}

function failedDescription(transactionalId: string, error: StrandError, coordinatorId = -1): TransactionDescription {
  return { transactionalId, coordinatorId, state: '', producerId: -1n, producerEpoch: -1, timeoutMs: 0, startTimeMs: -1, partitions: [], error }
}

/** A DescribeGroups member, its consumer-protocol bytes decoded (when they are that protocol's). */
function describeMember(protocolType: string, m: { memberId: string; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer }): GroupMemberDescription {
  let topics: string[] | null = null
  let assignment: Array<{ topic: string; partition: number }> = []
  if (protocolType === CONSUMER_PROTOCOL_TYPE) {
    try {
      if (m.memberMetadata.length > 0) topics = decodeSubscription(m.memberMetadata).topics
      assignment = decodeAssignment(m.memberAssignment).partitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
    } catch {
      // Bytes from another client's version of the protocol: show the member without them.
    }
  }
  return { memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, topics, assignment }
}
