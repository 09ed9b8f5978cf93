// Follower fetches long-poll at the leader and must be woken by what they wait for (an append to a
// partition they replicate), not by their maxWaitMs running out nor by what does not concern them. With a
// 10 s replica.fetch.wait.max.ms, an acks=all produce that waited for a follower's poll to time
// out would take seconds; woken, it takes milliseconds.

import t from 'tap'
import type { Admin } from '../../client/index.js'
import { parseExposition, sampleValue } from '../../client/cli/prometheus.js'
import { TestCluster } from '../helpers/cluster.js'

const TOPIC = 'wakeups'
const PARTITIONS = 4
const FETCH_WAIT_MS = 10_000
/**
 * How long to keep sending: past the fetchers' joining window (a second after a partition is added,
 * during which they poll briefly whatever the configured wait), so later sends meet long polls.
 */
const SENDING_MS = 3_000

t.test('acks=all produces are acknowledged without waiting out the followers\' long polls', async (t) => {
  // The lag time is above the poll: an idle follower polls every FETCH_WAIT_MS and must stay in sync.
  const cluster = await TestCluster.start(t, { overrides: { 'replica.fetch.wait.max.ms': FETCH_WAIT_MS, 'replica.lag.time.max.ms': 3 * FETCH_WAIT_MS } })
  const strand = cluster.client('wakeups')
  await strand.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '3' } })
  for (let p = 0; p < PARTITIONS; p++) {
    await cluster.waitForPartition(strand, TOPIC, p, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  }
  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  t.teardown(() => producer.close())
  const started = performance.now()
  let sends = 0
  let slowestMs = 0
  while (performance.now() - started < SENDING_MS) {
    const sentAt = performance.now()
    await producer.send({ topic: TOPIC, messages: [{ value: Buffer.from(`v${sends}`), partition: sends % PARTITIONS }] })
    slowestMs = Math.max(slowestMs, performance.now() - sentAt)
    sends++
  }
  // Woken, a send takes a few ms; one that sat out a follower's poll would take up to FETCH_WAIT_MS.
  t.ok(slowestMs < FETCH_WAIT_MS / 4, `${sends} sequential acks=all sends, the slowest took ${Math.round(slowestMs)} ms`)
})

/** Fetches woken for nothing, summed over the brokers (their strand_fetch_idle_wakeups_total). */
async function idleWakeups(admin: Admin, fetcher: 'follower' | 'consumer'): Promise<number> {
  const all = await admin.brokerMetrics()
  return all.reduce((sum, m) => sum + (sampleValue(parseExposition(m.text ?? ''), 'strand_fetch_idle_wakeups_total', { fetcher }) ?? 0), 0)
}

t.test('fetches are not woken by appends that bring them nothing', async (t) => {
  // Every broker leads a partition of `parked`, so every broker has follower fetches parked at it;
  // only `busy` gets records. Its followers' appends once woke those parked fetches, each of which
  // read its partitions again for nothing: several reads per fetch under load.
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('idle-wakeups')
  const admin = strand.admin()
  await admin.createTopic({ topic: 'parked', partitions: 3, replicationFactor: 3 })
  await admin.createTopic({ topic: 'busy', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '3' } })
  for (let p = 0; p < 3; p++) await cluster.waitForPartition(strand, 'parked', p, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  const busy = await cluster.waitForPartition(strand, 'busy', 0, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  const leaders = new Set<number>()
  for (let p = 0; p < 3; p++) leaders.add((await cluster.partition(strand, 'parked', p))!.leaderId)
  t.ok(leaders.size >= 2, `parked partitions are led by brokers ${[...leaders].join(', ')}, not only busy's leader ${busy.leaderId}`)
  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  t.teardown(() => producer.close())
  // A consumer long-polls busy at its leader, which must wake it when the high watermark moves,
  // not at the append before it (the records are not readable until the followers have them).
  const SENDS = 100
  const consumer = strand.consumer({ maxWaitMs: 10_000 })
  t.teardown(() => consumer.close())
  consumer.assign([{ topic: 'busy', partition: 0, offset: 'earliest' }])
  let received = 0
  const reading = (async () => {
    for await (const batch of consumer) {
      received += batch.messages.length
      if (received >= SENDS) return
    }
  })()
  const before = { follower: await idleWakeups(admin, 'follower'), consumer: await idleWakeups(admin, 'consumer') }
  for (let i = 0; i < SENDS; i++) await producer.send({ topic: 'busy', messages: [{ value: `v${i}` }] })
  await reading
  t.equal(received, SENDS, 'the consumer read every record')
  const follower = (await idleWakeups(admin, 'follower')) - before.follower
  const consumed = (await idleWakeups(admin, 'consumer')) - before.consumer
  // Two followers append each send; woken by that, the fetches parked at them made ~4 per send.
  t.ok(follower < SENDS / 10, `${follower} idle follower wakeups over ${SENDS} acks=all sends`)
  // Woken by each append, the consumer's fetch found nothing below the high watermark: ~1 per send.
  t.ok(consumed < SENDS / 10, `${consumed} idle consumer wakeups over ${SENDS} acks=all sends`)
})
