// The partitions this broker hosts, by topic, and the operations the request handlers need on
// them: create and delete topics, append as leader, read, look up offsets.
//
// Until the metadata quorum lands, a single broker is the leader of every partition it hosts and
// keeps its topic list in `<dataDir>/topics.json` (written atomically). The quorum replaces that
// file with the replicated metadata image; the handlers do not change.

import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { writeFileAtomic } from '../log/checkpoint.js'
import { LogManager } from '../log/log-manager.js'
import type { LogConfig } from '../log/config.js'
import type { BrokerConfig } from '../config.js'
import { parseTopicConfig, topicNameProblem, type TopicConfig } from '../topic-config.js'
import { AppendWaiters, partitionKey } from './append-waiters.js'
import { Partition } from './partition.js'

/** Partitions one topic may have; bounds the work and memory one CreateTopics can cause. */
export const PARTITIONS_PER_TOPIC_MAX = 10_000
const TOPICS_FILE = 'topics.json'

export interface TopicRecord {
  name: string
  partitions: number
  /** The overrides given at creation, as strings (the wire form). */
  configs: Record<string, string>
}

interface Topic {
  record: TopicRecord
  config: TopicConfig
  partitions: Partition[]
}

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
  readonly #topics = new Map<string, Topic>()
  readonly waiters = new AppendWaiters()
  /** Serializes topic creation and deletion, so topics.json never races with itself. */
  #metadataChain: Promise<unknown> = Promise.resolve()

  private constructor(config: BrokerConfig, logger: Logger, logs: LogManager) {
    this.#config = config
    this.#logger = logger
    this.#logs = logs
  }

  static async open(config: BrokerConfig, logger: Logger, clock: () => number): Promise<ReplicaManager> {
    await mkdir(config.dataDir, { recursive: true })
    const logs = await LogManager.open(config.dataDir, { clock, logger, retentionCheckIntervalMs: config.logRetentionCheckIntervalMs })
    const rm = new ReplicaManager(config, logger, logs)
    for (const record of await rm.#readTopicsFile()) await rm.#openTopic(record)
    return rm
  }

  async #readTopicsFile(): Promise<TopicRecord[]> {
    let text: string
    try {
      text = await readFile(path.join(this.#config.dataDir, TOPICS_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const parsed = JSON.parse(text) as { topics: TopicRecord[] }
    return parsed.topics
  }

  async #writeTopicsFile(): Promise<void> {
    const topics = [...this.#topics.values()].map((t) => t.record)
    await writeFileAtomic(path.join(this.#config.dataDir, TOPICS_FILE), `${JSON.stringify({ topics }, null, 2)}\n`)
  }

  async #openTopic(record: TopicRecord): Promise<void> {
    const config = parseTopicConfig(this.#config, record.configs)
    const partitions: Partition[] = []
    for (let i = 0; i < record.partitions; i++) {
      const log = await this.#logs.getOrCreate(record.name, i, toLogConfig(config, this.#config))
      partitions.push(new Partition({ topic: record.name, index: i, log, config, leaderEpoch: 0 }))
    }
    this.#topics.set(record.name, { record, config, partitions })
  }

  topicNames(): string[] {
    return [...this.#topics.keys()].sort()
  }

  topic(name: string): { record: TopicRecord; partitions: readonly Partition[] } | undefined {
    return this.#topics.get(name)
  }

  /** The partition, or UNKNOWN_TOPIC_OR_PARTITION. */
  partition(topic: string, index: number): Partition {
    const p = this.#topics.get(topic)?.partitions[index]
    if (p === undefined) throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${index} is not hosted here.`)
    return p
  }

  /** Validates everything before creating anything; a failed request leaves no trace. */
  createTopic(record: TopicRecord, options: { replicationFactor: number; validateOnly: boolean }): Promise<void> {
    return this.#serialize(async () => {
      const problem = topicNameProblem(record.name)
      if (problem !== null) throw new StrandProtocolError('INVALID_TOPIC', `"${record.name}": ${problem}.`)
      if (this.#topics.has(record.name)) throw new StrandProtocolError('TOPIC_ALREADY_EXISTS', `Topic "${record.name}" already exists.`)
      if (!Number.isInteger(record.partitions) || record.partitions < 1 || record.partitions > PARTITIONS_PER_TOPIC_MAX) {
        throw new StrandProtocolError('INVALID_PARTITIONS', `Partitions must be 1 to ${PARTITIONS_PER_TOPIC_MAX}, got ${record.partitions}.`)
      }
      if (options.replicationFactor !== 1) {
        throw new StrandProtocolError('INVALID_REPLICATION_FACTOR', `Replication factor ${options.replicationFactor} needs that many brokers; this cluster has 1.`)
      }
      try {
        parseTopicConfig(this.#config, record.configs)
      } catch (err) {
        throw new StrandProtocolError('INVALID_CONFIG', (err as Error).message)
      }
      if (options.validateOnly) return
      await this.#openTopic(record)
      await this.#writeTopicsFile()
      this.#logger.info({ subsystem: 'topics', topic: record.name, partitions: record.partitions }, 'topic created')
    })
  }

  deleteTopic(name: string): Promise<void> {
    return this.#serialize(async () => {
      const topic = this.#topics.get(name)
      if (topic === undefined) throw new StrandProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `Topic "${name}" does not exist.`)
      this.#topics.delete(name)
      await this.#writeTopicsFile()
      for (const p of topic.partitions) {
        await this.#logs.delete(name, p.index)
        this.waiters.notify(partitionKey(name, p.index))
      }
      this.#logger.info({ subsystem: 'topics', topic: name }, 'topic deleted')
    })
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#metadataChain.then(fn, fn)
    this.#metadataChain = next.catch(() => undefined)
    return next
  }

  async appendAsLeader(topic: string, index: number, records: Buffer): ReturnType<Partition['appendAsLeader']> {
    const partition = this.partition(topic, index)
    const result = await partition.appendAsLeader(records)
    this.waiters.notify(partitionKey(topic, index))
    return result
  }

  async close(): Promise<void> {
    this.waiters.notifyAll()
    await this.#metadataChain
    await this.#logs.close()
  }
}
