// Golden bytes of the consumer protocol (client/group/protocol.ts): Kafka's
// ConsumerProtocolSubscription v0-3 and ConsumerProtocolAssignment v0-3, each expected body built
// field by field from Kafka's JSON with the test-side builder (int16 version prefix, then classic
// encodings), never with the codec; literal bytes of what librdkafka 2.0 and Java 3.4+ send; a
// version above 3 read as 3; malformed bodies rejected as INCONSISTENT_GROUP_PROTOCOL.

import t, { type Test } from 'tap'
import {
  ASSIGNMENT_VERSION_WRITTEN,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  SUBSCRIPTION_VERSION_WRITTEN,
  type Assignment,
  type Subscription,
} from '../../../client/group/protocol.js'
import { StrandProtocolError } from '../../../client/protocol/errors.js'
import { Bytes } from '../protocol/kafka/bytes.js'

interface SubscriptionSample {
  topics: string[]
  userData: Buffer | null
  ownedPartitions: Array<{ topic: string; partitions: number[] }>
  generationId: number
  rackId: string | null
}

const USER_DATA = Buffer.from('sticky-state', 'utf8')

const SUBSCRIPTION: SubscriptionSample = {
  topics: ['orders', 'payments'],
  userData: USER_DATA,
  ownedPartitions: [
    { topic: 'orders', partitions: [0, 2] },
    { topic: 'payments', partitions: [5] },
  ],
  generationId: 7,
  rackId: 'eu-west-1a',
}

function classic(): Bytes {
  return new Bytes({ flexible: false })
}

/** ConsumerProtocolSubscription.json at `version`, with the version prefix, one field at a time. */
function subscriptionBytes(version: number, s: SubscriptionSample): Buffer {
  const b = classic().int16(version)
  b.stringArray(s.topics) // Topics, 0+
  b.bytes(s.userData) // UserData, 0+, nullable
  if (version >= 1) b.array(s.ownedPartitions, (x, tp) => x.string(tp.topic).int32Array(tp.partitions)) // OwnedPartitions, 1+
  if (version >= 2) b.int32(s.generationId) // GenerationId, 2+
  if (version >= 3) b.string(s.rackId) // RackId, 3+, nullable
  return b.build()
}

/** What decodeSubscription returns for `s` written at `version`: fields before it at their defaults. */
function subscriptionAt(version: number, s: SubscriptionSample): Subscription {
  return { topics: s.topics, ownedPartitions: version >= 1 ? s.ownedPartitions : [], userData: s.userData }
}

const ASSIGNMENT: Assignment = {
  partitions: [
    { topic: 'orders', partitions: [1, 3, 4] },
    { topic: 'payments', partitions: [0] },
  ],
  userData: USER_DATA,
}

/** ConsumerProtocolAssignment.json: the same fields in every version. */
function assignmentBytes(version: number, a: Assignment): Buffer {
  return classic()
    .int16(version)
    .array(a.partitions, (x, tp) => x.string(tp.topic).int32Array(tp.partitions)) // AssignedPartitions, 0+
    .bytes(a.userData) // UserData, 0+, nullable
    .build()
}

function rejects(t: Test, fn: () => unknown, message: RegExp, what: string): void {
  try {
    fn()
    t.fail(`${what}: decoded`)
  } catch (err) {
    t.ok(err instanceof StrandProtocolError, `${what}: a StrandProtocolError`)
    const e = err as StrandProtocolError
    t.equal(e.code, 'INCONSISTENT_GROUP_PROTOCOL', `${what}: INCONSISTENT_GROUP_PROTOCOL`)
    t.equal(e.retriable, false, `${what}: not retriable`)
    t.match(e.message, message, `${what}: ${e.message}`)
    t.equal(e.message.split('The member protocol does not match the group.').length, 2, `${what}: the wire message once`)
  }
}

t.test('subscription v0-3 decode from golden bytes', async (t) => {
  for (const version of [0, 1, 2, 3]) {
    t.same(decodeSubscription(subscriptionBytes(version, SUBSCRIPTION)), subscriptionAt(version, SUBSCRIPTION), `v${version}`)
    const bare: SubscriptionSample = { topics: ['orders'], userData: null, ownedPartitions: [], generationId: -1, rackId: null }
    t.same(decodeSubscription(subscriptionBytes(version, bare)), subscriptionAt(version, bare), `v${version}, null userData and rackId, nothing owned`)
  }
})

t.test('subscription encodes at v1: topics, userData, ownedPartitions', async (t) => {
  t.equal(SUBSCRIPTION_VERSION_WRITTEN, 1)
  const s = subscriptionAt(1, SUBSCRIPTION)
  t.same(encodeSubscription(s), subscriptionBytes(1, SUBSCRIPTION), 'field by field')
  // The same, byte by byte: version 1; 2 topics; "orders"; "payments"; userData (12 bytes);
  // 2 owned topics: "orders" [0, 2], "payments" [5].
  const hex = [
    '0001',
    '00000002', '0006', Buffer.from('orders').toString('hex'), '0008', Buffer.from('payments').toString('hex'),
    '0000000c', USER_DATA.toString('hex'),
    '00000002',
    '0006', Buffer.from('orders').toString('hex'), '00000002', '00000000', '00000002',
    '0008', Buffer.from('payments').toString('hex'), '00000001', '00000005',
  ].join('')
  t.equal(encodeSubscription(s).toString('hex'), hex, 'byte by byte')
  t.same(encodeSubscription({ topics: ['orders'], ownedPartitions: [], userData: null }), Buffer.from('0001' + '00000001' + '0006' + Buffer.from('orders').toString('hex') + 'ffffffff' + '00000000', 'hex'), 'a null userData is -1, an empty ownedPartitions a count of 0')
  t.same(decodeSubscription(encodeSubscription(s)), s, 'round trip')
})

t.test('subscriptions real Kafka clients send', async (t) => {
  const orders = Buffer.from('orders').toString('hex')
  // librdkafka 2.0 (rd_kafka_consumer_protocol_member_metadata_new): v1, an empty (not null)
  // userData, an empty ownedPartitions.
  const librdkafka = Buffer.from('0001' + '00000001' + '0006' + orders + '00000000' + '00000000', 'hex')
  t.same(decodeSubscription(librdkafka), { topics: ['orders'], ownedPartitions: [], userData: Buffer.alloc(0) }, 'librdkafka 2.0')
  // Java 3.4+ (ConsumerProtocol.serializeSubscription): v3, null userData, owned orders-0,
  // generation 4, no rack.
  const java = Buffer.from('0003' + '00000001' + '0006' + orders + 'ffffffff' + '00000001' + '0006' + orders + '00000001' + '00000000' + '00000004' + 'ffff', 'hex')
  t.same(decodeSubscription(java), { topics: ['orders'], ownedPartitions: [{ topic: 'orders', partitions: [0] }], userData: null }, 'Java 3.4+')
})

t.test('a subscription above v3 is read as v3; bytes after the known fields are ignored', async (t) => {
  const newer = Buffer.concat([subscriptionBytes(3, SUBSCRIPTION), classic().int32(42).string('a field of v4').build()])
  newer.writeInt16BE(4, 0)
  t.same(decodeSubscription(newer), subscriptionAt(3, SUBSCRIPTION), 'v4 read as v3')
  const max = Buffer.from(newer)
  max.writeInt16BE(0x7fff, 0)
  t.same(decodeSubscription(max), subscriptionAt(3, SUBSCRIPTION), 'v32767 read as v3')
  const trailing = Buffer.concat([subscriptionBytes(1, SUBSCRIPTION), Buffer.from('00000000', 'hex')])
  t.same(decodeSubscription(trailing), subscriptionAt(1, SUBSCRIPTION), 'v1 with 4 trailing bytes (a v2 reader\'s generation) read as v1')
})

t.test('assignment v0-3 decode from golden bytes, and encode at v1', async (t) => {
  for (const version of [0, 1, 2, 3]) {
    t.same(decodeAssignment(assignmentBytes(version, ASSIGNMENT)), ASSIGNMENT, `v${version}`)
    const bare: Assignment = { partitions: [], userData: null }
    t.same(decodeAssignment(assignmentBytes(version, bare)), bare, `v${version}, nothing assigned, null userData`)
  }
  t.equal(ASSIGNMENT_VERSION_WRITTEN, 1)
  t.same(encodeAssignment(ASSIGNMENT), assignmentBytes(1, ASSIGNMENT), 'encoded at v1, field by field')
  const orders = Buffer.from('orders').toString('hex')
  // Byte by byte: version 1; 1 topic "orders" with [0, 5]; null userData.
  t.equal(encodeAssignment({ partitions: [{ topic: 'orders', partitions: [0, 5] }], userData: null }).toString('hex'), '0001' + '00000001' + '0006' + orders + '00000002' + '00000000' + '00000005' + 'ffffffff', 'byte by byte')
  t.same(decodeAssignment(encodeAssignment(ASSIGNMENT)), ASSIGNMENT, 'round trip')
  // librdkafka 2.0 (rd_kafka_group_MemberState_consumer_write) writes v0.
  t.same(decodeAssignment(Buffer.from('0000' + '00000001' + '0006' + orders + '00000001' + '00000002' + 'ffffffff', 'hex')), { partitions: [{ topic: 'orders', partitions: [2] }], userData: null }, 'librdkafka 2.0')
})

t.test('an empty assignment buffer is an empty assignment; a newer assignment is read as v3', async (t) => {
  t.same(decodeAssignment(Buffer.alloc(0)), { partitions: [], userData: null })
  const newer = Buffer.concat([assignmentBytes(3, ASSIGNMENT), classic().string('a field of v9').build()])
  newer.writeInt16BE(9, 0)
  t.same(decodeAssignment(newer), ASSIGNMENT, 'v9 read as v3')
})

t.test('malformed subscriptions are INCONSISTENT_GROUP_PROTOCOL', async (t) => {
  const v1 = subscriptionBytes(1, SUBSCRIPTION)
  rejects(t, () => decodeSubscription(Buffer.alloc(0)), /subscription of 0 bytes has no version/, 'empty')
  rejects(t, () => decodeSubscription(Buffer.from('00', 'hex')), /subscription of 1 bytes has no version/, 'one byte')
  rejects(t, () => decodeSubscription(Buffer.from('ffff00000000ffffffff', 'hex')), /subscription version -1 is not a version/, 'negative version')
  rejects(t, () => decodeSubscription(Buffer.from('0001', 'hex')), /subscription version 1 \(read as 1\) does not decode/, 'only a version')
  rejects(t, () => decodeSubscription(Buffer.from('0000ffffffffffffffff', 'hex')), /subscription version 0 .*negative array length/, 'null topics')
  rejects(t, () => decodeSubscription(Buffer.from('000000000001ffff', 'hex')), /subscription version 0 .*negative string length/, 'a null topic name')
  rejects(t, () => decodeSubscription(Buffer.from('00007fffffff', 'hex')), /subscription version 0 .*cannot fit/, 'a topic count larger than the body')
  rejects(t, () => decodeSubscription(Buffer.from('0000000000010006' + Buffer.from('ord').toString('hex'), 'hex')), /subscription version 0 .*does not decode/, 'a topic name cut short')
  rejects(t, () => decodeSubscription(v1.subarray(0, 2 + 4 + 2 + 6 + 2 + 8 + 4 + 3)), /subscription version 1 .*does not decode/, 'userData cut short')
  rejects(t, () => decodeSubscription(v1.subarray(0, v1.length - 2)), /subscription version 1 .*does not decode/, 'ownedPartitions cut short')
  const v1WithoutOwned = subscriptionBytes(0, SUBSCRIPTION)
  v1WithoutOwned.writeInt16BE(1, 0)
  rejects(t, () => decodeSubscription(v1WithoutOwned), /subscription version 1 .*does not decode/, 'v1 without its ownedPartitions')
  rejects(t, () => decodeSubscription(subscriptionBytes(2, SUBSCRIPTION).subarray(0, -1)), /subscription version 2 .*does not decode/, 'v2 with its generation cut short')
})

t.test('malformed assignments are INCONSISTENT_GROUP_PROTOCOL', async (t) => {
  const v1 = assignmentBytes(1, ASSIGNMENT)
  rejects(t, () => decodeAssignment(Buffer.from('00', 'hex')), /assignment of 1 bytes has no version/, 'one byte')
  rejects(t, () => decodeAssignment(Buffer.from('8000', 'hex')), /assignment version -32768 is not a version/, 'negative version')
  rejects(t, () => decodeAssignment(Buffer.from('0001', 'hex')), /assignment version 1 \(read as 1\) does not decode/, 'only a version')
  rejects(t, () => decodeAssignment(Buffer.from('0000000000010006' + Buffer.from('orders').toString('hex') + '7fffffff', 'hex')), /assignment version 0 .*cannot fit/, 'a partition count larger than the body')
  rejects(t, () => decodeAssignment(v1.subarray(0, v1.length - 1)), /assignment version 1 .*does not decode/, 'userData cut short')
  rejects(t, () => decodeAssignment(Buffer.from('0003ffffffffffffffff', 'hex')), /assignment version 3 .*negative array length/, 'null partitions')
  // Strand's former format is not read: uint8 version 0, then Avro (orders [0], null userData),
  // whose first two bytes read as version 2, then a topic count far past the body.
  rejects(t, () => decodeAssignment(Buffer.from('00' + '02' + '0c' + Buffer.from('orders').toString('hex') + '02000000' + '00', 'hex')), /assignment version 2 .*208630372 elements in 8 bytes/, 'the old Avro format')
})
