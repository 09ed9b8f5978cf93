// Topics a benchmark writes to: created with every replica in sync before any figure is taken
// (a partition still catching up would make its first seconds an RF 1 figure), and their end
// offsets for a reader that must stop at the end.

import type { Admin, Strand } from '../../client/index.js'
import { pollUntil } from './cluster.js'
import { progress } from './report.js'

/** A topic whose ISR is not full by then fails the run: its figures would not be RF n figures. */
const ISR_FULL_TIMEOUT_MS = 60_000
const ISR_POLL_INTERVAL_MS = 100
/**
 * Bytes of each priming record (see createTopic): 8, so a reader that takes a send time from a
 * value's first 8 bytes (e2e) reads 0 there, older than anything it measures.
 */
export const PRIME_VALUE_BYTES = 8

export interface BenchTopic {
  topic: string
  partitions: number
  replicationFactor: number
  configs?: Record<string, string>
}

/**
 * Creates the topic and resolves once every partition has a leader and a full ISR and, with
 * `prime`, has acknowledged one acks=all record: every broker then hosts all its partitions and
 * the followers fetch them, so a timed workload measures replicating the topic, not creating it
 * (hosting 600 new partitions takes seconds on a small machine, during which acks=all waits).
 */
export async function createTopic(admin: Admin, t: BenchTopic, prime?: Strand): Promise<void> {
  progress(`${t.topic}: creating ${t.partitions} partitions, waiting for ${t.replicationFactor} in-sync replicas each`)
  await admin.createTopic({ topic: t.topic, partitions: t.partitions, replicationFactor: t.replicationFactor, configs: t.configs ?? {} })
  let ps: Partitions = []
  const lagging = (): Partitions => ps.filter((p) => p.leaderId < 0 || p.isr.length < t.replicationFactor)
  await pollUntil(async () => {
    ps = await partitionsOf(admin, t.topic)
    return ps.length === t.partitions && lagging().length === 0
  }, {
    timeoutMs: ISR_FULL_TIMEOUT_MS,
    intervalMs: ISR_POLL_INTERVAL_MS,
    what: `the ISR of every partition of ${t.topic} was not ${t.replicationFactor}`,
    seen: () => `${ps.length} of ${t.partitions} partitions known; first lagging: ${lagging().slice(0, 10).map((p) => `${p.partition}: leader ${p.leaderId} isr [${p.isr.join(',')}]`).join('; ')}`,
  })
  if (prime !== undefined) await primeTopic(prime, t)
}

type Partitions = Awaited<ReturnType<Admin['metadata']>>['topics'][number]['partitions']

async function partitionsOf(admin: Admin, topic: string): Promise<Partitions> {
  return (await admin.metadata([topic])).topics.find((x) => x.name === topic)?.partitions ?? []
}

/** One acks=all record per partition, acknowledged (retried by the producer while partitions are still being hosted). */
async function primeTopic(strand: Strand, t: BenchTopic): Promise<void> {
  progress(`${t.topic}: one acks=all record per partition, so every replica is hosted and fetched`)
  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  try {
    await producer.send({ topic: t.topic, messages: Array.from({ length: t.partitions }, (_, partition) => ({ value: Buffer.alloc(PRIME_VALUE_BYTES), partition })) })
  } finally {
    await producer.close()
  }
}

/**
 * Resolves once every partition of `topic` has its full ISR and a high watermark at its log end:
 * the followers hold everything produced. A workload started before then would share the machine
 * with the previous one's replication (acks=1 leaves followers copying after the producer is done).
 */
export async function waitReplicated(admin: Admin, topic: string, replicationFactor: number): Promise<void> {
  progress(`${topic}: waiting for followers to copy everything`)
  let behind: boolean[] = []
  await pollUntil(async () => {
    behind = await Promise.all((await partitionsOf(admin, topic)).map(async (p) => {
      if (p.leaderId < 0 || p.isr.length < replicationFactor) return true
      const [hw, end] = await Promise.all((['latest', 'logEnd'] as const).map(async (timestamp) => (await admin.listOffsets({ topic, partition: p.partition, timestamp })).offset))
      return hw !== end
    }))
    return behind.length > 0 && !behind.includes(true)
  }, {
    timeoutMs: ISR_FULL_TIMEOUT_MS,
    intervalMs: ISR_POLL_INTERVAL_MS,
    what: `the followers of ${topic} did not catch up`,
    seen: () => `${behind.filter(Boolean).length} of ${behind.length} partitions behind`,
  })
}

/** The high watermark of each partition, indexed by partition: where a reader of everything stops. */
export async function endOffsets(admin: Admin, topic: string, partitions: number): Promise<bigint[]> {
  return Promise.all(Array.from({ length: partitions }, async (_, partition) => (await admin.listOffsets({ topic, partition, timestamp: 'latest' })).offset))
}

/** Replicas of `topic` each broker hosts, by broker id. */
export async function replicasPerBroker(admin: Admin, topic: string): Promise<Map<number, number>> {
  const counts = new Map<number, number>()
  for (const p of await partitionsOf(admin, topic)) {
    for (const r of p.replicas) counts.set(r, (counts.get(r) ?? 0) + 1)
  }
  return counts
}
