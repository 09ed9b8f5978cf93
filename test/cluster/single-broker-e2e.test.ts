// One real broker process, the real client: produce, consume, long poll, offsets by time, and a
// restart that keeps every acknowledged record.

import t from 'tap'
import { waitFor } from '../helpers/wait.js'
import { Strand } from '../../client/index.js'
import { spawnBroker, stopBroker } from '../helpers/broker-process.js'
import { Rng, testSeed } from '../helpers/random.js'

const seed = testSeed()

interface Row {
  key: string
  value: string
  headers: Record<string, string>
  timestamp: number
}
const PARTITIONS = 6
const RECORDS = 100_000

t.test(`keyed records: per-key order, every ack readable, survives a restart (seed ${seed})`, async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'e2e' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'orders', partitions: PARTITIONS, replicationFactor: 1 })
  await t.rejects(strand.admin().createTopic({ topic: 'orders', partitions: 1, replicationFactor: 1 }), { code: 'TOPIC_ALREADY_EXISTS' })

  const rng = new Rng(seed)
  const producer = strand.producer({ acks: 1, lingerMs: 2 })
  const sent = new Map<string, Row>() // `${partition}:${offset}` -> record
  const sends: Promise<void>[] = []
  const baseTimestamp = 1_800_000_000_000
  for (let i = 0; i < RECORDS; i += 1000) {
    const messages = Array.from({ length: 1000 }, (_, j) => ({
      key: `row-${rng.int(0, 499)}`,
      value: `change-${i + j}`,
      headers: { seq: String(i + j) },
      timestamp: baseTimestamp + i + j,
    }))
    sends.push(
      producer.send({ topic: 'orders', messages }).then((acks) => {
        acks.forEach((ack, j) => sent.set(`${ack.partition}:${ack.offset}`, messages[j]!))
      }),
    )
  }
  await Promise.all(sends)
  await producer.close()
  t.equal(sent.size, RECORDS, 'every message got its own (partition, offset)')

  /** Consumes everything; records arrive as the partitions' batches do, offsets ascending per partition. */
  const consumeAll = async (client: Strand): Promise<{ rows: Map<string, Row>; outOfOrder: number }> => {
    const consumer = client.consumer({ maxWaitMs: 100 })
    consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'orders', partition, offset: 'earliest' as const })))
    const rows = new Map<string, Row>()
    const lastOffset = new Map<number, bigint>()
    let outOfOrder = 0
    for await (const batch of consumer) {
      for (const m of batch.messages) {
        if (m.offset <= (lastOffset.get(batch.partition) ?? -1n)) outOfOrder++
        lastOffset.set(batch.partition, m.offset)
        const headers = Object.fromEntries(m.headers.map((h) => [h.key, h.value?.toString() ?? '']))
        rows.set(`${batch.partition}:${m.offset}`, { key: m.key!.toString(), value: m.value!.toString(), headers, timestamp: m.timestamp })
      }
      if (rows.size >= RECORDS) break
    }
    await consumer.close()
    return { rows, outOfOrder }
  }
  const { rows: seen, outOfOrder } = await consumeAll(strand)
  t.equal(outOfOrder, 0, 'each partition is consumed in offset order')
  let wrong = 0
  for (const [where, record] of sent) if (JSON.stringify(seen.get(where)) !== JSON.stringify(record)) wrong++
  t.equal(wrong, 0, 'every acknowledged record reads back at its offset with identical key, value, headers and timestamp')
  // CDC relies on this: a key's changes are applied in the order they were sent.
  const lastSeqOfKey = new Map<string, number>()
  let reordered = 0
  const byOffset = [...seen].sort(([a], [b]) => {
    const [pa, oa] = a.split(':')
    const [pb, ob] = b.split(':')
    return Number(pa) - Number(pb) || Number(BigInt(oa!) - BigInt(ob!))
  })
  for (const [, r] of byOffset) {
    const seq = Number(r.headers.seq)
    if (seq < (lastSeqOfKey.get(r.key) ?? -1)) reordered++
    lastSeqOfKey.set(r.key, seq)
  }
  t.equal(reordered, 0, "every key's changes sit in its partition in the order they were sent")
  const partitionOfKey = new Map<string, string>()
  let split = 0
  for (const [where, r] of seen) {
    const p = where.split(':')[0]!
    if ((partitionOfKey.get(r.key) ?? p) !== p) split++
    partitionOfKey.set(r.key, p)
  }
  t.equal(split, 0, 'each key lives in exactly one partition')

  const code = await stopBroker(broker)
  t.equal(code.code, 0, 'SIGTERM stops the broker cleanly')
  const restarted = await spawnBroker(t, { dataDir: broker.dataDir })
  const again = new Strand({ brokers: [restarted.address], clientId: 'e2e-after-restart' })
  t.teardown(() => again.close())
  const { rows: after } = await consumeAll(again)
  t.equal(after.size, RECORDS, 'after a restart every record is still there')
  t.equal([...sent].filter(([where, r]) => JSON.stringify(after.get(where)) !== JSON.stringify(r)).length, 0, 'with the same content')
})

t.test('acks=0 sends are delivered; long poll returns as soon as data arrives', async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'e2e-poll' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'events', partitions: 1, replicationFactor: 1 })
  // acks=0 has no way to hear "not hosted yet": wait until the leader serves the new partition.
  await waitFor(() => strand.admin().listOffsets({ topic: 'events', partition: 0, timestamp: 'latest' }).then(() => true, () => false), { what: 'the partition to be served' })
  const fireAndForget = strand.producer({ acks: 0, lingerMs: 0 })
  const acks = await fireAndForget.send({ topic: 'events', messages: [{ value: 'a' }, { value: 'b' }] })
  t.same(acks.map((a) => a.offset), [-1n, -1n], 'acks=0 has no offsets to report')
  await fireAndForget.close()

  const consumer = strand.consumer({ maxWaitMs: 10_000 })
  t.teardown(() => consumer.close())
  consumer.assign([{ topic: 'events', partition: 0, offset: 'earliest' }])
  const iterator = consumer[Symbol.asyncIterator]()
  const first = await iterator.next()
  t.same(first.value?.messages.map((m) => m.value?.toString()), ['a', 'b'], 'acks=0 records arrive')

  // The consumer is now parked in a long poll (maxWaitMs 10 s); a produce must wake it at once.
  const pending = iterator.next()
  const producer = strand.producer({ acks: 1, lingerMs: 0 })
  const started = performance.now()
  const [ack] = await producer.send({ topic: 'events', messages: [{ key: 'k', value: 'late', headers: { trace: 'abc' } }] })
  const got = await pending
  const waitedMs = performance.now() - started
  t.equal(got.value?.messages[0]?.offset, ack!.offset)
  t.equal(got.value?.messages[0]?.headers[0]?.key, 'trace', 'headers round-trip')
  t.ok(waitedMs < 5_000, `the long poll returned after ${waitedMs.toFixed(0)} ms, not at its 10 s deadline`)
  await producer.close()
})

t.test('list offsets: earliest, latest and by timestamp', async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'e2e-offsets' })
  t.teardown(() => strand.close())
  const admin = strand.admin()
  await admin.createTopic({ topic: 'timed', partitions: 1, replicationFactor: 1 })
  const producer = strand.producer({ acks: 1, lingerMs: 0 })
  const base = 1_800_000_000_000
  for (let i = 0; i < 10; i++) await producer.send({ topic: 'timed', messages: [{ value: `v${i}`, timestamp: base + i * 1000 }] })
  await producer.close()
  t.equal((await admin.listOffsets({ topic: 'timed', partition: 0, timestamp: 'earliest' })).offset, 0n)
  t.equal((await admin.listOffsets({ topic: 'timed', partition: 0, timestamp: 'latest' })).offset, 10n)
  const mid = await admin.listOffsets({ topic: 'timed', partition: 0, timestamp: BigInt(base + 4500) })
  t.same({ offset: mid.offset, timestamp: mid.timestamp }, { offset: 5n, timestamp: base + 5000 }, 'the first record at or after the time')
  t.equal((await admin.listOffsets({ topic: 'timed', partition: 0, timestamp: BigInt(base + 99_000) })).offset, -1n, 'none that recent')
  await t.rejects(admin.listOffsets({ topic: 'missing', partition: 0, timestamp: 'latest' }), { code: 'UNKNOWN_TOPIC_OR_PARTITION' })

  const consumer = strand.consumer({ maxWaitMs: 100 })
  t.teardown(() => consumer.close())
  consumer.assign([{ topic: 'timed', partition: 0, offset: { timestamp: base + 7000 } }])
  const iterator = consumer[Symbol.asyncIterator]()
  const first = await iterator.next()
  t.same(first.value?.messages.map((m) => m.value?.toString()), ['v7', 'v8', 'v9'].slice(0, first.value?.messages.length), 'a seek by timestamp starts at the first record at or after it')
  t.equal(first.value?.messages[0]?.offset, 7n)
  t.throws(() => consumer.seek({ topic: 'timed', partition: 0, offset: { timestamp: -5 } }), { code: 'INVALID_ARGUMENT' })
})
