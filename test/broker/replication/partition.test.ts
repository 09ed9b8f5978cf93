import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { encodeBatch } from '../../../client/protocol/records.js'
import { DEFAULT_BROKER_CONFIG } from '../../../broker/config.js'
import { LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache } from '../../../broker/replication/leader-epoch-cache.js'
import { Partition, type LagSink, type PartitionState } from '../../../broker/replication/partition.js'
import { parseTopicConfig } from '../../../broker/topic-config.js'
import { ManualClock, openLog, silentLogger, tempDir } from '../../helpers/log.js'

const ME = 1

async function partitionIn(t: { teardown(fn: () => unknown): void }, state: PartitionState, clock = new ManualClock(), options: { fsync?: boolean } = {}): Promise<Partition> {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { clock: clock.now, config: { fsync: options.fsync ?? false } })
  t.teardown(() => log.close())
  const epochs = await LeaderEpochCache.load(dir, silentLogger)
  return new Partition({ topic: 't', index: 0, log, epochs, config: parseTopicConfig(DEFAULT_BROKER_CONFIG, {}), nodeId: ME, highWatermark: 0n, state, clock: clock.now, lagClock: clock.now })
}

function batch(baseOffset: bigint, leaderEpoch: number, count: number): Buffer {
  return encodeBatch(Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`v${i}`) })), { timestamp: 1, baseOffset, partitionLeaderEpoch: leaderEpoch })
}

const entries = (p: Partition): [number, bigint][] => p.epochs.entries().map((e) => [e.epoch, e.startOffset])

t.test('a follower of a new partition (epoch 0, empty log) writes its first epoch entry before fetching', async (t) => {
  const p = await partitionIn(t, { leader: 2, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] })
  p.becomeFollower(p.state)
  await p.prepareToFollow(0)
  t.same(entries(p), [[0, 0n]])
  t.equal(await readFile(path.join(p.log.dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8'), '0\n1\n0 0\n', 'and it is on disk')
  await p.appendAsFollower(batch(0n, 0, 3))
  t.same(entries(p), [[0, 0n]], 'the first batch, of epoch 0 at offset 0, is what the entry said')
  t.equal(p.logEndOffset, 3n)
})

t.test('the entry written ahead gives way when the first batch turns out to be of a later epoch', async (t) => {
  const p = await partitionIn(t, { leader: 2, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] })
  p.becomeFollower(p.state)
  await p.prepareToFollow(0)
  // Broker 2 never wrote under epoch 0; broker 3 led epoch 2 from offset 0.
  await p.appendAsFollower(batch(0n, 2, 2))
  t.same(entries(p), [[2, 0n]])
})

t.test('nothing is written ahead where the first epoch is not certain', async (t) => {
  const later = await partitionIn(t, { leader: 2, leaderEpoch: 4, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] })
  await later.prepareToFollow(4)
  t.same(entries(later), [], 'a partition past its first epoch: its records may carry any earlier one')

  const written = await partitionIn(t, { leader: 2, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] })
  await written.log.append(batch(0n, 0, 1), { assignOffsets: false })
  await written.prepareToFollow(0)
  t.same(entries(written), [], 'a log that already has records (written before epochs were kept)')
})

t.test('the leader\'s high watermark waits for the ISR and for members being added to it', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2] }, clock)
  await p.becomeLeader(p.state, clock.now())
  await p.appendAsLeader(batch(0n, 0, 10))
  t.equal(p.recordFollowerFetch(2, 6n, clock.now()), true)
  t.equal(p.highWatermark, 6n, 'broker 3 is not in the ISR')
  p.pendingIsr = [1, 2, 3]
  t.equal(p.recordFollowerFetch(2, 10n, clock.now()), false, 'broker 3 is being added and has not fetched yet')
  t.equal(p.highWatermark, 6n)
  p.recordFollowerFetch(3, 8n, clock.now())
  t.equal(p.highWatermark, 8n, 'the smallest log end offset over the ISR and the member being added')
  p.pendingIsr = null
  t.equal(p.maybeAdvanceHighWatermark(), true)
  t.equal(p.highWatermark, 10n)
})

t.test('with fsync: always the leader counts toward its high watermark only what it has fsynced', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2], isr: [1, 2] }, clock, { fsync: true })
  await p.becomeLeader(p.state, clock.now())
  await p.appendAsLeader(batch(0n, 0, 2))
  t.ok(p.log.recoveryPoint >= 2n, 'an append (acks=1) is answered once fsynced')
  t.equal(p.recordFollowerFetch(2, 2n, clock.now()), true)
  t.equal(p.highWatermark, 2n)
  const appended = p.log.append(batch(0n, 0, 3), { assignOffsets: true, leaderEpoch: 0 })
  // Serialized behind that append's write, a no-op truncation resolves before its fsync can.
  await p.log.truncateTo(p.log.logEndOffset + 100n)
  t.equal(p.logEndOffset, 5n, 'written')
  t.equal(p.log.durableEndOffset, 2n, 'not fsynced yet')
  t.equal(p.recordFollowerFetch(2, 5n, clock.now()), false, 'the follower has it all')
  t.equal(p.highWatermark, 2n, 'and the high watermark waits for the leader\'s fsync')
  await appended
  t.equal(p.maybeAdvanceHighWatermark(), true)
  t.equal(p.highWatermark, 5n)
})

t.test('role changes hold the controller\'s invariants: a leader is in its ISR, and the leader epoch never goes back', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: 2, leaderEpoch: 3, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] }, clock)
  p.becomeFollower(p.state)
  await t.rejects(p.becomeLeader({ ...p.state, leader: ME, leaderEpoch: 4, isr: [2, 3] }, clock.now()), /only from inside its ISR/)
  await t.rejects(p.becomeLeader({ ...p.state, leader: ME, leaderEpoch: 2 }, clock.now()), /goes back from 3 to 2/)
  t.throws(() => p.becomeFollower({ ...p.state, leaderEpoch: 1 }), /goes back from 3 to 1/)
  t.equal(p.isLeader, false, 'refused changes change nothing')
  await p.becomeLeader({ ...p.state, leader: ME, leaderEpoch: 4 }, clock.now())
  t.equal(p.isLeader, true)
  t.equal(p.leaderEpoch, 4)
})

t.test('a follower fetch reports its lag: records behind, and ms since each append it now has', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2], isr: [1, 2] }, clock)
  await p.becomeLeader(p.state, clock.now())
  await p.appendAsLeader(batch(0n, 0, 4)) // offsets 0-3 at +0 ms
  clock.nowMs += 5
  await p.appendAsLeader(batch(0n, 0, 4)) // offsets 4-7 at +5 ms
  clock.nowMs += 7
  const seen: string[] = []
  const lag: LagSink = { ms: (f, ms) => seen.push(`${f}: ${ms} ms`), offsets: (f, n) => seen.push(`${f}: ${n} behind`) }
  p.recordFollowerFetch(2, 4n, clock.now(), lag)
  t.same(seen, ['2: 4 behind', '2: 12 ms'], 'the first append is confirmed, 12 ms after it was made')
  seen.length = 0
  p.recordFollowerFetch(2, 8n, clock.now(), lag)
  t.same(seen, ['2: 0 behind', '2: 7 ms'], 'then the second, and the first is not reported again')
})

t.test('acks=all produces waiting when leadership moves fail with NOT_LEADER_OR_FOLLOWER', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2], isr: [1, 2] }, clock)
  await p.becomeLeader(p.state, clock.now())
  const appended = await p.appendAsLeader(batch(0n, 0, 2))
  const waiting = p.waitForCommit(appended.lastOffset + 1n, 60_000)
  t.equal(p.ackWaiterCount, 1)
  p.becomeFollower({ ...p.state, leader: 2, leaderEpoch: 1 })
  await t.rejects(waiting, { code: 'NOT_LEADER_OR_FOLLOWER', message: /no longer leads t-0; broker 2 does at epoch 1/ })
  t.equal(p.ackWaiterCount, 0)
  p.becomeFollower({ ...p.state, leader: 2, leaderEpoch: 1 }) // again, with nothing waiting: nothing to fail
})

/** A lease the test holds or lets lapse. */
class TestLease {
  held = true
  valid(): boolean {
    return this.held
  }
}

async function leaseLeader(t: { teardown(fn: () => unknown): void }, lease: TestLease): Promise<{ p: Partition; clock: ManualClock }> {
  const clock = new ManualClock()
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { clock: clock.now })
  t.teardown(() => log.close())
  const epochs = await LeaderEpochCache.load(dir, silentLogger)
  const state = { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2], isr: [1, 2] }
  const p = new Partition({ topic: 't', index: 0, log, epochs, config: parseTopicConfig(DEFAULT_BROKER_CONFIG, {}), nodeId: ME, highWatermark: 0n, state, clock: clock.now, lagClock: clock.now, lease })
  await p.becomeLeader(state, clock.now())
  return { p, clock }
}

t.test('a leader whose lease lapsed appends nothing, freezes its high watermark and refuses consumers, but still feeds followers', async (t) => {
  const lease = new TestLease()
  const { p, clock } = await leaseLeader(t, lease)
  await p.appendAsLeader(batch(0n, 0, 5))
  p.recordFollowerFetch(2, 5n, clock.now())
  await p.appendAsLeader(batch(0n, 0, 3))
  t.equal(p.highWatermark, 5n, 'premise: committed up to 5, appended up to 8')

  lease.held = false
  await t.rejects(p.appendAsLeader(batch(0n, 0, 1)), { code: 'NOT_LEADER_OR_FOLLOWER', message: /lost contact with the controller/ })
  t.equal(p.logEndOffset, 8n, 'nothing appended')
  t.equal(p.recordFollowerFetch(2, 8n, clock.now()), false, 'a follower that has everything moves no high watermark')
  t.equal(p.highWatermark, 5n, 'frozen at 5')
  t.throws(() => p.mayHaveRecordsAt(0n, { replica: false }), { code: 'NOT_LEADER_OR_FOLLOWER' }, 'a consumer is sent to look for the leader')
  await t.rejects(p.read(0n, 1 << 20), { code: 'NOT_LEADER_OR_FOLLOWER' })
  t.throws(() => p.checkServesConsumers(), { code: 'NOT_LEADER_OR_FOLLOWER' }, 'ListOffsets from a consumer too')
  t.ok(p.mayHaveRecordsAt(5n, { replica: true }), 'a follower still reads')
  const forFollower = await p.read(5n, 1 << 20, { replica: true })
  t.ok(forFollower.records.length > 0, 'up to the log end')
  t.equal(forFollower.highWatermark, 5n, 'and learns the frozen high watermark')
  t.ok(p.isLeader, 'the image still names it leader: the role stays, leading does not act')

  lease.held = true
  t.equal(p.maybeAdvanceHighWatermark(), true, 'the lease back: the high watermark catches up with the ISR')
  t.equal(p.highWatermark, 8n)
  t.equal((await p.appendAsLeader(batch(0n, 0, 1))).baseOffset, 8n, 'and appends are taken again')
  t.ok((await p.read(0n, 1 << 20)).records.length > 0, 'and consumers served')
})

t.test('acks=all produces fail with NOT_LEADER_OR_FOLLOWER when the lease lapses, waiting or not yet', async (t) => {
  const lease = new TestLease()
  const { p } = await leaseLeader(t, lease)
  const first = await p.appendAsLeader(batch(0n, 0, 2))
  const waiting = p.waitForCommit(first.lastOffset + 1n, 60_000)
  const second = await p.appendAsLeader(batch(0n, 0, 2))
  lease.held = false
  p.leaseLapsed()
  await t.rejects(waiting, { code: 'NOT_LEADER_OR_FOLLOWER', message: /lost contact with the controller/ }, 'the waiting one at the lapse')
  t.equal(p.ackWaiterCount, 0)
  await t.rejects(p.waitForCommit(second.lastOffset + 1n, 60_000), { code: 'NOT_LEADER_OR_FOLLOWER' }, 'one appended before the lapse that starts waiting after it, at once')
  t.equal(p.ackWaiterCount, 0, 'rather than wait for its timeout')
})

t.test('batches without a producer id wait only for earlier ones of their own connection (orderKey)', async (t) => {
  const clock = new ManualClock()
  const p = await partitionIn(t, { leader: ME, leaderEpoch: 0, partitionEpoch: 0, replicas: [1], isr: [1] }, clock)
  await p.becomeLeader(p.state, clock.now())
  // A gzip batch whose records inflate to 24 MiB: validated on the thread pool, for many event-loop turns.
  const slow = (): Buffer => encodeBatch([{ value: Buffer.alloc(24 << 20) }], { timestamp: 1, compression: 'gzip' })
  const [bomb, again] = [slow(), slow()]
  const connectionA = {}
  const connectionB = {}
  const order: string[] = []
  const track = (name: string, appended: Promise<unknown>): Promise<unknown> => appended.then(() => order.push(name))
  const appends = [
    track('A: slow', p.appendAsLeader(bomb, -1, { orderKey: connectionA })),
    track('B: small', p.appendAsLeader(batch(0n, 0, 1), -1, { orderKey: connectionB })),
    track('A: slow again', p.appendAsLeader(again, -1, { orderKey: connectionA })),
    track('A: small', p.appendAsLeader(batch(0n, 0, 1), -1, { orderKey: connectionA })),
  ]
  await Promise.all(appends)
  t.same(order, ['B: small', 'A: slow', 'A: slow again', 'A: small'], "B's batch did not wait for A's; A's kept their order")
  t.equal(p.logEndOffset, 4n)
})

t.test("KIP-207: a new leader's offsets are not answered until its high watermark reaches the start of its epoch", async (t) => {
  const clock = new ManualClock()
  // A follower of epoch 0 with 5 records, 3 of them committed as far as it knows (its high watermark).
  const p = await partitionIn(t, { leader: 2, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] }, clock)
  p.becomeFollower(p.state)
  await p.appendAsFollower(batch(0n, 0, 5))
  p.updateFollowerHighWatermark(3n)
  t.doesNotThrow(() => p.checkHighWatermarkKnown(), 'a follower is not asked')
  await p.becomeLeader({ leader: ME, leaderEpoch: 1, partitionEpoch: 1, replicas: [1, 2, 3], isr: [1, 3] }, clock.now())
  t.same(entries(p).at(-1), [1, 5n], 'epoch 1 begins at the log end, 5')
  t.equal(p.highWatermark, 3n, 'the high watermark it had as a follower: behind what broker 2 may have acknowledged')
  t.throws(() => p.checkHighWatermarkKnown(), { code: 'OFFSET_NOT_AVAILABLE' })
  p.recordFollowerFetch(3, 5n, clock.now())
  t.equal(p.highWatermark, 5n, 'broker 3 has it all: the high watermark reaches the epoch start')
  t.doesNotThrow(() => p.checkHighWatermarkKnown(), 'answered from now on')
})
