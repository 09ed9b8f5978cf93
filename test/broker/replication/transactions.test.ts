// The data plane of transactions (KIP-98) in one partition: open transactions hold the last
// stable offset back, markers close them, aborts are indexed per segment (.txnindex) and survive a
// crash (the index file, or the producer-state replay restoring a lost entry) and truncation.

import { rm } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { DEFAULT_BROKER_CONFIG } from '../../../broker/config.js'
import type { LogConfig } from '../../../broker/log/config.js'
import { segmentFileName } from '../../../broker/log/segment.js'
import { LeaderEpochCache } from '../../../broker/replication/leader-epoch-cache.js'
import { Partition, type PartitionState } from '../../../broker/replication/partition.js'
import { ProducerStateManager } from '../../../broker/replication/producer-state.js'
import { parseTopicConfig } from '../../../broker/topic-config.js'
import { decodeBatches, encodeBatch, isControlBatch, readBatchHeader } from '../../../client/protocol/records.js'
import { openLog, tempDir } from '../../helpers/log.js'
import { waitFor } from '../../helpers/wait.js'

const ME = 1
const SOLO: PartitionState = { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [ME], isr: [ME] }

async function partitionAt(t: { teardown(fn: () => unknown): void }, dir: string, config: Partial<LogConfig> = {}): Promise<Partition> {
  const { log } = await openLog(dir, { config })
  t.teardown(() => log.close())
  const epochs = await LeaderEpochCache.load(dir, (await import('../../helpers/log.js')).silentLogger)
  const p = new Partition({ topic: 't', index: 0, log, epochs, config: parseTopicConfig(DEFAULT_BROKER_CONFIG, {}), nodeId: ME, highWatermark: 0n, state: SOLO })
  await p.becomeLeader(SOLO, 0)
  await p.producerStateLoaded()
  return p
}

const txnBatch = (producerId: bigint, baseSequence: number, values: string[]): Buffer =>
  encodeBatch(values.map((v) => ({ value: v })), { timestamp: 1, producerId, producerEpoch: 0, baseSequence, transactional: true })
/** A transactional producer's append: its request names its transactional id. */
const appendTxn = (p: Partition, batch: Buffer) => p.appendAsLeader(batch, -1, { transactionalId: 'tx' })
const plainBatch = (values: string[]): Buffer => encodeBatch(values.map((v) => ({ value: v })), { timestamp: 1 })
const marker = (producerId: bigint, commit: boolean) => ({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 1, timestampMs: 1 })

t.test('producer state: a transactional batch opens, a marker closes, the oldest open bounds stability', async (t) => {
  const s = new ProducerStateManager()
  const h = (producerId: bigint, baseSequence: number, transactional: boolean) => ({ producerId, producerEpoch: 0, baseSequence, lastOffsetDelta: 1, attributes: transactional ? 0x10 : 0 })
  s.record(h(1n, 0, false), 0n)
  t.equal(s.firstUnstableOffset, null, 'idempotent, not transactional: nothing open')
  s.record(h(2n, 0, true), 2n)
  s.record(h(3n, 0, true), 4n)
  s.record(h(2n, 2, true), 6n)
  t.equal(s.firstUnstableOffset, 2n, 'the oldest open transaction starts at its first batch')
  t.same(s.recordMarker({ producerId: 2n, producerEpoch: 0 }, 8n, false), { producerId: 2n, firstOffset: 2n, lastOffset: 8n, commit: false })
  t.equal(s.firstUnstableOffset, 4n, 'closing it moves stability to the next open one')
  t.equal(s.recordMarker({ producerId: 9n, producerEpoch: 0 }, 9n, true), null, 'a marker with nothing open closes nothing')
  t.throws(() => s.checkMarker(3n, -1), { code: 'INVALID_PRODUCER_EPOCH' }, 'a marker older than the producer epoch is fenced')
  s.recordMarker({ producerId: 3n, producerEpoch: 0 }, 10n, true)
  t.equal(s.firstUnstableOffset, null)
})

t.test('the last stable offset, read_committed reads and aborted transactions', async (t) => {
  const p = await partitionAt(t, await tempDir(t))
  await appendTxn(p, txnBatch(10n, 0, ['a0', 'a1'])) // 0-1, to abort
  await p.appendAsLeader(plainBatch(['p2'])) // 2
  await appendTxn(p, txnBatch(11n, 0, ['c3'])) // 3, to commit
  t.equal(p.highWatermark, 4n)
  t.equal(p.lastStableOffset, 0n, 'held at the oldest open transaction')
  const none = await p.read(0n, 1 << 20, { committed: true })
  t.equal(none.records.length, 0, 'read_committed reads nothing past the LSO')
  const abort = await p.appendTxnMarker(marker(10n, false)) // 4
  t.equal(abort.baseOffset, 4n)
  t.equal(p.lastStableOffset, 3n, 'the abort closes producer 10; producer 11 still holds it at 3')
  await p.appendTxnMarker(marker(11n, true)) // 5
  t.equal(p.lastStableOffset, 6n, 'all decided: the LSO is the high watermark')
  const r = await p.read(0n, 1 << 20, { committed: true })
  t.equal(r.lastStableOffset, 6n)
  t.same(r.abortedTransactions, [{ producerId: 10n, firstOffset: 0n }], 'the aborted transaction overlapping the read')
  const batches = decodeBatches(r.records).batches
  t.same(batches.filter((b) => isControlBatch(b.header)).map((b) => b.header.baseOffset), [4n, 5n], 'markers are control batches at their offsets')
  t.equal((await p.read(5n, 1 << 20, { committed: true })).abortedTransactions, null, 'a read past the marker overlaps no aborted transaction')
  await t.rejects(p.appendTxnMarker({ ...marker(10n, true), producerEpoch: -1 }), { code: 'INVALID_PRODUCER_EPOCH' })
  await t.rejects(p.appendAsLeader(encodeBatch([{ value: 'x' }], { timestamp: 1, control: true })), { code: 'INVALID_RECORD' }, 'clients cannot produce control batches')
})

t.test('the txnindex survives a crash, is restored by the replay when lost, and is truncated with the log', async (t) => {
  const dir = await tempDir(t)
  const p = await partitionAt(t, dir)
  await appendTxn(p, txnBatch(20n, 0, ['x0', 'x1']))
  await p.appendTxnMarker(marker(20n, false)) // 2
  await appendTxn(p, txnBatch(21n, 0, ['y3'])) // 3, left open
  // "Kill": reopen the directory without closing the first log (no clean shutdown).
  const again = await partitionAt(t, dir)
  t.same(again.log.abortedTxns(0n, 10n).map((e) => [e.producerId, e.firstOffset, e.lastOffset]), [[20n, 0n, 2n]], 'the index file is loaded')
  t.equal(again.lastStableOffset, 3n, 'the open transaction is rebuilt from the log')
  await rm(path.join(dir, segmentFileName(0n, '.txnindex')))
  const restored = await partitionAt(t, dir)
  t.same(restored.log.abortedTxns(0n, 10n).map((e) => [e.producerId, e.firstOffset, e.lastOffset]), [[20n, 0n, 2n]], 'a lost index entry is restored by the replay')
  restored.becomeFollower({ ...SOLO, leader: 2, leaderEpoch: 1 })
  await restored.truncateTo(2n)
  t.same(restored.log.abortedTxns(0n, 10n), [], 'truncating the marker away drops its entry')
  const afterTruncate = await partitionAt(t, dir)
  t.same(afterTruncate.log.abortedTxns(0n, 10n), [], 'and the file agrees')
  t.equal(afterTruncate.lastStableOffset, 0n, 'producer 20 is open again: its marker is gone')
})

t.test('compaction keeps a committed record whose key an aborted transaction wrote later, and stops at the LSO', async (t) => {
  const { cleanLog } = await import('../../../broker/log/compaction.js')
  const { cleanOptions, readRecords } = await import('../../helpers/compaction.js')
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { cleanupPolicy: 'compact', segmentBytes: 600, indexIntervalBytes: 100 } })
  t.teardown(() => log.close())
  const epochs = await LeaderEpochCache.load(dir, (await import('../../helpers/log.js')).silentLogger)
  const p = new Partition({ topic: 't', index: 0, log, epochs, config: parseTopicConfig(DEFAULT_BROKER_CONFIG, {}), nodeId: ME, highWatermark: 0n, state: SOLO })
  await p.becomeLeader(SOLO, 0)
  await p.producerStateLoaded()
  const keyed = (producerId: bigint, value: string): Buffer => encodeBatch([{ key: 'k', value }], { timestamp: 1, producerId, producerEpoch: 0, baseSequence: 0, transactional: true })
  await appendTxn(p, keyed(20n, 'committed')) // 0
  await p.appendTxnMarker(marker(20n, true)) // 1
  await appendTxn(p, keyed(21n, 'aborted')) // 2
  await p.appendTxnMarker(marker(21n, false)) // 3
  await appendTxn(p, keyed(22n, 'open')) // 4: never ended
  while (log.segmentCount < 4) await p.appendAsLeader(encodeBatch([{ key: `filler-${log.logEndOffset}`, value: 'f' }], { timestamp: 1 }))
  t.equal(p.lastStableOffset, 4n, 'the open transaction holds the last stable offset at 4')
  await cleanLog(log, cleanOptions(() => 1, { upperBoundOffset: p.lastStableOffset }))
  const values = (await readRecords(log)).filter((r) => r.key === 'k').map((r) => r.value)
  t.ok(values.includes('committed'), `the committed value of k survives the aborted one written after it (k now: ${values.join(', ')})`)
  t.ok(values.includes('open'), 'the open transaction\'s record, past the LSO, is not cleaned')
})

t.test('a marker from a deposed coordinator (an older coordinator epoch) is fenced', async (t) => {
  const s = new ProducerStateManager()
  const h = (baseSequence: number, producerEpoch = 0) => ({ producerId: 7n, producerEpoch, baseSequence, lastOffsetDelta: 0, attributes: 0x10 })
  s.record(h(0), 0n)
  t.doesNotThrow(() => s.checkMarker(7n, 0, 3), 'the first marker, from coordinator epoch 3')
  s.recordMarker({ producerId: 7n, producerEpoch: 0 }, 1n, true, 3)
  s.record(h(1), 2n) // the next transaction opens
  t.throws(() => s.checkMarker(7n, 0, 2), { code: 'TRANSACTION_COORDINATOR_FENCED' }, 'a late marker from coordinator epoch 2 cannot close it')
  t.doesNotThrow(() => s.checkMarker(7n, 0, 3), 'the current coordinator may write again (a retried marker)')
  s.record(h(0, 1), 3n) // the producer's epoch bumps
  t.throws(() => s.checkMarker(7n, 1, 2), { code: 'TRANSACTION_COORDINATOR_FENCED' }, 'the coordinator epoch is kept across a producer epoch bump')
})

t.test("a batch of the producer's next transaction (a newer epoch) waits for the previous one's marker and lands after it", async (t) => {
  const p = await partitionAt(t, await tempDir(t))
  const at = (epoch: number, values: string[]) => encodeBatch(values.map((v) => ({ value: v })), { timestamp: 1, producerId: 20n, producerEpoch: epoch, baseSequence: 0, transactional: true })
  await appendTxn(p, at(0, ['n0', 'n1'])) // 0-1: transaction N at epoch 0, its marker not written yet
  t.ok(p.producers.awaitsMarker(readBatchHeader(at(1, ['m']), 0)), 'epoch 1 with epoch 0 open: waits')
  t.notOk(p.producers.awaitsMarker(readBatchHeader(at(0, ['m']), 0)), 'the open epoch itself does not')
  let landed: bigint | null = null
  const next = appendTxn(p, at(1, ['m2'])).then((r) => (landed = r.baseOffset))
  await waitFor(() => p.appendsAwaitingMarker === 1, { timeoutMs: 5000, what: 'the append to wait for the marker' })
  t.equal(landed, null, 'held while the previous transaction is open')
  t.equal(p.log.logEndOffset, 2n, 'not in the log')
  // N's marker closes epoch 0 and is written at the next epoch, 1 (an epoch per transaction).
  const m = await p.appendTxnMarker({ ...marker(20n, true), producerEpoch: 1, transactionEpoch: 0 })
  t.equal(m.baseOffset, 2n, 'the marker lands first')
  await next
  t.equal(landed, 3n, 'then the next transaction, after the marker')
  t.equal(p.lastStableOffset, 3n, 'the next transaction is open from its own first offset')
  await t.rejects(p.appendTxnMarker({ ...marker(20n, true), producerEpoch: 1, transactionEpoch: 0 }), { code: 'INVALID_PRODUCER_EPOCH' }, "the previous transaction's marker sent again is refused: it cannot close the next one")
  t.equal(p.lastStableOffset, 3n)
})

t.test("a late batch of a closed transaction (delayed past its abort) is fenced by the marker's next epoch: no transaction nobody closes", async (t) => {
  const p = await partitionAt(t, await tempDir(t))
  const at = (epoch: number, seq: number, values: string[]) => encodeBatch(values.map((v) => ({ value: v })), { timestamp: 1, producerId: 21n, producerEpoch: epoch, baseSequence: seq, transactional: true })
  await appendTxn(p, at(0, 0, ['a0'])) // 0: transaction N at epoch 0
  await p.appendTxnMarker({ ...marker(21n, false), producerEpoch: 1, transactionEpoch: 0 }) // 1: aborted, written at epoch 1
  t.equal(p.lastStableOffset, 2n, 'nothing open')
  // N's second batch, sent before the abort and delivered after it.
  await t.rejects(appendTxn(p, at(0, 1, ['late'])), { code: 'INVALID_PRODUCER_EPOCH' })
  t.equal(p.lastStableOffset, 2n, 'still nothing open: read_committed consumers are not held back')
  t.equal(p.log.logEndOffset, 2n, 'the late batch is not in the log')
  t.same((await appendTxn(p, at(1, 0, ['b0']))).baseOffset, 2n, 'the next transaction, at epoch 1, appends from sequence 0')
})

t.test('the producer state refuses a next-transaction batch still before the marker (the wait ran out)', async (t) => {
  const s = new ProducerStateManager()
  const h = (epoch: number, baseSequence: number) => ({ producerId: 5n, producerEpoch: epoch, baseSequence, lastOffsetDelta: 0, attributes: 0x10 })
  s.record(h(3, 0), 0n)
  t.throws(() => s.check(h(4, 0)), { code: 'CONCURRENT_TRANSACTIONS' })
  t.throws(() => s.checkEpoch(h(4, 0)), { code: 'CONCURRENT_TRANSACTIONS' }, "a coordinator's batch (TxnOffsetCommit) too")
  s.recordMarker({ producerId: 5n, producerEpoch: 3 }, 1n, true)
  t.same(s.check(h(4, 0)), { kind: 'append' }, 'after the marker it appends, from sequence 0')
})

t.test('with fsync: always, two abort markers placed while the first waits for its fsync both reach the .txnindex', async (t) => {
  const p = await partitionAt(t, await tempDir(t), { fsync: true })
  await appendTxn(p, txnBatch(30n, 0, ['x0'])) // 0
  await appendTxn(p, txnBatch(31n, 0, ['y1'])) // 1
  // The second marker is written while the first waits for its fsync round (group commit).
  await Promise.all([p.appendTxnMarker(marker(30n, false)), p.appendTxnMarker(marker(31n, false))])
  // The log's own index (what a restart reads), not the partition's in-memory pending list.
  t.same(p.log.abortedTxns(0n, p.log.logEndOffset).map((e) => e.producerId).sort(), [30n, 31n], 'each abort in the .txnindex')
})

t.test('a waiting batch woken by a reset of producer state asks the replayed state again: it still waits for the marker', async (t) => {
  const p = await partitionAt(t, await tempDir(t))
  const at = (epoch: number, values: string[]) => encodeBatch(values.map((v) => ({ value: v })), { timestamp: 1, producerId: 40n, producerEpoch: epoch, baseSequence: 0, transactional: true })
  await appendTxn(p, at(0, ['n0'])) // 0: transaction N, open
  let landed: bigint | null = null
  const next = appendTxn(p, at(1, ['m1'])).then((r) => (landed = r.baseOffset))
  await waitFor(() => p.appendsAwaitingMarker === 1, { timeoutMs: 5000, what: 'the append to wait for the marker' })
  // A truncation that removes nothing still resets producer state (it is replayed from the log).
  await p.truncateTo(p.log.logEndOffset)
  await waitFor(() => p.appendsAwaitingMarker === 1, { timeoutMs: 5000, what: 'the woken append to wait again, on the replayed state' })
  t.equal(landed, null, 'not appended: N is still open in the log')
  const m = await p.appendTxnMarker({ ...marker(40n, true), producerEpoch: 0 })
  await next
  t.ok(landed !== null && landed > m.baseOffset, `N+1 lands after N's marker (${landed} > ${m.baseOffset})`)
})
