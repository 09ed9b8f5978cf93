// Follower fetches long-poll at the leader and must be woken by what they wait for: an append to a
// partition they replicate (or its high watermark moving), not their maxWaitMs running out. With a
// 10 s replica.fetch.wait.max.ms, an acks=all produce that waited for a follower's poll to time
// out would take seconds; woken, it takes milliseconds.

import t from 'tap'
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
