// The consumer's fetch pump on its own (client/consumer/fetcher.ts), with the subscription state
// and the hand-out it works with, against one real broker embedded in this process (the lightest
// real broker: broker/broker.ts startBroker on an OS-chosen port and a temp dir). The pump's clock
// is a manual one (ManualTimers' time), so a backoff ends exactly when the test says it does.
//
// What it proves: 'earliest', 'latest' and timestamps are resolved with ListOffsets; batches come
// out in order with at most one waiting per partition; partitionMaxBytes bounds what one fetch
// brings; an out-of-range position is reset (or, with 'none', thrown once, then backed off); and a
// position past where its leader epoch ends in the leader's log is a truncation (KIP-320).

import t from 'tap'
import { startBroker } from '../../../broker/broker.js'
import { Cluster } from '../../../client/cluster.js'
import { Fetcher, type FetcherOptions } from '../../../client/consumer/fetcher.js'
import { HandOut } from '../../../client/consumer/hand-out.js'
import { SubscriptionState, type PartitionState } from '../../../client/consumer/subscription-state.js'
import type { ConsumerBatch, TopicPartitionOffset } from '../../../client/consumer/types.js'
import { Strand } from '../../../client/index.js'
import type { Teardown } from '../../helpers/broker-process.js'
import { tempDir } from '../../helpers/broker-process.js'
import { ManualTimers } from '../../helpers/timers.js'
import { waitFor, nextWithin } from '../../helpers/wait.js'

const RETRY = { retriesMax: 20, retryBackoffMs: 20, retryBackoffMsMax: 200 }
const WAIT = { timeoutMs: 20_000, intervalMs: 5 }

const broker = await startBroker({ dataDir: tempDir(t), port: 0 })
t.teardown(() => broker.close())
const strand = new Strand({ brokers: [broker.address], clientId: 'fetcher-test', retry: RETRY })
t.teardown(() => strand.close())
const admin = strand.admin()
const producer = strand.producer({ acks: 'all', lingerMs: 0 })

async function topicWith(topic: string, partitions: number, valuesPerPartition: string[]): Promise<void> {
  await admin.createTopic({ topic, partitions, replicationFactor: 1 })
  for (let p = 0; p < partitions; p++) {
    await producer.send({ topic, messages: valuesPerPartition.map((value, i) => ({ partition: p, value, timestamp: 1_000 * (i + 1) })) })
  }
}

interface Parts {
  subs: SubscriptionState
  handOut: HandOut
  fetcher: Fetcher
  cluster: Cluster
  timers: ManualTimers
  /** The consuming loop, started by the first next(): the pump runs only while it does. */
  loop: AsyncGenerator<ConsumerBatch, void, undefined>
  state(topic: string, partition: number): PartitionState
}

function parts(t: Teardown, options: Partial<FetcherOptions> = {}): Parts {
  const timers = new ManualTimers()
  const cluster = new Cluster({
    brokers: [broker.address],
    clientId: 'fetcher-test',
    connectTimeoutMs: 5_000,
    requestTimeoutMs: 5_000,
    inflightRequestsMax: 5,
    frameBytesMax: 16 * 1024 * 1024,
    retry: RETRY,
    metadataMaxAgeMs: 300_000,
    clock: Date.now,
  })
  const subs = new SubscriptionState({ partitionMaxBytes: options.partitionMaxBytes ?? 1024 * 1024 })
  const fetchMore = (): void => fetcher.pump()
  const handOut = new HandOut({ subscriptions: subs, fetchMore, onProcessed: () => undefined })
  const fetcher: Fetcher = new Fetcher({
    cluster,
    clock: () => timers.nowMs,
    requestTimeoutMs: 5_000,
    subscriptions: subs,
    handOut,
    maxWaitMs: 100,
    minBytes: 1,
    maxBytes: 10 * 1024 * 1024,
    partitionMaxBytes: 1024 * 1024,
    autoOffsetReset: 'earliest',
    isolationLevel: 0,
    ...options,
  })
  const loop = handOut.batches()
  t.teardown(async () => {
    fetcher.close()
    handOut.close()
    await loop.return()
    cluster.close()
  })
  return { subs, handOut, fetcher, cluster, timers, loop, state: (topic, partition) => subs.state({ topic, partition }) }
}

/** The loop's next batch, with a deadline so a pump that never delivers fails the test instead of hanging it. */
async function nextBatch(p: Parts | AsyncGenerator<ConsumerBatch, void, undefined>, what: string): Promise<ConsumerBatch> {
  return nextWithin('loop' in p ? p.loop : p, what, WAIT.timeoutMs)
}

function offsetsOf(batch: ConsumerBatch): bigint[] {
  return batch.messages.map((m) => m.offset)
}

function assign(p: Parts, partitions: TopicPartitionOffset[]): void {
  p.fetcher.assign(partitions, new Map())
}

t.test("'earliest', 'latest' and a timestamp are resolved with ListOffsets", async (t) => {
  await topicWith('resolve', 4, ['a', 'b', 'c', 'd', 'e'])
  const p = parts(t)
  assign(p, [
    { topic: 'resolve', partition: 0, offset: 'earliest' },
    { topic: 'resolve', partition: 1, offset: 'latest' },
    { topic: 'resolve', partition: 2, offset: { timestamp: 2_500 } },
    { topic: 'resolve', partition: 3, offset: { timestamp: 1_000_000 } },
  ])
  t.same([0, 1, 2, 3].map((i) => p.subs.position({ topic: 'resolve', partition: i })), [null, null, null, null], 'nothing is looked up before a loop runs')
  const first = nextBatch(p, 'the batch of resolve-0 and resolve-2')
  await waitFor(() => [0, 1, 2, 3].every((i) => p.state('resolve', i).offset !== null), { ...WAIT, what: 'every position resolved' })
  t.equal(p.state('resolve', 1).offset, 5n, "'latest' is the log end")
  t.equal(p.state('resolve', 3).offset, 5n, 'a timestamp newer than every record is the log end, as Kafka')
  const byPartition = new Map<number, bigint[]>()
  const b1 = await first
  byPartition.set(b1.partition, offsetsOf(b1))
  const b2 = await nextBatch(p, 'the second batch')
  byPartition.set(b2.partition, offsetsOf(b2))
  t.same(byPartition.get(0), [0n, 1n, 2n, 3n, 4n], "'earliest' starts at the log start")
  t.same(byPartition.get(2), [2n, 3n, 4n], 'a timestamp starts at the first record at or after it (timestamps 1000, 2000, 3000...)')
  t.equal(p.state('resolve', 0).offset, 5n, 'a handed-out batch moves the position past it')
})

t.test('batches come out in order, and a partition with a batch waiting is not fetched again', async (t) => {
  await topicWith('order', 1, ['0', '1', '2'])
  const p = parts(t)
  assign(p, [{ topic: 'order', partition: 0, offset: 0n }])
  const first = await nextBatch(p, 'the first batch')
  t.same(offsetsOf(first), [0n, 1n, 2n])
  t.equal(first.nextOffset, 3n)
  t.equal(first.highWatermark, 3n)
  await producer.send({ topic: 'order', messages: [{ partition: 0, value: '3' }, { partition: 0, value: '4' }] })
  const s = p.state('order', 0)
  await waitFor(() => s.buffered, { ...WAIT, what: 'the records produced after the first batch to be fetched' })
  await producer.send({ topic: 'order', messages: [{ partition: 0, value: '5' }] })
  p.fetcher.pump()
  t.equal(s.busy, false, 'no Fetch for a partition whose batch waits to be handed out (one batch per partition)')
  t.equal(p.subs.readiness(s, p.timers.nowMs), 'buffered')
  const second = await nextBatch(p, 'the second batch')
  t.same(offsetsOf(second), [3n, 4n], 'the waiting batch, without what was produced while it waited')
  const third = await nextBatch(p, 'the third batch')
  t.same(offsetsOf(third), [5n], 'then the rest, fetched once the waiting batch was handed out')
  t.same(third.messages.map((m) => m.value?.toString()), ['5'])
})

t.test('partitionMaxBytes bounds one fetch to the first batch; a larger batch still comes out whole', async (t) => {
  await admin.createTopic({ topic: 'bytes', partitions: 1, replicationFactor: 1 })
  const big = 'x'.repeat(600)
  for (let i = 0; i < 3; i++) await producer.send({ topic: 'bytes', messages: [{ partition: 0, value: `${i}${big}` }] })
  const p = parts(t, { partitionMaxBytes: 256 })
  assign(p, [{ topic: 'bytes', partition: 0, offset: 0n }])
  const got: bigint[][] = []
  for (let i = 0; i < 3; i++) got.push(offsetsOf(await nextBatch(p, `batch ${i}`)))
  t.same(got, [[0n], [1n], [2n]], 'one produced batch per fetch, each larger than partitionMaxBytes, none stuck')
  t.equal(p.state('bytes', 0).fetchBytes, 256, 'the fetch size stays partitionMaxBytes once a batch got through')
})

t.test("an out-of-range position is reset with autoOffsetReset 'earliest'", async (t) => {
  await topicWith('range-reset', 1, ['a', 'b'])
  const p = parts(t, { autoOffsetReset: 'earliest' })
  assign(p, [{ topic: 'range-reset', partition: 0, offset: 100n }])
  const batch = await nextBatch(p, 'the batch after the reset')
  t.same(offsetsOf(batch), [0n, 1n], 'read again from the log start')
})

t.test("with autoOffsetReset 'none' OFFSET_OUT_OF_RANGE is thrown once, then the partition backs off", async (t) => {
  await topicWith('range-none', 1, ['a', 'b'])
  const p = parts(t, { autoOffsetReset: 'none' })
  p.timers.nowMs = 50_000
  assign(p, [{ topic: 'range-none', partition: 0, offset: 100n }])
  await t.rejects(nextBatch(p, 'the error'), { code: 'OFFSET_OUT_OF_RANGE' }, 'thrown from the loop')
  const s = p.state('range-none', 0)
  await waitFor(() => !s.busy, { ...WAIT, what: 'the Fetch to settle' })
  t.equal(s.offset, 100n, 'the position stays where the application put it')
  t.equal(s.retryAtMs, 50_000 + RETRY.retryBackoffMsMax, 'retried after the longest backoff, by the injected clock')
  // A fresh loop (the last one ended with the throw) to drive the pump again.
  const p2loop = p.handOut.batches()
  const next = p2loop.next()
  p.fetcher.pump()
  t.equal(s.busy, false, 'not fetched before the backoff ends')
  p.timers.advance(RETRY.retryBackoffMsMax)
  p.fetcher.pump()
  t.equal(s.busy, true, 'fetched again once it has')
  await t.rejects(next, { code: 'OFFSET_OUT_OF_RANGE' }, 'and thrown again, until seek()')
  p.subs.seek({ topic: 'range-none', partition: 0, offset: 1n })
  const after = p.handOut.batches()
  t.teardown(async () => {
    await after.return()
  })
  t.same(offsetsOf(await nextBatch(after, 'the batch after the seek')), [1n], 'a seek moves on')
})

t.test('a position past where its leader epoch ends in the log is a truncation (KIP-320)', async (t) => {
  await topicWith('epochs', 3, ['a', 'b', 'c', 'd', 'e'])
  const cluster = new Cluster({ brokers: [broker.address], clientId: 'epoch-probe', connectTimeoutMs: 5_000, requestTimeoutMs: 5_000, inflightRequestsMax: 1, frameBytesMax: 1 << 20, retry: RETRY, metadataMaxAgeMs: 300_000, clock: Date.now })
  t.teardown(() => cluster.close())
  await cluster.refresh(['epochs'])
  const leaderEpoch = cluster.cachedLeaderEpoch('epochs', 0)
  t.ok(leaderEpoch >= 0, `the partition's leader epoch is ${leaderEpoch}`)
  /** A position read under the leader's epoch, to be checked before the next fetch (as after a leader change). */
  const readUnder = (p: Parts, partition: number, offset: bigint): void => {
    const s = p.state('epochs', partition)
    p.subs.handedOut(s, offset, leaderEpoch)
    s.processed = offset
    s.knownLeaderEpoch = leaderEpoch
    s.validatePosition = true
  }

  const rewinding = parts(t, { autoOffsetReset: 'earliest' })
  assign(rewinding, [
    { topic: 'epochs', partition: 0, offset: 0n },
    { topic: 'epochs', partition: 1, offset: 0n },
  ])
  readUnder(rewinding, 0, 3n)
  readUnder(rewinding, 1, 50n)
  const valid = await nextBatch(rewinding, 'the batch of epochs-0')
  t.equal(valid.partition, 0)
  t.same(offsetsOf(valid), [3n, 4n], 'a position within its epoch is valid: fetched from where it was')
  const truncated = rewinding.state('epochs', 1)
  await waitFor(() => truncated.offset === 5n && !truncated.validatePosition, { ...WAIT, what: 'epochs-1 to go back to where its epoch ends' })
  t.equal(truncated.processed, 5n, 'nothing past the end of the log counts as processed any more')
  await producer.send({ topic: 'epochs', messages: [{ partition: 1, value: 'f' }] })
  const after = await nextBatch(rewinding, 'the record written after the truncation')
  t.same([after.partition, offsetsOf(after)], [1, [5n]], 'the records from the end of the epoch on are read next')

  const throwing = parts(t, { autoOffsetReset: 'none' })
  assign(throwing, [{ topic: 'epochs', partition: 2, offset: 0n }])
  readUnder(throwing, 2, 50n)
  await t.rejects(nextBatch(throwing, 'the truncation'), { name: 'LogTruncationError', code: 'LOG_TRUNCATION', offset: 50n, divergentOffset: 5n })
  t.equal(throwing.state('epochs', 2).offset, 50n, "with 'none' the position stays until seek()")
})
