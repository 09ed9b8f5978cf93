// Golden bytes of the classic group protocol on the Kafka listener: JoinGroup v0-9, SyncGroup
// v0-5, Heartbeat v0-4, LeaveGroup v0-5, DescribeGroups v0-5, ListGroups v0-4. Each expected body
// is built field by field from Kafka's JSON definitions with the independent builder
// (bytes.ts), branching on the version where Kafka's fields do, never with the codec.

import t from 'tap'
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
} from '../../../../client/protocol/kafka/messages/groups.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { bytesFor, checkGoldenAndTruncations, tagged } from './bytes.js'
import { codecOf } from './codec.js'

/** Each API's first flexible version (request and response alike), from Kafka's protocol guide. */
const FLEXIBLE_FROM = { joinGroup: 6, syncGroup: 4, heartbeat: 4, leaveGroup: 4, describeGroups: 5, listGroups: 3 }

function range(min: number, max: number): number[] {
  return Array.from({ length: max - min + 1 }, (_, i) => min + i)
}

// A ConsumerProtocolSubscription v1 for topic "orders" (what a Kafka client sends), and an
// assignment of orders-0: opaque to the codec, but realistic.
const SUBSCRIPTION = Buffer.from('0001000000010006' + Buffer.from('orders').toString('hex') + 'ffffffff00000000', 'hex')
const ASSIGNMENT = Buffer.from('0001000000010006' + Buffer.from('orders').toString('hex') + '0000000100000000ffffffff', 'hex')

// --- JoinGroup ---

function joinRequestSample(v: number): KafkaStruct {
  return {
    groupId: 'billing',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: v >= 1 ? 30_000 : -1,
    memberId: 'rdkafka-3f1c',
    groupInstanceId: v >= 6 ? 'instance-a' : null,
    protocolType: 'consumer',
    protocols: [
      { name: 'range', metadata: SUBSCRIPTION },
      { name: 'cooperative-sticky', metadata: Buffer.alloc(0) },
    ],
    reason: v >= 9 ? 'subscription changed' : null,
  }
}

function joinRequestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.joinGroup)
  b.string('billing').int32(10_000)
  if (v >= 1) b.int32(30_000)
  b.string('rdkafka-3f1c')
  if (v >= 5) b.string(v >= 6 ? 'instance-a' : null)
  b.string('consumer').count(2)
  b.string('range').bytes(SUBSCRIPTION).tags()
  b.string('cooperative-sticky').bytes(Buffer.alloc(0)).tags()
  if (v >= 8) b.string(v >= 9 ? 'subscription changed' : null)
  return b.tags().build()
}

function joinResponseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 2 ? 5 : 0,
    errorCode: 0,
    generationId: 3,
    protocolType: v >= 7 ? 'consumer' : null,
    protocolName: v === 8 ? null : 'range',
    leader: 'rdkafka-3f1c',
    skipAssignment: v >= 9,
    memberId: 'rdkafka-3f1c',
    members: [
      { memberId: 'rdkafka-3f1c', groupInstanceId: v >= 5 ? 'instance-a' : null, metadata: SUBSCRIPTION },
      { memberId: 'strand-9d2e', groupInstanceId: null, metadata: Buffer.alloc(0) },
    ],
  }
}

function joinResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.joinGroup)
  if (v >= 2) b.int32(5)
  b.int16(0).int32(3)
  if (v >= 7) b.string('consumer')
  b.string(v === 8 ? null : 'range').string('rdkafka-3f1c')
  if (v >= 9) b.bool(true)
  b.string('rdkafka-3f1c').count(2)
  b.string('rdkafka-3f1c')
  if (v >= 5) b.string('instance-a')
  b.bytes(SUBSCRIPTION).tags()
  b.string('strand-9d2e')
  if (v >= 5) b.string(null)
  b.bytes(Buffer.alloc(0)).tags()
  return b.tags().build()
}

t.test('JoinGroup, every version', async (t) => {
  for (const v of range(0, 9)) {
    checkGoldenAndTruncations(t, codecOf(joinGroupRequest, v), joinRequestSample(v), joinRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(joinGroupResponse, v), joinResponseSample(v), joinResponseBytes(v))
  }
})

// --- SyncGroup ---

function syncRequestSample(v: number): KafkaStruct {
  return {
    groupId: 'billing',
    generationId: 3,
    memberId: 'rdkafka-3f1c',
    groupInstanceId: v >= 4 ? 'instance-a' : null,
    protocolType: v >= 5 ? 'consumer' : null,
    protocolName: v >= 5 ? 'range' : null,
    assignments: [
      { memberId: 'rdkafka-3f1c', assignment: ASSIGNMENT },
      { memberId: 'strand-9d2e', assignment: Buffer.alloc(0) },
    ],
  }
}

function syncRequestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.syncGroup)
  b.string('billing').int32(3).string('rdkafka-3f1c')
  if (v >= 3) b.string(v >= 4 ? 'instance-a' : null)
  if (v >= 5) b.string('consumer').string('range')
  b.count(2)
  b.string('rdkafka-3f1c').bytes(ASSIGNMENT).tags()
  b.string('strand-9d2e').bytes(Buffer.alloc(0)).tags()
  return b.tags().build()
}

function syncResponseSample(v: number): KafkaStruct {
  return { throttleTimeMs: v >= 1 ? 7 : 0, errorCode: 27, protocolType: v >= 5 ? 'consumer' : null, protocolName: null, assignment: ASSIGNMENT }
}

function syncResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.syncGroup)
  if (v >= 1) b.int32(7)
  b.int16(27)
  if (v >= 5) b.string('consumer').string(null)
  return b.bytes(ASSIGNMENT).tags().build()
}

t.test('SyncGroup, every version', async (t) => {
  for (const v of range(0, 5)) {
    checkGoldenAndTruncations(t, codecOf(syncGroupRequest, v), syncRequestSample(v), syncRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(syncGroupResponse, v), syncResponseSample(v), syncResponseBytes(v))
  }
})

// --- Heartbeat ---

t.test('Heartbeat, every version', async (t) => {
  for (const v of range(0, 4)) {
    const request = { groupId: 'billing', generationId: 3, memberId: 'rdkafka-3f1c', groupInstanceId: v >= 3 ? 'instance-a' : null }
    const req = bytesFor(v, FLEXIBLE_FROM.heartbeat).string('billing').int32(3).string('rdkafka-3f1c')
    if (v >= 3) req.string('instance-a')
    checkGoldenAndTruncations(t, codecOf(heartbeatRequest, v), request, req.tags().build())

    const res = bytesFor(v, FLEXIBLE_FROM.heartbeat)
    if (v >= 1) res.int32(9)
    checkGoldenAndTruncations(t, codecOf(heartbeatResponse, v), { throttleTimeMs: v >= 1 ? 9 : 0, errorCode: 27 }, res.int16(27).tags().build())
  }
})

// --- LeaveGroup ---

function leaveRequestSample(v: number): KafkaStruct {
  return {
    groupId: 'billing',
    memberId: v <= 2 ? 'rdkafka-3f1c' : '',
    members:
      v >= 3
        ? [
            { memberId: 'rdkafka-3f1c', groupInstanceId: null, reason: v >= 5 ? 'the consumer is being closed' : null },
            { memberId: '', groupInstanceId: 'instance-a', reason: null },
          ]
        : [],
  }
}

function leaveRequestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.leaveGroup).string('billing')
  if (v <= 2) b.string('rdkafka-3f1c')
  if (v >= 3) {
    b.count(2)
    b.string('rdkafka-3f1c').string(null)
    if (v >= 5) b.string('the consumer is being closed')
    b.tags()
    b.string('').string('instance-a')
    if (v >= 5) b.string(null)
    b.tags()
  }
  return b.tags().build()
}

function leaveResponseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 1 ? 4 : 0,
    errorCode: 0,
    members:
      v >= 3
        ? [
            { memberId: 'rdkafka-3f1c', groupInstanceId: null, errorCode: 0 },
            { memberId: '', groupInstanceId: 'instance-a', errorCode: 25 },
          ]
        : [],
  }
}

function leaveResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.leaveGroup)
  if (v >= 1) b.int32(4)
  b.int16(0)
  if (v >= 3) {
    b.count(2)
    b.string('rdkafka-3f1c').string(null).int16(0).tags()
    b.string('').string('instance-a').int16(25).tags()
  }
  return b.tags().build()
}

t.test('LeaveGroup, every version', async (t) => {
  for (const v of range(0, 5)) {
    checkGoldenAndTruncations(t, codecOf(leaveGroupRequest, v), leaveRequestSample(v), leaveRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(leaveGroupResponse, v), leaveResponseSample(v), leaveResponseBytes(v))
  }
})

// --- DescribeGroups ---

function describeResponseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 1 ? 2 : 0,
    groups: [
      {
        errorCode: 0,
        groupId: 'billing',
        groupState: 'Stable',
        protocolType: 'consumer',
        protocolData: 'range',
        members: [
          {
            memberId: 'rdkafka-3f1c',
            groupInstanceId: v >= 4 ? 'instance-a' : null,
            clientId: 'rdkafka',
            clientHost: '/10.0.0.7',
            memberMetadata: SUBSCRIPTION,
            memberAssignment: ASSIGNMENT,
          },
        ],
        authorizedOperations: -2147483648,
      },
      { errorCode: 69, groupId: 'gone', groupState: 'Dead', protocolType: '', protocolData: '', members: [], authorizedOperations: v >= 3 ? 0x0f : -2147483648 },
    ],
  }
}

function describeResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.describeGroups)
  if (v >= 1) b.int32(2)
  b.count(2)
  b.int16(0).string('billing').string('Stable').string('consumer').string('range').count(1)
  b.string('rdkafka-3f1c')
  if (v >= 4) b.string('instance-a')
  b.string('rdkafka').string('/10.0.0.7').bytes(SUBSCRIPTION).bytes(ASSIGNMENT).tags()
  if (v >= 3) b.int32(-2147483648)
  b.tags()
  b.int16(69).string('gone').string('Dead').string('').string('').count(0)
  if (v >= 3) b.int32(0x0f)
  b.tags()
  return b.tags().build()
}

t.test('DescribeGroups, every version', async (t) => {
  for (const v of range(0, 5)) {
    const req = bytesFor(v, FLEXIBLE_FROM.describeGroups).count(2).string('billing').string('gone')
    if (v >= 3) req.bool(true)
    checkGoldenAndTruncations(t, codecOf(describeGroupsRequest, v), { groups: ['billing', 'gone'], includeAuthorizedOperations: v >= 3 }, req.tags().build())
    checkGoldenAndTruncations(t, codecOf(describeGroupsResponse, v), describeResponseSample(v), describeResponseBytes(v))
  }
})

// --- ListGroups ---

t.test('ListGroups, every version', async (t) => {
  for (const v of range(0, 4)) {
    const req = bytesFor(v, FLEXIBLE_FROM.listGroups)
    if (v >= 4) req.count(2).string('Stable').string('Empty')
    checkGoldenAndTruncations(t, codecOf(listGroupsRequest, v), { statesFilter: v >= 4 ? ['Stable', 'Empty'] : [] }, req.tags().build())

    const res = bytesFor(v, FLEXIBLE_FROM.listGroups)
    if (v >= 1) res.int32(1)
    res.int16(0).count(2)
    res.string('billing').string('consumer')
    if (v >= 4) res.string('Stable')
    res.tags().string('connect-sinks').string('connect')
    if (v >= 4) res.string('Empty')
    res.tags()
    const sample = {
      throttleTimeMs: v >= 1 ? 1 : 0,
      errorCode: 0,
      groups: [
        { groupId: 'billing', protocolType: 'consumer', groupState: v >= 4 ? 'Stable' : '' },
        { groupId: 'connect-sinks', protocolType: 'connect', groupState: v >= 4 ? 'Empty' : '' },
      ],
    }
    checkGoldenAndTruncations(t, codecOf(listGroupsResponse, v), sample, res.tags().build())
  }
})

// --- Tagged fields and malformed input ---

t.test('flexible versions skip tagged fields they do not know (these APIs define none)', async (t) => {
  const unknown = [tagged(3, (b) => b.raw(Buffer.from([1, 2, 3]))), tagged(200, (b) => b.raw(Buffer.alloc(0)))]
  const b = bytesFor(6, FLEXIBLE_FROM.joinGroup).string('billing').int32(10_000).int32(30_000).string('rdkafka-3f1c').string('instance-a').string('consumer').count(2)
  b.string('range').bytes(SUBSCRIPTION).tags(unknown)
  b.string('cooperative-sticky').bytes(Buffer.alloc(0)).tags()
  t.strictSame(codecOf(joinGroupRequest, 6).decode(b.tags(unknown).build()), joinRequestSample(6))

  const res = bytesFor(4, FLEXIBLE_FROM.heartbeat).int32(9).int16(27).tags(unknown).build()
  t.strictSame(messageCodec(heartbeatResponse, 4).decode(res), { throttleTimeMs: 9, errorCode: 27 })
})

t.test('tagged fields out of order, or longer than they say, are refused', async (t) => {
  const outOfOrder = bytesFor(4, FLEXIBLE_FROM.heartbeat).int32(9).int16(27).tags([tagged(5, (b) => b.raw(Buffer.alloc(0))), tagged(2, (b) => b.raw(Buffer.alloc(0)))]).build()
  t.throws(() => messageCodec(heartbeatResponse, 4).decode(outOfOrder), { code: 'INVALID_REQUEST' })
  const overlong = bytesFor(4, FLEXIBLE_FROM.heartbeat).int32(9).int16(27).uvarint(1).uvarint(0).uvarint(50).build()
  t.throws(() => messageCodec(heartbeatResponse, 4).decode(overlong), { code: 'INVALID_REQUEST' })
})

t.test('absurd counts and lengths are INVALID_REQUEST, not an allocation', async (t) => {
  const classic = bytesFor(5, FLEXIBLE_FROM.joinGroup).string('billing').int32(10_000).int32(30_000).string('').string(null).string('consumer').int32(0x7fffffff).build()
  t.throws(() => messageCodec(joinGroupRequest, 5).decode(classic), { code: 'INVALID_REQUEST' }, 'classic protocol count')
  const compact = bytesFor(9, FLEXIBLE_FROM.joinGroup).string('billing').int32(10_000).int32(30_000).string('').string(null).string('consumer').uvarint(0xfffffff).build()
  t.throws(() => messageCodec(joinGroupRequest, 9).decode(compact), { code: 'INVALID_REQUEST' }, 'compact protocol count')
  const groups = bytesFor(0, FLEXIBLE_FROM.describeGroups).int32(1 << 30).build()
  t.throws(() => messageCodec(describeGroupsRequest, 0).decode(groups), { code: 'INVALID_REQUEST' }, 'describe count')
  const negative = bytesFor(0, FLEXIBLE_FROM.describeGroups).int32(-2).build()
  t.throws(() => messageCodec(describeGroupsRequest, 0).decode(negative), { code: 'INVALID_REQUEST' }, 'negative count of a non-nullable array')
  const nullGroupId = bytesFor(0, FLEXIBLE_FROM.heartbeat).string(null).int32(3).string('m').build()
  t.throws(() => messageCodec(heartbeatRequest, 0).decode(nullGroupId), { code: 'INVALID_REQUEST' }, 'null in a non-nullable string')
  const metadata = bytesFor(0, FLEXIBLE_FROM.syncGroup).int16(0).int32(0x7fffffff).build()
  t.throws(() => messageCodec(syncGroupResponse, 0).decode(metadata), { code: 'INVALID_REQUEST' }, 'bytes longer than the body')
})

t.test('versions past ours are not spoken', async (t) => {
  t.throws(() => messageCodec(joinGroupRequest, 10), { code: 'UNSUPPORTED_VERSION' })
  t.throws(() => messageCodec(listGroupsRequest, 5), { code: 'UNSUPPORTED_VERSION' })
})
