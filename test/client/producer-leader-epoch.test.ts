// The producer's leader epochs (Produce v1, KIP-320 style fencing), against a scripted cluster (no
// sockets): each partition of a Produce carries the epoch the metadata gives it, and a leader that
// refuses the epoch (it appended nothing) makes the producer ask for fresh metadata and send the
// same batch again, with the new epoch, instead of failing the records.

import t from 'tap'
import type { Cluster } from '../../client/cluster.js'
import { Producer, type ProducerOptions } from '../../client/producer.js'
import type { Teardown } from '../helpers/broker-process.js'
import { ScriptedCluster, TOPIC } from '../helpers/scripted-cluster.js'

function setup(t: Teardown, options: ProducerOptions): { cluster: ScriptedCluster; producer: Producer } {
  const cluster = new ScriptedCluster()
  const producer = new Producer({ cluster: cluster as unknown as Cluster, clock: Date.now, requestTimeoutMs: 1000 }, { lingerMs: 0, ...options })
  t.teardown(() => producer.close())
  return { cluster, producer }
}

t.test('every partition of a Produce carries the leader epoch of the metadata', async (t) => {
  const { cluster, producer } = setup(t, { acks: 'all' })
  cluster.leaderEpoch = 3
  const send = producer.send({ topic: TOPIC, messages: [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }] })
  const p = await cluster.nextProduce()
  t.same(p.batches.map((b) => [b.partition, b.currentLeaderEpoch]), [[0, 3], [1, 3]])
  p.answer([{ baseOffset: 0n }, { baseOffset: 0n }])
  await send
})

for (const [error, acks] of [['FENCED_LEADER_EPOCH', 'all'], ['UNKNOWN_LEADER_EPOCH', 'all'], ['FENCED_LEADER_EPOCH', 1]] as const) {
  t.test(`${error} (acks ${acks}): fresh metadata, then the same batch again at the new epoch`, async (t) => {
    const { cluster, producer } = setup(t, { acks })
    const send = producer.send({ topic: TOPIC, messages: [{ partition: 0, value: 'a' }] })
    const first = await cluster.nextProduce()
    t.equal(first.batches[0]!.currentLeaderEpoch, 0)
    // The leader moved on: the metadata the producer fetches next has the new epoch.
    cluster.leaderEpoch = 1
    const invalidations = cluster.invalidations
    first.answer([{ error }])
    const retry = await cluster.nextProduce()
    t.ok(cluster.invalidations > invalidations, 'the refusal marked the metadata stale')
    t.equal(retry.batches[0]!.currentLeaderEpoch, 1, 'the retry carries the new epoch')
    t.same(retry.batches[0]!.bytes, first.batches[0]!.bytes, 'and the very same batch (same sequence, when idempotent)')
    retry.answer([{ baseOffset: 42n }])
    t.same((await send).map((a) => a.offset), [42n], 'the record is acknowledged once, at the retry\'s offset')
  })
}
