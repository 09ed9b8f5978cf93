// The group coordinator over the wire, with raw protocol requests against a real broker process:
// FindCoordinator creates the offsets topic; two members join one generation and the leader's
// assignment reaches both; offsets commit with generation checks; a departure starts a rebalance;
// and after a restart the coordinator rebuilds committed offsets and the group from the log.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { spawnBroker, stopBroker } from '../helpers/broker-process.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

const GROUP = 'ledger-sinks'
const OVERRIDES = { 'offsets.topic.num.partitions': 3, 'group.initial.rebalance.delay.ms': 200 }

/** The coordinator's port, once it answers for the group (it loads its offsets partition first). */
async function coordinatorPort(c: Connection): Promise<number> {
  return waitFor(async () => {
    const res = await c.request(ApiKey.FindCoordinator, { key: GROUP, keyType: 0 })
    if (res.errorCode !== 0) return false
    const probe = await c.request(ApiKey.OffsetFetch, { groupId: GROUP, topics: [] })
    return probe.errorCode === 0 ? res.port : false
  }, { what: 'a coordinator for the group' })
}

function join(c: Connection, memberId: string, protocols: string[] = ['range']) {
  return c.request(
    ApiKey.JoinGroup,
    { groupId: GROUP, sessionTimeoutMs: 5000, rebalanceTimeoutMs: 3000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: protocols.map((name) => ({ name, metadata: Buffer.from(`${name}-sub`) })) },
    { timeoutMs: 10_000 },
  )
}

t.test('group membership, assignments and committed offsets through the coordinator', async (t) => {
  const broker = await spawnBroker(t, { overrides: OVERRIDES })
  const admin = rawConnection(t, broker.port)

  const bad = await admin.request(ApiKey.FindCoordinator, { key: '', keyType: 0 })
  t.equal(bad.errorCode, errorCodeOf('INVALID_GROUP_ID'), 'an empty group id is refused')
  const badType = await admin.request(ApiKey.FindCoordinator, { key: GROUP, keyType: 7 })
  t.equal(badType.errorCode, errorCodeOf('INVALID_REQUEST'), 'an unknown key type is refused')
  t.equal(await coordinatorPort(admin), broker.port, 'the only broker coordinates the group once the offsets topic exists')

  const a = rawConnection(t, broker.port, 'member-a')
  const b = rawConnection(t, broker.port, 'member-b')
  const tooShort = await a.request(ApiKey.JoinGroup, { groupId: GROUP, sessionTimeoutMs: 1, rebalanceTimeoutMs: 1000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }] })
  t.equal(tooShort.errorCode, errorCodeOf('INVALID_SESSION_TIMEOUT'), 'a session timeout below the minimum is refused')
  const noProtocols = await a.request(ApiKey.JoinGroup, { groupId: GROUP, sessionTimeoutMs: 5000, rebalanceTimeoutMs: 1000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [] })
  t.equal(noProtocols.errorCode, errorCodeOf('INCONSISTENT_GROUP_PROTOCOL'), 'a join without protocols is refused')

  const [ja, jb] = await Promise.all([join(a, '', ['roundrobin', 'range']), join(b, '', ['range'])])
  t.equal(ja.errorCode, 0)
  t.equal(jb.errorCode, 0)
  t.equal(ja.generationId, jb.generationId, `both joined generation ${ja.generationId}`)
  t.equal(ja.protocolName, 'range', 'the protocol every member supports is chosen')
  const [leader, follower] = ja.leader === ja.memberId ? [{ c: a, j: ja }, { c: b, j: jb }] : [{ c: b, j: jb }, { c: a, j: ja }]
  t.same(leader.j.members.map((m) => m.memberId).sort(), [ja.memberId, jb.memberId].sort(), 'the leader hears of every member')
  t.same(follower.j.members, [], 'the follower does not')

  const generation = ja.generationId
  const sync = (x: typeof leader, assignments: { memberId: string; assignment: Buffer }[]) =>
    x.c.request(ApiKey.SyncGroup, { groupId: GROUP, generationId: generation, memberId: x.j.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments }, { timeoutMs: 10_000 })
  const followerSync = sync(follower, [])
  const leaderSync = sync(leader, [
    { memberId: leader.j.memberId, assignment: Buffer.from('for-leader') },
    { memberId: follower.j.memberId, assignment: Buffer.from('for-follower') },
  ])
  t.equal((await leaderSync).assignment.toString(), 'for-leader', 'the leader gets its assignment')
  t.equal((await followerSync).assignment.toString(), 'for-follower', 'the follower, waiting, gets its own')

  const hb = await follower.c.request(ApiKey.Heartbeat, { groupId: GROUP, generationId: generation, memberId: follower.j.memberId, groupInstanceId: null })
  t.equal(hb.errorCode, 0, 'a heartbeat of the stable group is accepted')
  const stale = await follower.c.request(ApiKey.Heartbeat, { groupId: GROUP, generationId: generation - 1, memberId: follower.j.memberId, groupInstanceId: null })
  t.equal(stale.errorCode, errorCodeOf('ILLEGAL_GENERATION'), 'a heartbeat of an old generation is refused')

  const commit = (x: typeof leader, gen: number, offset: bigint) =>
    x.c.request(ApiKey.OffsetCommit, { groupId: GROUP, generationId: gen, memberId: x.j.memberId, groupInstanceId: null, topics: [{ name: 'ledger', partitions: [{ partitionIndex: 2, committedOffset: offset, committedLeaderEpoch: 0, committedMetadata: null }] }] })
  t.equal((await commit(leader, generation, 42n)).topics[0]!.partitions[0]!.errorCode, 0, 'a member commits an offset')
  t.equal((await commit(leader, generation + 5, 43n)).topics[0]!.partitions[0]!.errorCode, errorCodeOf('ILLEGAL_GENERATION'), 'a commit for another generation is refused')
  const outsider = await admin.request(ApiKey.OffsetCommit, { groupId: GROUP, generationId: -1, memberId: '', groupInstanceId: null, topics: [{ name: 'ledger', partitions: [{ partitionIndex: 2, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] }] })
  t.equal(outsider.topics[0]!.partitions[0]!.errorCode, errorCodeOf('UNKNOWN_MEMBER_ID'), 'a commit from outside the group is refused while it has members')
  const fetched = await admin.request(ApiKey.OffsetFetch, { groupId: GROUP, topics: [{ name: 'ledger', partitionIndexes: [1, 2] }] })
  t.same(fetched.topics[0]!.partitions.map((p) => [p.partitionIndex, p.committedOffset]), [[1, -1n], [2, 42n]], 'offsets read back; -1 where nothing was committed')

  // Restart: the coordinator rebuilds offsets and the group from __consumer_offsets.
  await stopBroker(broker)
  const again = await spawnBroker(t, { dataDir: broker.dataDir, overrides: OVERRIDES })
  const admin2 = rawConnection(t, again.port)
  await coordinatorPort(admin2)
  const after = await waitFor(async () => {
    const res = await admin2.request(ApiKey.OffsetFetch, { groupId: GROUP, topics: null })
    return res.errorCode === 0 ? res : false
  }, { what: 'the offsets partition to load' })
  t.same(after.topics.map((x) => [x.name, x.partitions.map((p) => [p.partitionIndex, p.committedOffset])]), [['ledger', [[2, 42n]]]], 'committed offsets survive a restart')
  const described = await admin2.request(ApiKey.DescribeGroups, { groups: [GROUP, 'nobody'] })
  t.equal(described.groups[0]!.groupState, 'Stable', 'the group is restored as it was')
  t.same(described.groups[0]!.members.map((m) => m.memberAssignment.toString()).sort(), ['for-follower', 'for-leader'], 'with its members and their assignments')
  t.equal(described.groups[1]!.errorCode, errorCodeOf('GROUP_ID_NOT_FOUND'), 'an unknown group is reported as such')
  const listed = await admin2.request(ApiKey.ListGroups, { statesFilter: [] })
  t.same(listed.groups.map((g) => g.groupId), [GROUP], 'ListGroups names it')

  // The members reconnect to the restarted coordinator; one leaves, the other is told to rejoin.
  const a2 = rawConnection(t, again.port, 'member-a')
  const left = await a2.request(ApiKey.LeaveGroup, { groupId: GROUP, members: [{ memberId: leader.j.memberId, groupInstanceId: null }] })
  t.same(left.members.map((m) => m.errorCode), [0], 'the leader leaves')
  const rebalance = await a2.request(ApiKey.Heartbeat, { groupId: GROUP, generationId: generation, memberId: follower.j.memberId, groupInstanceId: null })
  t.equal(rebalance.errorCode, errorCodeOf('REBALANCE_IN_PROGRESS'), 'the remaining member is told to rejoin')
  const rejoined = await join(a2, follower.j.memberId)
  t.equal(rejoined.errorCode, 0)
  t.ok(rejoined.generationId > generation, `a new generation ${rejoined.generationId} forms`)
  t.equal(rejoined.leader, follower.j.memberId, 'with the remaining member as leader')
})
