// The transactional data plane with real broker processes, driven by hand as a transaction
// coordinator would: transactional batches by raw Produce, then commit and abort markers by
// WriteTxnMarkers to each partition's leader. A read_committed consumer sees committed
// transactions whole, aborted ones never, and nothing of an open transaction (the last stable
// offset holds it back) until it commits; read_uncommitted sees every data record; no reader is
// ever handed a control record; and after the leader is SIGKILLed, the new leader (which built the
// same state as a follower) answers the same.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { TestCluster } from '../helpers/cluster.js'
import { watchPartitions } from '../helpers/replication.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'txdata'

async function producerId(conn: Connection): Promise<bigint> {
  const res = await conn.request(ApiKey.InitProducerId, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 })
  if (res.errorCode !== 0) throw new Error(`InitProducerId: error ${res.errorCode}`)
  return res.producerId
}

/** One transactional batch of `values` from producer `pid` (epoch 0) at `sequence`, acks=all; returns its base offset. */
async function sendTxn(conn: Connection, partition: number, pid: bigint, sequence: number, values: string[]): Promise<bigint> {
  const records = encodeBatch(values.map((value) => ({ value })), { timestamp: Date.now(), producerId: pid, producerEpoch: 0, baseSequence: sequence, transactional: true })
  const res = await conn.request(ApiKey.Produce, { transactionalId: `txdata-${pid}`, acks: -1, timeoutMs: 10_000, topics: [{ name: TOPIC, partitions: [{ index: partition, currentLeaderEpoch: -1, records }] }] })
  const p = res.topics[0]!.partitions[0]!
  if (p.errorCode !== 0) throw new Error(`Produce to ${TOPIC}-${partition}: error ${p.errorCode} ${p.errorMessage ?? ''}`)
  return p.baseOffset
}

async function marker(conn: Connection, pid: bigint, commit: boolean, partitions: number[]): Promise<void> {
  const res = await conn.request(ApiKey.WriteTxnMarkers, { markers: [{ producerId: pid, producerEpoch: 0, transactionResult: commit, topics: [{ name: TOPIC, partitionIndexes: partitions }], coordinatorEpoch: 0, transactionEpoch: -1 }] })
  const codes = res.markers.flatMap((m) => m.topics.flatMap((x) => x.partitions.map((p) => p.errorCode)))
  if (codes.some((c) => c !== 0)) throw new Error(`WriteTxnMarkers: errors ${codes.join(',')}`)
}

async function latest(conn: Connection, partition: number, isolationLevel: number): Promise<bigint> {
  const res = await conn.request(ApiKey.ListOffsets, { replicaId: -1, isolationLevel, topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1n }] }] })
  return res.topics[0]!.partitions[0]!.offset
}

const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
const sorted = (seen: Map<string, string>): string[] => [...seen.values()].sort()

t.test('read_committed sees committed transactions whole, aborted never, open ones once committed', async (t) => {
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('txdata', { requestTimeoutMs: 3000 })
  await strand.admin().createTopic({ topic: TOPIC, partitions: 2, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const parts = [0, 1]
  const leaders = await Promise.all(parts.map(async (p) => (await cluster.waitForPartition(strand, TOPIC, p, (x) => x.leaderId > 0 && x.isr.length === 3, 'three in-sync replicas')).leaderId))
  const conn = (p: number): Connection => cluster.connection(leaders[p]!, `txdata-${p}`, 15_000)
  const [committer, aborter, open] = [await producerId(conn(0)), await producerId(conn(0)), await producerId(conn(0))]

  // A transactional batch outside a transactional producer's request would hold the LSO back with
  // no coordinator to ever close it: refused, nothing appended.
  const stray = encodeBatch([{ value: 'stray' }], { timestamp: Date.now(), producerId: committer, producerEpoch: 0, baseSequence: 0, transactional: true })
  // Retried while the new leader is still taking over (a retriable answer), as a client would.
  const retriable = new Set(['NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION', 'REQUEST_TIMED_OUT'].map((n) => errorCodeOf(n as Parameters<typeof errorCodeOf>[0])))
  const refused = await waitFor(async () => {
    const res = await conn(0).request(ApiKey.Produce, { transactionalId: null, acks: -1, timeoutMs: 10_000, topics: [{ name: TOPIC, partitions: [{ index: 0, currentLeaderEpoch: -1, records: stray }] }] })
    const code = res.topics[0]!.partitions[0]!.errorCode
    return retriable.has(code) ? false : code
  }, { what: 'a non-retriable answer to the stray transactional batch', timeoutMs: 15_000, intervalMs: 50 })
  t.equal(refused, errorCodeOf('INVALID_RECORD'), 'a transactional batch without a transactionalId is refused (INVALID_RECORD)')
  t.equal(await latest(conn(0), 0, 0), 0n, 'and nothing was appended')

  // Interleaved on both partitions: committed c*, aborted a*, and (on partition 0) open o*.
  for (const p of parts) {
    await sendTxn(conn(p), p, committer, 0, values(`c${p}-`, 5))
    await sendTxn(conn(p), p, aborter, 0, values(`a${p}-`, 5))
  }
  const openStart = await sendTxn(conn(0), 0, open, 0, values('o0-', 3))
  for (const p of parts) await sendTxn(conn(p), p, committer, 5, values(`c${p}-late-`, 2))
  for (const p of parts) {
    await marker(conn(p), committer, true, [p])
    await marker(conn(p), aborter, false, [p])
  }

  const committed = watchPartitions(cluster.client('read-committed'), TOPIC, 2, { isolationLevel: 'read_committed' })
  const uncommitted = watchPartitions(cluster.client('read-uncommitted'), TOPIC, 2)
  t.teardown(async () => {
    await committed.stop()
    await uncommitted.stop()
  })
  const committedValues = parts.flatMap((p) => [...values(`c${p}-`, 5), ...values(`c${p}-late-`, 2)]).sort()
  const allData = [...committedValues, ...parts.flatMap((p) => values(`a${p}-`, 5)), ...values('o0-', 3)].sort()
  await waitFor(() => uncommitted.seen.size >= allData.length, { what: 'read_uncommitted to read every data record', timeoutMs: 15_000 })
  t.same(sorted(uncommitted.seen), allData, 'read_uncommitted: every data record, committed, aborted or open, and no control record')

  // Partition 0's last stable offset is where the open transaction starts, below its high watermark.
  t.equal(await latest(conn(0), 0, 1), openStart, `partition 0: the last stable offset is ${openStart}, the open transaction's first offset`)
  t.ok((await latest(conn(0), 0, 0)) > openStart, 'and the high watermark is past it')
  // Partition 1's committed records all lie below its LSO; partition 0's only those before the open transaction.
  const beforeOpen = [...values('c0-', 5), ...values('c1-', 5), ...values('c1-late-', 2)].sort()
  await waitFor(() => committed.seen.size >= beforeOpen.length, { what: 'read_committed to read up to the last stable offsets', timeoutMs: 15_000 })
  t.same(sorted(committed.seen), beforeOpen, 'read_committed: only committed records below the LSO; the aborted transaction is skipped')

  await marker(conn(0), open, true, [0])
  const afterCommit = [...committedValues, ...values('o0-', 3)].sort()
  await waitFor(() => committed.seen.size >= afterCommit.length, { what: 'read_committed to read past the committed open transaction', timeoutMs: 15_000 })
  t.same(sorted(committed.seen), afterCommit, 'once committed, the held-back transaction is read, whole, and the late committed records after it')
  t.equal(await latest(conn(0), 0, 1), await latest(conn(0), 0, 0), 'the last stable offset caught up with the high watermark')

  // Fetch v0 has no aborted-transactions list: read_committed at v0 is refused, not answered as read_uncommitted.
  const fetchBody = (isolationLevel: number) => ({ replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel, topics: [{ name: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }] })
  const v0 = await conn(0).request(ApiKey.Fetch, fetchBody(1), { apiVersion: 0 })
  t.equal(v0.errorCode, errorCodeOf('UNSUPPORTED_VERSION'), 'read_committed Fetch v0: UNSUPPORTED_VERSION')
  t.same(v0.topics, [], 'and no records')
  t.ok((await conn(0).request(ApiKey.Fetch, fetchBody(0), { apiVersion: 0 })).topics[0]!.partitions[0]!.records.length > 0, 'read_uncommitted Fetch v0 still reads')
  t.equal((await conn(0).request(ApiKey.Fetch, fetchBody(7))).errorCode, errorCodeOf('INVALID_REQUEST'), 'an isolation level that is neither 0 nor 1: INVALID_REQUEST')

  // Failover: the new leader built the same transaction state while it followed.
  await cluster.kill(leaders[0]!)
  await cluster.waitForPartition(strand, TOPIC, 0, (x) => x.leaderId > 0 && x.leaderId !== leaders[0], 'a new leader')
  const again = watchPartitions(cluster.client('read-committed-again', { brokers: cluster.ids.filter((id) => id !== leaders[0]) }), TOPIC, 2, { isolationLevel: 'read_committed' })
  t.teardown(() => again.stop())
  await waitFor(() => again.seen.size >= afterCommit.length, { what: 'read_committed from the new leader', timeoutMs: 20_000 })
  t.same(sorted(again.seen), afterCommit, 'after the leader\'s SIGKILL the new leader serves the same committed records, still without the aborted ones')
})
