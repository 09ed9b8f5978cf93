// Checks for replicated partitions: a producer that remembers what was acknowledged, a reader of
// everything below the high watermark, a byte comparison of replicas' logs on disk, and the
// records of one replica's log as it lies on disk (whatever it holds, committed or not).

import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Connection } from '../../client/net/connection.js'
import type { Strand } from '../../client/index.js'
import { ApiKey } from '../../client/protocol/apis.js'
import type { IsolationLevel } from '../../client/consumer/consumer.js'
import type { Producer } from '../../client/producer.js'
import { decodeBatches, verifyBatches } from '../../client/protocol/records.js'
import type { TestCluster } from './cluster.js'
import { waitFor } from './wait.js'

export interface Acked {
  partition: number
  offset: bigint
  value: string
  /** When the acknowledgement came (performance.now()), where it was timed. */
  at?: number
}

/**
 * Sends `perRound` records (values `r<n>`, or `<prefix><n>`, spread over the partitions, or all to
 * `partition`) every round, without
 * waiting for one round's acks before the next, until `stop()`. Every acknowledged record is kept
 * with its offset; failures are counted, not thrown (they were never acknowledged).
 */
export function steadyProducer(producer: Producer, topic: string, options: { perRound: number; partitions: number; partition?: number; prefix?: string }): { acked: Acked[]; failed: () => number; failedValues: string[]; stop: () => Promise<void> } {
  const prefix = options.prefix ?? 'r'
  const acked: Acked[] = []
  const failedValues: string[] = []
  let stopped = false
  let n = 0
  const inflight = new Set<Promise<void>>()
  const loop = (async () => {
    while (!stopped) {
      const messages = Array.from({ length: options.perRound }, () => {
        const i = n++
        return { partition: options.partition ?? i % options.partitions, value: `${prefix}${i}` }
      })
      const send = producer.sendSettled({ topic, messages }).then((outcomes) => {
        const at = performance.now()
        outcomes.forEach((o, i) => {
          if (o.ok) acked.push({ partition: o.partition, offset: o.offset, value: messages[i]!.value, at })
          else failedValues.push(messages[i]!.value)
        })
      }, () => {
        // The producer was closed under the load (a failed test's teardown): nothing more to send.
        stopped = true
        for (const m of messages) failedValues.push(m.value)
      })
      inflight.add(send)
      void send.finally(() => inflight.delete(send))
      // Keep a bounded number of sends outstanding: a steady rate, not an unbounded queue.
      while (inflight.size >= 8 && !stopped) await Promise.race(inflight)
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  return {
    acked,
    failed: () => failedValues.length,
    failedValues,
    stop: async () => {
      stopped = true
      await loop
      await Promise.all(inflight)
    },
  }
}

/**
 * A consumer reading `partitions` of `topic` from the start, in the background, remembering every
 * record it is given (`partition:offset` -> value): what a reader saw, to check later that none of
 * it vanished.
 */
export function watchPartitions(strand: Strand, topic: string, partitions: number, options: { isolationLevel?: IsolationLevel } = {}): { seen: Map<string, string>; stop: () => Promise<void> } {
  const consumer = strand.consumer({ maxWaitMs: 100, ...options })
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })))
  const seen = new Map<string, string>()
  const loop = (async () => {
    for await (const batch of consumer) {
      for (const m of batch.messages) seen.set(`${batch.partition}:${m.offset}`, m.value?.toString() ?? '')
    }
  })()
  return {
    seen,
    // close() ends the loop even while it waits for records that will never come (it caught up).
    stop: async () => {
      await consumer.close()
      await loop
    },
  }
}

/**
 * A read_committed and a read_uncommitted watcher of the same partitions (watchPartitions), each
 * with a client of its own, stopped at the test's teardown: a transaction test's two readers.
 */
export function watchBothIsolations(t: { teardown: (fn: () => Promise<void>) => void }, cluster: TestCluster, topic: string, partitions: number): { committed: ReturnType<typeof watchPartitions>; uncommitted: ReturnType<typeof watchPartitions> } {
  const committed = watchPartitions(cluster.client('read-committed'), topic, partitions, { isolationLevel: 'read_committed' })
  const uncommitted = watchPartitions(cluster.client('read-uncommitted'), topic, partitions)
  t.teardown(async () => {
    await committed.stop()
    await uncommitted.stop()
  })
  return { committed, uncommitted }
}

/** Every record of the partitions from offset 0 up to each partition's high watermark, by `partition:offset`. */
export async function readCommitted(strand: Strand, topic: string, partitions: number, highWatermarks: readonly bigint[]): Promise<Map<string, string>> {
  const consumer = strand.consumer({ maxWaitMs: 100 })
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })))
  const seen = new Map<string, string>()
  const done = new Set<number>(highWatermarks.flatMap((hw, p) => (hw === 0n ? [p] : [])))
  try {
    if (done.size === partitions) return seen
    for await (const batch of consumer) {
      for (const m of batch.messages) {
        if (m.offset < highWatermarks[batch.partition]!) seen.set(`${batch.partition}:${m.offset}`, m.value?.toString() ?? '')
        if (m.offset + 1n >= highWatermarks[batch.partition]!) done.add(batch.partition)
      }
      if (done.size === partitions) break
    }
  } finally {
    await consumer.close()
  }
  return seen
}

async function logBytes(dataDir: string, topic: string, partition: number): Promise<Buffer> {
  const dir = path.join(dataDir, `${topic}-${partition}`)
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()
  return Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(dir, f)))))
}

/** The bytes of a replica's log below `highWatermark`: whole batches, segments concatenated. */
export async function logBytesBelow(dataDir: string, topic: string, partition: number, highWatermark: bigint): Promise<Buffer> {
  const all = await logBytes(dataDir, topic, partition)
  if (all.length === 0) return all
  let end = 0
  for (const span of verifyBatches(all)) {
    if (span.header.baseOffset >= highWatermark) break
    end = span.pos + span.sizeBytes
  }
  return all.subarray(0, end)
}

export interface StoredRecord {
  offset: bigint
  value: string
  /** The leader epoch of the batch that holds it. */
  leaderEpoch: number
}

/**
 * Every record of a replica's log on disk, up to its log end (not only what is committed). Read
 * while the broker runs, it is a snapshot: a trailing batch still being written is left out.
 */
export async function logRecords(dataDir: string, topic: string, partition: number): Promise<StoredRecord[]> {
  const { batches } = decodeBatches(await logBytes(dataDir, topic, partition))
  return batches.flatMap((b) => b.records.map((r) => ({ offset: r.offset, value: r.value?.toString() ?? '', leaderEpoch: b.header.partitionLeaderEpoch })))
}

/** Sends `values` to one partition; throws the first failure, else returns where each landed. */
export async function sendValues(producer: Producer, topic: string, partition: number, values: readonly string[]): Promise<Acked[]> {
  const outcomes = await producer.sendSettled({ topic, messages: values.map((value) => ({ partition, value })) })
  return outcomes.map((o, i) => {
    if (!o.ok) throw o.error
    return { partition: o.partition, offset: o.offset, value: values[i]! }
  })
}

/** `count` values `<prefix>0`, `<prefix>1`... */
export function values(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`)
}

/**
 * Waits until every running broker's own metadata shows every partition of `topic` with a leader
 * and all `replicas` in sync, and all brokers agree on each partition's leader epoch. Asking each
 * broker directly matters: a broker just resumed or healed answers from its stale image until it
 * catches up with the quorum, and a client could be reading from it.
 */
export async function waitForFullIsr(cluster: TestCluster, topic: string, partitions: number, replicas = 3): Promise<void> {
  const conns = cluster.ids.filter((id) => cluster.brokers[id - 1] !== null).map((id) => cluster.connection(id, 'full-isr'))
  try {
    await waitFor(async () => {
      const views = await Promise.all(conns.map(async (c: Connection) => {
        const res = await c.request(ApiKey.Metadata, { topics: [topic] }).catch(() => null)
        return res?.topics[0]?.partitions ?? null
      }))
      if (views.some((v) => v === null || v.length !== partitions)) return false
      for (let p = 0; p < partitions; p++) {
        const states = views.map((v) => v!.find((x) => x.partitionIndex === p)!)
        if (states.some((x) => x.leaderId <= 0 || x.isrNodes.length !== replicas || x.leaderEpoch !== states[0]!.leaderEpoch)) return false
      }
      return true
    }, { what: `every broker to see all partitions of ${topic} led, fully in sync, at one leader epoch`, timeoutMs: 60_000, intervalMs: 100 })
  } finally {
    for (const c of conns) c.close()
  }
}

/** The high watermark of every partition and every record below it, read back through `strand`. */
export async function readBack(strand: Strand, topic: string, partitions: number): Promise<{ highWatermarks: bigint[]; log: Map<string, string> }> {
  const admin = strand.admin()
  const highWatermarks: bigint[] = []
  for (let p = 0; p < partitions; p++) highWatermarks.push((await admin.listOffsets({ topic, partition: p, timestamp: 'latest' })).offset)
  return { highWatermarks, log: await readCommitted(strand, topic, partitions, highWatermarks) }
}

/** Whether every replica's log on disk is byte-identical below each partition's high watermark (brokers stopped first). */
export async function replicasIdentical(dataDirs: readonly string[], topic: string, highWatermarks: readonly bigint[], placement?: (partition: number) => readonly number[]): Promise<boolean> {
  for (const [p, hw] of highWatermarks.entries()) {
    const dirs = placement === undefined ? dataDirs : placement(p).map((id) => dataDirs[id - 1]!)
    const copies = await Promise.all(dirs.map((dir) => logBytesBelow(dir, topic, p, hw)))
    if (!copies.every((c) => c.equals(copies[0]!))) return false
  }
  return true
}
