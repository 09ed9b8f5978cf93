// `strand produce` (lines from stdin) and `strand consume` (to stdout).

import { createInterface } from 'node:readline'
import type { ConsumedMessage, Strand } from '../index.js'
import { ClosedError, CommitFailedError } from '../index.js'
import { parse, positiveInt, toJson, UsageError, type Connect } from './args.js'

export const PRODUCE_USAGE = `Usage: strand produce <topic> [--key-separator S] [--acks 0|1|all] [--partition N]
  Sends each line of stdin as one record; with --key-separator, "key<S>value".`

export const CONSUME_USAGE = `Usage: strand consume <topic> [--group G] [--from-beginning] [--max-messages N] [--partition N]
                      [--isolation read_uncommitted|read_committed]
                      [--print-key] [--print-offset] [--print-partition] [--print-timestamp] [--json]
  Prints each record's value (and what --print-* asks for), tab-separated; --json: one object per line.
  Without --max-messages it runs until interrupted.
  --group G: reads as a member of consumer group G (the group shares the topic's partitions out) and
  commits each batch once printed; starts at the group's committed offsets, else at the log end
  (--from-beginning: the log start). --max-messages N commits exactly the N printed.
  --isolation read_committed: only records of committed transactions (and of producers without
  one), nothing past the last stable offset; default read_uncommitted.`

/** Records a produce keeps unacknowledged before it waits: bounds memory on a large stdin. */
const PRODUCE_INFLIGHT_RECORDS_MAX = 10_000

type Out = (text: string) => void

function topicOf(positionals: string[], usage: string): string {
  const [topic, ...extra] = positionals
  if (topic === undefined) throw new UsageError(`A topic is required.\n${usage}`)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  return topic
}

function partitionOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--partition must be a partition number, got "${raw}".`)
  return n
}

export async function produceCommand(argv: string[], connect: Connect, out: Out, input: NodeJS.ReadableStream): Promise<void> {
  const { values, positionals } = parse(argv, {
    'key-separator': { type: 'string' },
    acks: { type: 'string', default: 'all' },
    partition: { type: 'string' },
  })
  if (values.help) return out(PRODUCE_USAGE)
  const topic = topicOf(positionals, PRODUCE_USAGE)
  const acks = values.acks === 'all' || values.acks === '-1' ? 'all' : values.acks === '1' ? 1 : values.acks === '0' ? 0 : null
  if (acks === null) throw new UsageError(`--acks must be 0, 1 or all, got "${values.acks}".`)
  const partition = partitionOf(values.partition)
  const separator = values['key-separator']
  const strand = connect(values)
  try {
    const producer = strand.producer({ acks, lingerMs: 5 })
    const inflight = new Set<Promise<unknown>>()
    let sent = 0
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      const cut = separator === undefined ? -1 : line.indexOf(separator)
      const message = cut < 0 ? { value: line, partition } : { key: line.slice(0, cut), value: line.slice(cut + separator!.length), partition }
      const p = producer.send({ topic, messages: [message] })
      inflight.add(p)
      void p.then(() => inflight.delete(p), () => undefined)
      sent++
      if (inflight.size >= PRODUCE_INFLIGHT_RECORDS_MAX) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    await producer.close()
    out(values.json ? toJson({ topic, sent }) : `Sent ${sent} records to ${topic}.`)
  } finally {
    await strand.close()
  }
}

export async function consumeCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, {
    'from-beginning': { type: 'boolean', default: false },
    'max-messages': { type: 'string' },
    partition: { type: 'string' },
    'print-key': { type: 'boolean', default: false },
    'print-offset': { type: 'boolean', default: false },
    'print-partition': { type: 'boolean', default: false },
    'print-timestamp': { type: 'boolean', default: false },
    group: { type: 'string' },
    isolation: { type: 'string' },
  })
  if (values.help) return out(CONSUME_USAGE)
  const isolation = values.isolation ?? 'read_uncommitted'
  if (isolation !== 'read_uncommitted' && isolation !== 'read_committed') throw new UsageError(`--isolation must be read_uncommitted or read_committed, not "${isolation}".`)
  const topic = topicOf(positionals, CONSUME_USAGE)
  const maxMessages = positiveInt('max-messages', values['max-messages'], Number.POSITIVE_INFINITY)
  const only = partitionOf(values.partition)
  if (values.group === '') throw new UsageError('--group needs a group id.')
  if (values.group !== undefined && only !== undefined) throw new UsageError('--group and --partition cannot be combined: the group assigns the partitions.')
  const strand = connect(values)
  try {
    const info = (await strand.admin().metadata([topic])).topics.find((t) => t.name === topic)
    if (info === undefined) throw new UsageError(`Topic "${topic}" does not exist.`)
    if (values.group !== undefined) return await consumeAsMember(strand, { topic, groupId: values.group, fromBeginning: values['from-beginning'], maxMessages, isolation }, (p, m) => out(formatMessage(p, m, values)))
    const consumer = strand.consumer({ maxWaitMs: 500, isolationLevel: isolation })
    const partitions = only === undefined ? info.partitions.map((p) => p.partition) : [only]
    const offset = values['from-beginning'] ? ('earliest' as const) : ('latest' as const)
    consumer.assign(partitions.map((partition) => ({ topic, partition, offset })))
    const stop = (): void => void consumer.close()
    process.once('SIGINT', stop)
    let seen = 0
    try {
      for await (const batch of consumer) {
        for (const m of batch.messages) {
          out(formatMessage(batch.partition, m, values))
          if (++seen >= maxMessages) return
        }
      }
    } finally {
      process.off('SIGINT', stop)
      await consumer.close()
    }
  } finally {
    await strand.close()
  }
}

/**
 * Reads as a member of the group, committing each batch right after printing it (at-least-once:
 * a record is printed before its commit, so a crash between the two prints it again next time).
 * Auto-commit is off so that --max-messages commits exactly the records printed, not the rest of
 * the last batch. Ctrl-C leaves the group cleanly with what was committed.
 */
async function consumeAsMember(
  strand: Strand,
  options: { topic: string; groupId: string; fromBeginning: boolean; maxMessages: number; isolation: 'read_uncommitted' | 'read_committed' },
  print: (partition: number, m: ConsumedMessage) => void,
): Promise<void> {
  const { topic, maxMessages } = options
  const consumer = strand.consumer({ groupId: options.groupId, autoCommit: false, maxWaitMs: 500, isolationLevel: options.isolation })
  let interrupted = false
  const stop = (): void => {
    interrupted = true
    void consumer.close()
  }
  process.once('SIGINT', stop)
  let seen = 0
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning })
    for await (const batch of consumer) {
      const printed = batch.messages.slice(0, maxMessages - seen)
      for (const m of printed) print(batch.partition, m)
      seen += printed.length
      const last = printed[printed.length - 1]
      if (last === undefined) continue
      const done = seen >= maxMessages
      try {
        await consumer.commit([{ topic, partition: batch.partition, offset: last.offset + 1n }])
      } catch (err) {
        // Mid-stream, a rebalance that took the partition away is no reason to stop: its next
        // owner reads these records again. The last commit is what --max-messages promises.
        if (done || !(err instanceof CommitFailedError)) throw err
        process.stderr.write(`strand: warning: ${topic}-${batch.partition} not committed (${err.message}); its next reader will see these records again.\n`)
      }
      if (done) return
    }
  } catch (err) {
    if (interrupted && err instanceof ClosedError) return
    throw err
  } finally {
    process.off('SIGINT', stop)
    await consumer.close()
  }
}

interface PrintFlags {
  json: boolean
  'print-key': boolean
  'print-offset': boolean
  'print-partition': boolean
  'print-timestamp': boolean
}

function formatMessage(partition: number, m: Pick<ConsumedMessage, 'key' | 'value' | 'offset' | 'timestamp'>, f: PrintFlags): string {
  const key = m.key?.toString() ?? null
  const value = m.value?.toString() ?? null
  if (f.json) return toJson({ partition, offset: m.offset, timestamp: m.timestamp, key, value })
  const cols: string[] = []
  if (f['print-partition']) cols.push(String(partition))
  if (f['print-offset']) cols.push(String(m.offset))
  if (f['print-timestamp']) cols.push(new Date(m.timestamp).toISOString())
  if (f['print-key']) cols.push(key ?? 'null')
  cols.push(value ?? 'null')
  return cols.join('\t')
}
