// Transactions for a benchmark: producers that each commit transactions of a fixed number of
// records back to back (one open transaction per producer, as a transactional producer has), and,
// as the baseline measured beside it, the same sends by idempotent acks=all producers without a
// transaction: each send of the same records awaited before the next. The difference is what a
// transaction adds per commit: AddPartitionsToTxn before the first batch to each partition, EndTxn,
// and the markers the coordinator writes to every partition, which the next transaction overlaps
// (an epoch per transaction: only its batches to a partition still without the marker wait).

import type { Producer, ProducerOptions, Strand } from '../../client/index.js'
import { progress } from './report.js'

export interface TxnResult {
  /** Transactions committed (or, for the baseline, sends acknowledged). */
  commits: number
  records: number
  ms: number
}

export interface TxnRunOptions {
  topic: string
  /** Records per transaction (per send for the baseline), spread round-robin over the partitions. */
  size: number
  partitions: number
  recordBytes: number
  producers: number
  durationMs: number
  /** Transactional (each producer its own transactional id) or the non-transactional baseline. */
  transactional: boolean
  producer: ProducerOptions
  label: string
}

export async function runTransactions(strand: Strand, o: TxnRunOptions): Promise<TxnResult> {
  const value = Buffer.alloc(o.recordBytes, 0x74)
  const messages = Array.from({ length: o.size }, (_, i) => ({ partition: i % o.partitions, value }))
  const producers: Producer[] = Array.from({ length: o.producers }, (_, i) =>
    strand.producer({ ...o.producer, acks: 'all', ...(o.transactional ? { transactionalId: `${o.topic}-${i}` } : {}) }),
  )
  let commits = 0
  try {
    if (o.transactional) await Promise.all(producers.map((p) => p.initTransactions()))
    const start = performance.now()
    const end = start + o.durationMs
    let shown = start
    await Promise.all(producers.map(async (p) => {
      while (performance.now() < end) {
        if (o.transactional) await p.transaction((tx) => tx.send({ topic: o.topic, messages }))
        else await p.send({ topic: o.topic, messages })
        commits++
        const now = performance.now()
        if (now - shown > 250) {
          shown = now
          progress(`${o.label}: ${commits.toLocaleString('en-US')} in ${((now - start) / 1000).toFixed(1)} s`)
        }
      }
    }))
    const ms = performance.now() - start
    return { commits, records: commits * o.size, ms }
  } finally {
    await Promise.all(producers.map((p) => p.close()))
  }
}
