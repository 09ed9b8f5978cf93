// Consumer groups end to end, with three real broker processes: members share a topic's
// partitions evenly; a member that closes or is killed hands its partitions over without a record
// being skipped (at-least-once: every produced record is consumed at least once across the group);
// a restarted member resumes from the committed offsets; two groups read independently; a handler
// slower than the session timeout does not get its member evicted; a rebalance waits for the
// batch in hand, so a partition's new owner starts exactly where the old one stopped; pause,
// resume, lag and commits from assign() consumers; and the group carries on when its coordinator's
// broker is killed.

import t from 'tap'
import type { Consumer, ConsumerBatch, ConsumerOptions, Strand } from '../../client/index.js'
import { TestCluster } from '../helpers/cluster.js'
import { spawnGroupMember } from '../helpers/group-member.js'
import { waitFor } from '../helpers/wait.js'

/** Short group timeouts so rebalances after a crash happen within a test's patience. */
const FAST: ConsumerOptions = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, rebalanceTimeoutMs: 10_000, maxWaitMs: 100, autoCommitIntervalMs: 100 }
const WAIT = { timeoutMs: 30_000, intervalMs: 20 }

const cluster = await TestCluster.start(t, { overrides: { 'offsets.topic.num.partitions': 6 } })

interface Reader {
  /** `${partition}:${value}` of every record read, in order (duplicates kept). */
  records: string[]
  /** Offsets read per partition, in order. */
  offsets: Map<number, bigint[]>
  /** Ends the loop and waits for it. */
  stop(): Promise<void>
}

/** Runs a consuming loop in the background; `handle` may be slow (it is awaited). */
function read(consumer: Consumer, handle?: (batch: ConsumerBatch) => Promise<void>): Reader {
  let stopping = false
  const reader: Reader = { records: [], offsets: new Map(), stop: async () => undefined }
  const loop = (async () => {
    for await (const batch of consumer) {
      for (const m of batch.messages) {
        reader.records.push(`${batch.partition}:${m.value?.toString()}`)
        reader.offsets.set(batch.partition, [...(reader.offsets.get(batch.partition) ?? []), m.offset])
      }
      await handle?.(batch)
      if (stopping) break
    }
  })()
  reader.stop = async () => {
    stopping = true
    await consumer.close()
    await loop
  }
  return reader
}

async function produce(strand: Strand, topic: string, from: number, count: number, partition?: number): Promise<string[]> {
  const producer = strand.producer({ acks: 'all', lingerMs: 2 })
  try {
    const messages = Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `${topic}-${from + i}`, ...(partition === undefined ? {} : { partition }) }))
    const acks = await producer.send({ topic, messages })
    return acks.map((a, i) => `${a.partition}:${messages[i]!.value}`)
  } finally {
    await producer.close()
  }
}

function partitionsOf(c: Consumer): number[] {
  return c.assignment().map((p) => p.partition).sort((a, b) => a - b)
}

/** Every member's partitions, once they are disjoint, cover 0..n-1 and match `sizes`. */
async function waitForAssignment(members: Array<() => number[] | null>, partitions: number, sizes: number[], what: string): Promise<number[][]> {
  return waitFor(() => {
    const all = members.map((m) => m() ?? [])
    const flat = all.flat()
    const covers = flat.length === partitions && new Set(flat).size === partitions
    const shaped = JSON.stringify(all.map((a) => a.length).sort()) === JSON.stringify([...sizes].sort())
    return covers && shaped ? all : false
  }, { ...WAIT, what })
}

async function createTopic(strand: Strand, topic: string, partitions: number): Promise<void> {
  await strand.admin().createTopic({ topic, partitions, replicationFactor: 3 })
}

function missing(produced: readonly string[], ...seen: ReadonlyArray<readonly string[]>): string[] {
  const all = new Set(seen.flat())
  return produced.filter((r) => !all.has(r))
}

t.test('three members over six partitions get two each; one that closes hands its partitions over, nothing skipped', async (t) => {
  const strand = cluster.client('groups-balanced')
  const admin = strand.admin()
  await createTopic(strand, 'orders', 6)
  const consumers = [0, 1, 2].map(() => strand.consumer({ groupId: 'billing', ...FAST }))
  await Promise.all(consumers.map((c) => c.subscribe({ topics: ['orders'], fromBeginning: true })))
  const balanced = await waitForAssignment(consumers.map((c) => () => partitionsOf(c)), 6, [2, 2, 2], 'two partitions each')
  t.same(balanced.flat().sort(), [0, 1, 2, 3, 4, 5], `a balanced, disjoint assignment: ${JSON.stringify(balanced)}`)

  const d = await admin.describeGroup('billing')
  t.equal(d.state, 'Stable')
  t.equal(d.protocol, 'range', "range, the first assignor of every member's list")
  t.equal(d.protocolType, 'consumer')
  t.same(d.members.map((m) => m.assignment.length), [2, 2, 2], 'describeGroup shows each member with two partitions')
  t.ok(d.members.every((m) => JSON.stringify(m.topics) === '["orders"]'), 'and its subscription')
  await t.rejects(admin.describeGroup('no-such-group'), { code: 'GROUP_ID_NOT_FOUND' }, 'describing an unknown group says so')
  const listed = await admin.listGroups()
  t.ok(listed.some((g) => g.groupId === 'billing' && g.protocolType === 'consumer' && g.state === 'Stable'), `listGroups has it: ${JSON.stringify(listed)}`)

  const readers = consumers.map((c) => read(c))
  const first = await produce(strand, 'orders', 0, 600)
  await waitFor(() => missing(first, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'the first 600 records read' })
  const reads = readers.flatMap((r) => r.records)
  t.equal(reads.length, 600, 'each record read once while the group is stable')
  readers.forEach((r, i) => {
    const own = new Set(partitionsOf(consumers[i]!))
    t.ok(r.records.every((x) => own.has(Number(x.split(':')[0]))), `member ${i} read only its own partitions`)
  })

  await readers[2]!.stop()
  const after = await waitForAssignment([0, 1].map((i) => () => partitionsOf(consumers[i]!)), 6, [3, 3], 'the closed member\'s partitions to move')
  t.same(after.flat().sort(), [0, 1, 2, 3, 4, 5], 'the two others share all six')
  const second = await produce(strand, 'orders', 600, 600)
  const all = [...first, ...second]
  await waitFor(() => missing(all, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'all 1200 records read' })
  t.same(missing(all, ...readers.map((r) => r.records)), [], 'every record was consumed at least once')

  const offsets = await waitFor(async () => {
    const o = await admin.groupOffsets('billing')
    return o.length === 6 && o.every((x) => x.lag === 0n) ? o : false
  }, { ...WAIT, what: 'the group to commit everything it read' })
  t.equal(offsets.reduce((n, o) => n + o.committed, 0n), 1200n, 'committed offsets add up to the records produced')
  await Promise.all(readers.slice(0, 2).map((r) => r.stop()))
})

t.test('a killed member: once its session times out the others take its partitions and read all it had not committed', async (t) => {
  const strand = cluster.client('groups-kill')
  await createTopic(strand, 'payments', 6)
  const member = spawnGroupMember(t, { brokers: cluster.bootstrap, groupId: 'ledger', topic: 'payments', sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, autoCommitIntervalMs: 100 })
  await waitFor(() => member.assignment?.length === 6, { ...WAIT, what: `the child member to own all six (output: ${member.output.slice(-3).join(' | ')})` })
  const survivors = [0, 1].map(() => strand.consumer({ groupId: 'ledger', ...FAST }))
  await Promise.all(survivors.map((c) => c.subscribe({ topics: ['payments'], fromBeginning: true })))
  await waitForAssignment([() => member.assignment, ...survivors.map((c) => () => partitionsOf(c))], 6, [2, 2, 2], 'two partitions each')
  const readers = survivors.map((c) => read(c))

  const before = await produce(strand, 'payments', 0, 300)
  await waitFor(() => missing(before, member.records, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'the first 300 records read' })
  const childRead = member.records.length
  t.ok(childRead > 0, `the child member read ${childRead} records of its partitions`)
  // More records, and the member dies while they arrive: some it reads, some it commits, some neither.
  const during = produce(strand, 'payments', 300, 300)
  await waitFor(() => member.records.length > childRead, { ...WAIT, what: 'the child to read some of the next records' })
  member.child.kill('SIGKILL')
  await member.exited
  const killedAt = Date.now()
  const after = await waitForAssignment(survivors.map((c) => () => partitionsOf(c)), 6, [3, 3], 'the killed member\'s partitions to move')
  t.same(after.flat().sort(), [0, 1, 2, 3, 4, 5], `reassigned ${Date.now() - killedAt} ms after the kill`)
  const produced = [...before, ...(await during), ...(await produce(strand, 'payments', 600, 300))]
  await waitFor(() => missing(produced, member.records, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'every record read by someone' })
  t.same(missing(produced, member.records, ...readers.map((r) => r.records)), [], 'at-least-once: every one of 900 records consumed, across the killed member and the survivors')
  await Promise.all(readers.map((r) => r.stop()))
})

t.test('a restarted member resumes from the committed offsets, not from the beginning', async (t) => {
  const strand = cluster.client('groups-resume')
  const admin = strand.admin()
  await createTopic(strand, 'resume', 3)
  const first = await produce(strand, 'resume', 0, 300)
  const a = strand.consumer({ groupId: 'sink', ...FAST })
  await a.subscribe({ topics: ['resume'], fromBeginning: true })
  const seenByA: string[] = []
  for await (const batch of a) {
    for (const m of batch.messages) seenByA.push(`${batch.partition}:${m.value?.toString()}`)
    if (seenByA.length >= 300) {
      await a.commit()
      break
    }
  }
  const lagA = await a.lag()
  t.same(lagA.map((l) => l.lag), [0n, 0n, 0n], 'lag() is 0 on every partition once all is committed')
  t.ok(lagA.every((l) => l.committed === l.highWatermark && l.position === l.highWatermark), 'committed = position = high watermark')
  await a.close()
  t.same(missing(first, seenByA), [])
  const committed = await admin.groupOffsets('sink')
  t.equal(committed.reduce((n, o) => n + o.committed, 0n), 300n, 'the group committed all 300')

  const second = await produce(strand, 'resume', 300, 300)
  const b = cluster.client('groups-resume-2').consumer({ groupId: 'sink', ...FAST })
  await b.subscribe({ topics: ['resume'], fromBeginning: true })
  const reader = read(b)
  await waitFor(() => missing(second, reader.records).length === 0, { ...WAIT, what: 'the 300 new records' })
  t.same(reader.records.filter((r) => first.includes(r)), [], 'nothing committed before the restart is read again')
  for (const o of committed) t.equal(reader.offsets.get(o.partition)?.[0], o.committed, `partition ${o.partition} resumes at its committed offset ${o.committed}`)
  // The loop asked for more after the last batch, so auto-commit at close() counts it processed.
  await reader.stop()
  const end = await admin.groupOffsets('sink')
  t.same(end.map((o) => o.lag), [0n, 0n, 0n], 'auto-commit at close() committed everything processed')
})

t.test('two groups read the same topic independently', async (t) => {
  const strand = cluster.client('groups-two')
  const admin = strand.admin()
  await createTopic(strand, 'shared', 2)
  const produced = await produce(strand, 'shared', 0, 200)
  const x = strand.consumer({ groupId: 'group-x', ...FAST })
  const y = strand.consumer({ groupId: 'group-y', ...FAST, autoCommit: false })
  await Promise.all([x.subscribe({ topics: ['shared'], fromBeginning: true }), y.subscribe({ topics: ['shared'], fromBeginning: true })])
  t.same(partitionsOf(x), [0, 1], 'each group gives its one member every partition')
  t.same(partitionsOf(y), [0, 1])
  const rx = read(x)
  const ry = read(y)
  await waitFor(() => missing(produced, rx.records).length === 0 && missing(produced, ry.records).length === 0, { ...WAIT, what: 'both groups to read everything' })
  t.equal(rx.records.length, 200)
  t.equal(ry.records.length, 200)
  const generationX = (await admin.describeGroup('group-x')).generationId
  await x.subscribe({ topics: ['shared'], fromBeginning: true })
  t.equal((await admin.describeGroup('group-x')).generationId, generationX, 'subscribing again to the same topics does not rebalance')
  await Promise.all([rx.stop(), ry.stop()])
  const ox = await admin.groupOffsets('group-x')
  t.equal(ox.reduce((n, o) => n + o.committed, 0n), 200n, 'group-x committed its progress')
  t.same(await admin.groupOffsets('group-y'), [], 'group-y (auto-commit off, no commit) has committed nothing')
  const again = strand.consumer({ groupId: 'group-y', ...FAST })
  await again.subscribe({ topics: ['shared'], fromBeginning: true })
  const ragain = read(again)
  await waitFor(() => missing(produced, ragain.records).length === 0, { ...WAIT, what: 'group-y to read everything again' })
  t.pass('group-x\'s commits did not move group-y')
  await ragain.stop()
})

t.test('a handler slower than the session timeout does not get its member evicted', async (t) => {
  const strand = cluster.client('groups-slow')
  const admin = strand.admin()
  await createTopic(strand, 'slow', 1)
  const sessionTimeoutMs = 1_000
  const c = strand.consumer({ groupId: 'slowpokes', ...FAST, sessionTimeoutMs, heartbeatIntervalMs: 100 })
  await c.subscribe({ topics: ['slow'], fromBeginning: true })
  const before = await admin.describeGroup('slowpokes')
  const firstBatch = await produce(strand, 'slow', 0, 5)
  let slowMs = 0
  let handled = 0
  const reader = read(c, async () => {
    if (handled++ > 0) return
    const startedAt = Date.now()
    // The handler's own work: 2.5 session timeouts, during which nothing but heartbeats keeps the member in.
    await waitFor(() => Date.now() - startedAt >= 2.5 * sessionTimeoutMs, { timeoutMs: 10_000, intervalMs: 50, what: 'the slow handler' })
    slowMs = Date.now() - startedAt
  })
  await waitFor(() => slowMs > 0, { ...WAIT, what: 'the slow handler to finish' })
  const later = await produce(strand, 'slow', 5, 5)
  await waitFor(() => missing([...firstBatch, ...later], reader.records).length === 0, { ...WAIT, what: 'the records after the slow batch' })
  const after = await admin.describeGroup('slowpokes')
  t.equal(after.generationId, before.generationId, `still generation ${before.generationId} after a ${slowMs} ms handler (session ${sessionTimeoutMs} ms)`)
  t.same(after.members.map((m) => m.memberId), before.members.map((m) => m.memberId), 'the same member')
  t.equal(after.state, 'Stable')
  await c.commit()
  t.pass('a commit after the slow handler is accepted (the generation is still valid)')
  await reader.stop()
})

t.test('a rebalance waits for the batch in hand: the partition\'s new owner starts right after it, nothing read twice', async (t) => {
  const strand = cluster.client('groups-handover')
  const admin = strand.admin()
  await createTopic(strand, 'handover', 2)
  const produced = [...(await produce(strand, 'handover', 0, 100, 0)), ...(await produce(strand, 'handover', 100, 100, 1))]
  const a = strand.consumer({ groupId: 'handover', ...FAST, autoCommitIntervalMs: 60_000 })
  await a.subscribe({ topics: ['handover'], fromBeginning: true })
  t.same(partitionsOf(a), [0, 1])
  let inHandler = false
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let held = false
  const ra = read(a, async () => {
    if (held) return
    held = true
    inHandler = true
    await released
  })
  await waitFor(() => inHandler, { ...WAIT, what: 'a batch in the handler' })
  const b = strand.consumer({ groupId: 'handover', ...FAST })
  const subscribed = b.subscribe({ topics: ['handover'], fromBeginning: true })
  await waitFor(async () => (await admin.describeGroup('handover')).state === 'PreparingRebalance', { ...WAIT, what: 'the rebalance to start' })
  // Give the old owner several heartbeats to hear of the rebalance: it must still not rejoin.
  const heardBy = Date.now() + 5 * FAST.heartbeatIntervalMs!
  await waitFor(() => Date.now() >= heardBy, { ...WAIT, what: 'five heartbeat intervals' })
  t.equal((await admin.describeGroup('handover')).state, 'PreparingRebalance', 'the group waits for the member whose batch is in hand')
  t.same(partitionsOf(b), [], 'the newcomer gets nothing while the batch is in hand')
  t.same(partitionsOf(a), [0, 1], 'and the old owner keeps its partitions until it finishes')
  release()
  await subscribed
  await waitForAssignment([() => partitionsOf(a), () => partitionsOf(b)], 2, [1, 1], 'one partition each')
  const rb = read(b)
  await waitFor(() => missing(produced, ra.records, rb.records).length === 0, { ...WAIT, what: 'everything read' })
  // Whichever member now owns the partition of the held batch starts right after it, and batches
  // fetched but not handed out before the revoke were dropped unread: no record is read twice.
  const reads = [...ra.records, ...rb.records]
  const twice = reads.filter((r, i) => reads.indexOf(r) !== i)
  t.same(twice, [], `the revoke committed what the old owner processed; ${reads.length} reads of ${produced.length} records`)
  await Promise.all([ra.stop(), rb.stop()])
})

t.test('pause and resume a partition; lag(); commit() from an assign() consumer with a groupId', async (t) => {
  const strand = cluster.client('groups-pause')
  const admin = strand.admin()
  await createTopic(strand, 'pausable', 2)
  const c = strand.consumer({ groupId: 'assigner', maxWaitMs: 100, autoCommit: false })
  c.assign([0, 1].map((partition) => ({ topic: 'pausable', partition, offset: 'earliest' as const })))
  c.pause([{ topic: 'pausable', partition: 0 }])
  t.same(c.paused(), [{ topic: 'pausable', partition: 0 }])
  const reader = read(c)
  const p0 = await produce(strand, 'pausable', 0, 10, 0)
  const p1 = await produce(strand, 'pausable', 10, 10, 1)
  await waitFor(() => missing(p1, reader.records).length === 0, { ...WAIT, what: 'the unpaused partition\'s records' })
  t.same(reader.records.filter((r) => p0.includes(r)), [], 'nothing of the paused partition, though it was produced first')
  c.resume([{ topic: 'pausable', partition: 0 }])
  await waitFor(() => missing(p0, reader.records).length === 0, { ...WAIT, what: 'the resumed partition\'s records' })
  t.same(c.paused(), [])

  const lagBefore = await c.lag()
  t.same(lagBefore.map((l) => [l.partition, l.highWatermark, l.committed, l.lag]), [[0, 10n, null, null], [1, 10n, null, null]], 'nothing committed yet: no lag figure')
  await c.commit([{ topic: 'pausable', partition: 0, offset: 4n }])
  await c.commit()
  const lag = await c.lag()
  t.same(lag.map((l) => [l.partition, l.committed, l.lag]), [[0, 10n, 0n], [1, 10n, 0n]], 'commit() committed both positions')
  const offsets = await admin.groupOffsets('assigner')
  t.same(offsets.map((o) => [o.partition, o.committed, o.highWatermark, o.lag]), [[0, 10n, 10n, 0n], [1, 10n, 10n, 0n]], 'the admin sees them (a commit outside the group protocol)')
  await t.rejects(strand.consumer({}).commit(), { code: 'ILLEGAL_STATE' }, 'no groupId, no commit')
  await reader.stop()
})

// Last: it kills a broker (and restarts it).
t.test('the coordinator\'s broker is killed: members find the new coordinator, keep their progress, skip nothing', async (t) => {
  const strand = cluster.client('groups-failover')
  const admin = strand.admin()
  await createTopic(strand, 'failover', 3)
  const consumers = [0, 1].map(() => strand.consumer({ groupId: 'survivors', ...FAST }))
  await Promise.all(consumers.map((c) => c.subscribe({ topics: ['failover'], fromBeginning: true })))
  await waitForAssignment(consumers.map((c) => () => partitionsOf(c)), 3, [1, 2], 'the partitions shared')
  const readers = consumers.map((c) => read(c))
  const before = await produce(strand, 'failover', 0, 300)
  await waitFor(() => missing(before, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'the first 300 records' })
  await waitFor(async () => (await admin.groupOffsets('survivors')).every((o) => o.lag === 0n), { ...WAIT, what: 'the first records committed' })
  const { coordinatorId, generationId } = await admin.describeGroup('survivors')
  await cluster.kill(coordinatorId)
  t.teardown(() => (cluster.brokers[coordinatorId - 1] === null ? cluster.startBroker(coordinatorId).then(() => undefined) : undefined))
  const after = await produce(strand, 'failover', 300, 300)
  await waitFor(() => missing(after, ...readers.map((r) => r.records)).length === 0, { ...WAIT, what: 'the records produced after the kill' })
  const d = await waitFor(async () => {
    const x = await admin.describeGroup('survivors').catch(() => null)
    return x !== null && x.state === 'Stable' && x.coordinatorId !== coordinatorId ? x : false
  }, { ...WAIT, what: 'a new coordinator with a stable group' })
  t.not(d.coordinatorId, coordinatorId, `broker ${d.coordinatorId} coordinates the group after broker ${coordinatorId} was killed (generation ${generationId} -> ${d.generationId})`)
  t.equal(d.members.length, 2, 'both members are in the group')
  const reread = readers.flatMap((r) => r.records).filter((r) => before.includes(r)).length - before.length
  // All of them were committed before the kill: whether or not the group rebalanced, none is read again.
  t.equal(reread, 0, `committed progress survived the failover: ${reread} of the first ${before.length} records read again`)
  const offsets = await waitFor(async () => {
    const o = await admin.groupOffsets('survivors').catch(() => [])
    return o.length === 3 && o.every((x) => x.lag === 0n) ? o : false
  }, { ...WAIT, what: 'everything committed through the new coordinator' })
  t.equal(offsets.reduce((n, o) => n + o.committed, 0n), 600n)
  await Promise.all(readers.map((r) => r.stop()))
  await cluster.startBroker(coordinatorId)
})
