// The partitions this broker hosts, and replication between brokers.
//
// What to host comes from the metadata image (broker/metadata): after every committed metadata
// entry, `sync` opens a log for each partition this broker is a replica of, makes it leader or
// follower as the image says, hands followed partitions to a fetcher per leader broker, and
// deletes the logs of removed topics.
//
// As leader of a partition it keeps the ISR honest: a follower that has not caught up for
// `replica.lag.time.max.ms` is dropped, and one that catches up to the high watermark is added,
// both through the controller (AlterPartition, a compare-and-set on the partition epoch). High
// watermarks are checkpointed to `<data.dir>/replication-offset-checkpoint`, so a restarted
// broker neither forgets what was committed nor serves what was not.
//
// Leading takes two things: the image must name this process (its incarnation registered and
// unfenced, `#mayLead`), which `sync` applies, and the broker's lease must hold (its heartbeats
// reach the controller, metadata/broker-lease.ts), which every led partition checks for itself on
// each append and read, since a lease ends at an instant and a sync comes when it comes. A lapse
// and a return are heard here too (`#onLease`), to wake what waits and to say so in the log.

import type { SecurityOptions } from '../../client/net/security.js'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { ApiKey } from '../../client/protocol/apis.js'
import { nameOfCode, StrandProtocolError } from '../../client/protocol/errors.js'
import { checkpointKey, readOffsetCheckpoint, writeOffsetCheckpoint } from '../log/checkpoint.js'
import { LogManager } from '../log/log-manager.js'
import type { LogConfig } from '../log/config.js'
import type { BrokerConfig } from '../config.js'
import type { BrokerLease } from '../metadata/broker-lease.js'
import type { ControllerChannel } from '../metadata/controller-channel.js'
import type { MetadataImage } from '../metadata/image.js'
import type { Metrics } from '../metrics/metrics.js'
import type { PartitionRecord } from '../metadata/records.js'
import { parseTopicConfig, type TopicConfig } from '../topic-config.js'
import { AppendWaiters, partitionKey } from './append-waiters.js'
import { settleEach } from './bounded.js'
import { LeaderEpochCache } from './leader-epoch-cache.js'
import { NO_LEASE, Partition, type LagSink, type LeaderLease, type PartitionState } from './partition.js'
import { ReplicaFetcher } from './replica-fetcher.js'

const HIGH_WATERMARK_FILE = 'replication-offset-checkpoint'
/** Largest fetch response a follower accepts: the configured response size plus one batch. */
const FETCH_FRAME_SLACK_BYTES = 2 * 1024 * 1024
/**
 * Partitions a metadata sync brings in line at once. Hosting a new partition is several file
 * system round trips and, as leader, an fsynced leader-epoch file: one at a time, a 600-partition
 * topic took 3-4.6 s to be hosted on a 2-core machine, 1-2 s with 16 at once. Partitions are
 * independent of each other; the bound keeps a large topic from filling the thread pool ahead of
 * every produce and fetch.
 */
const PARTITION_APPLIES_INFLIGHT_MAX = 16

export function toLogConfig(c: TopicConfig, broker: BrokerConfig): LogConfig {
  return {
    segmentBytes: c.segmentBytes,
    segmentMs: c.segmentMs,
    indexIntervalBytes: c.indexIntervalBytes,
    retentionMs: c.retentionMs,
    retentionBytes: c.retentionBytes,
    flushMessages: c.flushMessages,
    flushMs: c.flushMs,
    fsync: broker.fsync === 'always',
    cleanupPolicy: c.cleanupPolicy,
    deleteRetentionMs: c.deleteRetentionMs,
    minCleanableDirtyRatio: c.minCleanableDirtyRatio,
    minCompactionLagMs: c.minCompactionLagMs,
  }
}

export interface ControllerLink {
  channel: ControllerChannel
  incarnationId: string
  /** How replica fetchers connect to leaders: the listener's TLS and SASL (security/tls.ts). */
  security: SecurityOptions
  /** The broker's lease on leadership, kept by its heartbeats; without one (embedded in tests), leading needs none. */
  lease?: BrokerLease
}

export class ReplicaManager {
  readonly #config: BrokerConfig
  readonly #logger: Logger
  readonly #logs: LogManager
  readonly #clock: () => number
  /** Hosted partitions by `partitionKey(topic, index)`. */
  readonly #partitions = new Map<string, Partition>()
  /**
   * The same partitions by topic, then index: the lookup of every partition of every Fetch and
   * Produce, which a key string built per partition made a measurable cost at 600 partitions.
   */
  readonly #byTopic = new Map<string, Map<number, Partition>>()
  /** Where each topic's replication lag samples go, made once per topic rather than per follower fetch. */
  readonly #lagSinks = new Map<string, LagSink>()
  /** Fetchers by source broker id. */
  readonly #fetchers = new Map<number, ReplicaFetcher>()
  /** High watermarks read at startup, used when a partition is first hosted. */
  readonly #checkpointedHighWatermarks: Map<string, bigint>
  #image: MetadataImage | null = null
  #controller: ControllerLink | null = null
  readonly waiters = new AppendWaiters({ replicasOf: (key) => this.#partitions.get(key)?.state.replicas })
  /** Serializes syncs with the image, so logs are opened and deleted in metadata order. */
  #chain: Promise<unknown> = Promise.resolve()
  /** ISR changes to send with the next AlterPartition. */
  readonly #isrChanges = new Map<Partition, number[]>()
  #isrFlushScheduled = false
  readonly #timers: NodeJS.Timeout[] = []
  #closed = false
  readonly #metrics: Metrics
  readonly #leadershipListeners = new Set<(partition: Partition, leading: boolean) => void>()
  /** What every partition hosted here checks before acting as leader. */
  #lease: LeaderLease = NO_LEASE
  /** Whether the lease ever held, so its first grant is not logged as a return. */
  #leaseEverHeld = false

  private constructor(config: BrokerConfig, logger: Logger, logs: LogManager, clock: () => number, highWatermarks: Map<string, bigint>, metrics: Metrics) {
    this.#config = config
    this.#metrics = metrics
    this.#registerGauges()
    this.#logger = logger.child({ subsystem: 'replicas' })
    this.#logs = logs
    this.#clock = clock
    this.#checkpointedHighWatermarks = highWatermarks
    const isrCheck = setInterval(() => this.#shrinkIsrs(), Math.max(5, Math.floor(config.replicaLagTimeMaxMs / 2)))
    const hwCheckpoint = setInterval(() => void this.checkpointHighWatermarks().catch((err: unknown) => this.#logger.error({ err }, 'high watermark checkpoint failed')), config.replicaHighWatermarkCheckpointIntervalMs)
    for (const timer of [isrCheck, hwCheckpoint]) {
      timer.unref()
      this.#timers.push(timer)
    }
  }

  static async open(config: BrokerConfig, logger: Logger, clock: () => number, metrics: Metrics): Promise<ReplicaManager> {
    await mkdir(config.dataDir, { recursive: true })
    // The cleaner compacts only committed records (below the high watermark): a record a follower
    // may still truncate must not make an older record of its key go.
    let manager: ReplicaManager | null = null
    const logs = await LogManager.open(config.dataDir, {
      clock,
      logger,
      retentionCheckIntervalMs: config.logRetentionCheckIntervalMs,
      readCacheBytes: config.logReadCacheBytes,
      cleaner: {
        backoffMs: config.logCleanerBackoffMs,
        offsetMapBytesMax: config.logCleanerDedupeBufferBytes,
        // The last stable offset (at most the high watermark): a record of an open transaction may
        // still be aborted, and must not make an older committed record of its key go.
        cleanableEndOffset: (topic, partition) => (manager === null ? null : manager.#partitions.get(partitionKey(topic, partition))?.lastStableOffset ?? null),
      },
    })
    const highWatermarks = await readOffsetCheckpoint(path.join(config.dataDir, HIGH_WATERMARK_FILE), (why) => logger.warn({ subsystem: 'replicas', why }, 'high watermark checkpoint unreadable; starting from the log start'))
    manager = new ReplicaManager(config, logger, logs, clock, highWatermarks, metrics)
    return manager
  }

  #registerGauges(): void {
    const leading = (): Partition[] => [...this.#partitions.values()].filter((p) => p.isLeader)
    this.#metrics.gauge('strand_partitions', 'Partition replicas hosted by this broker.', () => [{ labels: {}, value: this.#partitions.size }])
    this.#metrics.gauge('strand_leader_partitions', 'Partitions this broker leads.', () => [{ labels: {}, value: leading().length }])
    this.#metrics.gauge('strand_leader_lease', '1 while this broker holds its lease on leadership (its heartbeats reach the controller), else 0: then the partitions it leads refuse produces and consumers.', () => [
      { labels: {}, value: this.#lease.valid() ? 1 : 0 },
    ])
    this.#metrics.gauge('strand_log_fsyncs', 'fdatasync calls on the segment files of the partitions hosted here, since each was opened (fsync: always group-commits appends, so appends per fsync > 1 under load).', () => [
      { labels: {}, value: [...this.#partitions.values()].reduce((n, p) => n + p.log.fsyncs, 0) },
    ])
    this.#metrics.gauge('strand_under_replicated_partitions', 'Partitions led here whose ISR is smaller than their replica set.', () => [
      { labels: {}, value: leading().filter((p) => p.state.isr.length < p.state.replicas.length).length },
    ])
  }

  /** Follows `image` from now on; call `sync` after each change to it. */
  attach(image: MetadataImage, controller: ControllerLink): void {
    this.#image = image
    this.#controller = controller
    if (controller.lease !== undefined) {
      this.#lease = controller.lease
      controller.lease.onChange((held) => this.#onLease(held))
    }
  }

  /**
   * The lease lapsed (false) or was granted again (true). The partitions led here check it
   * themselves; this wakes what waits on them. Lapsed: acks=all produces fail now with
   * NOT_LEADER_OR_FOLLOWER, long-polling consumers are answered with it. Granted: the lifecycle
   * synced the partitions with an image as current as the controller first, so those still led
   * here are the controller's word; their high watermarks, frozen meanwhile, catch up with what
   * the ISR has, and waiting fetches look again.
   */
  #onLease(held: boolean): void {
    const leading = [...this.#partitions.values()].filter((p) => p.isLeader)
    if (!held) {
      this.#metrics.inc('strand_leader_lease_lapses_total', 'Times this broker lost its lease on leadership (no heartbeat answered within the session timeout less a margin).', {})
      this.#logger.warn({ leading: leading.length }, 'lost contact with the controller; not leading')
      for (const p of leading) {
        p.leaseLapsed()
        this.waiters.notifyConsumers(p.key)
      }
      return
    }
    this.#logger.info({ leading: leading.length }, this.#leaseEverHeld ? 'in contact with the controller again; leading' : 'in contact with the controller; leading')
    this.#leaseEverHeld = true
    for (const p of leading) {
      p.maybeAdvanceHighWatermark()
      this.waiters.notify(p.key)
    }
  }

  /** Called when this broker starts leading a partition (a new leader epoch) or stops leading it. */
  onLeadership(listener: (partition: Partition, leading: boolean) => void): void {
    this.#leadershipListeners.add(listener)
  }

  #emitLeadership(partition: Partition, leading: boolean): void {
    for (const listener of this.#leadershipListeners) {
      try {
        listener(partition, leading)
      } catch (err) {
        this.#logger.error({ err, topic: partition.topic, partition: partition.index }, 'leadership listener failed')
      }
    }
  }

  /** Brings hosted partitions in line with the image. */
  sync(): Promise<void> {
    const next = this.#chain.then(() => this.#sync())
    this.#chain = next.catch((err: unknown) => this.#logger.error({ err }, 'sync with the metadata image failed'))
    return next
  }

  async #sync(): Promise<void> {
    const image = this.#image
    if (image === null || this.#closed) return
    const me = this.#config.nodeId
    const wanted = new Set<string>()
    const hosting: { record: PartitionRecord; config: TopicConfig }[] = []
    for (const topic of image.topics.values()) {
      let config: TopicConfig
      try {
        config = parseTopicConfig(this.#config, topic.configs)
      } catch (err) {
        this.#logger.error({ topic: topic.name, err: (err as Error).message }, 'topic config in the metadata is invalid here; not hosting it')
        continue
      }
      for (const p of topic.partitions) {
        if (p === undefined || !p.replicas.includes(me)) continue
        wanted.add(partitionKey(p.topic, p.partition))
        hosting.push({ record: p, config })
      }
    }
    // Partitions led here first: until its leader hosts a partition, producers to it are refused
    // (LEADER_NOT_AVAILABLE) and back off, and its followers' fetches fail; a follower that hosts
    // it later only delays acknowledgements, which wait without a retry. At 600 partitions (a
    // third led here), hosting in index order made producers retry into seconds of backoff.
    const leadHere = (h: { record: PartitionRecord }): number => (h.record.leader === me ? 0 : 1)
    hosting.sort((a, b) => leadHere(a) - leadHere(b))
    await settleEach(hosting, PARTITION_APPLIES_INFLIGHT_MAX, ({ record, config }) => this.#apply(record, config))
    for (const [key, partition] of this.#partitions) {
      if (wanted.has(key)) continue
      this.#unhost(partition)
      this.#fetchers.get(partition.state.leader)?.remove(partition)
      if (partition.isLeader) this.#emitLeadership(partition, false)
      partition.close()
      this.waiters.notify(key, partition.state.replicas)
      if (!image.topics.has(partition.topic)) await this.#deleteLog(partition.topic, partition.index)
    }
    for (const [id, fetcher] of this.#fetchers) {
      if (fetcher.size > 0) continue
      fetcher.close()
      this.#fetchers.delete(id)
    }
  }

  /**
   * Whether this process may act as a leader: its own incarnation is registered and unfenced. A
   * restarted broker replays a leadership the controller is about to move (its registration as a
   * new incarnation does that); serving it meanwhile would answer from state nobody vouches for.
   * This is what the image says; whether the controller still hears from this broker is the
   * lease's part, checked by the partitions (a lapsed lease leaves the image as it was, and the
   * partitions led, so followers keep fetching).
   */
  #mayLead(): boolean {
    const me = this.#image?.brokers.get(this.#config.nodeId)
    return me !== undefined && !me.fenced && me.incarnationId === this.#controller?.incarnationId
  }

  /** Hosts the partition (opening its log the first time) in the role the image gives this broker. */
  async #apply(record: PartitionRecord, config: TopicConfig): Promise<void> {
    // Led by this broker in the image, but not by this process yet: nobody leads it for now.
    const p = record.leader === this.#config.nodeId && !this.#mayLead() ? { ...record, leader: -1 } : record
    const key = partitionKey(p.topic, p.partition)
    const state: PartitionState = { leader: p.leader, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, replicas: p.replicas, isr: p.isr }
    let partition = this.#partitions.get(key)
    if (partition === undefined) {
      const log = await this.#logs.getOrCreate(p.topic, p.partition, toLogConfig(config, this.#config))
      const epochs = await LeaderEpochCache.load(log.dir, this.#logger)
      await epochs.truncateFromEnd(log.logEndOffset)
      const highWatermark = this.#checkpointedHighWatermarks.get(checkpointKey(p.topic, p.partition)) ?? log.logStartOffset
      partition = new Partition({ topic: p.topic, index: p.partition, log, epochs, config, nodeId: this.#config.nodeId, highWatermark, state, clock: this.#clock, lease: this.#lease })
      this.#host(partition)
    } else if (p.leaderEpoch === partition.state.leaderEpoch && p.partitionEpoch < partition.state.partitionEpoch) {
      // This image is older than an AlterPartition answer already applied.
      return
    }
    partition.config = config
    partition.log.config = toLogConfig(config, this.#config)
    const previousLeader = partition.state.leader
    if (p.leader === this.#config.nodeId) {
      // Every committed metadata entry syncs every partition; one led here whose state is the one
      // applied (a partition epoch changes with every change to it) has nothing to do, and waking
      // its followers' fetches for nothing made each sync cost a re-read of every partition.
      if (partition.isLeader && partition.state.leaderEpoch === p.leaderEpoch && partition.state.partitionEpoch === p.partitionEpoch) return
      const newLeadership = !partition.isLeader || partition.state.leaderEpoch !== p.leaderEpoch
      if (newLeadership) this.#logger.info({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, isr: p.isr }, 'leading partition')
      this.#fetchers.get(previousLeader)?.remove(partition)
      await partition.becomeLeader(state, this.#clock())
      this.waiters.notify(key)
      if (newLeadership) this.#emitLeadership(partition, true)
      return
    }
    const wasLeader = partition.isLeader
    const wasFollowing = !partition.isLeader && partition.state.leaderEpoch === p.leaderEpoch && partition.state.leader === p.leader
    partition.becomeFollower(state)
    if (wasLeader) this.#emitLeadership(partition, false)
    if (wasFollowing && this.#fetchers.get(p.leader)?.has(partition) === true) return
    this.#fetchers.get(previousLeader)?.remove(partition)
    this.waiters.notify(key)
    if (p.leader < 0) {
      this.#logger.warn({ topic: p.topic, partition: p.partition, isr: p.isr }, 'partition has no leader')
      return
    }
    this.#logger.info({ topic: p.topic, partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch }, 'following partition')
    this.#fetcherFor(p.leader)?.add(partition)
  }

  #host(partition: Partition): void {
    this.#partitions.set(partition.key, partition)
    let byIndex = this.#byTopic.get(partition.topic)
    if (byIndex === undefined) {
      byIndex = new Map()
      this.#byTopic.set(partition.topic, byIndex)
    }
    byIndex.set(partition.index, partition)
  }

  #unhost(partition: Partition): void {
    this.#partitions.delete(partition.key)
    const byIndex = this.#byTopic.get(partition.topic)
    byIndex?.delete(partition.index)
    if (byIndex?.size === 0) {
      this.#byTopic.delete(partition.topic)
      this.#lagSinks.delete(partition.topic)
    }
  }

  #fetcherFor(leader: number): ReplicaFetcher | null {
    const broker = this.#image?.brokers.get(leader)
    if (broker === undefined) return null
    const existing = this.#fetchers.get(leader)
    if (existing !== undefined && existing.address === `${broker.host}:${broker.port}`) return existing
    existing?.close()
    const fetcher = new ReplicaFetcher({
      nodeId: this.#config.nodeId,
      sourceId: leader,
      host: broker.host,
      port: broker.port,
      waitMsMax: this.#config.replicaFetchWaitMaxMs,
      partitionMaxBytes: this.#config.replicaFetchMaxBytes,
      responseBytesMax: this.#config.replicaFetchResponseMaxBytes,
      backoffMs: this.#config.replicaFetchBackoffMs,
      frameBytesMax: this.#config.replicaFetchResponseMaxBytes + this.#config.messageMaxBytes + FETCH_FRAME_SLACK_BYTES,
      security: this.#controller?.security ?? {},
      clock: this.#clock,
      logger: this.#logger,
      onAppended: (p) => this.waiters.notifyConsumers(p.key),
    })
    this.#fetchers.set(leader, fetcher)
    return fetcher
  }

  async #deleteLog(topic: string, index: number): Promise<void> {
    await this.#logs.delete(topic, index)
    this.#checkpointedHighWatermarks.delete(checkpointKey(topic, index))
    this.#logger.info({ topic, partition: index }, 'deleted the log of a removed topic')
  }

  /**
   * The partition this broker leads; NOT_LEADER_OR_FOLLOWER when another broker leads it; else
   * UNKNOWN_TOPIC_OR_PARTITION. With `consumer`, for a consumer's request: NOT_LEADER_OR_FOLLOWER
   * also while the lease has lapsed (`Partition.checkServesConsumers`); followers' requests and
   * appends check the lease further on (a follower may still fetch, an append is refused).
   */
  partition(topic: string, index: number, options?: { consumer?: boolean }): Partition {
    const p = this.#byTopic.get(topic)?.get(index)
    if (p?.isLeader === true) {
      if (options?.consumer === true) p.checkServesConsumers()
      return p
    }
    const known = this.#image?.topics.get(topic)?.partitions[index]
    if (known !== undefined) {
      if (known.leader < 0) throw new StrandProtocolError('LEADER_NOT_AVAILABLE', `${topic}-${index} has no leader right now.`)
      // The metadata just made this broker the leader and the partition is still being opened.
      if (known.leader === this.#config.nodeId) throw new StrandProtocolError('LEADER_NOT_AVAILABLE', `Broker ${known.leader} is taking over ${topic}-${index}; retry shortly.`)
      throw new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${known.leader} leads ${topic}-${index}, not broker ${this.#config.nodeId}.`)
    }
    throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${index} does not exist.`)
  }

  /** Every hosted partition (leader or follower), for tools and tests. */
  hosted(): Partition[] {
    return [...this.#partitions.values()]
  }

  /** `orderKey`: the producing connection, which orders its batches that carry no producer id (Partition). */
  async appendAsLeader(topic: string, index: number, records: Buffer, clientLeaderEpoch = -1, transactionalId: string | null = null, orderKey?: object): ReturnType<Partition['appendAsLeader']> {
    const partition = this.partition(topic, index)
    const highWatermark = partition.highWatermark
    // Under fsync: always the append resolves once fsynced; the followers may fetch it as soon as it
    // is written (they read to the log end), so their round trip overlaps this leader's fsync.
    const onWritten = (): void => this.waiters.notifyFollowers(partition.key)
    const result = await partition.appendAsLeader(records, clientLeaderEpoch, orderKey === undefined ? { transactionalId, onWritten } : { transactionalId, orderKey, onWritten })
    // Consumers read below the high watermark: an append wakes them only when it moved it (an ISR
    // of one); otherwise the followers' fetches move it and wake them (recordFollowerFetch).
    if (partition.highWatermark > highWatermark) this.waiters.notify(partition.key)
    else this.waiters.notifyFollowers(partition.key)
    return result
  }

  /**
   * A follower's fetch reached this leader: record how far it has come, which may advance the high
   * watermark (waking acks=all produces and consumers) or let it rejoin the ISR.
   */
  recordFollowerFetch(partition: Partition, replicaId: number, fetchOffset: bigint): void {
    if (partition.recordFollowerFetch(replicaId, fetchOffset, this.#clock(), this.#lagSink(partition.topic))) this.waiters.notifyConsumers(partition.key)
    // A leader without its lease proposes no ISR change: the partition may be another's by now.
    if (partition.pendingIsr === null && partition.followerMayJoinIsr(replicaId) && this.#lease.valid()) {
      this.#requestIsrChange(partition, [...partition.state.isr, replicaId].sort((a, b) => a - b))
    }
  }

  #lagSink(topic: string): LagSink {
    let sink = this.#lagSinks.get(topic)
    if (sink === undefined) {
      sink = {
        ms: (follower, ms) => this.#metrics.observe('strand_replica_lag_ms', 'Milliseconds from the leader\'s append to the follower\'s fetch showing it has the records.', { topic, follower }, ms),
        offsets: (follower, n) => this.#metrics.observe('strand_replica_lag_offsets', 'Records a follower lacked when it fetched.', { topic, follower }, n),
      }
      this.#lagSinks.set(topic, sink)
    }
    return sink
  }

  /** Drops ISR members of led partitions that have not caught up within the lag time. */
  #shrinkIsrs(): void {
    // A leader without its lease shrinks no ISR either: followers that stopped fetching from a
    // broker cut off from the controller may well be following the partition's next leader.
    if (!this.#lease.valid()) return
    const now = this.#clock()
    for (const p of this.#partitions.values()) {
      if (!p.isLeader || p.pendingIsr !== null) continue
      const lagging = p.laggingIsrMembers(now, this.#config.replicaLagTimeMaxMs)
      if (lagging.length === 0) continue
      this.#logger.info({ topic: p.topic, partition: p.index, lagging, isr: p.state.isr }, 'followers fell behind; shrinking the ISR')
      this.#requestIsrChange(p, p.state.isr.filter((r) => !lagging.includes(r)))
    }
  }

  #requestIsrChange(partition: Partition, newIsr: number[]): void {
    partition.pendingIsr = newIsr
    this.#isrChanges.set(partition, newIsr)
    if (this.#isrFlushScheduled) return
    this.#isrFlushScheduled = true
    setImmediate(() => {
      this.#isrFlushScheduled = false
      void this.#sendIsrChanges()
    })
  }

  /** Sends the queued ISR changes in one AlterPartition; whatever fails is retried by the next check or fetch. */
  async #sendIsrChanges(): Promise<void> {
    const changes = [...this.#isrChanges]
    this.#isrChanges.clear()
    const clear = (): void => {
      for (const [p, isr] of changes) if (p.pendingIsr === isr) p.pendingIsr = null
    }
    const link = this.#controller
    const current = link?.channel.current()
    if (link === null || current === null || current === undefined) return clear()
    const byTopic = new Map<string, { partition: number; leaderEpoch: number; newIsr: number[]; partitionEpoch: number }[]>()
    for (const [p, newIsr] of changes) {
      const list = byTopic.get(p.topic) ?? []
      list.push({ partition: p.index, leaderEpoch: p.state.leaderEpoch, newIsr, partitionEpoch: p.state.partitionEpoch })
      byTopic.set(p.topic, list)
    }
    try {
      const res = await current.connection.request(ApiKey.AlterPartition, {
        brokerId: this.#config.nodeId,
        incarnationId: link.incarnationId,
        topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      })
      if (res.errorCode !== 0) {
        this.#logger.debug({ error: nameOfCode(res.errorCode) }, 'ISR change refused by the controller')
        return
      }
      for (const t of res.topics) {
        for (const r of t.partitions) {
          const p = this.#partitions.get(partitionKey(t.name, r.partition))
          if (p === undefined) continue
          if (r.errorCode !== 0) {
            this.#logger.info({ topic: t.name, partition: r.partition, error: nameOfCode(r.errorCode) }, 'ISR change refused')
            continue
          }
          if (!p.isLeader || r.leaderEpoch !== p.state.leaderEpoch || r.partitionEpoch <= p.state.partitionEpoch) continue
          this.#logger.info({ topic: t.name, partition: r.partition, isr: r.isr, partitionEpoch: r.partitionEpoch }, 'ISR changed')
          const grew = r.isr.length > p.state.isr.length
          this.#metrics.inc(grew ? 'strand_isr_expands_total' : 'strand_isr_shrinks_total', grew ? 'Followers added back to an ISR by this leader.' : 'Followers dropped from an ISR by this leader.', { topic: t.name })
          p.pendingIsr = null
          await p.becomeLeader({ ...p.state, isr: r.isr, partitionEpoch: r.partitionEpoch }, this.#clock())
          this.waiters.notify(p.key)
        }
      }
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, 'ISR change not delivered; will retry')
    } finally {
      clear()
    }
  }

  /**
   * A clean stop has begun: produces waiting for acks=all fail now with NOT_LEADER_OR_FOLLOWER
   * (retriable: the producer goes to the new leader) instead of holding the shutdown until their
   * timeout.
   */
  stopServing(): void {
    for (const p of this.#partitions.values()) p.failPendingAcks()
  }

  /** Writes every hosted partition's high watermark (replication-offset-checkpoint). */
  async checkpointHighWatermarks(): Promise<void> {
    const offsets = new Map<string, bigint>()
    for (const p of this.#partitions.values()) offsets.set(checkpointKey(p.topic, p.index), p.highWatermark)
    if (offsets.size === 0 && this.#checkpointedHighWatermarks.size === 0) return
    await writeOffsetCheckpoint(path.join(this.#config.dataDir, HIGH_WATERMARK_FILE), offsets)
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearInterval(timer)
    for (const f of this.#fetchers.values()) f.close()
    this.#fetchers.clear()
    this.waiters.notifyAll()
    await this.#chain
    for (const p of this.#partitions.values()) p.close()
    await this.checkpointHighWatermarks().catch((err: unknown) => this.#logger.error({ err }, 'high watermark checkpoint failed'))
    await this.#logs.close()
  }
}
