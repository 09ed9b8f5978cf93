// Checks for replicated partitions: a producer that remembers what was acknowledged, a reader of
// everything below the high watermark, a byte comparison of replicas' logs on disk, and the
// records of one replica's log as it lies on disk (whatever it holds, committed or not).

import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Strand } from '../../client/index.js'
import type { Producer } from '../../client/producer.js'
import { decodeBatches, verifyBatches } from '../../client/protocol/records.js'

export interface Acked {
  partition: number
  offset: bigint
  value: string
}

/**
 * Sends `perRound` records (values `r<n>`, keys spread over the partitions) every round, without
 * waiting for one round's acks before the next, until `stop()`. Every acknowledged record is kept
 * with its offset; failures are counted, not thrown (they were never acknowledged).
 */
export function steadyProducer(producer: Producer, topic: string, options: { perRound: number; partitions: number }): { acked: Acked[]; failed: () => number; stop: () => Promise<void> } {
  const acked: Acked[] = []
  let failed = 0
  let stopped = false
  let n = 0
  const inflight = new Set<Promise<void>>()
  const loop = (async () => {
    while (!stopped) {
      const messages = Array.from({ length: options.perRound }, () => {
        const i = n++
        return { partition: i % options.partitions, value: `r${i}` }
      })
      const send = producer.sendSettled({ topic, messages }).then((outcomes) => {
        outcomes.forEach((o, i) => {
          if (o.ok) acked.push({ partition: o.partition, offset: o.offset, value: messages[i]!.value })
          else failed++
        })
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
    failed: () => failed,
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
export function watchPartitions(strand: Strand, topic: string, partitions: number): { seen: Map<string, string>; stop: () => Promise<void> } {
  const consumer = strand.consumer({ maxWaitMs: 100 })
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
