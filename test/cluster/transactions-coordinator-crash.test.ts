// The transaction coordinator's broker SIGKILLed between PrepareCommit and the markers (issue
// #18's must-show), deterministically: the broker dies at the failpoint `txn.prepared` for the
// test's transactional id (broker/failpoints.ts), the moment the prepared state is durable on the
// state partition's ISR and before a single marker is sent. The next coordinator must reload the
// prepared transaction and finish it, and the producer's commitTransaction() (its EndTxn lost with
// the connection, retried at the next coordinator) must succeed.
//
// Checked independently of the broker: read_committed and read_uncommitted consumers reading all
// along, and every replica's log files on disk, where each partition must hold markers of the
// transaction of the right kind only, every one written under a coordinator epoch newer than the
// dead coordinator's (so none is the dead one's: it died before sending any).

import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ApiKey } from '../../client/protocol/apis.js'
import { decodeBatches } from '../../client/protocol/records.js'
import type { Producer } from '../../client/index.js'
import { TestCluster } from '../helpers/cluster.js'
import { waitForFullIsr, watchBothIsolations } from '../helpers/replication.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'txn-crash'
const PARTITIONS = 3
const STATE_TOPIC = '__transaction_state'
const CONTROL = 0x20

interface MarkerSeen {
  commit: boolean
  coordinatorEpoch: number
}

/** The markers of `producerId` in one replica's log of a partition (decoded here, not by the broker). */
async function markersOn(dataDir: string, partition: number, producerId: bigint): Promise<MarkerSeen[]> {
  const dir = path.join(dataDir, `${TOPIC}-${partition}`)
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).sort()
  const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(dir, f)))))
  return decodeBatches(bytes)
    .batches.filter((b) => (b.header.attributes & CONTROL) !== 0 && b.header.producerId === producerId)
    .map((b) => {
      const r = b.records[0]!
      return { commit: r.key!.readInt16BE(2) === 1, coordinatorEpoch: r.value!.readInt32BE(2) }
    })
}

/** The producer's batches in one replica's log of a partition, in log order: markers and the values of data batches. */
async function batchesOf(dataDir: string, partition: number, producerId: bigint): Promise<{ marker: boolean; commit: boolean; epoch: number; coordinatorEpoch: number; values: string[] }[]> {
  const dir = path.join(dataDir, `${TOPIC}-${partition}`)
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).sort()
  const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(path.join(dir, f)))))
  return decodeBatches(bytes)
    .batches.filter((b) => b.header.producerId === producerId)
    .map((b) => {
      const marker = (b.header.attributes & CONTROL) !== 0
      const r = b.records[0]!
      return { marker, commit: marker && r.key!.readInt16BE(2) === 1, epoch: b.header.producerEpoch, coordinatorEpoch: marker ? r.value!.readInt32BE(2) : -1, values: marker ? [] : b.records.map((x) => x.value?.toString() ?? '') }
    })
}

/** The producer id of the batch holding `value`, from any replica's log. */
async function producerIdOf(cluster: TestCluster, value: string): Promise<bigint> {
  return waitFor(async () => {
    for (const dataDir of cluster.dataDirs) {
      for (let p = 0; p < PARTITIONS; p++) {
        const dir = path.join(dataDir, `${TOPIC}-${p}`)
        const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.log'))
        for (const f of files) {
          for (const b of decodeBatches(await readFile(path.join(dir, f))).batches) {
            if (b.records.some((r) => r.value?.toString() === value)) return b.header.producerId
          }
        }
      }
    }
    return false
  }, { timeoutMs: 20_000, what: `the batch holding ${value}` })
}

/** The coordinator of `transactionalId` and the leader epoch of its state partition (the coordinator epoch its markers carry). */
/** How long a prepared transaction may take to reach its coordinator's failpoint. */
const EXIT_TIMEOUT_MS = 30_000

/** The first of `ids` to exit, within `timeoutMs`. */
async function waitForExit(cluster: TestCluster, ids: readonly number[], timeoutMs: number): Promise<{ nodeId: number; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no broker of ${ids.join(', ')} exited within ${timeoutMs} ms: the failpoint was not reached`)), timeoutMs)))
  try {
    return await Promise.race([...ids.map((id) => cluster.broker(id).exited.then(({ signal }) => ({ nodeId: id, signal }))), deadline])
  } finally {
    clearTimeout(timer)
  }
}

async function coordinatorOf(cluster: TestCluster, transactionalId: string, via: number): Promise<{ nodeId: number; epoch: number }> {
  const conn = cluster.connection(via)
  try {
    return await waitFor(async () => {
      const found = await conn.request(ApiKey.FindCoordinator, { key: transactionalId, keyType: 1 }).catch(() => null)
      if (found === null || found.errorCode !== 0) return false
      const md = await conn.request(ApiKey.Metadata, { topics: [STATE_TOPIC] }).catch(() => null)
      const led = md?.topics[0]?.partitions.find((p) => p.leaderId === found.nodeId)
      return led === undefined ? false : { nodeId: found.nodeId, epoch: led.leaderEpoch }
    }, { timeoutMs: 20_000, intervalMs: 100, what: `a coordinator for "${transactionalId}"` })
  } finally {
    conn.close()
  }
}

t.test('the coordinator SIGKILLed between PrepareCommit/PrepareAbort and the markers: the next one completes the transaction', async (t) => {
  const cluster = await TestCluster.start(t, {
    // One state partition: its leader is every id's coordinator, and its epoch the markers' coordinator epoch.
    overrides: { 'transaction.state.log.num.partitions': 1, 'offsets.topic.num.partitions': 1 },
    env: { STRAND_FAILPOINTS: 'txn.prepared:crash-commit,txn.prepared:crash-abort,txn.owed:crash-owed' },
  })
  const strand = cluster.client('txn-crash', { requestTimeoutMs: 5000 })
  const admin = strand.admin()
  t.teardown(() => admin.close())
  await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const { committed, uncommitted } = watchBothIsolations(t, cluster, TOPIC, PARTITIONS)
  const valuesOf = (txn: string): string[] => Array.from({ length: PARTITIONS }, (_, p) => [`${txn}-${p}-a`, `${txn}-${p}-b`]).flat()
  const seen = (w: { seen: Map<string, string> }, txn: string): number => {
    const all = new Set(w.seen.values())
    return valuesOf(txn).filter((v) => all.has(v)).length
  }

  /** Runs one transaction whose EndTxn kills its coordinator; returns the dead coordinator and the producer id. */
  async function crashAtEnd(t: Test, txnId: string, commit: boolean): Promise<{ dead: { nodeId: number; epoch: number }; producerId: bigint }> {
    const live = cluster.ids.find((id) => cluster.brokers[id - 1] !== null)!
    const before = await coordinatorOf(cluster, txnId, live)
    const producer = strand.producer({ transactionalId: txnId, lingerMs: 1 })
    t.teardown(() => producer.close())
    await producer.initTransactions()
    producer.beginTransaction()
    await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => producer.send({ topic: TOPIC, messages: [{ partition: p, value: `${txnId}-${p}-a` }, { partition: p, value: `${txnId}-${p}-b` }] })))
    await waitFor(() => seen(uncommitted, txnId) === PARTITIONS * 2, { what: 'read_uncommitted to see the open transaction', timeoutMs: 20_000 })
    t.equal(seen(committed, txnId), 0, 'read_committed sees nothing of the open transaction')
    // The failpoint kills whichever broker coordinates the id when the transaction is prepared:
    // under load the state partition's leadership can have moved since `before` was asked, so
    // the test waits for any broker's exit (bounded), not only `before`'s.
    const running = cluster.ids.filter((id) => cluster.brokers[id - 1] !== null)
    const ended = commit ? producer.commitTransaction() : producer.abortTransaction()
    ended.catch(() => undefined)
    const died = await waitForExit(cluster, running, EXIT_TIMEOUT_MS)
    t.equal(died.signal, 'SIGKILL', `broker ${died.nodeId}, the coordinator, died by SIGKILL once the transaction was prepared`)
    t.ok(cluster.broker(died.nodeId).output.some((l) => l.includes(`failpoint txn.prepared:${txnId} reached`)), 'at the failpoint, before any marker')
    cluster.brokers[died.nodeId - 1] = null
    await ended
    t.pass(`${commit ? 'commitTransaction' : 'abortTransaction'}() succeeded: the next coordinator answered the retried EndTxn`)
    const after = await coordinatorOf(cluster, txnId, cluster.ids.find((id) => cluster.brokers[id - 1] !== null)!)
    t.not(after.nodeId, died.nodeId, `broker ${after.nodeId} coordinates "${txnId}" now`)
    // The dead coordinator's epoch is `before`'s when nothing moved in between; otherwise it is
    // newer, and `before`'s is still a bound every marker of a later coordinator exceeds.
    return { dead: { nodeId: died.nodeId, epoch: before.epoch }, producerId: await producerIdOf(cluster, `${txnId}-0-a`) }
  }

  /** Every live replica of every partition holds exactly one marker of the producer, of the given kind, from a newer coordinator epoch than the dead one's. */
  async function checkMarkers(t: Test, producerId: bigint, commit: boolean, dead: { nodeId: number; epoch: number }): Promise<void> {
    const live = cluster.ids.filter((id) => id !== dead.nodeId)
    await waitFor(async () => {
      for (const id of live) for (let p = 0; p < PARTITIONS; p++) if ((await markersOn(cluster.dataDirs[id - 1]!, p, producerId)).length === 0) return false
      return true
    }, { what: 'a marker on every live replica of every partition', timeoutMs: 30_000 })
    for (const id of live) {
      for (let p = 0; p < PARTITIONS; p++) {
        const markers = await markersOn(cluster.dataDirs[id - 1]!, p, producerId)
        // A marker may be written twice (a round retried after a leader's answer was lost): harmless, as in Kafka.
        t.ok(markers.every((m) => m.commit === commit), `broker ${id}, partition ${p}: ${commit ? 'commit' : 'abort'} markers only (${markers.length})`)
        t.ok(markers.every((m) => m.coordinatorEpoch > dead.epoch), `broker ${id}, partition ${p}: every one written by the next coordinator (epochs ${markers.map((m) => m.coordinatorEpoch).join(',')} > ${dead.epoch})`)
      }
    }
  }

  await t.test('killed after PrepareCommit: the next coordinator commits; read_committed sees it whole', async (t) => {
    const { dead, producerId } = await crashAtEnd(t, 'crash-commit', true)
    await waitFor(() => seen(committed, 'crash-commit') === PARTITIONS * 2, { what: 'read_committed to see the committed transaction', timeoutMs: 30_000 })
    t.equal(seen(committed, 'crash-commit'), PARTITIONS * 2, 'read_committed sees all 6 records of the transaction')
    await checkMarkers(t, producerId, true, dead)
    // Back in the cluster (with the same failpoints: no id of this test prepares twice).
    await cluster.startBroker(dead.nodeId)
    await cluster.waitForBrokers(cluster.ids)
    await waitForFullIsr(cluster, TOPIC, PARTITIONS)
  })

  await t.test('killed after PrepareAbort: the next coordinator aborts; read_committed never sees it, and sees what follows', async (t) => {
    const { dead, producerId } = await crashAtEnd(t, 'crash-abort', false)
    await checkMarkers(t, producerId, false, dead)
    // Committed after it on the same partitions: visible only once every abort marker is written
    // (until then the aborted transaction holds the last stable offset back).
    const next = strand.producer({ transactionalId: 'after-crash', lingerMs: 1 })
    t.teardown(() => next.close())
    await next.transaction(async (tx) => {
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => tx.send({ topic: TOPIC, messages: [{ partition: p, value: `after-crash-${p}-a` }, { partition: p, value: `after-crash-${p}-b` }] })))
    })
    await waitFor(() => seen(committed, 'after-crash') === PARTITIONS * 2, { what: 'read_committed to see the transaction after the aborted one', timeoutMs: 30_000 })
    t.equal(seen(committed, 'crash-abort'), 0, 'read_committed never saw a record of the aborted transaction')
    t.equal(seen(uncommitted, 'crash-abort'), PARTITIONS * 2, 'read_uncommitted did (the records are in the log)')
  })

  await t.test("killed once the next transaction began beside the previous one's markers: the next coordinator writes them, then the next one's, in order", async (t) => {
    const dead = cluster.ids.find((id) => cluster.brokers[id - 1] === null)
    if (dead !== undefined) {
      await cluster.startBroker(dead)
      await cluster.waitForBrokers(cluster.ids)
      await waitForFullIsr(cluster, TOPIC, PARTITIONS)
    }
    const before = await coordinatorOf(cluster, 'crash-owed', cluster.ids[0]!)
    const producer = strand.producer({ transactionalId: 'crash-owed', lingerMs: 1 })
    t.teardown(() => producer.close())
    await producer.initTransactions()
    const sendAll = (tx: { send: Producer['send'] }, txn: string) => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => tx.send({ topic: TOPIC, messages: [{ partition: p, value: `${txn}-${p}-a` }, { partition: p, value: `${txn}-${p}-b` }] })))
    // N: committed (EndTxn answered once PrepareCommit is durable); the failpoint holds its markers back.
    await producer.transaction((tx) => sendAll(tx, 'owed-n'))
    t.equal(seen(committed, 'owed-n'), 0, 'its markers are held back: read_committed sees nothing of N yet')
    // N+1 begins beside them: its Ongoing record names N's markers owed, and the coordinator dies once it is durable.
    const running = cluster.ids.filter((id) => cluster.brokers[id - 1] !== null)
    const next = producer.transaction((tx) => sendAll(tx, 'owed-n1'))
    next.catch(() => undefined)
    const died = await waitForExit(cluster, running, EXIT_TIMEOUT_MS)
    t.equal(died.signal, 'SIGKILL', `broker ${died.nodeId}, the coordinator, died by SIGKILL`)
    t.ok(cluster.broker(died.nodeId).output.some((l) => l.includes('failpoint txn.owed:crash-owed reached')), "at the failpoint: N+1's first record written, N's markers not sent")
    cluster.brokers[died.nodeId - 1] = null
    await next
    t.pass('the next transaction committed at the next coordinator')
    await waitFor(() => seen(committed, 'owed-n') === PARTITIONS * 2 && seen(committed, 'owed-n1') === PARTITIONS * 2, { what: 'read_committed to see both transactions', timeoutMs: 30_000 })
    t.pass('read_committed sees both transactions whole')
    // On disk, independently of the broker: on every live replica of every partition N's commit
    // marker (N's epoch, from the next coordinator) lies before N+1's first record, and N+1's
    // commit marker (the next epoch) after its last.
    const producerId = await producerIdOf(cluster, 'owed-n-0-a')
    for (const id of cluster.ids.filter((i) => i !== died.nodeId)) {
      for (let p = 0; p < PARTITIONS; p++) {
        const order = await waitFor(async () => {
          const seq = await batchesOf(cluster.dataDirs[id - 1]!, p, producerId)
          return seq.filter((b) => b.marker).length >= 2 ? seq : false
        }, { what: `both markers on broker ${id}, partition ${p}`, timeoutMs: 30_000 })
        const first = order.findIndex((b) => b.values.includes(`owed-n1-${p}-a`))
        const nData = order.findIndex((b) => b.values.includes(`owed-n-${p}-a`))
        const nMarker = order.findIndex((b, i) => b.marker && i > nData)
        t.ok(nData >= 0 && nMarker > nData && nMarker < first, `broker ${id}, partition ${p}: N's records (epoch ${order[nData]?.epoch}), N's marker (written at epoch ${order[nMarker]?.epoch}), then N+1's records (epoch ${order[first]?.epoch})`)
        t.ok(order[nMarker]!.commit && order[nMarker]!.coordinatorEpoch > before.epoch, `a commit, written by the next coordinator (coordinator epoch ${order[nMarker]!.coordinatorEpoch} > ${before.epoch})`)
        t.ok(order.slice(first + 1).some((b) => b.marker && b.commit), "N+1's commit marker after its records")
      }
    }
  })
})
