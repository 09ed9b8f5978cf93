// The group coordinator on its own (broker/group/coordinator.ts, membership.ts, replay.ts): what a
// consumer relies on from JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and
// OffsetFetch, driven directly against a real ReplicaManager hosting `__consumer_offsets` in a
// temp dir. Partition 0 of the offsets topic is led here (an ISR of one, so every write commits as
// it is appended); partition 1 is led by broker 2, so its groups are someone else's. The
// rebalance and session timers are ManualTimers: a session expires when the test says so.

import t from 'tap'
import { errorCodeOf, type WireErrorName } from '../../../client/protocol/errors.js'
import type { JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, SyncGroupResponse } from '../../../client/protocol/messages/groups.js'
import { DEFAULT_BROKER_CONFIG } from '../../../broker/config.js'
import { GroupCoordinator, groupPartition, OFFSETS_TOPIC } from '../../../broker/group/coordinator.js'
import { ControllerChannel } from '../../../broker/metadata/controller-channel.js'
import { MetadataImage } from '../../../broker/metadata/image.js'
import type { QuorumNode } from '../../../broker/metadata/quorum.js'
import type { MetadataRecord, PartitionRecord } from '../../../broker/metadata/records.js'
import { Metrics } from '../../../broker/metrics/metrics.js'
import { ReplicaManager } from '../../../broker/replication/replica-manager.js'
import { ManualClock, silentLogger, tempDir } from '../../helpers/log.js'
import { ManualTimers } from '../../helpers/timers.js'
import { waitFor } from '../../helpers/wait.js'

const ME = 1
const OTHER = 2
const OFFSETS_PARTITIONS = 2
const SESSION_MS = 6000
const REBALANCE_MS = 10_000
const INITIAL_DELAY_MS = 3000

/** A group id whose offsets partition is `index`: groups are placed by the hash of their id. */
function groupOn(index: number, name: string): string {
  for (let i = 0; ; i++) if (groupPartition(`${name}-${i}`, OFFSETS_PARTITIONS) === index) return `${name}-${i}`
}

const code = (name: WireErrorName): number => errorCodeOf(name)

interface Fixture {
  coordinator: GroupCoordinator
  replicas: ReplicaManager
  timers: ManualTimers
  clock: ManualClock
  /** Applies a change to offsets partition `index` (the next partition epoch) and syncs the replicas with it. */
  move: (index: number, change: { leader: number; leaderEpoch: number }) => Promise<void>
}

async function coordinatorIn(t: { teardown(fn: () => unknown): void }, options: { offsetsTopic?: boolean } = {}): Promise<Fixture> {
  const dir = await tempDir(t, 'strand-groups-')
  const clock = new ManualClock()
  const timers = new ManualTimers()
  const config = { ...DEFAULT_BROKER_CONFIG, nodeId: ME, dataDir: dir, fsync: 'policy' as const }
  const replicas = await ReplicaManager.open(config, silentLogger, clock.now, new Metrics())
  t.teardown(() => replicas.close())
  const image = new MetadataImage()
  let index = 0
  const apply = (r: MetadataRecord): void => image.apply(++index, r)
  apply({ kind: 'cluster', record: { clusterId: 'c-1' } })
  apply({ kind: 'registerBroker', record: { brokerId: ME, host: '127.0.0.1', port: 1, kafkaPort: -1, incarnationId: 'inc-1' } })
  apply({ kind: 'brokerFencing', record: { brokerId: ME, fenced: false } })
  const partitions: PartitionRecord[] = [
    { topic: OFFSETS_TOPIC, partition: 0, replicas: [ME], isr: [ME], leader: ME, leaderEpoch: 0, partitionEpoch: 0 },
    { topic: OFFSETS_TOPIC, partition: 1, replicas: [OTHER], isr: [OTHER], leader: OTHER, leaderEpoch: 0, partitionEpoch: 0 },
  ]
  if (options.offsetsTopic !== false) {
    apply({ kind: 'topic', record: { name: OFFSETS_TOPIC, topicId: 'offsets', configs: [{ key: 'cleanup.policy', value: 'compact' }] } })
    for (const record of partitions) apply({ kind: 'partition', record })
  }
  // The controller is never reached: an ISR of one never changes, so no AlterPartition is sent.
  // A quorum with no leader is what a broker cut off from the controller sees.
  const noController = { leaderId: null } as unknown as QuorumNode
  replicas.attach(image, { channel: new ControllerChannel(noController, { clientId: 'test', timeoutMs: 1000, security: {} }), incarnationId: 'inc-1', security: {} })
  const coordinator = new GroupCoordinator({
    nodeId: ME,
    replicas,
    offsetsPartitions: () => image.topics.get(OFFSETS_TOPIC)?.partitions.length ?? null,
    initialRebalanceDelayMs: INITIAL_DELAY_MS,
    minSessionTimeoutMs: 1000,
    maxSessionTimeoutMs: 60_000,
    groupMaxSize: 3,
    commitTimeoutMs: 5000,
    clock: clock.now,
    timers,
    logger: silentLogger,
  })
  replicas.onLeadership((partition, leading) => coordinator.onLeadership(partition, leading))
  t.teardown(() => coordinator.close())
  await replicas.sync()
  const move = async (i: number, change: { leader: number; leaderEpoch: number }): Promise<void> => {
    const current = partitions[i]!
    const next = { ...current, ...change, partitionEpoch: current.partitionEpoch + 1 }
    partitions[i] = next
    apply({ kind: 'partition', record: next })
    await replicas.sync()
  }
  const fixture = { coordinator, replicas, timers, clock, move }
  if (options.offsetsTopic !== false) await loaded(fixture)
  return fixture
}

/** Waits until the coordinator answers for the groups of partition 0 (its load is done). */
function loaded(f: Fixture): Promise<boolean> {
  const probe = groupOn(0, 'probe')
  return waitFor(() => f.coordinator.heartbeat({ groupId: probe, generationId: 0, memberId: 'nobody', groupInstanceId: null }) === code('UNKNOWN_MEMBER_ID'), { what: 'the offsets partition to load' })
}

function joinRequest(groupId: string, memberId = '', protocols = ['range']): JoinGroupRequest {
  return { groupId, sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: REBALANCE_MS, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: protocols.map((name) => ({ name, metadata: Buffer.from(`sub-${name}`) })) }
}

/** A promise and whether it has settled yet, to check that an answer is still being held. */
function tracked<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false
  void p.then(() => (done = true), () => (done = true))
  return { promise: p, settled: () => done }
}

/** Lets the promise callbacks queued by a write settle (no timers: nothing here waits on time). */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function commitRequest(groupId: string, member: { generationId: number; memberId: string }, offsets: [topic: string, partition: number, offset: bigint][]): OffsetCommitRequest {
  const topics = [...new Set(offsets.map(([topic]) => topic))].map((name) => ({
    name,
    partitions: offsets.filter(([topic]) => topic === name).map(([, partitionIndex, committedOffset]) => ({ partitionIndex, committedOffset, committedLeaderEpoch: 3, committedMetadata: `m${committedOffset}` })),
  }))
  return { groupId, ...member, groupInstanceId: null, topics }
}

const commitCodes = (res: { topics: { partitions: { errorCode: number }[] }[] }): number[] => res.topics.flatMap((x) => x.partitions.map((p) => p.errorCode))

/** One member, joined through the initial delay and synced with `assignment`: the group is Stable at generation 1. */
async function stableGroupOfOne(f: Fixture, groupId: string, assignment = 'a0'): Promise<JoinGroupResponse> {
  const join = tracked(f.coordinator.join(joinRequest(groupId), { clientId: 'c1', clientHost: '/127.0.0.1' }))
  await drain()
  if (join.settled()) throw new Error('the first join was answered before the initial rebalance delay')
  f.timers.advance(INITIAL_DELAY_MS)
  const joined = await join.promise
  const synced = await f.coordinator.sync({ groupId, generationId: joined.generationId, memberId: joined.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: joined.memberId, assignment: Buffer.from(assignment) }] })
  if (synced.errorCode !== 0) throw new Error(`sync failed with ${synced.errorCode}`)
  return joined
}

t.test('join, sync, heartbeat and leave: one member through a whole generation', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator, timers } = f
  const groupId = groupOn(0, 'solo')
  const join = tracked(coordinator.join(joinRequest(groupId), { clientId: 'c1', clientHost: '/127.0.0.1' }))
  timers.advance(INITIAL_DELAY_MS - 1)
  await drain()
  t.notOk(join.settled(), 'an empty group waits its initial rebalance delay for more members')
  t.equal(coordinator.describe([groupId]).groups[0]?.groupState, 'PreparingRebalance')
  timers.advance(1)
  const joined = await join.promise
  t.equal(joined.errorCode, 0)
  t.equal(joined.generationId, 1, 'the first generation')
  t.equal(joined.leader, joined.memberId, 'the only member leads')
  t.match(joined.memberId, /^c1-/, 'the member id is minted from the client id')
  t.same(joined.members.map((m) => [m.memberId, m.metadata.toString()]), [[joined.memberId, 'sub-range']], 'the leader is told every member and its subscription')
  t.equal(joined.protocolName, 'range')

  const member = { groupId, generationId: 1, memberId: joined.memberId, groupInstanceId: null }
  const synced = await coordinator.sync({ ...member, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: joined.memberId, assignment: Buffer.from('p0,p1') }] })
  t.equal(synced.errorCode, 0)
  t.equal(synced.assignment.toString(), 'p0,p1', 'the leader gets the assignment it computed')
  const described = coordinator.describe([groupId]).groups[0]!
  t.equal(described.groupState, 'Stable', 'stable once the assignment is written')
  t.same(described.members.map((m) => [m.memberId, m.clientId, m.memberAssignment.toString()]), [[joined.memberId, 'c1', 'p0,p1']])

  t.equal(coordinator.heartbeat(member), 0)
  t.equal(coordinator.heartbeat({ ...member, generationId: 0 }), code('ILLEGAL_GENERATION'), 'a heartbeat of another generation')
  t.equal(coordinator.heartbeat({ ...member, memberId: 'someone-else' }), code('UNKNOWN_MEMBER_ID'))
  t.equal((await coordinator.sync({ ...member, memberId: 'someone-else', protocolType: null, protocolName: null, assignments: [] })).errorCode, code('UNKNOWN_MEMBER_ID'), 'a sync from a stranger')
  t.equal((await coordinator.sync({ ...member, generationId: 7, protocolType: null, protocolName: null, assignments: [] })).errorCode, code('ILLEGAL_GENERATION'))

  const left = coordinator.leave({ groupId, members: [{ memberId: joined.memberId, groupInstanceId: null }, { memberId: 'ghost', groupInstanceId: null }] })
  t.same(left.members.map((m) => [m.memberId, m.errorCode]), [[joined.memberId, 0], ['ghost', code('UNKNOWN_MEMBER_ID')]], 'each leaving member has its own outcome')
  t.equal(coordinator.describe([groupId]).groups[0]?.groupState, 'Empty', 'the last member left')
  t.equal(coordinator.heartbeat(member), code('UNKNOWN_MEMBER_ID'), 'a member that left is unknown')
  t.equal(timers.pending, 0, 'no session or rebalance timer outlives the members')
})

t.test('join refuses what the group cannot take', async (t) => {
  const { coordinator } = await coordinatorIn(t)
  const groupId = groupOn(0, 'limits')
  const client = { clientId: 'c', clientHost: '/127.0.0.1' }
  t.equal((await coordinator.join({ ...joinRequest(groupId), sessionTimeoutMs: 999 }, client)).errorCode, code('INVALID_SESSION_TIMEOUT'), 'below group.min.session.timeout.ms')
  t.equal((await coordinator.join({ ...joinRequest(groupId), sessionTimeoutMs: 60_001 }, client)).errorCode, code('INVALID_SESSION_TIMEOUT'), 'above group.max.session.timeout.ms')
  t.equal((await coordinator.join({ ...joinRequest(groupId), protocols: [] }, client)).errorCode, code('INCONSISTENT_GROUP_PROTOCOL'), 'no protocol at all')
  t.equal((await coordinator.join(joinRequest(groupId, 'never-joined'), client)).errorCode, code('UNKNOWN_MEMBER_ID'), 'a member id this group never gave out')
  void coordinator.join(joinRequest(groupId, '', ['range']), client)
  t.equal((await coordinator.join(joinRequest(groupId, '', ['roundrobin']), client)).errorCode, code('INCONSISTENT_GROUP_PROTOCOL'), 'no protocol in common with the members')
  void coordinator.join(joinRequest(groupId, '', ['range']), client)
  void coordinator.join(joinRequest(groupId, '', ['range']), client)
  t.equal((await coordinator.join(joinRequest(groupId, '', ['range']), client)).errorCode, code('GROUP_MAX_SIZE_REACHED'), 'group.max.size is 3')
})

t.test('a new member rebalances the group: the old generation is refused until everyone rejoins', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator } = f
  const groupId = groupOn(0, 'grow')
  const a = await stableGroupOfOne(f, groupId)
  const aAt1 = { groupId, generationId: 1, memberId: a.memberId, groupInstanceId: null }

  const bJoin = tracked(coordinator.join(joinRequest(groupId), { clientId: 'c2', clientHost: '/127.0.0.2' }))
  await drain()
  t.notOk(bJoin.settled(), 'the newcomer waits for the current members to rejoin')
  t.equal(coordinator.describe([groupId]).groups[0]?.groupState, 'PreparingRebalance')
  t.equal(coordinator.heartbeat(aAt1), code('REBALANCE_IN_PROGRESS'), 'the heartbeat tells the old member to rejoin')
  t.equal((await coordinator.sync({ ...aAt1, protocolType: null, protocolName: null, assignments: [] })).errorCode, code('REBALANCE_IN_PROGRESS'))
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(groupId, aAt1, [['orders', 0, 5n]]))), [0], 'a commit of the generation still in force is taken while members rejoin')

  const aRejoin = await coordinator.join(joinRequest(groupId, a.memberId), { clientId: 'c1', clientHost: '/127.0.0.1' })
  const b = await bJoin.promise
  t.equal(aRejoin.generationId, 2, 'everyone rejoined: the next generation forms at once')
  t.equal(b.generationId, 2)
  t.equal(aRejoin.leader, a.memberId, 'the leader stays the leader')
  t.same(aRejoin.members.map((m) => m.memberId).sort(), [a.memberId, b.memberId].sort(), 'and is told both members')
  t.same(b.members, [], 'a follower is told none')
  t.equal(coordinator.heartbeat(aAt1), code('ILLEGAL_GENERATION'), 'generation 1 is over')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(groupId, aAt1, [['orders', 0, 6n]]))), [code('ILLEGAL_GENERATION')], 'and so are its commits')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(groupId, { generationId: 2, memberId: b.memberId }, [['orders', 0, 6n]]))), [code('REBALANCE_IN_PROGRESS')], 'no commit before the new assignment is in place')

  const bSync = tracked<SyncGroupResponse>(coordinator.sync({ groupId, generationId: 2, memberId: b.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] }))
  await drain()
  t.notOk(bSync.settled(), 'a follower\'s sync waits for the leader\'s assignment')
  const aSync = await coordinator.sync({ groupId, generationId: 2, memberId: a.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: a.memberId, assignment: Buffer.from('p0') }, { memberId: b.memberId, assignment: Buffer.from('p1') }] })
  t.equal(aSync.assignment.toString(), 'p0')
  t.equal((await bSync.promise).assignment.toString(), 'p1', 'each member gets its own share')
  t.equal(coordinator.describe([groupId]).groups[0]?.groupState, 'Stable')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(groupId, { generationId: 2, memberId: b.memberId }, [['orders', 1, 9n]]))), [0])
})

t.test('a member that stops heartbeating is removed after its session timeout, and the group rebalances', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator, timers } = f
  const groupId = groupOn(0, 'expiry')
  const a = await stableGroupOfOne(f, groupId)
  const bJoin = coordinator.join(joinRequest(groupId), { clientId: 'c2', clientHost: '/127.0.0.2' })
  await coordinator.join(joinRequest(groupId, a.memberId), { clientId: 'c1', clientHost: '/127.0.0.1' })
  const b = await bJoin
  const bSync = coordinator.sync({ groupId, generationId: 2, memberId: b.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] })
  await coordinator.sync({ groupId, generationId: 2, memberId: a.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] })
  await bSync
  const aHeartbeat = { groupId, generationId: 2, memberId: a.memberId, groupInstanceId: null }

  // A heartbeats every 4 s; B, whose session was last restarted by its sync, never again.
  timers.advance(4000)
  t.equal(coordinator.heartbeat(aHeartbeat), 0)
  timers.advance(SESSION_MS - 4000 - 1)
  t.equal(coordinator.describe([groupId]).groups[0]?.members.length, 2, 'B is still a member 1 ms before its session ends')
  timers.advance(1)
  const described = coordinator.describe([groupId]).groups[0]!
  t.same(described.members.map((m) => m.memberId), [a.memberId], 'B is gone at the end of its session')
  t.equal(described.groupState, 'PreparingRebalance', 'and the group rebalances without it')
  t.equal(coordinator.heartbeat({ ...aHeartbeat, memberId: b.memberId }), code('UNKNOWN_MEMBER_ID'), 'B is told it is unknown when it comes back')
  t.equal(coordinator.heartbeat(aHeartbeat), code('REBALANCE_IN_PROGRESS'), 'A is told to rejoin')
  t.equal(coordinator.describe([groupId]).groups[0]?.members.length, 1, 'A, heartbeating, is not removed')

  const rejoined = await coordinator.join(joinRequest(groupId, a.memberId), { clientId: 'c1', clientHost: '/127.0.0.1' })
  t.equal(rejoined.generationId, 3)
  t.same(rejoined.members.map((m) => m.memberId), [a.memberId], 'the new generation has A alone')
})

t.test('a member that does not rejoin within the rebalance timeout is left out of the generation', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator, timers } = f
  const groupId = groupOn(0, 'laggard')
  const a = await stableGroupOfOne(f, groupId)
  const bJoin = tracked(coordinator.join(joinRequest(groupId), { clientId: 'c2', clientHost: '/127.0.0.2' }))
  // A keeps its session alive (a heartbeat per 5 s) but never rejoins.
  for (let elapsedMs = 0; elapsedMs + 5000 < REBALANCE_MS; elapsedMs += 5000) {
    timers.advance(5000)
    t.equal(coordinator.heartbeat({ groupId, generationId: 1, memberId: a.memberId, groupInstanceId: null }), code('REBALANCE_IN_PROGRESS'))
  }
  await drain()
  t.notOk(bJoin.settled(), 'the newcomer waits out the rebalance timeout')
  timers.advance(REBALANCE_MS - 5000)
  const b = await bJoin.promise
  t.equal(b.generationId, 2)
  t.same(b.members.map((m) => m.memberId), [b.memberId], 'the newcomer leads a generation without the member that did not rejoin')
  t.equal(coordinator.heartbeat({ groupId, generationId: 1, memberId: a.memberId, groupInstanceId: null }), code('UNKNOWN_MEMBER_ID'))
})

t.test('committed offsets are fetched back, and survive the coordinator reloading the partition', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator } = f
  const standalone = groupOn(0, 'manual')
  const outside = { generationId: -1, memberId: '' }
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(standalone, outside, [['orders', 0, 10n], ['orders', 2, 20n], ['payments', 1, 7n]]))), [0, 0, 0], 'a consumer assigning its own partitions commits into a group with no members')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(standalone, outside, [['orders', 0, 11n]]))), [0], 'a later commit replaces the earlier')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(standalone, outside, [['orders', 3, -2n]]))), [code('INVALID_COMMIT_OFFSET_SIZE')], 'an offset below -1')

  const fetched = coordinator.fetchOffsets({ groupId: standalone, topics: [{ name: 'orders', partitionIndexes: [0, 1, 2] }] })
  t.equal(fetched.errorCode, 0)
  t.same(fetched.topics[0]?.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata, p.errorCode]), [
    [0, 11n, 3, 'm11', 0],
    [1, -1n, -1, null, 0],
    [2, 20n, 3, 'm20', 0],
  ], 'each partition its latest commit; one never committed answers -1')
  const everything = (groupId: string): [string, number, bigint][] => coordinator.fetchOffsets({ groupId, topics: null }).topics.flatMap((x) => x.partitions.map((p): [string, number, bigint] => [x.name, p.partitionIndex, p.committedOffset]))
  t.same(everything(standalone), [['orders', 0, 11n], ['orders', 2, 20n], ['payments', 1, 7n]], 'topics: null fetches every committed partition')

  const member = groupOn(0, 'members')
  const a = await stableGroupOfOne(f, member, 'p0,p1')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(member, outside, [['orders', 0, 1n]]))), [code('UNKNOWN_MEMBER_ID')], 'a commit from outside into a group with members')
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(member, { generationId: 1, memberId: a.memberId }, [['orders', 0, 4n]]))), [0])

  // Leadership of the offsets partition goes (nobody leads it) and comes back: the coordinator
  // forgets its groups and rebuilds them from the partition's records.
  await f.move(0, { leader: -1, leaderEpoch: 1 })
  t.equal(coordinator.fetchOffsets({ groupId: standalone, topics: null }).errorCode, code('NOT_COORDINATOR'), 'not coordinating while not leading')
  t.equal(f.timers.pending, 0, 'the dropped group\'s session timer is stopped')
  await f.move(0, { leader: ME, leaderEpoch: 2 })
  await loaded(f)
  t.same(everything(standalone), [['orders', 0, 11n], ['orders', 2, 20n], ['payments', 1, 7n]], 'the offsets are replayed from the log')
  t.same(everything(member), [['orders', 0, 4n]])
  const reloaded = coordinator.describe([member]).groups[0]!
  t.same([reloaded.groupState, reloaded.generationId, reloaded.members.map((m) => [m.memberId, m.memberAssignment.toString()])], ['Stable', 1, [[a.memberId, 'p0,p1']]], 'and the generation with its assignment')
  t.equal(coordinator.heartbeat({ groupId: member, generationId: 1, memberId: a.memberId, groupInstanceId: null }), 0, 'its member carries on without rejoining')
  f.timers.advance(SESSION_MS)
  t.same(coordinator.describe([member]).groups[0]?.members, [], 'a reloaded member still has to heartbeat within its session')
})

t.test('transactional offsets are held until their producer\'s marker, and replay agrees', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator, replicas } = f
  const groupId = groupOn(0, 'eos')
  const txnCommit = (producerId: bigint, partitionIndex: number, offset: bigint) =>
    coordinator.txnCommitOffsets({ transactionalId: `tx-${producerId}`, groupId, producerId, producerEpoch: 0, generationId: -1, memberId: '', topics: [{ name: 'orders', partitions: [{ partitionIndex, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] }] })
  const marker = async (producerId: bigint, commit: boolean): Promise<void> => {
    // What WriteTxnMarkers does on this leader: the marker into the partition, then the coordinator told.
    const partition = replicas.partition(OFFSETS_TOPIC, 0)
    const appended = await partition.appendTxnMarker({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 0, timestampMs: 1 })
    await partition.waitForCommit(appended.lastOffset + 1n, 1000)
    coordinator.onTxnMarker(0, producerId, commit)
  }
  const orders = (partitionIndex: number): [bigint, number] => {
    const p = coordinator.fetchOffsets({ groupId, topics: [{ name: 'orders', partitionIndexes: [partitionIndex] }] }).topics[0]!.partitions[0]!
    return [p.committedOffset, p.errorCode]
  }
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(groupId, { generationId: -1, memberId: '' }, [['orders', 0, 5n]]))), [0])
  t.same(commitCodes(await txnCommit(100n, 0, 50n)), [0])
  t.same(orders(0), [-1n, code('UNSTABLE_OFFSET_COMMIT')], 'while the transaction is open the offset is unstable')
  await marker(100n, false)
  t.same(orders(0), [5n, 0], 'an abort drops the transactional offset')
  t.same(commitCodes(await txnCommit(101n, 0, 60n)), [0])
  await marker(101n, true)
  t.same(orders(0), [60n, 0], 'a commit makes it the committed offset')
  t.same(commitCodes(await txnCommit(102n, 1, 70n)), [0])
  t.same(orders(1), [-1n, code('UNSTABLE_OFFSET_COMMIT')])
  t.same(commitCodes(await coordinator.txnCommitOffsets({ transactionalId: 'x', groupId, producerId: -1n, producerEpoch: 0, generationId: -1, memberId: '', topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] }] })), [code('INVALID_PRODUCER_ID_MAPPING')], 'a transactional commit needs a producer id')

  await f.move(0, { leader: -1, leaderEpoch: 1 })
  await f.move(0, { leader: ME, leaderEpoch: 2 })
  await loaded(f)
  t.same(orders(0), [60n, 0], 'the replay applies each marker to the offsets before it: the abort dropped, the commit kept')
  t.same(orders(1), [-1n, code('UNSTABLE_OFFSET_COMMIT')], 'and an undecided transaction is still pending')
  await marker(102n, true)
  t.same(orders(1), [70n, 0], 'its commit marker, landing after the reload, commits it')
})

t.test('routing: only the groups of offsets partitions led and loaded here are answered', async (t) => {
  const f = await coordinatorIn(t)
  const { coordinator } = f
  const elsewhere = groupOn(1, 'elsewhere')
  const client = { clientId: 'c', clientHost: '/127.0.0.1' }
  const notCoordinator = code('NOT_COORDINATOR')
  t.equal((await coordinator.join(joinRequest(elsewhere), client)).errorCode, notCoordinator, `${OFFSETS_TOPIC}-1 is led by broker ${OTHER}`)
  t.equal((await coordinator.sync({ groupId: elsewhere, generationId: 1, memberId: 'm', groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] })).errorCode, notCoordinator)
  t.equal(coordinator.heartbeat({ groupId: elsewhere, generationId: 1, memberId: 'm', groupInstanceId: null }), notCoordinator)
  t.equal(coordinator.leave({ groupId: elsewhere, members: [{ memberId: 'm', groupInstanceId: null }] }).errorCode, notCoordinator)
  t.same(commitCodes(await coordinator.commitOffsets(commitRequest(elsewhere, { generationId: -1, memberId: '' }, [['orders', 0, 1n]]))), [notCoordinator])
  t.equal(coordinator.fetchOffsets({ groupId: elsewhere, topics: null }).errorCode, notCoordinator)
  t.equal(coordinator.describe([elsewhere]).groups[0]?.errorCode, notCoordinator)
  t.equal(coordinator.heartbeat({ groupId: '', generationId: 1, memberId: 'm', groupInstanceId: null }), code('INVALID_GROUP_ID'))
  t.equal(coordinator.heartbeat({ groupId: 'g'.repeat(0x8000), generationId: 1, memberId: 'm', groupInstanceId: null }), code('INVALID_GROUP_ID'), 'longer than a Kafka string can carry')
  t.equal(coordinator.describe([groupOn(0, 'never')]).groups[0]?.errorCode, code('GROUP_ID_NOT_FOUND'), 'a group of a partition led here that does not exist')

  // A new leader epoch of the partition led here: its groups are reloaded, and asked meanwhile
  // the coordinator says so rather than answer from nothing.
  const here = groupOn(0, 'here')
  const waiting = tracked(coordinator.join(joinRequest(here), client))
  const partition = f.replicas.partition(OFFSETS_TOPIC, 0)
  coordinator.onLeadership(partition, true)
  t.equal((await waiting.promise).errorCode, notCoordinator, 'a join waiting in the old epoch is told to find the coordinator again')
  t.equal(coordinator.heartbeat({ groupId: here, generationId: 0, memberId: 'm', groupInstanceId: null }), code('COORDINATOR_LOAD_IN_PROGRESS'), 'while the partition loads')
  await loaded(f)
  t.same(coordinator.list([]).groups.map((g) => g.groupId), [], 'the group of the abandoned join was never written: after the reload it does not exist')
})

t.test('without the offsets topic there is no coordinator yet', async (t) => {
  const { coordinator } = await coordinatorIn(t, { offsetsTopic: false })
  const groupId = groupOn(0, 'early')
  t.equal((await coordinator.join(joinRequest(groupId), { clientId: 'c', clientHost: '/127.0.0.1' })).errorCode, code('COORDINATOR_NOT_AVAILABLE'))
  t.equal(coordinator.fetchOffsets({ groupId, topics: null }).errorCode, code('COORDINATOR_NOT_AVAILABLE'))
})
