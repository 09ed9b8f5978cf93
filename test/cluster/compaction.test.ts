// Log compaction in a running broker: a `cleanup.policy=compact` topic with small segments is
// cleaned in the background until each key's latest value is all that is left of its past, at
// the offset it was written, while the newest (active) segment is left alone.

import t from 'tap'
import { Strand } from '../../client/index.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { waitFor } from '../helpers/wait.js'

const KEYS = 10
const ROUNDS = 40

async function readAll(strand: Strand, topic: string, end: bigint): Promise<{ offset: bigint; key: string; value: string }[]> {
  const consumer = strand.consumer({ maxWaitMs: 100 })
  consumer.assign([{ topic, partition: 0, offset: 'earliest' }])
  const out: { offset: bigint; key: string; value: string }[] = []
  try {
    for await (const batch of consumer) {
      for (const m of batch.messages) out.push({ offset: m.offset, key: m.key!.toString(), value: m.value!.toString() })
      if (batch.messages.at(-1)!.offset + 1n >= end) break
    }
  } finally {
    await consumer.close()
  }
  return out
}

t.test('a compacted topic keeps the latest value of every key at its original offset', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'log.cleaner.backoff.ms': 50 } })
  const strand = new Strand({ brokers: [broker.address], clientId: 'compaction' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'table', partitions: 1, replicationFactor: 1, configs: { 'cleanup.policy': 'compact', 'segment.bytes': '1024', 'min.cleanable.dirty.ratio': '0.01' } })
  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  const latest = new Map<string, { offset: bigint; value: string }>()
  const written = new Map<bigint, string>()
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < KEYS; k++) {
      const [ack] = await producer.send({ topic: 'table', messages: [{ key: `k${k}`, value: `k${k}-v${round}` }] })
      latest.set(`k${k}`, { offset: ack!.offset, value: `k${k}-v${round}` })
      written.set(ack!.offset, `k${k}-v${round}`)
    }
  }
  await producer.close()
  const end = BigInt(KEYS * ROUNDS)
  t.equal(written.size, KEYS * ROUNDS, 'every record was acknowledged at its own offset')

  // The cleaner runs every 50 ms: wait until closed segments hold one record per key at most.
  const after = await waitFor(async () => {
    const now = await readAll(strand, 'table', end)
    const perKey = new Map<string, number>()
    for (const r of now) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1)
    // Only the active segment may still hold older values; it is a few records at most.
    return now.length < KEYS * ROUNDS / 4 ? now : false
  }, { what: 'the cleaner to compact the closed segments', timeoutMs: 30_000, intervalMs: 100 })
  t.ok(after.length < KEYS * ROUNDS, `${KEYS * ROUNDS} records compacted to ${after.length}`)
  const survivors = new Map<string, { offset: bigint; value: string }>()
  let ascending = true
  for (const [i, r] of after.entries()) {
    if (i > 0 && r.offset <= after[i - 1]!.offset) ascending = false
    survivors.set(r.key, { offset: r.offset, value: r.value })
  }
  t.ok(ascending, 'offsets still ascend, with gaps where records went')
  t.same(survivors, latest, 'the last record read per key is its latest value, at the offset it was written with')
  t.ok(after.every((r) => written.get(r.offset) === r.value), 'every surviving record is at the offset it was acknowledged with')
})
