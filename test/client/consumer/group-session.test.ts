// The consumer's group session on its own (client/consumer/group-session.ts), wired to the real
// subscription state, hand-out and fetcher it works with, against one real broker embedded in this
// process (startBroker on an OS-chosen port and a temp dir; its group coordinator and
// __consumer_offsets are the real ones).
//
// What it proves: subscribe() installs each partition at the group's committed offset, else at the
// log start or end (fromBeginning); commits (of positions, of a batch, of named offsets) land in the
// group and show in lag(); transactionOffsets() names the member's generation; and a rebalance
// waits for the batch in hand, commits what was processed, calls onRevoked, and only then lets the
// partition's next owner start, right after the processed batch.

import t from 'tap'
import { startBroker } from '../../../broker/broker.js'
import { Cluster, type RetryOptions } from '../../../client/cluster.js'
import { Fetcher } from '../../../client/consumer/fetcher.js'
import { GroupSession, type GroupSessionOptions } from '../../../client/consumer/group-session.js'
import { HandOut } from '../../../client/consumer/hand-out.js'
import { SubscriptionState } from '../../../client/consumer/subscription-state.js'
import type { ConsumerBatch, TopicPartition } from '../../../client/consumer/types.js'
import { resolveAssignors } from '../../../client/group/assignors.js'
import { Strand } from '../../../client/index.js'
import { tempDir, type Teardown } from '../../helpers/broker-process.js'
import { waitFor, nextWithin } from '../../helpers/wait.js'

const RETRY: RetryOptions = { retriesMax: 20, retryBackoffMs: 20, retryBackoffMsMax: 200 }
const WAIT = { timeoutMs: 20_000, intervalMs: 5 }
const CONNECTION = { clientId: 'group-session-test', connectTimeoutMs: 5_000, requestTimeoutMs: 5_000, inflightRequestsMax: 5, frameBytesMax: 16 * 1024 * 1024 }

// Few offsets partitions: the embedded broker creates them on the first group request.
const broker = await startBroker({ dataDir: tempDir(t), port: 0, offsetsTopicPartitions: 2 })
t.teardown(() => broker.close())
const strand = new Strand({ brokers: [broker.address], clientId: 'group-session-test', retry: RETRY })
t.teardown(() => strand.close())
const admin = strand.admin()
const producer = strand.producer({ acks: 'all', lingerMs: 0 })

async function topicWith(topic: string, partitions: number, values: string[]): Promise<void> {
  await admin.createTopic({ topic, partitions, replicationFactor: 1 })
  for (let p = 0; p < partitions; p++) await producer.send({ topic, messages: values.map((value) => ({ partition: p, value })) })
}

interface Member {
  subs: SubscriptionState
  handOut: HandOut
  session: GroupSession
}

type MemberOptions = Partial<Pick<GroupSessionOptions, 'autoCommit' | 'autoCommitIntervalMs' | 'rebalanceTimeoutMs'>>

/** A group member made of the consumer's parts, wired as consumer.ts wires them; closed at teardown. */
function member(t: Teardown, groupId: string, options: MemberOptions = {}): Member {
  const cluster = new Cluster({ brokers: [broker.address], ...CONNECTION, retry: RETRY, metadataMaxAgeMs: 300_000, clock: Date.now })
  const subs = new SubscriptionState({ partitionMaxBytes: 1024 * 1024 })
  const handOut: HandOut = new HandOut({ subscriptions: subs, fetchMore: () => fetcher.pump(), onProcessed: () => session.scheduleAutoCommit() })
  const fetcher: Fetcher = new Fetcher({
    cluster,
    clock: Date.now,
    requestTimeoutMs: 5_000,
    subscriptions: subs,
    handOut,
    maxWaitMs: 100,
    minBytes: 1,
    maxBytes: 10 * 1024 * 1024,
    partitionMaxBytes: 1024 * 1024,
    autoOffsetReset: 'earliest',
    isolationLevel: 0,
  })
  const session: GroupSession = new GroupSession({
    cluster,
    clock: Date.now,
    requestTimeoutMs: 5_000,
    connection: CONNECTION,
    groupId,
    sessionTimeoutMs: 3_000,
    heartbeatIntervalMs: 100,
    rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 20_000,
    autoCommit: options.autoCommit ?? true,
    autoCommitIntervalMs: options.autoCommitIntervalMs ?? 60_000,
    assignors: resolveAssignors(undefined),
    subscriptions: subs,
    handOut,
    assign: (partitions, committed) => fetcher.assign(partitions, committed),
  })
  t.teardown(async () => {
    fetcher.close()
    handOut.close()
    await session.close()
    cluster.close()
  })
  return { subs, handOut, session }
}

/** The loop's next batch, with a deadline so a loop that never delivers fails the test instead of hanging it. */
async function nextBatch(loop: AsyncGenerator<ConsumerBatch, void, undefined>, what: string): Promise<ConsumerBatch> {
  return nextWithin(loop, what, WAIT.timeoutMs)
}

function sorted(partitions: TopicPartition[]): number[] {
  return partitions.map((p) => p.partition).sort((a, b) => a - b)
}

t.test('subscribe installs each partition at the committed offset, else at the log start or end', async (t) => {
  await topicWith('install', 3, ['a', 'b', 'c', 'd'])
  // Offsets committed by an assign() user of the group (no generation, as Kafka's standalone consumer).
  const committer = member(t, 'install-g')
  await committer.session.commit([{ topic: 'install', partition: 1, offset: 2n }])

  const installs: number[][] = []
  const a = member(t, 'install-g')
  t.equal(a.session.subscribed, false)
  await a.session.subscribe({ topics: ['install'], onAssigned: (ps) => void installs.push(sorted(ps)) })
  t.equal(a.session.subscribed, true)
  t.same(sorted(a.subs.assignment()), [0, 1, 2], 'the only member gets every partition')
  t.same(installs, [[0, 1, 2]], 'onAssigned once, with the partitions, when the assignment is in place')
  const p1 = a.subs.state({ topic: 'install', partition: 1 })
  t.same([p1.offset, p1.committed], [2n, 2n], 'a partition with a commit starts at it')
  const p0 = a.subs.state({ topic: 'install', partition: 0 })
  t.same([p0.offset, p0.reset], [null, 'latest'], 'one without starts at the log end (the default)')

  const before = a.subs.state({ topic: 'install', partition: 2 })
  await a.session.subscribe({ topics: ['install'] })
  t.equal(a.subs.state({ topic: 'install', partition: 2 }), before, 'the same subscription again changes nothing (no rebalance)')

  const b = member(t, 'install-other')
  await b.session.subscribe({ topics: ['install'], fromBeginning: true })
  const other = b.subs.state({ topic: 'install', partition: 1 })
  t.same([other.offset, other.reset], [null, 'earliest'], "another group's commits do not count; fromBeginning: the log start")
  await t.rejects(b.session.subscribe({ topics: ['install'], groupId: 'install-g' }), { code: 'INVALID_ARGUMENT', message: /in group "install-other"/ })
})

t.test('commits: a batch, named offsets and positions; lag; the generation a transaction commits as', async (t) => {
  await topicWith('commits', 1, ['a', 'b', 'c', 'd'])
  const m = member(t, 'commits-g', { autoCommit: false })
  await m.session.subscribe({ topics: ['commits'], fromBeginning: true })
  const loop = m.handOut.batches()
  t.teardown(async () => {
    await loop.return()
  })
  const batch = await nextBatch(loop, 'the first batch')
  t.equal(batch.nextOffset, 4n)
  await m.session.commit(batch)
  const [lag] = await m.session.lag()
  t.same(lag, { topic: 'commits', partition: 0, highWatermark: 4n, committed: 4n, position: 4n, lag: 0n }, 'commit(batch) commits the offset after it')
  t.equal(m.subs.state({ topic: 'commits', partition: 0 }).committed, 4n, 'and the partition remembers it')

  await m.session.commit([{ topic: 'commits', partition: 0, offset: 1n }])
  t.same((await m.session.lag()).map((l) => [l.committed, l.lag]), [[1n, 3n]], 'named offsets are committed as given')
  await m.session.commit()
  t.same((await m.session.lag()).map((l) => l.committed), [4n], 'commit() commits every position')

  const txn = m.session.transactionOffsets()
  t.equal(txn.groupId, 'commits-g')
  t.ok(txn.generationId >= 1 && txn.memberId.length > 0, `a member's generation ${txn.generationId} and id ${txn.memberId}`)
  t.same(txn.offsets, [{ topic: 'commits', partition: 0, offset: 4n }])
  const notOurs: ConsumerBatch = { topic: 'commits', partition: 0, messages: [], highWatermark: 4n, nextOffset: 4n }
  await t.rejects(m.session.commit(notOurs), { code: 'INVALID_ARGUMENT', message: /a batch this consumer handed out/ })
  await t.rejects(m.session.commit([{ topic: 'commits', partition: 0, offset: -1n }]), { code: 'INVALID_ARGUMENT' })
})

t.test('a rebalance waits for the batch in hand, commits it, then revokes; the next owner starts after it', async (t) => {
  await topicWith('rebalance', 1, ['a', 'b', 'c'])
  const revoked: Array<{ partitions: number[]; lost: boolean; committed: bigint | null }> = []
  // Auto-commit only at the revoke: its interval is longer than the test.
  const a = member(t, 'rebalance-g')
  await a.session.subscribe({
    topics: ['rebalance'],
    fromBeginning: true,
    onRevoked: (ps, info) => void revoked.push({ partitions: sorted(ps), lost: info.lost, committed: a.subs.find('rebalance', 0)?.committed ?? null }),
  })
  const loop = a.handOut.batches()
  // Teardowns run last-registered first: the hand-out is closed here so the loop, waiting for a
  // batch by then, ends before return() is asked of it.
  t.teardown(async () => {
    a.handOut.close()
    await loop.return()
  })
  const batch = await nextBatch(loop, 'the batch to hold')
  t.same(batch.messages.map((m) => m.offset), [0n, 1n, 2n])

  const b = member(t, 'rebalance-g')
  const bAssigned = b.session.subscribe({ topics: ['rebalance'], fromBeginning: true })
  await waitFor(() => a.subs.revoking, { ...WAIT, what: 'the first member to start giving its partition up' })
  t.same(revoked, [], 'onRevoked waits while the batch is in hand')
  t.equal(a.subs.find('rebalance', 0)?.committed, null, 'and nothing is committed: the batch is not processed yet')

  // The loop asks for the next batch: the one in hand counts as processed, and the revoke goes on.
  const more = loop.next()
  more.catch(() => undefined)
  await waitFor(() => revoked.length === 1, { ...WAIT, what: 'onRevoked' })
  t.same(revoked[0], { partitions: [0], lost: false, committed: 3n }, 'the processed offset was committed before onRevoked')
  await bAssigned
  await waitFor(() => !a.subs.revoking && a.subs.size + b.subs.size === 1, { ...WAIT, what: 'the partition to have one owner again' })
  const owner = a.subs.size === 1 ? a : b
  t.equal(owner.subs.position({ topic: 'rebalance', partition: 0 }), 3n, 'its next owner starts right after the processed batch')
})
