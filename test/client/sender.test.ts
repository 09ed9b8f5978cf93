// The producer's sender (client/sender.ts) on its own, against real broker processes: a Sender
// over a real Cluster and Accumulator, with batches appended straight into the accumulator, so
// each test sees what the sender did with them (what went back to the queue, what is in flight,
// what the log holds) without a Producer in between. The sender's clock is a manual one: a retry
// falls due when the test moves the clock, never because the machine was slow.
//
// - A request carrying two partitions, one refused (NOT_ENOUGH_REPLICAS) and one appended: only
//   the refused one is sent again, and the other is in its log once (idempotence off, so a
//   re-send would duplicate it).
// - A former leader answers NOT_LEADER_OR_FOLLOWER: the sender refreshes its metadata and sends
//   the same batch to the new leader, once.
// - At most maxInflightPerPartition batches of a partition are in flight; the rest wait, in order.

import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Accumulator, accumulatedRecord, ByteBudget, recordBytesMax, type ProducerBatch } from '../../client/accumulator.js'
import { Cluster, type RetryOptions } from '../../client/cluster.js'
import { Strand } from '../../client/index.js'
import { resolveProducerOptions, type ProducerOptions } from '../../client/producer-options.js'
import { NO_HEADERS } from '../../client/protocol/records.js'
import { Sender } from '../../client/sender.js'
import { spawnBroker, type Teardown } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { ManualTimers } from '../helpers/timers.js'
import { waitFor } from '../helpers/wait.js'

/** Every retry waits this long on the manual clock: until the test moves it, nothing is re-sent. */
const BACKOFF_MS = 100
const RETRY: RetryOptions = { retriesMax: 5, retryBackoffMs: BACKOFF_MS, retryBackoffMsMax: BACKOFF_MS }

interface Harness {
  sender: Sender
  accumulator: Accumulator
  /** What the batches reserve when appended and the sender releases when they settle. */
  budget: ByteBudget
  cluster: Cluster
  /** Only its clock (nowMs) is the sender's; the test moves it. */
  clock: ManualTimers
}

/** A sender as a Producer makes one, over its own Cluster bootstrapped from `brokers`. */
function harness(t: Teardown, brokers: readonly string[], producerOptions: ProducerOptions): Harness {
  const clock = new ManualTimers()
  clock.nowMs = Date.now()
  const now = (): number => clock.nowMs
  // metadataMaxAgeMs never passes on a clock that stands still: the only refreshes are those the sender asks for.
  const cluster = new Cluster({ brokers, clientId: 'sender-test', connectTimeoutMs: 5000, requestTimeoutMs: 10_000, inflightRequestsMax: 5, frameBytesMax: 16 << 20, retry: RETRY, metadataMaxAgeMs: 300_000, clock: now })
  const options = resolveProducerOptions({ lingerMs: 0, ...producerOptions }, RETRY)
  const accumulator = new Accumulator({
    batchBytes: options.batchBytes,
    lingerMs: options.lingerMs,
    inflightPerPartitionMax: options.maxInflightPerPartition,
    idempotent: options.idempotent,
    transactional: false,
    onBatchClosed: () => undefined,
  })
  const budget = new ByteBudget(options.bufferBytesMax)
  const sender = new Sender({ cluster, clock: now, requestTimeoutMs: 10_000, options, accumulator, budget, txn: null, sendNow: () => false, onSettled: () => undefined })
  t.teardown(() => {
    sender.close()
    cluster.close()
  })
  return { sender, accumulator, budget, cluster, clock }
}

/** Appends one record as the Producer does (its bytes reserved first) and wakes the sender. */
function append(h: Harness, topic: string, partition: number, value: string): ProducerBatch {
  const record = accumulatedRecord(null, value, NO_HEADERS, h.clock.nowMs)
  const reserveBytes = recordBytesMax(record.payloadBytes)
  if (!h.budget.tryAcquire(reserveBytes)) throw new Error('the test buffer is full')
  const batch = h.accumulator.append(topic, partition, record, reserveBytes, h.clock.nowMs)
  h.sender.wake()
  return batch
}

/** Wakes the sender and lets its drain run: what it holds back after that, it held back on purpose. */
async function drained(h: Harness): Promise<void> {
  h.sender.wake()
  // The drain was queued with setImmediate before this, and immediates run in the order queued.
  await nextTurn()
}

/** The partition's high watermark: how many records it holds, from offset 0. */
async function logEnd(strand: Strand, topic: string): Promise<bigint> {
  return (await strand.admin().listOffsets({ topic, partition: 0, timestamp: 'latest' })).offset
}

/**
 * Sends one record through a Producer, which retries on its own clock, until the broker leads the
 * partition and appends to it: a new partition's leader refuses records for a moment while it
 * opens the partition, and on the sender's standing clock such a retry would wait for ever.
 */
async function writable(strand: Strand, topic: string): Promise<void> {
  const producer = strand.producer({ acks: 1, lingerMs: 0 })
  try {
    await producer.send({ topic, messages: [{ partition: 0, value: 'first' }] })
  } finally {
    await producer.close()
  }
}

/** Waits until `batch` went back to its queue after its `attempts`-th failure. */
async function requeued(h: Harness, batch: ProducerBatch, attempts: number): Promise<void> {
  await waitFor(() => batch.attempts === attempts && h.accumulator.inflight(batch.topic, batch.partition).length === 0, { what: `${batch.topic}-${batch.partition} to fail ${attempts} time(s) and wait for a retry` })
}

t.test('only the partition that failed is sent again; the one appended is in its log once', async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'sender-admin' })
  t.teardown(() => strand.close())
  // One broker cannot be two in-sync replicas: acks=all to `held` is refused, retriably, every time.
  await strand.admin().createTopic({ topic: 'held', partitions: 1, replicationFactor: 1, configs: { 'min.insync.replicas': '2' } })
  await strand.admin().createTopic({ topic: 'open', partitions: 1, replicationFactor: 1 })
  // acks 1: min.insync.replicas bounds only acks=all.
  await writable(strand, 'held')
  await writable(strand, 'open')
  // Without idempotence nothing would drop a re-sent copy of `open`'s batch: its log shows every send.
  const h = harness(t, [broker.address], { acks: 'all', idempotent: false, retries: 2 })
  await h.cluster.topic('held')
  await h.cluster.topic('open')

  const held = append(h, 'held', 0, 'refused')
  const open = append(h, 'open', 0, 'appended')
  t.equal(await open.done, 1n, 'the partition that could append did, after its first record')
  await requeued(h, held, 1)
  await drained(h)
  t.same(h.accumulator.queued('held', 0), [held], 'the refused batch waits out its backoff on the sender\'s clock')
  t.equal(h.accumulator.inflight('held', 0).length, 0)

  h.clock.nowMs += BACKOFF_MS
  h.sender.wake()
  await requeued(h, held, 2)
  h.clock.nowMs += BACKOFF_MS
  h.sender.wake()
  await t.rejects(held.done, { code: 'NOT_ENOUGH_REPLICAS' }, 'after `retries` retries it fails for good, with the leader\'s error')
  t.equal(held.attempts, 2, 'sent three times: once, then two retries')
  t.equal(await logEnd(strand, 'open'), 2n, 'the appended partition was not sent again with the retries')
  t.equal(await logEnd(strand, 'held'), 1n, 'and the refused one appended nothing')
  t.equal(h.budget.usedBytes, 0, 'both batches gave their bytes back')
})

t.test('at most maxInflightPerPartition batches of a partition are in flight; the rest wait, in order', async (t) => {
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'sender-admin' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'bounded', partitions: 1, replicationFactor: 1 })
  await writable(strand, 'bounded')
  // Records of ~150 bytes in batches closed at 200: each record is a batch of its own.
  const h = harness(t, [broker.address], { acks: 1, maxInflightPerPartition: 2, batchBytes: 200 })
  const value = (i: number): string => `${i}`.padEnd(150, '.')
  // As the Producer does before appending: the topic joins the metadata the sender refreshes.
  await h.cluster.topic('bounded')
  t.equal(await append(h, 'bounded', 0, value(0)).done, 1n, 'a first batch: metadata cached, the connection to the leader open')

  // A stopped broker keeps its socket: requests reach it and stay unanswered, in flight.
  broker.kill('SIGSTOP')
  const batches = [1, 2, 3, 4, 5].map((i) => append(h, 'bounded', 0, value(i)))
  await waitFor(() => h.accumulator.inflight('bounded', 0).length === 2, { what: 'two batches in flight' })
  await drained(h)
  t.same(h.accumulator.inflight('bounded', 0), batches.slice(0, 2), 'a drain with nothing answered sends no third')
  t.same(h.accumulator.queued('bounded', 0), batches.slice(2), 'the others wait in the order they were made')

  broker.kill('SIGCONT')
  t.same(await Promise.all(batches.map((b) => b.done)), [2n, 3n, 4n, 5n, 6n], 'once answered, the rest go, and land in order')
  t.ok(batches.every((b) => b.attempts === 0), 'none needed a retry')
  t.equal(await logEnd(strand, 'bounded'), 7n)
})

t.test('NOT_LEADER_OR_FOLLOWER from a former leader: fresh metadata, then the same batch to the new leader, once', async (t) => {
  // No automatic move back to the preferred replica: the old leader stays a follower.
  const cluster = await TestCluster.start(t, { overrides: { 'auto.leader.rebalance.enable': false } })
  const strand = cluster.client('sender-admin', { requestTimeoutMs: 2000 })
  await strand.admin().createTopic({ topic: 'moved', partitions: 1, replicationFactor: 3 })
  const before = await cluster.waitForPartition(strand, 'moved', 0, (p) => p.leaderId > 0 && p.isr.length === 3, 'three in-sync replicas')
  const h = harness(t, cluster.bootstrap, { acks: 'all', idempotent: false, retries: 5 })
  await h.cluster.topic('moved')

  // The leader freezes and is fenced; another replica takes over. Resumed, it follows the new
  // leader, while the sender's metadata (never refreshed since) still names it.
  cluster.pause(before.leaderId)
  const moved = await cluster.waitForPartition(strand, 'moved', 0, (p) => p.leaderId > 0 && p.leaderId !== before.leaderId, 'a new leader')
  cluster.resume(before.leaderId)
  await cluster.waitForPartition(strand, 'moved', 0, (p) => p.leaderId === moved.leaderId && p.isr.includes(before.leaderId), 'the old leader back in sync, as a follower')
  t.equal(h.cluster.cachedLeader('moved', 0), before.leaderId, 'the sender still has the old leader')

  const batch = append(h, 'moved', 0, 'once')
  await requeued(h, batch, 1)
  await waitFor(() => h.cluster.cachedLeader('moved', 0) === moved.leaderId, { what: 'the metadata refresh the refusal asked for' })
  t.ok(h.cluster.cachedLeaderEpoch('moved', 0) > before.leaderEpoch, 'the fresh metadata has the new leader epoch')
  t.notOk(batch.settled, 'the retry waits out its backoff')

  h.clock.nowMs += BACKOFF_MS
  h.sender.wake()
  t.equal(await batch.done, 0n, 'the new leader appended it')
  t.equal(batch.attempts, 1, 'one refusal, one retry')
  t.equal(await logEnd(strand, 'moved'), 1n, 'the refused attempt appended nothing')
})
