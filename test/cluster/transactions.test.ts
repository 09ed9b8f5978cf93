// Transactions (KIP-98) against real broker processes: the coordinator (broker/txn) and the
// transactional producer. A transaction over 3 partitions commits (each partition holds its
// transactional records, then a commit marker), another aborts (an abort marker); a second
// producer with the same transactional id fences the first, whose next send and commit fail with
// PRODUCER_FENCED; and with the coordinator's broker SIGKILLed right after EndTxn(commit) was
// answered, the next coordinator reloads the prepared state and writes the markers on every
// partition.
//
// The read_committed consumer is the data plane's (another change); until it lands, what the
// consumers would see is checked on the replicas' logs on disk: the markers, their producer and
// type, after the transaction's records.

import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { decodeBatches, type DecodedBatch } from '../../client/protocol/records.js'
import type { Producer } from '../../client/producer.js'
import { decodeTxnRecord } from '../../broker/txn/records.js'
import { TestCluster } from '../helpers/cluster.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'txn-orders'
const PARTITIONS = 3
const CONTROL = 0x20
const TRANSACTIONAL = 0x10

/** Every batch of a replica's log on disk (a batch still being written is left out). */
async function batchesOf(dataDir: string, topic: string, partition: number): Promise<DecodedBatch[]> {
  const dir = path.join(dataDir, `${topic}-${partition}`)
  let files: string[]
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()
  } catch {
    return []
  }
  const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(dir, f)))))
  return decodeBatches(bytes).batches
}

type Marker = 'commit' | 'abort'

/** The states written for `transactionalId` in a replica's `__transaction_state` partitions, in order. */
async function statesOf(dataDir: string, transactionalId: string): Promise<string[]> {
  const dirs = (await readdir(dataDir)).filter((d) => d.startsWith('__transaction_state-'))
  const states: string[] = []
  for (const d of dirs) {
    for (const b of await batchesOf(dataDir, '__transaction_state', Number(d.slice('__transaction_state-'.length)))) {
      for (const r of b.records) {
        const stored = decodeTxnRecord(r.key, r.value)
        if (stored?.transactionalId === transactionalId && stored.value !== null) states.push(stored.value.state)
      }
    }
  }
  return states
}

/** The markers of `producerId` in the log, in order. */
function markersOf(batches: readonly DecodedBatch[], producerId: bigint): Marker[] {
  return batches
    .filter((b) => (b.header.attributes & CONTROL) !== 0 && b.header.producerId === producerId)
    .map((b) => (b.records[0]?.key?.readInt16BE(2) === 1 ? 'commit' : 'abort'))
}

/** The values of `producerId`'s transactional data records. */
function transactionalValues(batches: readonly DecodedBatch[], producerId: bigint): string[] {
  return batches
    .filter((b) => (b.header.attributes & (CONTROL | TRANSACTIONAL)) === TRANSACTIONAL && b.header.producerId === producerId)
    .flatMap((b) => b.records.map((r) => r.value?.toString() ?? ''))
}

/** Waits until some live replica of each partition shows the markers `want` for the producer. */
async function waitForMarkers(cluster: TestCluster, producerId: bigint, want: Marker[] | ((markers: Marker[]) => boolean), what: string, live: (id: number) => boolean = () => true): Promise<void> {
  const matches = typeof want === 'function' ? want : (markers: Marker[]) => JSON.stringify(markers) === JSON.stringify(want)
  await waitFor(
    async () => {
      for (let p = 0; p < PARTITIONS; p++) {
        let ok = false
        for (const id of cluster.ids) {
          if (!live(id)) continue
          const markers = markersOf(await batchesOf(cluster.dataDirs[id - 1]!, TOPIC, p), producerId)
          if (matches(markers)) ok = true
        }
        if (!ok) return false
      }
      return true
    },
    { timeoutMs: 30_000, intervalMs: 100, what },
  )
}

/** The broker coordinating `transactionalId` (FindCoordinator key type 1), once it has one. */
async function coordinatorOf(cluster: TestCluster, transactionalId: string, via: number): Promise<number> {
  const conn = cluster.connection(via)
  try {
    return await waitFor(
      async () => {
        const res = await conn.request(ApiKey.FindCoordinator, { key: transactionalId, keyType: 1 })
        return res.errorCode === 0 ? res.nodeId : false
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `a coordinator for "${transactionalId}"` },
    )
  } finally {
    conn.close()
  }
}

/** The producer id a transactional producer writes with, from its first transactional batch. */
async function producerIdIn(cluster: TestCluster, value: string): Promise<bigint> {
  return waitFor(async () => {
    for (const dataDir of cluster.dataDirs) {
      for (let p = 0; p < PARTITIONS; p++) {
        for (const b of await batchesOf(dataDir, TOPIC, p)) {
          if (b.records.some((r) => r.value?.toString() === value)) return b.header.producerId
        }
      }
    }
    return false
  }, { timeoutMs: 20_000, what: `the batch holding ${value}` })
}

async function sendToEach(producer: Producer, prefix: string): Promise<void> {
  await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => producer.send({ topic: TOPIC, messages: [{ partition: p, value: `${prefix}-${p}-a` }, { partition: p, value: `${prefix}-${p}-b` }] })))
}

t.test('transactions: commit, abort, zombie fencing, coordinator failover', async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'transaction.state.log.num.partitions': 3, 'offsets.topic.num.partitions': 3 } })
  const strand = cluster.client('txn-test', { requestTimeoutMs: 10_000 })
  t.teardown(() => strand.close())
  const admin = strand.admin()
  await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })

  await t.test('a transaction over 3 partitions commits: records, then a commit marker, on each', async (t) => {
    const producer = strand.producer({ transactionalId: 'tx-commit', lingerMs: 2 })
    await producer.initTransactions()
    await producer.transaction(async (tx) => {
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => tx.send({ topic: TOPIC, messages: [{ partition: p, value: `c-${p}-a` }, { partition: p, value: `c-${p}-b` }] })))
    })
    const pid = await producerIdIn(cluster, 'c-0-a')
    await waitForMarkers(cluster, pid, ['commit'], 'a commit marker on every partition')
    for (let p = 0; p < PARTITIONS; p++) {
      const batches = await batchesOf(cluster.dataDirs[0]!, TOPIC, p)
      t.same(transactionalValues(batches, pid), [`c-${p}-a`, `c-${p}-b`], `partition ${p}: the transaction's records, transactional`)
      const markerAt = batches.findIndex((b) => (b.header.attributes & CONTROL) !== 0 && b.header.producerId === pid)
      let lastData = -1
      batches.forEach((b, i) => {
        if ((b.header.attributes & CONTROL) === 0 && b.header.producerId === pid) lastData = i
      })
      if (markerAt >= 0) t.ok(markerAt > lastData, `partition ${p}: the marker follows the records`)
    }
    // A second transaction with the same producer commits too.
    producer.beginTransaction()
    await sendToEach(producer, 'c2')
    await producer.commitTransaction()
    await waitForMarkers(cluster, pid, ['commit', 'commit'], 'the second commit marker on every partition')
    // Once the producer is idle, the coordinator records the transaction complete (it skips that
    // write when the next transaction's Ongoing follows at once).
    await waitFor(async () => (await statesOf(cluster.dataDirs[0]!, 'tx-commit')).at(-1) === 'CompleteCommit', { timeoutMs: 20_000, what: 'CompleteCommit as the last state of tx-commit' })
    const states = await statesOf(cluster.dataDirs[0]!, 'tx-commit')
    t.equal(states[0], 'Empty', 'its first state is Empty (InitProducerId)')
    t.ok(states.indexOf('Ongoing') > 0 && states.indexOf('PrepareCommit') > states.indexOf('Ongoing'), `then Ongoing, then PrepareCommit (${states.join(', ')})`)
    await producer.close()
  })

  await t.test('a send to 3 partitions adds them with one AddPartitionsToTxn: one Ongoing record', async (t) => {
    const producer = strand.producer({ transactionalId: 'tx-one-add', lingerMs: 0 })
    t.teardown(() => producer.close())
    await producer.initTransactions()
    await producer.transaction((tx) => tx.send({ topic: TOPIC, messages: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, value: `one-${p}` })) }))
    // Read off the state partition's log, not asked of the coordinator.
    const states = await waitFor(async () => {
      const s = await statesOf(cluster.dataDirs[0]!, 'tx-one-add')
      return s.includes('PrepareCommit') ? s : false
    }, { timeoutMs: 20_000, what: 'the PrepareCommit of tx-one-add on broker 1' })
    t.same(states.slice(0, 3), ['Empty', 'Ongoing', 'PrepareCommit'], `every partition in the one Ongoing record (${states.join(', ')})`)
  })

  await t.test('an aborted transaction ends with an abort marker on each partition', async (t) => {
    const producer = strand.producer({ transactionalId: 'tx-abort', lingerMs: 2 })
    await producer.initTransactions()
    producer.beginTransaction()
    await sendToEach(producer, 'ab')
    await producer.abortTransaction()
    const pid = await producerIdIn(cluster, 'ab-0-a')
    await waitForMarkers(cluster, pid, ['abort'], 'an abort marker on every partition')
    // transaction(fn) aborts when fn throws, and rethrows its error.
    const boom = new Error('boom')
    await t.rejects(
      producer.transaction(async (tx) => {
        await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'ab2-0' }, { partition: 1, value: 'ab2-1' }, { partition: 2, value: 'ab2-2' }] })
        throw boom
      }),
      boom,
    )
    await waitForMarkers(cluster, pid, ['abort', 'abort'], 'the second abort marker on every partition')
    await t.rejects(producer.send({ topic: TOPIC, messages: [{ value: 'outside' }] }), { code: 'ILLEGAL_STATE' }, 'no send outside a transaction')
    await producer.close()
  })

  await t.test('a second producer with the same transactional id fences the first', async (t) => {
    const zombie = strand.producer({ transactionalId: 'tx-zombie', lingerMs: 2 })
    await zombie.initTransactions()
    zombie.beginTransaction()
    await zombie.send({ topic: TOPIC, messages: [{ partition: 0, value: 'z-0' }] })
    const pid = await producerIdIn(cluster, 'z-0')
    const successor = strand.producer({ transactionalId: 'tx-zombie', lingerMs: 2 })
    await successor.initTransactions()
    // The zombie's open transaction was aborted by the successor's InitProducerId.
    await waitFor(async () => markersOf(await batchesOf(cluster.dataDirs[0]!, TOPIC, 0), pid).includes('abort'), { timeoutMs: 20_000, what: 'the zombie transaction aborted' })
    await t.rejects(zombie.send({ topic: TOPIC, messages: [{ partition: 1, value: 'z-1' }] }), { code: 'PRODUCER_FENCED', retriable: false }, 'the zombie\'s next send is fenced')
    await t.rejects(zombie.commitTransaction(), { code: 'PRODUCER_FENCED' }, 'and so is its commit')
    await t.rejects(zombie.send({ topic: TOPIC, messages: [{ partition: 2, value: 'z-2' }] }), { code: 'PRODUCER_FENCED' }, 'and every later send')
    await zombie.close()
    // The successor works.
    await successor.transaction(async (tx) => {
      await tx.send({ topic: TOPIC, messages: [{ partition: 1, value: 's-1' }] })
    })
    await waitFor(async () => markersOf(await batchesOf(cluster.dataDirs[0]!, TOPIC, 1), pid).includes('commit'), { timeoutMs: 20_000, what: 'the successor committed' })
    await successor.close()
  })

  await t.test('the coordinator dies after answering EndTxn(commit): the next one writes the markers', async (t) => {
    const txnId = 'tx-failover'
    const producer = strand.producer({ transactionalId: txnId, lingerMs: 2 })
    await producer.initTransactions()
    const coordinator = await coordinatorOf(cluster, txnId, 1)
    producer.beginTransaction()
    await sendToEach(producer, 'f')
    await producer.commitTransaction()
    await cluster.kill(coordinator)
    const pid = await producerIdIn(cluster, 'f-0-a')
    const live = (id: number): boolean => id !== coordinator
    const other = cluster.ids.find(live)!
    const next = await waitFor(async () => {
      const id = await coordinatorOf(cluster, txnId, other)
      return id !== coordinator ? id : false
    }, { timeoutMs: 30_000, what: 'a new coordinator' })
    t.not(next, coordinator, `broker ${next} took over from ${coordinator}`)
    // A partition may hold the commit marker twice (the old coordinator's and the new one's
    // resend): markers are idempotent, as in Kafka. No abort marker, ever.
    const committed = (markers: Marker[]): boolean => markers.length > 0 && markers.every((m) => m === 'commit')
    await waitForMarkers(cluster, pid, committed, 'commit markers on every partition under the new coordinator', live)
    // The new coordinator knows the id: a new instance gets the next epoch of the same producer id.
    const successor = strand.producer({ transactionalId: txnId, lingerMs: 2 })
    await successor.transaction(async (tx) => {
      await tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'f2-0' }] })
    })
    t.equal(await producerIdIn(cluster, 'f2-0'), pid, 'the same producer id, from the reloaded state')
    await successor.close()
    await producer.close()
  })

  await t.test("an EndTxn whose answer was lost, retried at the next coordinator after the transaction completed: answered as the first, with the next epoch", async (t) => {
    for (const id of cluster.ids.filter((i) => cluster.brokers[i - 1] === null)) await cluster.startBroker(id)
    await cluster.waitForBrokers(cluster.ids)
    const txnId = 'tx-retried-end'
    const producer = strand.producer({ transactionalId: txnId, lingerMs: 0 })
    t.teardown(() => producer.close())
    await producer.initTransactions()
    await producer.transaction((tx) => tx.send({ topic: TOPIC, messages: [{ partition: 0, value: 'r-0' }] }))
    const pid = await producerIdIn(cluster, 'r-0')
    const coordinator = await coordinatorOf(cluster, txnId, 1)
    // The transaction is complete and says so on disk (the delayed CompleteCommit record).
    await waitFor(async () => (await statesOf(cluster.dataDirs[coordinator - 1]!, txnId)).at(-1) === 'CompleteCommit', { timeoutMs: 20_000, what: `CompleteCommit as the last state of ${txnId}` })
    await cluster.kill(coordinator)
    const other = cluster.ids.find((id) => id !== coordinator)!
    const next = await waitFor(async () => {
      const id = await coordinatorOf(cluster, txnId, other)
      return id !== coordinator ? id : false
    }, { timeoutMs: 30_000, what: 'a new coordinator' })
    // The producer's retry, as its client would send it: the ended transaction's epoch (0).
    const conn = cluster.connection(next, 'retried-end', 10_000)
    t.teardown(() => conn.close())
    const retried = { transactionalId: txnId, producerId: pid, producerEpoch: 0, bumpEpoch: true }
    const res = await waitFor(async () => {
      const r = await conn.request(ApiKey.EndTxn, { ...retried, committed: true }).catch(() => null)
      return r !== null && r.errorCode !== errorCodeOf('COORDINATOR_LOAD_IN_PROGRESS') && r.errorCode !== errorCodeOf('NOT_COORDINATOR') ? r : false
    }, { timeoutMs: 20_000, what: `broker ${next} to answer EndTxn for ${txnId}` })
    t.same({ errorCode: res.errorCode, producerId: res.producerId, producerEpoch: res.producerEpoch }, { errorCode: 0, producerId: pid, producerEpoch: 1 }, 'the commit retried: success, and the epoch the first answer gave')
    const aborted = await conn.request(ApiKey.EndTxn, { ...retried, committed: false })
    t.equal(aborted.errorCode, errorCodeOf('PRODUCER_FENCED'), 'an abort at that epoch is not the same request: fenced')
    // A new instance of the producer takes over: the old one's retry must not get the new epoch.
    const successor = strand.producer({ transactionalId: txnId, lingerMs: 0 })
    t.teardown(() => successor.close())
    await successor.initTransactions()
    const late = await conn.request(ApiKey.EndTxn, { ...retried, committed: true })
    t.equal(late.errorCode, errorCodeOf('PRODUCER_FENCED'), "after a new instance's InitProducerId the old retry is fenced, not given its epoch")
  })
  await admin.close()
})
