// The admin client: topics, cluster metadata, offsets, consumer groups, transactions, configs,
// users and ACLs. Every wire error becomes its typed error (TOPIC_ALREADY_EXISTS, INVALID_TOPIC,
// ...) with the broker's message. Topics, the cluster and offsets are here; the other resources
// are each a module that Admin delegates to: admin-configs.ts, admin-groups.ts,
// admin-transactions.ts and admin-security.ts (users and ACLs).
//
// Topic changes go to the controller and are retried only when the request may not have reached
// it (a connection error, NOT_CONTROLLER): a retried create may then answer TOPIC_ALREADY_EXISTS
// for a topic the first attempt did create, which the caller can treat as success.

import { describeConfigs, topicConfigs, type ConfigEntry, type ConfigResource, type ConfigResourceDescription } from './admin-configs.js'
import { commitGroupOffsets, describeGroup, groupOffsets, listGroups, type GroupDescription, type GroupListing, type GroupOffsetsOptions, type GroupOffsetToCommit, type GroupPartitionOffset } from './admin-groups.js'
import { isolationCodeOf, type AdminScope } from './admin-scope.js'
import { createAcls, deleteAcls, deleteScramUser, describeAcls, listScramUsers, upsertScramUser, type AclBinding, type AclFilter, type AdminRoutes, type ScramUser } from './admin-security.js'
import { describeTransactions, listTransactions, type ListTransactionsOptions, type TransactionDescription, type TransactionListing } from './admin-transactions.js'
import { ApiKey } from './protocol/apis.js'
import { backoffMs, sleep, toClusterMetadata, type BrokerInfo, type Cluster, type ClusterMetadata } from './cluster.js'
import type { Connection } from './net/connection.js'
import { ClosedError, ConnectionError, errorFromCode, wireError, InvalidArgumentError, StrandError, StrandProtocolError } from './errors.js'
import type { CoordinatorConnectionOptions } from './group/coordinator.js'
import type { IsolationLevel } from './consumer/consumer.js'

export type { ConfigEntry, ConfigResource, ConfigResourceDescription } from './admin-configs.js'
export type { GroupDescription, GroupListing, GroupMemberDescription, GroupOffsetsOptions, GroupOffsetToCommit, GroupPartitionOffset } from './admin-groups.js'
export type { ListTransactionsOptions, TransactionDescription, TransactionListing, TransactionStateName } from './admin-transactions.js'

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

/** One broker's metrics as Prometheus text (exposition format 0.0.4), or why it could not be read. */
export interface BrokerMetricsText {
  nodeId: number
  /** The broker's listener address. */
  address: string
  /** The text the broker's GET /metrics would serve; null when `error` is set. */
  text: string | null
  error: StrandError | null
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

export class Admin {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #onClose: (() => void) | undefined
  #closed = false

  /** What the per-resource modules get of this client (admin-scope.ts). */
  readonly #scope: AdminScope

  constructor(context: AdminContext) {
    this.#cluster = context.cluster
    this.#clock = context.clock
    this.#requestTimeoutMs = context.requestTimeoutMs
    this.#onClose = context.onClose
    this.#scope = {
      cluster: context.cluster,
      clock: context.clock,
      requestTimeoutMs: context.requestTimeoutMs,
      connection: context.connection,
      checkOpen: () => this.#checkOpen(),
      metadata: (topics) => this.metadata(topics),
    }
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
   * with its own error (admin-configs.ts).
   */
  describeConfigs(resources: readonly ConfigResource[]): Promise<ConfigResourceDescription[]> {
    return describeConfigs(this.#scope, resources)
  }

  /** Every config key of a topic with its effective value; rejects with the topic's error (UNKNOWN_TOPIC_OR_PARTITION...). */
  topicConfigs(topic: string): Promise<ConfigEntry[]> {
    return topicConfigs(this.#scope, topic)
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

  /** Every consumer group of the cluster, sorted by id; every live broker is asked (admin-groups.ts). */
  listGroups(): Promise<GroupListing[]> {
    return listGroups(this.#scope)
  }

  /** A group's state, assignor and members; an unknown group rejects with GROUP_ID_NOT_FOUND. */
  describeGroup(groupId: string): Promise<GroupDescription> {
    return describeGroup(this.#scope, groupId)
  }

  /** The group's committed offsets with each partition's high watermark (or last stable offset) and lag. */
  groupOffsets(groupId: string, groupOptions: GroupOffsetsOptions = {}): Promise<GroupPartitionOffset[]> {
    return groupOffsets(this.#scope, groupId, groupOptions)
  }

  /**
   * Commits offsets for a group from outside it, accepted only while the group has no members;
   * rejects with CommitFailedError listing every partition's outcome when some failed.
   */
  commitGroupOffsets(groupId: string, offsets: readonly GroupOffsetToCommit[]): Promise<void> {
    return commitGroupOffsets(this.#scope, groupId, offsets)
  }

  /** Every transactional id of the cluster with its producer id and state, sorted by id (admin-transactions.ts). */
  listTransactions(options: ListTransactionsOptions = {}): Promise<TransactionListing[]> {
    return listTransactions(this.#scope, options)
  }

  /** Transactional ids' state at their coordinators, one result per id in the order asked, each with its own error. */
  describeTransactions(transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
    return describeTransactions(this.#scope, transactionalIds)
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
