// The idempotent producer's reactions to the leader's answers, against a scripted cluster (no
// sockets): a batch refused as out of order while an earlier one is unsettled is re-sent after
// it; a refusal with nothing pending before it fails the batch, saying its records may or may not
// be in the log, and the producer takes a new producer id; a retry after a lost answer carries
// the very same bytes.

import t from 'tap'
import type { Cluster } from '../../client/cluster.js'
import { ConnectionError, StrandProtocolError } from '../../client/errors.js'
import { Producer } from '../../client/producer.js'
import type { Teardown } from '../helpers/broker-process.js'
import { ScriptedCluster, TOPIC, type PendingProduce, type SentBatch } from '../helpers/scripted-cluster.js'

function setup(t: Teardown): { cluster: ScriptedCluster; producer: Producer } {
  const cluster = new ScriptedCluster()
  const producer = new Producer({ cluster: cluster as unknown as Cluster, clock: Date.now, requestTimeoutMs: 1000 }, { acks: 'all', lingerMs: 0, batchBytes: 200 })
  t.teardown(() => producer.close())
  return { cluster, producer }
}

/** Records of ~150 bytes: each fills a batch of its own (batchBytes 200). */
function big(i: number): { partition: number; value: string } {
  return { partition: 0, value: `${i}`.padEnd(150, '.') }
}

t.test('an out-of-order refusal while an earlier batch is unsettled: re-sent after it, in order', async (t) => {
  const { cluster, producer } = setup(t)
  const send = producer.send({ topic: TOPIC, messages: [big(0), big(1)] })
  const first = await cluster.nextProduce()
  const second = await cluster.nextProduce()
  t.same([first.batches[0]!.baseSequence, second.batches[0]!.baseSequence], [0, 1], 'two batches of the partition in flight, sequences 0 and 1')
  // The second reaches a new leader first and is refused; the first fails at the old leader.
  second.answer([{ error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }])
  first.answer([{ error: 'NOT_LEADER_OR_FOLLOWER' }])
  const retryFirst = await cluster.nextProduce()
  t.same(retryFirst.batches.map((b) => b.baseSequence), [0], 'the first is re-sent alone')
  t.equal(cluster.produces.length, 0, 'and the second waits for its answer')
  retryFirst.answer([{ baseOffset: 10n }])
  const retrySecond = await cluster.nextProduce()
  t.same(retrySecond.batches.map((b) => b.baseSequence), [1], 'then the second, same sequence')
  retrySecond.answer([{ baseOffset: 11n }])
  t.same((await send).map((a) => a.offset), [10n, 11n], 'each record gets the offset the leader answered')
  t.equal(cluster.initProducerIds, 1, 'one producer id for it all')
})

t.test('a refusal with nothing pending before it fails the batch and takes a new producer id', async (t) => {
  const { cluster, producer } = setup(t)
  const sent = producer.send({ topic: TOPIC, messages: [big(0)] })
  ;(await cluster.nextProduce()).answer([{ baseOffset: 0n }])
  await sent
  const refused = producer.send({ topic: TOPIC, messages: [big(1)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [100n, 1])
  p.answer([{ error: 'UNKNOWN_PRODUCER_ID' }])
  await t.rejects(refused, { code: 'UNKNOWN_PRODUCER_ID', message: /may or may not be in the log/ }, 'the batch fails, saying its fate is unknown')
  const next = producer.send({ topic: TOPIC, messages: [big(2)] })
  const again = await cluster.nextProduce()
  t.equal(cluster.initProducerIds, 2, 'a new producer id was fetched')
  t.same([again.batches[0]!.producerId, again.batches[0]!.baseSequence], [101n, 0], 'and the partition starts again at sequence 0')
  again.answer([{ baseOffset: 2n }])
  t.same((await next).map((a) => a.offset), [2n])
})

t.test('a retry after a lost answer carries the same bytes, and settles once with the answered offset', async (t) => {
  const { cluster, producer } = setup(t)
  const send = producer.send({ topic: TOPIC, messages: [big(0), { partition: 1, value: 'x' }] })
  const first = await cluster.nextProduce()
  t.equal(first.batches.length, 2, 'both partitions in one request')
  first.fail(new ConnectionError('127.0.0.1:1', 'connection closed by the broker'))
  // Each batch waits out its own retry backoff, so the two may come back in one request or two.
  const retries: PendingProduce[] = []
  while (retries.reduce((n, r) => n + r.batches.length, 0) < 2) retries.push(await cluster.nextProduce())
  const retried = retries.flatMap((r) => r.batches).sort((a, b) => a.partition - b.partition)
  t.same(retried.map((b) => b.bytes), [...first.batches].sort((a, b) => a.partition - b.partition).map((b) => b.bytes), 'the very same bytes: same producer id and sequences')
  const offsetOf = (b: SentBatch): bigint => (b.partition === 0 ? 5n : 7n)
  for (const r of retries) r.answer(r.batches.map((b) => ({ baseOffset: offsetOf(b) })))
  t.same((await send).map((a) => a.offset), [5n, 7n])
  t.equal(cluster.sent.length, 4)
})

t.test('a sent batch that fails for good resets the producer id, since its sequence may leave a hole', async (t) => {
  const { cluster, producer } = setup(t)
  const failed = producer.send({ topic: TOPIC, messages: [big(0)] })
  ;(await cluster.nextProduce()).answer([{ error: 'INVALID_RECORD' }])
  await t.rejects(failed, { code: 'INVALID_RECORD' })
  const next = producer.send({ topic: TOPIC, messages: [big(1)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [101n, 0], 'the next batch has a new id, at sequence 0')
  p.answer([{ baseOffset: 1n }])
  await next
})

t.test('without a producer id, the batches waiting for one fail with the reason; a later send tries again', async (t) => {
  const { cluster, producer } = setup(t)
  cluster.initError = new StrandProtocolError('UNSUPPORTED_VERSION', 'InitProducerId:')
  await t.rejects(producer.send({ topic: TOPIC, messages: [big(0), big(1)] }), { code: 'UNSUPPORTED_VERSION' })
  t.equal(cluster.sent.length, 0, 'nothing was sent without an id')
  cluster.initError = null
  const next = producer.send({ topic: TOPIC, messages: [big(2)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [100n, 0])
  p.answer([{ baseOffset: 0n }])
  t.same((await next).map((a) => a.offset), [0n])
})
