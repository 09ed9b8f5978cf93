// The idempotent producer (on by default with acks=all) against real broker processes: with
// several batches per partition in flight, offsets stay contiguous and in send order; when the
// acknowledgement of an appended batch is really lost (a proxy cuts the connection after
// forwarding the Produce request, and swallows the broker's answer), the retry is recognised and
// answered with the original offset, so every record is in the log exactly once; and with a
// leader SIGKILLed mid-stream, no acknowledged record is lost or duplicated.

import t from 'tap'
import { Strand } from '../../client/index.js'
import type { Producer, RecordMetadata } from '../../client/producer.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { FaultProxy } from '../helpers/fault-proxy.js'
import { readCommitted, steadyProducer } from '../helpers/replication.js'
import { waitFor } from '../helpers/wait.js'

/** Values `v<i>` for i in [from, to), to partition i % partitions. */
function messages(from: number, to: number, partitions: number): { partition: number; value: string }[] {
  return Array.from({ length: to - from }, (_, k) => ({ partition: (from + k) % partitions, value: `v${from + k}` }))
}

/** Sends `total` records in sends of `perSend`, all at once; returns each record's ack by index. */
async function sendAll(producer: Producer, topic: string, total: number, perSend: number, partitions: number): Promise<RecordMetadata[]> {
  const acks: RecordMetadata[] = new Array(total)
  const sends: Promise<void>[] = []
  for (let i = 0; i < total; i += perSend) {
    const from = i
    sends.push(producer.send({ topic, messages: messages(from, Math.min(total, from + perSend), partitions) }).then((r) => r.forEach((a, k) => (acks[from + k] = a))))
  }
  await Promise.all(sends)
  return acks
}

/** Everything below each partition's high watermark, by `partition:offset`. */
async function readAll(strand: Strand, topic: string, partitions: number): Promise<Map<string, string>> {
  const admin = strand.admin()
  const highWatermarks: bigint[] = []
  for (let p = 0; p < partitions; p++) highWatermarks.push((await admin.listOffsets({ topic, partition: p, timestamp: 'latest' })).offset)
  await admin.close()
  return readCommitted(strand, topic, partitions, highWatermarks)
}

/** How often each value occurs. */
function occurrences(log: Map<string, string>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const v of log.values()) counts.set(v, (counts.get(v) ?? 0) + 1)
  return counts
}

t.test('acks=all with idempotence: 20k records over 3 partitions, offsets unique, contiguous and in send order', async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'idem-order' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'ordered', partitions: 3, replicationFactor: 1 })
  const TOTAL = 20_000
  // Small batches, so each partition has several in flight at once.
  const producer = strand.producer({ acks: 'all', lingerMs: 1, batchBytes: 2048 })
  const acks = await sendAll(producer, 'ordered', TOTAL, 500, 3)
  await producer.close()

  for (let p = 0; p < 3; p++) {
    const offsets = acks.filter((a, i) => i % 3 === p && a.partition === p).map((a) => a.offset)
    t.equal(offsets.length, Math.ceil((TOTAL - p) / 3), `partition ${p}: every record acknowledged on its partition`)
    const contiguous = offsets.every((o, k) => o === BigInt(k))
    t.ok(contiguous, `partition ${p}: offsets are 0..${offsets.length - 1} in send order`)
  }
  const log = await readAll(strand, 'ordered', 3)
  t.equal(log.size, TOTAL, 'the log holds exactly the records sent')
  const misplaced = acks.filter((a, i) => log.get(`${a.partition}:${a.offset}`) !== `v${i}`)
  t.equal(misplaced.length, 0, 'every record is at its acknowledged offset')
})

t.test('retries never create duplicates even when the ack of an appended batch is lost', async (t) => {
  const broker = await spawnBroker(t)
  const direct = new Strand({ brokers: [broker.address], clientId: 'idem-reader' })
  t.teardown(() => direct.close())
  await direct.admin().createTopic({ topic: 'lost-acks', partitions: 2, replicationFactor: 1 })
  await direct.admin().createTopic({ topic: 'lost-acks-control', partitions: 2, replicationFactor: 1 })
  const TOTAL = 5000

  /** Produces TOTAL records through a proxy that cuts the connection after a few Produce requests. */
  const produceThroughCuts = async (topic: string, idempotent: boolean): Promise<{ proxy: FaultProxy; acks: RecordMetadata[] }> => {
    const proxy = await FaultProxy.start(t, { targetPort: broker.port, cutAfterProduce: (n) => n % 6 === 2 && n < 60 })
    const strand = new Strand({ brokers: [proxy.address], clientId: `idem-lost-${topic}`, retry: { retriesMax: 20, retryBackoffMs: 20, retryBackoffMsMax: 200 } })
    t.teardown(() => strand.close())
    const producer = strand.producer({ acks: 'all', idempotent, lingerMs: 1, batchBytes: 512 })
    const acks = await sendAll(producer, topic, TOTAL, 100, 2)
    await producer.close()
    return { proxy, acks }
  }

  const { proxy, acks } = await produceThroughCuts('lost-acks', true)
  const lost = proxy.lostAcks.filter((a) => a.errorCode === 0)
  t.ok(proxy.cuts >= 5, `the proxy cut ${proxy.cuts} connections right after forwarding a Produce request`)
  t.ok(lost.length >= 3, `the broker appended ${lost.length} batches whose acknowledgement the producer never got`)

  const log = await readAll(direct, 'lost-acks', 2)
  const counts = occurrences(log)
  const duplicated = [...counts].filter(([, n]) => n > 1)
  t.same(duplicated.slice(0, 5), [], `no record is in the log twice (${duplicated.length} are)`)
  t.equal(log.size, TOTAL, 'each record exactly once')
  const misplaced = acks.filter((a, i) => log.get(`${a.partition}:${a.offset}`) !== `v${i}`)
  t.equal(misplaced.length, 0, 'every acknowledged offset holds its record')
  const acked = new Set(acks.map((a) => `${a.partition}:${a.offset}`))
  t.ok(lost.every((a) => acked.has(`${a.partition}:${a.baseOffset}`)), 'the retry of a batch whose answer was lost is acknowledged with its original offset')

  // The control: the same faults without idempotence duplicate records, so the faults are real.
  const control = await produceThroughCuts('lost-acks-control', false)
  t.ok(control.proxy.lostAcks.some((a) => a.errorCode === 0), 'without idempotence, appended batches lost their answers too')
  const controlLog = await readAll(direct, 'lost-acks-control', 2)
  t.ok(controlLog.size > TOTAL, `and their retries were appended again: ${controlLog.size - TOTAL} duplicate records`)
})

t.test('a leader SIGKILLed mid-stream: no acknowledged record is lost or duplicated, order holds', async (t) => {
  const PARTITIONS = 3
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('idem-failover')
  await strand.admin().createTopic({ topic: 'failover', partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  for (let p = 0; p < PARTITIONS; p++) {
    await cluster.waitForPartition(strand, 'failover', p, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  }
  const producer = strand.producer({ acks: 'all', lingerMs: 2, retries: 50 })
  const load = steadyProducer(producer, 'failover', { perRound: 30, partitions: PARTITIONS })

  for (let round = 1; round <= 2; round++) {
    const partition = round - 1
    const before = await cluster.waitForPartition(strand, 'failover', partition, (x) => x.leaderId > 0 && x.isr.length === 3, 'a leader and a full ISR')
    const ackedBefore = load.acked.length
    await waitFor(() => load.acked.length > ackedBefore + 300, { what: 'acknowledgements before the kill' })
    await cluster.kill(before.leaderId)
    const after = await cluster.waitForPartition(strand, 'failover', partition, (x) => x.leaderId > 0 && x.leaderId !== before.leaderId, 'a new leader')
    t.ok(after.leaderEpoch > before.leaderEpoch, `round ${round}: broker ${after.leaderId} took over from the killed broker ${before.leaderId}`)
    const ackedAfterKill = load.acked.length
    await waitFor(() => load.acked.length > ackedAfterKill + 300, { what: 'acknowledgements after the kill', timeoutMs: 30_000 })
    await cluster.startBroker(before.leaderId)
    await cluster.waitForPartition(strand, 'failover', partition, (x) => x.isr.includes(before.leaderId), `broker ${before.leaderId} back in the ISR`)
  }
  await load.stop()
  await producer.close()
  t.equal(load.failed(), 0, `every send was acknowledged (${load.acked.length} records): no gap`)

  for (let p = 0; p < PARTITIONS; p++) {
    await cluster.waitForPartition(strand, 'failover', p, (x) => x.isr.length === 3, 'all replicas in sync at the end')
  }
  const log = await readAll(strand, 'failover', PARTITIONS)
  const counts = occurrences(log)
  const duplicated = [...counts].filter(([, n]) => n > 1)
  t.same(duplicated.slice(0, 5), [], `no record is in the log twice (${duplicated.length} are)`)
  const missing = load.acked.filter((a) => log.get(`${a.partition}:${a.offset}`) !== a.value)
  t.same(missing.slice(0, 5), [], `every acknowledged record is at its acknowledged offset (${missing.length} are not)`)
  t.equal(log.size, load.acked.length, 'and the log holds nothing else')
  for (let p = 0; p < PARTITIONS; p++) {
    const sequence = [...log].filter(([key]) => key.startsWith(`${p}:`)).sort(([a], [b]) => Number(BigInt(a.slice(2)) - BigInt(b.slice(2)))).map(([, v]) => Number(v.slice(1)))
    t.ok(sequence.every((n, i) => i === 0 || n > sequence[i - 1]!), `partition ${p}: records are in send order (${sequence.length} records)`)
  }
})
