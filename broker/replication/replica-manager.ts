// The partitions this broker hosts and the operations the request handlers need on them: append
// as leader, read, look up offsets.
//
// What to host comes from the metadata image (broker/metadata): after every committed metadata
// entry, `sync` opens a log for each partition this broker leads, updates leader epochs and topic
// configs, and deletes the logs of removed topics. Until the replication issue, a partition lives
// on its leader only (replication factor 1).

import { mkdir } from 'node:fs/promises'
import type { Logger } from 'pino'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { LogManager } from '../log/log-manager.js'
import type { LogConfig } from '../log/config.js'
import type { BrokerConfig } from '../config.js'
import type { MetadataImage } from '../metadata/image.js'
import { parseTopicConfig, type TopicConfig } from '../topic-config.js'
import { AppendWaiters, partitionKey } from './append-waiters.js'
import { Partition } from './partition.js'

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
  }
}

export class ReplicaManager {
  readonly #config: BrokerConfig
  readonly #logger: Logger
  readonly #logs: LogManager
  /** Hosted partitions by `partitionKey(topic, index)`. */
  readonly #partitions = new Map<string, Partition>()
  /** Topics with hosted partitions, so a removed topic's logs can be found and deleted. */
  readonly #hostedTopics = new Map<string, Set<number>>()
  #image: MetadataImage | null = null
  readonly waiters = new AppendWaiters()
  /** Serializes syncs with the image, so logs are opened and deleted in metadata order. */
  #chain: Promise<unknown> = Promise.resolve()

  private constructor(config: BrokerConfig, logger: Logger, logs: LogManager) {
    this.#config = config
    this.#logger = logger.child({ subsystem: 'replicas' })
    this.#logs = logs
  }

  static async open(config: BrokerConfig, logger: Logger, clock: () => number): Promise<ReplicaManager> {
    await mkdir(config.dataDir, { recursive: true })
    const logs = await LogManager.open(config.dataDir, { clock, logger, retentionCheckIntervalMs: config.logRetentionCheckIntervalMs })
    return new ReplicaManager(config, logger, logs)
  }

  /** Follows `image` from now on; call `sync` after each change to it. */
  attach(image: MetadataImage): void {
    this.#image = image
  }

  /** Brings hosted partitions in line with the image. */
  sync(): Promise<void> {
    const next = this.#chain.then(() => this.#sync())
    this.#chain = next.catch((err: unknown) => this.#logger.error({ err }, 'sync with the metadata image failed'))
    return next
  }

  async #sync(): Promise<void> {
    const image = this.#image
    if (image === null) return
    const wanted = new Set<string>()
    for (const topic of image.topics.values()) {
      let config: TopicConfig
      try {
        config = parseTopicConfig(this.#config, topic.configs)
      } catch (err) {
        this.#logger.error({ topic: topic.name, err: (err as Error).message }, 'topic config in the metadata is invalid here; not hosting it')
        continue
      }
      for (const p of topic.partitions) {
        if (p === undefined || p.leader !== this.#config.nodeId) continue
        const key = partitionKey(p.topic, p.partition)
        wanted.add(key)
        await this.#host(p.topic, p.partition, config, p.leaderEpoch)
      }
    }
    for (const [key, partition] of this.#partitions) {
      if (wanted.has(key)) continue
      this.#partitions.delete(key)
      this.waiters.notify(key)
      if (!image.topics.has(partition.topic)) await this.#deleteLog(partition.topic, partition.index)
    }
  }

  async #host(topic: string, index: number, config: TopicConfig, leaderEpoch: number): Promise<void> {
    const key = partitionKey(topic, index)
    const existing = this.#partitions.get(key)
    if (existing !== undefined) {
      existing.config = config
      existing.log.config = toLogConfig(config, this.#config)
      existing.leaderEpoch = leaderEpoch
      return
    }
    const log = await this.#logs.getOrCreate(topic, index, toLogConfig(config, this.#config))
    this.#partitions.set(key, new Partition({ topic, index, log, config, leaderEpoch }))
    const hosted = this.#hostedTopics.get(topic) ?? new Set<number>()
    hosted.add(index)
    this.#hostedTopics.set(topic, hosted)
    this.#logger.info({ topic, partition: index, leaderEpoch }, 'leading partition')
  }

  async #deleteLog(topic: string, index: number): Promise<void> {
    await this.#logs.delete(topic, index)
    const hosted = this.#hostedTopics.get(topic)
    hosted?.delete(index)
    if (hosted?.size === 0) this.#hostedTopics.delete(topic)
    this.#logger.info({ topic, partition: index }, 'deleted the log of a removed topic')
  }

  /** The hosted partition; NOT_LEADER_OR_FOLLOWER when another broker leads it; else UNKNOWN_TOPIC_OR_PARTITION. */
  partition(topic: string, index: number): Partition {
    const p = this.#partitions.get(partitionKey(topic, index))
    if (p !== undefined) return p
    const known = this.#image?.topics.get(topic)?.partitions[index]
    if (known !== undefined) throw new StrandProtocolError('NOT_LEADER_OR_FOLLOWER', `Broker ${known.leader} leads ${topic}-${index}, not broker ${this.#config.nodeId}.`)
    throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${index} does not exist.`)
  }

  async appendAsLeader(topic: string, index: number, records: Buffer): ReturnType<Partition['appendAsLeader']> {
    const partition = this.partition(topic, index)
    const result = await partition.appendAsLeader(records)
    this.waiters.notify(partitionKey(topic, index))
    return result
  }

  async close(): Promise<void> {
    this.waiters.notifyAll()
    await this.#chain
    await this.#logs.close()
  }
}
