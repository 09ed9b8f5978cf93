// Leader-epoch fencing of client requests (KIP-320), with real broker processes. A producer and a
// consumer carry on across the death of their partition's leader and its return as leader (each
// move a new epoch, each checked by the consumer's OffsetsForLeaderEpoch before it fetches again):
// every acknowledged record is read once, at its offset, in order. Then, on the leader, raw
// requests with the epoch one behind and one ahead of the leader's are refused,
// FENCED_LEADER_EPOCH (74) and UNKNOWN_LEADER_EPOCH (75), for Fetch, ListOffsets,
// OffsetsForLeaderEpoch and Produce v1, and a refused Produce appends nothing; the leader's own
// epoch, and -1 or Produce v0 (clients that predate the check), are served.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import type { Consumer, Producer } from '../../client/index.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { TestCluster } from '../helpers/cluster.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'fenced'
const FENCED = errorCodeOf('FENCED_LEADER_EPOCH')
const UNKNOWN = errorCodeOf('UNKNOWN_LEADER_EPOCH')

/** Sends values one request at a time (acks=all), returning each one's offset. */
async function produce(producer: Producer, prefix: string, count: number): Promise<Array<{ value: string; offset: bigint }>> {
  const acked: Array<{ value: string; offset: bigint }> = []
  for (let i = 0; i < count; i++) {
    const value = `${prefix}${i}`
    const [ack] = await producer.send({ topic: TOPIC, messages: [{ partition: 0, value }] })
    acked.push({ value, offset: ack!.offset })
  }
  return acked
}

/** Reads partition 0 in the background into `seen` until the consumer closes. */
function consume(consumer: Consumer, seen: Array<{ value: string; offset: bigint }>): Promise<void> {
  consumer.assign([{ topic: TOPIC, partition: 0, offset: 'earliest' }])
  return (async () => {
    for await (const batch of consumer) for (const m of batch.messages) seen.push({ value: m.value!.toString(), offset: m.offset })
  })()
}

t.test('clients carry on across a leader change; stale and future epochs are refused', async (t) => {
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('fencing')
  const admin = strand.admin()
  await admin.createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const initial = await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.leaderId > 0 && p.isr.length === 3, 'three in-sync replicas')

  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  const consumer = strand.consumer({ maxWaitMs: 200 })
  const seen: Array<{ value: string; offset: bigint }> = []
  const consuming = consume(consumer, seen)
  const acked = await produce(producer, 'before-', 10)
  await waitFor(() => seen.length >= acked.length, { what: 'the consumer to read the first records', timeoutMs: 20_000 })

  await cluster.kill(initial.leaderId)
  const moved = await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.leaderId > 0 && p.leaderId !== initial.leaderId, 'a new leader')
  t.ok(moved.leaderEpoch > initial.leaderEpoch, `broker ${moved.leaderId} leads at epoch ${moved.leaderEpoch}, after ${initial.leaderEpoch}`)
  acked.push(...(await produce(producer, 'after-', 10)))
  await waitFor(() => seen.length >= acked.length, { what: 'the consumer to read the records sent after the leader change', timeoutMs: 30_000 })
  t.same(seen, acked, 'every acknowledged record is read once, at its offset, in order, across the leader change')

  // The old leader returns and, once in sync, leads again (the preferred replica): the clients
  // meet a live broker that no longer leads, and a leader at an epoch they have not seen.
  await cluster.startBroker(initial.leaderId)
  const back = await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.leaderId === initial.leaderId && p.isr.length === 3, `broker ${initial.leaderId} leading again`)
  t.ok(back.leaderEpoch > moved.leaderEpoch, `at epoch ${back.leaderEpoch}`)
  acked.push(...(await produce(producer, 'back-', 10)))
  await waitFor(() => seen.length >= acked.length, { what: 'the consumer to read the records sent after leadership moved back', timeoutMs: 30_000 })
  t.same(seen, acked, 'and across the move back: no record lost, repeated or misplaced')
  // This admin's metadata is from before both moves (epoch 0, the same broker): the leader refuses
  // its epoch, and it refreshes and asks again rather than fail.
  t.equal((await admin.listOffsets({ topic: TOPIC, partition: 0, timestamp: 'latest' })).offset, BigInt(acked.length), 'an admin with stale metadata gets the high watermark')
  await consumer.close()
  await consuming
  await producer.close()

  const c = rawConnection(t, cluster.ports[back.leaderId - 1]!, 'fencing-raw')
  await t.test(`raw requests to the leader at epoch ${back.leaderEpoch}`, (t) => checkFencing(t, c, back.leaderEpoch, acked.length))
})

/** The assertions checkFencing makes. */
interface Asserts {
  ok(value: unknown, message: string): unknown
  equal(found: unknown, wanted: unknown, message: string): unknown
  same(found: unknown, wanted: unknown, message: string): unknown
}

async function checkFencing(t: Asserts, c: Connection, epoch: number, records: number): Promise<void> {
  const logEnd = async (): Promise<bigint> => {
    // replicaId -2 (Kafka's debugging id): the leader's log end, not the high watermark.
    const res = await c.request(ApiKey.ListOffsets, { replicaId: -2, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] })
    return res.topics[0]!.partitions[0]!.offset
  }
  const fetch = async (currentLeaderEpoch: number): Promise<{ errorCode: number; records: number }> => {
    const res = await c.request(ApiKey.Fetch, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }] })
    const p = res.topics[0]!.partitions[0]!
    return { errorCode: p.errorCode, records: p.records.length }
  }
  const listOffsets = async (currentLeaderEpoch: number): Promise<{ errorCode: number; offset: bigint }> => {
    const res = await c.request(ApiKey.ListOffsets, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch, timestamp: -1n }] }] })
    const p = res.topics[0]!.partitions[0]!
    return { errorCode: p.errorCode, offset: p.offset }
  }
  const endOfEpoch = async (currentLeaderEpoch: number): Promise<number> => {
    const res = await c.request(ApiKey.OffsetsForLeaderEpoch, { replicaId: -1, topics: [{ name: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch, leaderEpoch: epoch }] }] })
    return res.topics[0]!.partitions[0]!.errorCode
  }
  const produce = async (currentLeaderEpoch: number, apiVersion = 1): Promise<number> => {
    const batch = encodeBatch([{ value: `raw-${currentLeaderEpoch}-v${apiVersion}` }], { timestamp: Date.now() })
    const res = await c.request(ApiKey.Produce, { transactionalId: null, acks: 1, timeoutMs: 5000, topics: [{ name: TOPIC, partitions: [{ index: 0, currentLeaderEpoch, records: batch }] }] }, { apiVersion })
    return res.topics[0]!.partitions[0]!.errorCode
  }

  t.same(await fetch(epoch - 1), { errorCode: FENCED, records: 0 }, `Fetch at epoch ${epoch - 1}: FENCED_LEADER_EPOCH, no records`)
  t.same(await fetch(epoch + 1), { errorCode: UNKNOWN, records: 0 }, `Fetch at epoch ${epoch + 1}: UNKNOWN_LEADER_EPOCH`)
  for (const ok of [epoch, -1]) {
    const r = await fetch(ok)
    t.ok(r.errorCode === 0 && r.records > 0, `Fetch at epoch ${ok}: records`)
  }
  t.same(await listOffsets(epoch - 1), { errorCode: FENCED, offset: -1n }, 'ListOffsets at a stale epoch: FENCED_LEADER_EPOCH')
  t.same(await listOffsets(epoch + 1), { errorCode: UNKNOWN, offset: -1n }, 'ListOffsets at a future epoch: UNKNOWN_LEADER_EPOCH')
  t.same(await listOffsets(epoch), { errorCode: 0, offset: BigInt(records) }, 'ListOffsets at the leader\'s epoch: the high watermark')
  t.same([await endOfEpoch(epoch - 1), await endOfEpoch(epoch + 1), await endOfEpoch(epoch)], [FENCED, UNKNOWN, 0], 'OffsetsForLeaderEpoch from a consumer: the same')

  const before = await logEnd()
  t.equal(await produce(epoch - 1), FENCED, 'Produce v1 at a stale epoch: FENCED_LEADER_EPOCH')
  t.equal(await produce(epoch + 1), UNKNOWN, 'Produce v1 at a future epoch: UNKNOWN_LEADER_EPOCH')
  t.equal(await logEnd(), before, 'and nothing was appended')
  t.equal(await produce(epoch), 0, 'Produce v1 at the leader\'s epoch is appended')
  t.equal(await produce(-1), 0, 'so is one at -1 (no check)')
  t.equal(await produce(epoch - 1, 0), 0, 'and a v0 one, which cannot carry an epoch (an older client)')
  t.equal(await logEnd(), before + 3n, 'three records appended')
}
