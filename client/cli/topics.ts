// `strand topics create|list|describe|delete`.

import type { Strand } from '../index.js'
import { parse, positiveInt, table, toJson, UsageError } from './args.js'

export const TOPICS_USAGE = `Usage:
  strand topics list                          [--bootstrap host:port] [--json]
  strand topics create <topic> [--partitions N] [--replication-factor N] [--config key=value ...]
  strand topics describe <topic> [--under-replicated] [--unavailable]
                                              partitions, leader, replicas, ISR, log start, high watermark
  strand topics delete <topic>`

const OPTIONS = {
  partitions: { type: 'string', short: 'p' },
  'replication-factor': { type: 'string', short: 'r' },
  config: { type: 'string', short: 'c', multiple: true },
  'under-replicated': { type: 'boolean' },
  unavailable: { type: 'boolean' },
} as const

type Out = (text: string) => void

export async function topicsCommand(argv: string[], connect: (bootstrap: string | undefined) => Strand, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [action, topic, ...extra] = positionals
  if (values.help || action === undefined) return out(TOPICS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  const needTopic = (): string => {
    if (topic === undefined) throw new UsageError(`strand topics ${action} needs a topic name.`)
    return topic
  }
  const strand = connect(values.bootstrap)
  try {
    const admin = strand.admin()
    if (action === 'list') {
      const topics = await admin.listTopics()
      return out(values.json ? toJson({ topics }) : topics.join('\n'))
    }
    if (action === 'create') {
      const name = needTopic()
      const configs = parseConfigs(values.config ?? [])
      const partitions = positiveInt('partitions', values.partitions, 1)
      const replicationFactor = positiveInt('replication-factor', values['replication-factor'], 1)
      await admin.createTopic({ topic: name, partitions, replicationFactor, configs })
      return out(values.json ? toJson({ created: name, partitions, replicationFactor }) : `Created topic ${name} (${partitions} partitions, replication factor ${replicationFactor}).`)
    }
    if (action === 'describe') return out(await describe(strand, needTopic(), { json: values.json, underReplicated: values['under-replicated'] === true, unavailable: values.unavailable === true }))
    if (action === 'delete') {
      const name = needTopic()
      await admin.deleteTopic(name)
      return out(values.json ? toJson({ deleted: name }) : `Deleted topic ${name}.`)
    }
    throw new UsageError(`Unknown action "${action}"; expected list, create, describe or delete.`)
  } finally {
    await strand.close()
  }
}

function parseConfigs(pairs: readonly string[]): Record<string, string> {
  const configs: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--config wants key=value, got "${pair}".`)
    configs[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return configs
}

/**
 * Partitions with their offsets; `--under-replicated` keeps those whose ISR is smaller than their
 * replica set, `--unavailable` those with no leader (their offsets cannot be asked: shown as -1).
 */
async function describe(strand: Strand, topic: string, options: { json: boolean; underReplicated: boolean; unavailable: boolean }): Promise<string> {
  const { json } = options
  const admin = strand.admin()
  const md = await admin.metadata([topic])
  const info = md.topics.find((t) => t.name === topic)
  if (info === undefined) throw new UsageError(`Topic "${topic}" does not exist.`)
  const selected = info.partitions.filter((p) => {
    if (options.underReplicated && p.isr.length >= p.replicas.length) return false
    if (options.unavailable && p.leaderId >= 0) return false
    return true
  })
  const partitions = await Promise.all(
    selected.map(async (p) => {
      if (p.leaderId < 0) return { partition: p.partition, leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr, logStartOffset: -1n, highWatermark: -1n }
      const [start, end] = await Promise.all([
        admin.listOffsets({ topic, partition: p.partition, timestamp: 'earliest' }),
        admin.listOffsets({ topic, partition: p.partition, timestamp: 'latest' }),
      ])
      return { partition: p.partition, leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr, logStartOffset: start.offset, highWatermark: end.offset }
    }),
  )
  if (json) return toJson({ topic, partitions })
  const header = ['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'LOG START', 'HIGH WATERMARK']
  return `Topic ${topic}\n${table(header, partitions.map((p) => [p.partition, p.leader, p.replicas, p.isr, p.logStartOffset, p.highWatermark]))}`
}
