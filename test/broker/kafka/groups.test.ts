// The Kafka listener's group handlers translate faithfully both ways: each test hands a handler a
// Kafka body as the codec decodes it at a version (absent fields at the codec's defaults), checks
// the Strand request it served, answers with a canned Strand response, and checks the Kafka
// response, which must also encode at that version (no null where the version has no null).

import pino from 'pino'
import t from 'tap'
import { ApiKey, type ApiKeyValue, type ApiTypes } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { findCoordinatorRequest, findCoordinatorResponse } from '../../../client/protocol/kafka/messages/find-coordinator.js'
import {
  describeGroupsRequest,
  describeGroupsResponse,
  heartbeatRequest,
  heartbeatResponse,
  joinGroupRequest,
  joinGroupResponse,
  leaveGroupRequest,
  leaveGroupResponse,
  listGroupsRequest,
  listGroupsResponse,
  syncGroupRequest,
  syncGroupResponse,
} from '../../../client/protocol/kafka/messages/groups.js'
import { offsetCommitRequest, offsetCommitResponse, offsetFetchRequest, offsetFetchResponse } from '../../../client/protocol/kafka/messages/offsets.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../client/protocol/kafka/schema.js'
import type { DescribeGroupsResponse, JoinGroupResponse, OffsetFetchResponse } from '../../../client/protocol/messages/groups.js'
import type { KafkaAddress, KafkaHandler, KafkaRequestContext } from '../../../broker/kafka/context.js'
import {
  kafkaDescribeGroups,
  kafkaFindCoordinator,
  kafkaHeartbeat,
  kafkaJoinGroup,
  kafkaLeaveGroup,
  kafkaListGroups,
  kafkaOffsetCommit,
  kafkaOffsetFetch,
  kafkaSyncGroup,
} from '../../../broker/kafka/handlers/groups.js'
import type { Session } from '../../../broker/security/session.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'

interface Served {
  apiKey: number
  body: unknown
}

interface Fake {
  req: KafkaRequestContext
  served: Served[]
  logs: Record<string, unknown>[]
}

/** A request context whose `serve` records each Strand request and answers the next canned response. */
function fake(version: number, answers: unknown[], kafkaListeners: Record<number, KafkaAddress> = {}): Fake {
  const served: Served[] = []
  const logs: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) })
  const queue = [...answers]
  const req: KafkaRequestContext = {
    ctx: { logger } as unknown as HandlerContext,
    version,
    info: { clientId: 'rdkafka', clientHost: '/10.0.0.7' },
    session: {} as Session,
    serve: async <K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request']): Promise<ApiTypes[K]['response']> => {
      served.push({ apiKey, body })
      if (queue.length === 0) throw new Error(`No canned answer for API ${apiKey}.`)
      return queue.shift() as ApiTypes[K]['response']
    },
    kafkaAddress: (nodeId) => kafkaListeners[nodeId] ?? null,
  }
  return { req, served, logs }
}

/** The body the Kafka listener would hand the handler: `fields` through the codec at `version`. */
function kafkaBody(spec: MessageSpec, version: number, fields: KafkaStruct): KafkaStruct {
  const w = new KafkaWriter()
  const codec = messageCodec(spec, version)
  codec.encode(w, fields)
  return codec.decode(w.toBuffer())
}

/**
 * Runs the handler and returns its response as a Kafka client would read it at `version` (fields
 * absent at the version at Kafka's defaults).
 */
async function handle(handler: KafkaHandler, f: Fake, requestSpec: MessageSpec, responseSpec: MessageSpec, fields: KafkaStruct): Promise<KafkaStruct> {
  const res = await handler(f.req, kafkaBody(requestSpec, f.req.version, fields))
  if (res === null) throw new Error('A group API always answers.')
  const w = new KafkaWriter()
  messageCodec(responseSpec, f.req.version).encode(w, res)
  return messageCodec(responseSpec, f.req.version).decode(w.toBuffer())
}

function pick(s: KafkaStruct, keys: readonly string[]): KafkaStruct {
  return Object.fromEntries(keys.map((k) => [k, s[k]]))
}

const SUBSCRIPTION = Buffer.from('0001000000010006' + Buffer.from('orders').toString('hex') + 'ffffffff00000000', 'hex')
const ASSIGNMENT = Buffer.from('00010000000100066f72646572730000000100000000ffffffff', 'hex')

// --- FindCoordinator ---

const FOUND = { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 2, host: 'strand-2.local', port: 9092 }

t.test('FindCoordinator v0-3 answers the coordinator at its Kafka listener', async (t) => {
  for (const v of [0, 1, 2, 3]) {
    const f = fake(v, [FOUND], { 2: { host: 'kafka-2.local', port: 19092 } })
    const res = await handle(kafkaFindCoordinator, f, findCoordinatorRequest, findCoordinatorResponse, { key: 'billing', keyType: 1 })
    t.strictSame(f.served, [{ apiKey: ApiKey.FindCoordinator, body: { key: 'billing', keyType: v === 0 ? 0 : 1 } }], `v${v} serves one key (v0: a group)`)
    t.strictSame(pick(res, ['errorCode', 'nodeId', 'host', 'port']), { errorCode: 0, nodeId: 2, host: 'kafka-2.local', port: 19092 }, `v${v} names the Kafka listener`)
  }
})

t.test('FindCoordinator: a coordinator without a Kafka listener is COORDINATOR_NOT_AVAILABLE; Strand errors pass through', async (t) => {
  const f = fake(1, [FOUND])
  const res = await handle(kafkaFindCoordinator, f, findCoordinatorRequest, findCoordinatorResponse, { key: 'billing', keyType: 0 })
  t.strictSame(pick(res, ['errorCode', 'nodeId', 'host', 'port']), { errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), nodeId: -1, host: '', port: -1 })
  t.match(res.errorMessage, /broker 2, has no Kafka listener/)

  const creating = { throttleTimeMs: 0, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), errorMessage: '__consumer_offsets is being created.', nodeId: -1, host: '', port: -1 }
  const g = fake(3, [creating], { 2: { host: 'kafka-2.local', port: 19092 } })
  const again = await handle(kafkaFindCoordinator, g, findCoordinatorRequest, findCoordinatorResponse, { key: 'billing', keyType: 0 })
  t.strictSame(pick(again, ['errorCode', 'errorMessage', 'nodeId']), { errorCode: 15, errorMessage: '__consumer_offsets is being created.', nodeId: -1 })
})

t.test('FindCoordinator v4 fans a batch of keys out, one Strand request per key', async (t) => {
  const other = { ...FOUND, nodeId: 3, host: 'strand-3.local' }
  const f = fake(4, [FOUND, other, { ...FOUND, throttleTimeMs: 30 }], { 2: { host: 'kafka-2.local', port: 19092 } })
  const res = await handle(kafkaFindCoordinator, f, findCoordinatorRequest, findCoordinatorResponse, { keyType: 0, coordinatorKeys: ['billing', 'ledger', 'audit'] })
  t.strictSame(
    f.served.map((s) => s.body),
    ['billing', 'ledger', 'audit'].map((key) => ({ key, keyType: 0 })),
  )
  t.equal(res.throttleTimeMs, 30, 'the longest throttle of the batch')
  t.strictSame(res.coordinators, [
    { key: 'billing', nodeId: 2, host: 'kafka-2.local', port: 19092, errorCode: 0, errorMessage: null },
    { key: 'ledger', nodeId: -1, host: '', port: -1, errorCode: 15, errorMessage: 'The coordinator, broker 3, has no Kafka listener.' },
    { key: 'audit', nodeId: 2, host: 'kafka-2.local', port: 19092, errorCode: 0, errorMessage: null },
  ])
})

// --- JoinGroup ---

const JOIN_FIELDS = {
  groupId: 'billing',
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 45_000,
  memberId: '',
  groupInstanceId: 'instance-a',
  protocolType: 'consumer',
  protocols: [{ name: 'range', metadata: SUBSCRIPTION }],
  reason: 'subscription changed',
}

function joined(overrides: Partial<JoinGroupResponse> = {}): JoinGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    generationId: 4,
    protocolType: 'consumer',
    protocolName: 'range',
    leader: 'rdkafka-7e1f',
    memberId: 'rdkafka-7e1f',
    members: [{ memberId: 'rdkafka-7e1f', groupInstanceId: 'instance-a', metadata: SUBSCRIPTION }],
    ...overrides,
  }
}

t.test('JoinGroup: v0 uses the session timeout as the rebalance timeout; fields a version lacks are null', async (t) => {
  const f = fake(0, [joined()])
  const res = await handle(kafkaJoinGroup, f, joinGroupRequest, joinGroupResponse, JOIN_FIELDS)
  t.strictSame(f.served, [
    {
      apiKey: ApiKey.JoinGroup,
      body: { groupId: 'billing', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: SUBSCRIPTION }] },
    },
  ])
  t.strictSame(pick(res, ['errorCode', 'generationId', 'protocolName', 'leader', 'memberId']), { errorCode: 0, generationId: 4, protocolName: 'range', leader: 'rdkafka-7e1f', memberId: 'rdkafka-7e1f' })
  t.strictSame(res.members, [{ memberId: 'rdkafka-7e1f', groupInstanceId: null, metadata: SUBSCRIPTION }], 'v0 members carry no instance id')
})

t.test('JoinGroup v4+ with an empty member id: the coordinator assigns one in one step (no MEMBER_ID_REQUIRED)', async (t) => {
  for (const v of [4, 5, 9]) {
    const f = fake(v, [joined()])
    const res = await handle(kafkaJoinGroup, f, joinGroupRequest, joinGroupResponse, JOIN_FIELDS)
    t.equal((f.served[0]?.body as { memberId: string }).memberId, '', `v${v} passes the empty member id on`)
    t.equal(res.errorCode, 0)
    t.equal(res.memberId, 'rdkafka-7e1f', `v${v} answers the assigned id with the generation`)
  }
})

t.test('JoinGroup v5-9: the instance id goes through; v8 reason is logged only; v9 never skips the assignment', async (t) => {
  const f = fake(9, [joined()])
  const res = await handle(kafkaJoinGroup, f, joinGroupRequest, joinGroupResponse, JOIN_FIELDS)
  const body = f.served[0]?.body as Record<string, unknown>
  t.equal(body.groupInstanceId, 'instance-a')
  t.equal(body.rebalanceTimeoutMs, 45_000)
  t.notOk('reason' in body, 'Strand has no reason field')
  t.ok(f.logs.some((l) => l.reason === 'subscription changed' && l.subsystem === 'kafka'), 'the reason is logged')
  t.equal(res.skipAssignment, false)
  t.equal(res.protocolType, 'consumer')
  t.strictSame(res.members, [{ memberId: 'rdkafka-7e1f', groupInstanceId: 'instance-a', metadata: SUBSCRIPTION }])
})

t.test('JoinGroup errors: no protocol name is "" before v7 and null from v7, as Kafka answers', async (t) => {
  const failed = joined({ errorCode: errorCodeOf('UNKNOWN_MEMBER_ID'), generationId: -1, protocolType: null, protocolName: null, leader: '', memberId: 'gone', members: [] })
  for (const [v, name] of [[6, ''], [7, null]] as const) {
    const res = await handle(kafkaJoinGroup, fake(v, [failed]), joinGroupRequest, joinGroupResponse, { ...JOIN_FIELDS, memberId: 'gone' })
    t.strictSame(pick(res, ['errorCode', 'generationId', 'protocolType', 'protocolName']), { errorCode: 25, generationId: -1, protocolType: null, protocolName: name }, `v${v}`)
  }
  const empty = await handle(kafkaJoinGroup, fake(7, [joined({ protocolName: '' })]), joinGroupRequest, joinGroupResponse, JOIN_FIELDS)
  t.equal(empty.protocolName, null, 'v7+: an empty name is null')
})

// --- SyncGroup, Heartbeat, LeaveGroup ---

t.test('SyncGroup: instance id from v3, protocol type and name from v5, both ways', async (t) => {
  const answer = { throttleTimeMs: 0, errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: ASSIGNMENT }
  const fields = { groupId: 'billing', generationId: 4, memberId: 'rdkafka-7e1f', groupInstanceId: 'instance-a', protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: 'rdkafka-7e1f', assignment: ASSIGNMENT }] }
  for (const v of [0, 3, 5]) {
    const f = fake(v, [answer])
    const res = await handle(kafkaSyncGroup, f, syncGroupRequest, syncGroupResponse, fields)
    t.strictSame(f.served[0]?.body, {
      groupId: 'billing',
      generationId: 4,
      memberId: 'rdkafka-7e1f',
      groupInstanceId: v >= 3 ? 'instance-a' : null,
      protocolType: v >= 5 ? 'consumer' : null,
      protocolName: v >= 5 ? 'range' : null,
      assignments: [{ memberId: 'rdkafka-7e1f', assignment: ASSIGNMENT }],
    })
    t.strictSame(res.assignment, ASSIGNMENT)
    t.strictSame(pick(res, ['protocolType', 'protocolName']), v >= 5 ? { protocolType: 'consumer', protocolName: 'range' } : { protocolType: null, protocolName: null })
  }
})

t.test('Heartbeat: the error code comes back at every version', async (t) => {
  for (const v of [0, 4]) {
    const f = fake(v, [{ throttleTimeMs: 0, errorCode: errorCodeOf('REBALANCE_IN_PROGRESS') }])
    const res = await handle(kafkaHeartbeat, f, heartbeatRequest, heartbeatResponse, { groupId: 'billing', generationId: 4, memberId: 'm', groupInstanceId: 'instance-a' })
    t.strictSame(f.served[0]?.body, { groupId: 'billing', generationId: 4, memberId: 'm', groupInstanceId: v >= 3 ? 'instance-a' : null })
    t.equal(res.errorCode, 27)
  }
})

t.test('LeaveGroup v0-2: one member, its error folded into the one error code', async (t) => {
  const memberGone = { throttleTimeMs: 0, errorCode: 0, members: [{ memberId: 'm', groupInstanceId: null, errorCode: errorCodeOf('UNKNOWN_MEMBER_ID') }] }
  const f = fake(1, [memberGone])
  const res = await handle(kafkaLeaveGroup, f, leaveGroupRequest, leaveGroupResponse, { groupId: 'billing', memberId: 'm' })
  t.strictSame(f.served[0]?.body, { groupId: 'billing', members: [{ memberId: 'm', groupInstanceId: null }] })
  t.strictSame(res, { throttleTimeMs: 0, errorCode: 25, members: [] })
  const notCoordinator = await handle(kafkaLeaveGroup, fake(0, [{ throttleTimeMs: 0, errorCode: 16, members: [] }]), leaveGroupRequest, leaveGroupResponse, { groupId: 'billing', memberId: 'm' })
  t.equal(notCoordinator.errorCode, 16, 'a group error wins')
})

t.test('LeaveGroup v3+: a batch of members, each answered; v5 reasons are logged only', async (t) => {
  const answer = {
    throttleTimeMs: 0,
    errorCode: 0,
    members: [
      { memberId: 'a', groupInstanceId: null, errorCode: 0 },
      { memberId: '', groupInstanceId: 'instance-b', errorCode: 25 },
    ],
  }
  const f = fake(5, [answer])
  const fields = { groupId: 'billing', members: [{ memberId: 'a', groupInstanceId: null, reason: 'closing' }, { memberId: '', groupInstanceId: 'instance-b', reason: null }] }
  const res = await handle(kafkaLeaveGroup, f, leaveGroupRequest, leaveGroupResponse, fields)
  t.strictSame(f.served[0]?.body, { groupId: 'billing', members: [{ memberId: 'a', groupInstanceId: null }, { memberId: '', groupInstanceId: 'instance-b' }] })
  t.strictSame(res.members, answer.members)
  t.ok(f.logs.some((l) => l.reason === 'closing'))
})

// --- OffsetCommit ---

const COMMIT_FIELDS = {
  groupId: 'billing',
  generationIdOrMemberEpoch: 4,
  memberId: 'rdkafka-7e1f',
  groupInstanceId: 'instance-a',
  retentionTimeMs: 86_400_000n,
  topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 5, commitTimestamp: 1_700_000_000_000n, committedMetadata: null }] }],
}
const COMMITTED = { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] }

t.test('OffsetCommit: v0 commits outside the group protocol; generation, member, epoch and instance id as each version has them', async (t) => {
  for (const v of [0, 1, 2, 5, 6, 7, 8]) {
    const f = fake(v, [COMMITTED])
    const res = await handle(kafkaOffsetCommit, f, offsetCommitRequest, offsetCommitResponse, COMMIT_FIELDS)
    t.strictSame(
      f.served[0]?.body,
      {
        groupId: 'billing',
        generationId: v >= 1 ? 4 : -1,
        memberId: v >= 1 ? 'rdkafka-7e1f' : '',
        groupInstanceId: v >= 7 ? 'instance-a' : null,
        topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: v >= 6 ? 5 : -1, committedMetadata: null }] }],
      },
      `v${v}: no commit timestamp or retention reaches Strand`,
    )
    t.strictSame(res.topics, COMMITTED.topics)
  }
})

t.test('OffsetCommit: per-partition errors come back as they are', async (t) => {
  const answer = { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: errorCodeOf('ILLEGAL_GENERATION') }] }] }
  const res = await handle(kafkaOffsetCommit, fake(8, [answer]), offsetCommitRequest, offsetCommitResponse, COMMIT_FIELDS)
  t.strictSame(res.topics, answer.topics)
})

// --- OffsetFetch ---

function fetched(errorCode = 0): OffsetFetchResponse {
  return {
    throttleTimeMs: 0,
    errorCode,
    topics:
      errorCode !== 0
        ? []
        : [
            {
              name: 'orders',
              partitions: [
                { partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 5, metadata: 'after-batch-7', errorCode: 0 },
                { partitionIndex: 1, committedOffset: -1n, committedLeaderEpoch: -1, metadata: null, errorCode: 0 },
              ],
            },
          ],
  }
}
const FETCH_TOPICS = [{ name: 'orders', partitionIndexes: [0, 1] }]

t.test('OffsetFetch v0-7: one group; null metadata is "" as Kafka answers; v2+ null topics mean all', async (t) => {
  for (const v of [1, 2, 5, 7]) {
    const all = v >= 2
    const f = fake(v, [fetched()])
    const res = await handle(kafkaOffsetFetch, f, offsetFetchRequest, offsetFetchResponse, { groupId: 'billing', topics: all ? null : FETCH_TOPICS, requireStable: true })
    t.strictSame(f.served, [{ apiKey: ApiKey.OffsetFetch, body: { groupId: 'billing', topics: all ? null : FETCH_TOPICS } }], `v${v} request`)
    const epoch = v >= 5 ? 5 : -1
    t.strictSame(
      res.topics,
      [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: epoch, metadata: 'after-batch-7', errorCode: 0 },
            { partitionIndex: 1, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
          ],
        },
      ],
      `v${v} response`,
    )
  }
})

t.test('OffsetFetch v0-1 put a group error on every requested partition; v2+ answer it once', async (t) => {
  const loading = errorCodeOf('COORDINATOR_LOAD_IN_PROGRESS')
  const old = await handle(kafkaOffsetFetch, fake(1, [fetched(loading)]), offsetFetchRequest, offsetFetchResponse, { groupId: 'billing', topics: FETCH_TOPICS })
  t.strictSame(old.topics, [
    {
      name: 'orders',
      partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: loading })),
    },
  ])
  const v2 = await handle(kafkaOffsetFetch, fake(2, [fetched(loading)]), offsetFetchRequest, offsetFetchResponse, { groupId: 'billing', topics: FETCH_TOPICS })
  t.strictSame(pick(v2, ['errorCode', 'topics']), { errorCode: loading, topics: [] })
})

t.test('OffsetFetch v8 fans a batch of groups out, one Strand request per group', async (t) => {
  const f = fake(8, [fetched(), fetched(errorCodeOf('NOT_COORDINATOR'))])
  const res = await handle(kafkaOffsetFetch, f, offsetFetchRequest, offsetFetchResponse, {
    groups: [
      { groupId: 'billing', topics: FETCH_TOPICS },
      { groupId: 'ledger', topics: null },
    ],
    requireStable: false,
  })
  t.strictSame(
    f.served.map((s) => s.body),
    [
      { groupId: 'billing', topics: FETCH_TOPICS },
      { groupId: 'ledger', topics: null },
    ],
  )
  const groups = res.groups as KafkaStruct[]
  t.strictSame(
    groups.map((g) => pick(g, ['groupId', 'errorCode'])),
    [
      { groupId: 'billing', errorCode: 0 },
      { groupId: 'ledger', errorCode: 16 },
    ],
  )
  t.strictSame((groups[0]?.topics as KafkaStruct[])[0]?.partitions, [
    { partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 5, metadata: 'after-batch-7', errorCode: 0 },
    { partitionIndex: 1, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
  ])
})

// --- DescribeGroups, ListGroups ---

function described(): DescribeGroupsResponse {
  const member = { memberId: 'm', groupInstanceId: 'instance-a', clientId: 'rdkafka', clientHost: '/10.0.0.7', memberMetadata: SUBSCRIPTION, memberAssignment: ASSIGNMENT }
  return {
    throttleTimeMs: 0,
    groups: [
      { errorCode: 0, groupId: 'billing', groupState: 'Stable', protocolType: 'consumer', protocolData: 'range', generationId: 4, members: [member] },
      { errorCode: 0, groupId: 'ledger', groupState: 'CompletingRebalance', protocolType: 'consumer', protocolData: 'range', generationId: 9, members: [member] },
      { errorCode: errorCodeOf('GROUP_ID_NOT_FOUND'), groupId: 'gone', groupState: 'Dead', protocolType: '', protocolData: '', generationId: -1, members: [] },
    ],
  }
}

t.test('DescribeGroups: as Kafka describes them (unknown = Dead without error; metadata only when Stable)', async (t) => {
  for (const v of [0, 3, 5]) {
    const f = fake(v, [described()])
    const res = await handle(kafkaDescribeGroups, f, describeGroupsRequest, describeGroupsResponse, { groups: ['billing', 'ledger', 'gone'], includeAuthorizedOperations: true })
    t.strictSame(f.served[0]?.body, { groups: ['billing', 'ledger', 'gone'] })
    const [stable, rebalancing, gone] = res.groups as [KafkaStruct, KafkaStruct, KafkaStruct]
    const instance = v >= 4 ? 'instance-a' : null
    t.strictSame(stable.members, [{ memberId: 'm', groupInstanceId: instance, clientId: 'rdkafka', clientHost: '/10.0.0.7', memberMetadata: SUBSCRIPTION, memberAssignment: ASSIGNMENT }], `v${v} stable`)
    t.equal(stable.protocolData, 'range')
    t.equal(rebalancing.protocolData, '', 'no protocol while rebalancing')
    t.strictSame(rebalancing.members, [{ memberId: 'm', groupInstanceId: instance, clientId: 'rdkafka', clientHost: '/10.0.0.7', memberMetadata: Buffer.alloc(0), memberAssignment: Buffer.alloc(0) }])
    t.strictSame(pick(gone, ['errorCode', 'groupState', 'members']), { errorCode: 0, groupState: 'Dead', members: [] })
    t.equal(stable.authorizedOperations, -2147483648, 'authorized operations are "not provided"')
  }
})

t.test('ListGroups: v4 filters on states case-insensitively; earlier versions list every group', async (t) => {
  const answer = { throttleTimeMs: 0, errorCode: 0, groups: [{ groupId: 'billing', protocolType: 'consumer', groupState: 'Stable' }] }
  const f = fake(4, [answer])
  const res = await handle(kafkaListGroups, f, listGroupsRequest, listGroupsResponse, { statesFilter: ['stable', 'PREPARINGREBALANCE', 'Unknown'] })
  t.strictSame(f.served[0]?.body, { statesFilter: ['Stable', 'PreparingRebalance', 'Unknown'] })
  t.strictSame(res.groups, answer.groups)
  const g = fake(2, [answer])
  const old = await handle(kafkaListGroups, g, listGroupsRequest, listGroupsResponse, {})
  t.strictSame(g.served[0]?.body, { statesFilter: [] })
  t.strictSame(old.groups, [{ groupId: 'billing', protocolType: 'consumer', groupState: '' }])
})
