// Reading a topic back to its end for a benchmark: one or more consumers, each assigned a share
// of the partitions (no group, so no rebalance in the figures), stopping when every partition it
// reads has reached the end offset taken before the start.

import type { ConsumerOptions, Strand } from '../../client/index.js'
import { progress } from './report.js'
import type { Throughput } from './produce.js'

export interface ConsumeAllOptions {
  topic: string
  /** The end offset of each partition, indexed by partition. */
  endOffsets: readonly bigint[]
  consumers: number
  consumer?: ConsumerOptions
  label: string
}

/** Every record from the log start to `endOffsets`, timed from the first fetch to the last record. */
export async function consumeAll(strand: Strand, o: ConsumeAllOptions): Promise<Throughput> {
  const total = o.endOffsets.reduce((sum, end) => sum + Number(end), 0)
  let records = 0
  let bytes = 0
  // Round-robin, so each consumer's partitions are spread over the leaders as evenly as the topic's are.
  const shares = Array.from({ length: o.consumers }, (_, c) => o.endOffsets.map((_, p) => p).filter((p) => p % o.consumers === c))
  const one = async (partitions: number[]): Promise<void> => {
    const left = new Map(partitions.filter((p) => (o.endOffsets[p] as bigint) > 0n).map((p) => [p, o.endOffsets[p] as bigint]))
    if (left.size === 0) return
    const consumer = strand.consumer(o.consumer ?? {})
    try {
      consumer.assign([...left.keys()].map((partition) => ({ topic: o.topic, partition, offset: 'earliest' as const })))
      for await (const batch of consumer) {
        for (const m of batch.messages) bytes += m.value?.length ?? 0
        records += batch.messages.length
        const last = batch.messages.at(-1)
        const end = left.get(batch.partition)
        if (last !== undefined && end !== undefined && last.offset + 1n >= end) left.delete(batch.partition)
        if (records % 100_000 < batch.messages.length) progress(`${o.label}: ${records.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} records`)
        if (left.size === 0) break
      }
    } finally {
      await consumer.close()
    }
  }
  const start = performance.now()
  await Promise.all(shares.map(one))
  return { records, bytes, ms: performance.now() - start }
}
