// `strand topics create|list|describe|delete`.

import type { ConfigEntry, Strand } from '../index.js'
import { parse, positiveInt, table, toJson, UsageError, type Connect } from './args.js'

export const TOPICS_USAGE = `Usage:
  strand topics list                          [--bootstrap host:port] [--json]
  strand topics create <topic> [--partitions N] [--replication-factor N] [--config key=value ...]
  strand topics describe <topic> [--under-replicated] [--unavailable] [--all-configs]
                                              the topic's config overrides (--all-configs: every key with
                                              its effective value); per partition: leader, replicas, ISR,
                                              log start, log end, high watermark
  strand topics delete <topic>`

const OPTIONS = {
  partitions: { type: 'string', short: 'p' },
  'replication-factor': { type: 'string', short: 'r' },
  config: { type: 'string', short: 'c', multiple: true },
  'under-replicated': { type: 'boolean' },
  unavailable: { type: 'boolean' },
  'all-configs': { type: 'boolean', default: false },
} as const

type Out = (text: string) => void

export async function topicsCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [action, topic, ...extra] = positionals
  if (values.help || action === undefined) return out(TOPICS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action !== 'describe' && values['all-configs']) throw new UsageError('--all-configs is an option of strand topics describe.')
  const needTopic = (): string => {
    if (topic === undefined) throw new UsageError(`strand topics ${action} needs a topic name.`)
    return topic
  }
  const strand = connect(values)
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
    if (action === 'describe') {
      const options = { json: values.json, underReplicated: values['under-replicated'] === true, unavailable: values.unavailable === true, allConfigs: values['all-configs'] }
      return out(await describe(strand, needTopic(), options))
    }
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

/** A partition as `topics describe` shows it; offsets are -1 when it has no leader to ask. */
interface DescribedPartition {
  partition: number
  leader: number
  leaderEpoch: number
  replicas: number[]
  isr: number[]
  logStartOffset: bigint
  /** The leader's log end: past the high watermark while followers have yet to copy records. */
  logEndOffset: bigint
  /** The end of what consumers can read. */
  highWatermark: bigint
}

/**
 * The topic's configs and partitions with their offsets; `--under-replicated` keeps partitions
 * whose ISR is smaller than their replica set, `--unavailable` those with no leader. The high
 * watermark is read before the log end, so the log end shown is never below it.
 */
async function describe(strand: Strand, topic: string, options: { json: boolean; underReplicated: boolean; unavailable: boolean; allConfigs: boolean }): Promise<string> {
  const admin = strand.admin()
  const md = await admin.metadata([topic])
  const info = md.topics.find((t) => t.name === topic)
  if (info === undefined) throw new UsageError(`Topic "${topic}" does not exist.`)
  const selected = info.partitions.filter((p) => {
    if (options.underReplicated && p.isr.length >= p.replicas.length) return false
    if (options.unavailable && p.leaderId >= 0) return false
    return true
  })
  const offsets = async (partition: number, timestamp: 'earliest' | 'latest' | 'logEnd'): Promise<bigint> => (await admin.listOffsets({ topic, partition, timestamp })).offset
  const [configs, partitions] = await Promise.all([
    admin.topicConfigs(topic),
    Promise.all(
      selected.map(async (p): Promise<DescribedPartition> => {
        const base = { partition: p.partition, leader: p.leaderId, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr }
        if (p.leaderId < 0) return { ...base, logStartOffset: -1n, logEndOffset: -1n, highWatermark: -1n }
        const [logStartOffset, highWatermark] = await Promise.all([offsets(p.partition, 'earliest'), offsets(p.partition, 'latest')])
        return { ...base, logStartOffset, logEndOffset: await offsets(p.partition, 'logEnd'), highWatermark }
      }),
    ),
  ])
  if (options.json) return toJson({ topic, configs, partitions })
  const header = ['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'LOG START', 'LOG END', 'HIGH WATERMARK']
  const rows = partitions.map((p) => [p.partition, p.leader, p.replicas, p.isr, p.logStartOffset, p.logEndOffset, p.highWatermark])
  const replicationFactor = info.partitions[0]?.replicas.length ?? 0
  return `Topic ${topic}: ${info.partitions.length} partitions, replication factor ${replicationFactor}\n${renderConfigs(configs, options.allConfigs)}\n\n${table(header, rows)}`
}

/** The overrides on one line (the usual case: few), or every key as a table with --all-configs. */
function renderConfigs(configs: readonly ConfigEntry[], all: boolean): string {
  if (all) return `\n${table(['CONFIG', 'VALUE', 'SOURCE'], configs.map((c) => [c.name, c.value ?? 'null', c.isDefault ? 'default' : 'topic']))}`
  const overrides = configs.filter((c) => !c.isDefault)
  const listed = overrides.length === 0 ? 'none (every key at the broker default)' : overrides.map((c) => `${c.name}=${c.value ?? 'null'}`).join(' ')
  return `Config overrides: ${listed}`
}
