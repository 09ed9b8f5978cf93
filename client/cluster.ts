// The client's view of the cluster: the metadata cache (brokers, each topic's partitions and their
// leaders), one connection per broker, and the retry policy shared by producer, consumer and admin.
//
// Each producer, consumer and admin client owns its own Cluster, as Kafka's clients each own
// their NetworkClient: responses come back in request order per connection, so a consumer's
// long-polling Fetch on a shared connection would hold back every Produce queued behind it.
//
// Metadata is refreshed when it is older than metadataMaxAgeMs, when a topic or leader is
// missing, and when a request fails in a way that says the cache is wrong: a connection error,
// NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE and the like.
// Concurrent refreshes are coalesced into one request.

import { ApiKey, type ApiKeyValue, type ApiTypes } from './protocol/apis.js'
import type { MetadataResponse } from './protocol/messages/metadata.js'
import { Connection, type RequestOptions } from './net/connection.js'
import type { SecurityOptions } from './net/security.js'
import { ClosedError, ConnectionError, errorFromCode, InvalidArgumentError, RequestTimeoutError, StrandError, StrandProtocolError } from './errors.js'

export interface RetryOptions {
  /** Retries after the first attempt; 0 disables retrying. */
  retriesMax: number
  /** Wait before the first retry; doubled for each further one. */
  retryBackoffMs: number
  /** Cap of the doubling wait. */
  retryBackoffMsMax: number
}

export interface ClusterOptions {
  /** Bootstrap brokers, 'host:port' each. */
  brokers: readonly string[]
  clientId: string | null
  connectTimeoutMs: number
  requestTimeoutMs: number
  inflightRequestsMax: number
  /** Largest response frame a connection accepts. */
  frameBytesMax: number
  retry: RetryOptions
  /** Cached metadata older than this is refreshed before use. */
  metadataMaxAgeMs: number
  clock: () => number
  /** TLS and SASL of every connection. */
  security?: SecurityOptions
}

export interface BrokerInfo {
  nodeId: number
  host: string
  port: number
}

export interface PartitionInfo {
  partition: number
  /** -1 when the partition has no leader right now. */
  leaderId: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
}

export interface TopicInfo {
  name: string
  internal: boolean
  /** Indexed by partition number. */
  partitions: PartitionInfo[]
}

export interface ClusterMetadata {
  clusterId: string
  controllerId: number
  brokers: BrokerInfo[]
  topics: TopicInfo[]
}

/** Errors after which the cached metadata may be wrong and must be fetched again. */
const REFRESH_CODES: ReadonlySet<string> = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'BROKER_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'NOT_CONTROLLER',
  'KAFKA_STORAGE_ERROR',
])

export function needsMetadataRefresh(err: unknown): boolean {
  if (err instanceof ConnectionError || err instanceof RequestTimeoutError) return true
  return err instanceof StrandProtocolError && REFRESH_CODES.has(err.code)
}

/** Parses 'host:port' or '[v6 address]:port'. */
export function parseBrokerAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:\s]+):(\d+)$/.exec(address)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`Broker address "${address}" is not 'host:port'.`)
  }
  return { host: m[1] as string, port }
}

/** Wait before retry number `retry` (1-based): exponential, capped. */
export function backoffMs(options: RetryOptions, retry: number): number {
  return Math.min(options.retryBackoffMsMax, options.retryBackoffMs * 2 ** Math.max(0, retry - 1))
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function toTopicInfo(t: MetadataResponse['topics'][number]): TopicInfo {
  const partitions: PartitionInfo[] = []
  for (const p of t.partitions) {
    partitions[p.partitionIndex] = {
      partition: p.partitionIndex,
      leaderId: p.leaderId,
      leaderEpoch: p.leaderEpoch,
      replicas: p.replicaNodes,
      isr: p.isrNodes,
      offlineReplicas: p.offlineReplicas,
    }
  }
  return { name: t.name, internal: t.internal, partitions }
}

/**
 * A partition whose cached leader epoch is newer than the answer's keeps its cached state (KIP-320:
 * metadata never goes back to an older leader epoch): the answering broker has not heard of the
 * leader change yet. The same partition count is required: a topic deleted and created again
 * under the same name starts its epochs over.
 */
export function keepNewerLeaders(fresh: TopicInfo, cached: TopicInfo | undefined): TopicInfo {
  if (cached === undefined || cached.partitions.length !== fresh.partitions.length) return fresh
  let partitions: PartitionInfo[] | null = null
  for (const [i, p] of fresh.partitions.entries()) {
    const old = cached.partitions[i]
    if (old === undefined || p === undefined || old.leaderEpoch <= p.leaderEpoch) continue
    partitions ??= [...fresh.partitions]
    partitions[i] = old
  }
  return partitions === null ? fresh : { ...fresh, partitions }
}

export function toClusterMetadata(res: MetadataResponse): ClusterMetadata {
  return {
    clusterId: res.clusterId,
    controllerId: res.controllerId,
    brokers: res.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
    topics: res.topics.filter((t) => t.errorCode === 0).map(toTopicInfo),
  }
}

export class Cluster {
  readonly #options: ClusterOptions
  /** Connections to the bootstrap addresses, used until (and whenever) no known broker answers. */
  readonly #bootstrap: Connection[]
  /** Live brokers by node id, from the last metadata. */
  #brokers = new Map<number, BrokerInfo>()
  /** Known topics, from the last metadata that included them. */
  #topics = new Map<string, TopicInfo>()
  /** Why the last metadata did not describe a topic (unknown, invalid...). */
  #topicErrors = new Map<string, StrandProtocolError>()
  /** Topics this client uses: each refresh asks for all of them, so none drops out of the cache. */
  #interest = new Set<string>()
  #controllerId = -1
  #clusterId = ''
  /** When the cache was last filled (clock ms); -Infinity marks it stale. */
  #updatedAtMs = Number.NEGATIVE_INFINITY
  /** The refresh in flight and the topics it asks for. */
  #refreshing: { promise: Promise<void>; topics: ReadonlySet<string> } | null = null
  /** One connection per broker node id. */
  #connections = new Map<number, Connection>()
  /** Rotates where metadata requests go, so one dead broker does not stall every refresh. */
  #nextAny = 0
  /** The cache was found wrong (an error, or an answer older than the cache): the next refresh asks another broker. */
  #askAnother = false
  #closed = false

  constructor(options: ClusterOptions) {
    if (options.brokers.length === 0) throw new InvalidArgumentError('At least one bootstrap broker is needed.')
    this.#options = options
    this.#bootstrap = options.brokers.map((b) => this.#newConnection(parseBrokerAddress(b)))
  }

  get retryOptions(): RetryOptions {
    return this.#options.retry
  }

  get controllerId(): number {
    return this.#controllerId
  }

  get clusterId(): string {
    return this.#clusterId
  }

  /** Marks the cache stale: the next lookup fetches metadata first. */
  invalidate(): void {
    this.#updatedAtMs = Number.NEGATIVE_INFINITY
    this.#askAnother = true
  }

  /** The cached leader of a partition, or undefined when unknown (no leader or no such broker). */
  cachedLeader(topic: string, partition: number): number | undefined {
    const leaderId = this.#topics.get(topic)?.partitions[partition]?.leaderId
    if (leaderId === undefined || leaderId < 0 || !this.#brokers.has(leaderId)) return undefined
    return leaderId
  }

  /**
   * The cached leader epoch of a partition, which requests to its leader carry so that a leader at
   * another epoch refuses them (KIP-320); -1 (no check) when the partition is not in the cache.
   */
  cachedLeaderEpoch(topic: string, partition: number): number {
    return this.#topics.get(topic)?.partitions[partition]?.leaderEpoch ?? -1
  }

  cachedTopic(topic: string): TopicInfo | undefined {
    return this.#topics.get(topic)
  }

  /** Drops a topic from the cache and from future refreshes (after deleting it: with topic
   *  auto-creation on, asking for its metadata again would create it anew). */
  forget(topic: string): void {
    this.#interest.delete(topic)
    this.#topics.delete(topic)
    this.#topicErrors.delete(topic)
  }

  /** Why the last metadata did not describe `topic` (UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC...). */
  topicError(topic: string): StrandProtocolError | undefined {
    return this.#topicErrors.get(topic)
  }

  /** Whether the cache is older than metadataMaxAgeMs (or was invalidated). */
  get stale(): boolean {
    return this.#options.clock() - this.#updatedAtMs > this.#options.metadataMaxAgeMs
  }

  /** A topic's metadata, refreshed when missing or stale; retries while the topic is unknown. */
  async topic(topic: string): Promise<TopicInfo> {
    return this.retry(async () => {
      const cached = this.#topics.get(topic)
      if (cached !== undefined && !this.stale) return cached
      await this.refresh([topic])
      const info = this.#topics.get(topic)
      if (info !== undefined) return info
      throw this.#topicErrors.get(topic) ?? new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topic}" is not in the metadata.`)
    })
  }

  /**
   * The leader's node id of a partition; refreshes and retries while there is none. A caller that
   * runs its own retry loop passes `{ retry: false }`, so retries do not multiply.
   */
  async leaderFor(topic: string, partition: number, options: { retry?: boolean } = {}): Promise<number> {
    const once = async (): Promise<number> => {
      const cached = this.stale ? undefined : this.cachedLeader(topic, partition)
      if (cached !== undefined) return cached
      await this.refresh([topic])
      const info = this.#topics.get(topic)
      if (info === undefined) throw this.#topicErrors.get(topic) ?? new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${topic}" is not in the metadata.`)
      if (info.partitions[partition] === undefined) {
        throw new InvalidArgumentError(`Topic "${topic}" has ${info.partitions.length} partitions; there is no partition ${partition}.`)
      }
      const leader = this.cachedLeader(topic, partition)
      if (leader === undefined) throw new StrandProtocolError('LEADER_NOT_AVAILABLE', `${topic}-${partition} has no leader in the metadata.`)
      return leader
    }
    return options.retry === false ? once() : this.retry(once)
  }

  /**
   * Fetches metadata for `topics` plus every topic already of interest. A refresh already in
   * flight that covers them is shared rather than repeated.
   */
  async refresh(topics: readonly string[] = []): Promise<void> {
    for (const t of topics) this.#interest.add(t)
    const current = this.#refreshing
    if (current !== null) {
      if (topics.every((t) => current.topics.has(t))) return current.promise
      await current.promise.catch(() => undefined)
      if (this.#refreshing !== null && this.#refreshing !== current) return this.refresh(topics)
    }
    const wanted = new Set(this.#interest)
    const promise = this.#fetchMetadata([...wanted]).finally(() => {
      if (this.#refreshing?.promise === promise) this.#refreshing = null
    })
    this.#refreshing = { promise, topics: wanted }
    return promise
  }

  async #fetchMetadata(topics: string[]): Promise<void> {
    // After the cache proved wrong, ask the next broker: one cut off from the cluster answers from
    // a stale image (naming itself as a leader it no longer is), and asking it again and again
    // would never learn of the new leader. Otherwise keep asking the same one, so that a client
    // sees its own changes (a topic it just created) in order. With the epoch check below, a
    // stale answer cannot undo a fresher one.
    if (this.#askAnother) this.#nextAny++
    this.#askAnother = false
    const res = await this.requestAny(ApiKey.Metadata, { topics })
    this.#brokers = new Map(res.brokers.map((b) => [b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port }]))
    // Connections to brokers no longer in the cluster would otherwise stay open for good.
    for (const [nodeId, conn] of this.#connections) {
      if (this.#brokers.has(nodeId)) continue
      this.#connections.delete(nodeId)
      conn.retire()
    }
    this.#controllerId = res.controllerId
    this.#clusterId = res.clusterId
    for (const t of res.topics) {
      const err = errorFromCode(t.errorCode, `Topic "${t.name}".`)
      if (err === null) {
        const fresh = toTopicInfo(t)
        const kept = keepNewerLeaders(fresh, this.#topics.get(t.name))
        if (kept !== fresh) this.#askAnother = true
        this.#topics.set(t.name, kept)
        this.#topicErrors.delete(t.name)
      } else {
        this.#topics.delete(t.name)
        this.#topicErrors.set(t.name, err)
      }
    }
    this.#updatedAtMs = this.#options.clock()
  }

  /** The connection to a broker of the current metadata. */
  connectionTo(nodeId: number): Connection {
    if (this.#closed) throw new ClosedError('client')
    const broker = this.#brokers.get(nodeId)
    let conn = this.#connections.get(nodeId)
    if (broker === undefined) {
      if (conn !== undefined) return conn
      throw new StrandProtocolError('BROKER_NOT_AVAILABLE', `Broker ${nodeId} is not in the metadata.`)
    }
    if (conn !== undefined && conn.address !== `${broker.host}:${broker.port}`) {
      // The node moved to a new address (a restart with another port): the old socket is useless.
      conn.retire()
      conn = undefined
    }
    if (conn === undefined) {
      conn = this.#newConnection(broker)
      this.#connections.set(nodeId, conn)
    }
    return conn
  }

  /** Sends to a known broker or, failing that, a bootstrap one; tries each once on connection errors. */
  async requestAny<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request'], options: RequestOptions = {}): Promise<ApiTypes[K]['response']> {
    const candidates = [...[...this.#brokers.keys()].map((id) => this.connectionTo(id)), ...this.#bootstrap]
    let lastError: unknown = new ConnectionError('cluster', 'no broker to ask')
    for (let i = 0; i < candidates.length; i++) {
      const conn = candidates[(this.#nextAny + i) % candidates.length] as Connection
      try {
        const res = await conn.request(apiKey, body, options)
        this.#nextAny = (this.#nextAny + i) % candidates.length
        return res
      } catch (err) {
        if (this.#closed || !(err instanceof ConnectionError || err instanceof RequestTimeoutError)) throw err
        lastError = err
      }
    }
    this.#nextAny++
    throw lastError
  }

  /**
   * Runs `attempt` until it succeeds, it throws a non-retriable error, or retriesMax retries
   * are spent (then the last error is thrown as is, so its code tells what went wrong).
   * `retriable` narrows what is retried (an admin call must not retry UNKNOWN_TOPIC_OR_PARTITION).
   */
  async retry<T>(attempt: (retry: number) => Promise<T>, options: { retriable?: (err: StrandError) => boolean } = {}): Promise<T> {
    const retriable = options.retriable ?? ((err: StrandError) => err.retriable)
    const { retriesMax } = this.#options.retry
    for (let retry = 0; ; retry++) {
      try {
        return await attempt(retry)
      } catch (err) {
        if (this.#closed) throw err instanceof ClosedError ? err : new ClosedError('client')
        if (!(err instanceof StrandError) || !retriable(err) || retry >= retriesMax) throw err
        if (needsMetadataRefresh(err)) this.invalidate()
        await sleep(backoffMs(this.#options.retry, retry + 1))
      }
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const c of this.#bootstrap) c.close()
    for (const c of this.#connections.values()) c.close()
    this.#connections.clear()
  }

  get closed(): boolean {
    return this.#closed
  }

  #newConnection(broker: { host: string; port: number }): Connection {
    const o = this.#options
    return new Connection({
      host: broker.host,
      port: broker.port,
      clientId: o.clientId,
      connectTimeoutMs: o.connectTimeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      inflightRequestsMax: o.inflightRequestsMax,
      frameBytesMax: o.frameBytesMax,
      ...(o.security === undefined ? {} : { security: o.security }),
    })
  }
}
