// Batches in flight per partition, as Kafka's max.in.flight.requests.per.connection: 5 by default
// for every producer, idempotent or not; without idempotence a retried batch may then land after
// later ones (the documented reorder), and maxInflightPerPartition 1 keeps strict order. Against
// a scripted cluster (no sockets) that answers each Produce request when the test says.

import t from 'tap'
import type { Cluster } from '../../client/cluster.js'
import { Producer, type ProducerOptions } from '../../client/producer.js'
import type { Teardown } from '../helpers/broker-process.js'
import { ScriptedCluster, TOPIC } from '../helpers/scripted-cluster.js'
import { waitFor } from '../helpers/wait.js'

function setup(t: Teardown, options: ProducerOptions): { cluster: ScriptedCluster; producer: Producer } {
  const cluster = new ScriptedCluster()
  const producer = new Producer({ cluster: cluster as unknown as Cluster, clock: Date.now, requestTimeoutMs: 1000 }, { lingerMs: 0, batchBytes: 200, ...options })
  t.teardown(() => producer.close())
  return { cluster, producer }
}

/** Records of ~150 bytes to partition 0: each fills a batch of its own (batchBytes 200). */
function big(i: number): { partition: number; value: string } {
  return { partition: 0, value: `${i}`.padEnd(150, '.') }
}

const values = (n: number): Array<{ partition: number; value: string }> => Array.from({ length: n }, (_, i) => big(i))

t.test('without idempotence, 5 batches of a partition go out before the first is acknowledged', async (t) => {
  const { cluster, producer } = setup(t, { acks: 1 })
  const sending = producer.send({ topic: TOPIC, messages: values(6) })
  // One drain takes every batch it may and sends them before returning, so once 5 requests are
  // seen, the sixth batch was held back by the in-flight bound, not by timing.
  await waitFor(() => cluster.produces.length >= 5, { what: '5 Produce requests' })
  t.equal(cluster.produces.length, 5, 'five requests in flight, none answered')
  t.ok(cluster.sent.every((b) => b.partition === 0 && b.recordCount === 1), 'each one batch of partition 0')
  t.ok(cluster.sent.every((b) => b.producerId === -1n && b.baseSequence === -1), 'not stamped: idempotence is off with acks 1')
  const first = cluster.produces.shift()!
  first.answer([{ baseOffset: 0n }])
  await waitFor(() => cluster.sent.length === 6, { what: 'the sixth batch' })
  for (let i = 1; i < 6; i++) cluster.produces.shift()!.answer([{ baseOffset: BigInt(i) }])
  t.same((await sending).map((a) => a.offset), [0n, 1n, 2n, 3n, 4n, 5n], 'in order, each record its own offset')
})

t.test('maxInflightPerPartition 1 keeps one batch of a partition in flight', async (t) => {
  const { cluster, producer } = setup(t, { acks: 1, maxInflightPerPartition: 1 })
  const sending = producer.send({ topic: TOPIC, messages: values(3) })
  for (let i = 0; i < 3; i++) {
    const p = await cluster.nextProduce()
    t.equal(cluster.produces.length, 0, `batch ${i} alone in flight`)
    t.equal(cluster.sent.length, i + 1, 'the next is sent only after the previous is acknowledged')
    p.answer([{ baseOffset: BigInt(10 + i) }])
  }
  t.same((await sending).map((a) => a.offset), [10n, 11n, 12n])
})

t.test('without idempotence, a retried batch is re-sent once nothing of its partition is in flight, after the later ones', async (t) => {
  const { cluster, producer } = setup(t, { acks: 1 })
  const sending = producer.sendSettled({ topic: TOPIC, messages: values(3) })
  await waitFor(() => cluster.produces.length >= 3, { what: '3 Produce requests' })
  const [b0, b1, b2] = cluster.produces.splice(0, 3) as [NonNullable<(typeof cluster.produces)[number]>, NonNullable<(typeof cluster.produces)[number]>, NonNullable<(typeof cluster.produces)[number]>]
  b0.answer([{ error: 'NOT_LEADER_OR_FOLLOWER' }])
  b1.answer([{ baseOffset: 0n }])
  b2.answer([{ baseOffset: 1n }])
  const retry = await cluster.nextProduce()
  t.same(retry.batches.map((b) => b.bytes), b0.batches.map((b) => b.bytes), 'the failed batch, the same bytes')
  t.equal(cluster.produces.length, 0, 're-sent alone')
  retry.answer([{ baseOffset: 2n }])
  const outcomes = await sending
  t.same(
    outcomes.map((o) => (o.ok ? o.offset : o.error)),
    [2n, 0n, 1n],
    'it landed after the batches sent after it: the reorder maxInflightPerPartition 1 would prevent',
  )
  t.equal(cluster.sent.length, 4, 'only the failed batch was sent again')
})
