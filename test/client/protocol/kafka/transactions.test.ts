// Golden bytes of the transactional APIs on the Kafka listener, every version we serve (v0-3 of
// AddPartitionsToTxn 24, AddOffsetsToTxn 25, EndTxn 26, TxnOffsetCommit 28). Each expected body
// is built field by field from Kafka's <Name>Request/Response.json with the independent builder
// (bytes.ts), branching on the versions that add fields, never with the codec under test.

import t from 'tap'
import {
  addOffsetsToTxnRequest,
  addOffsetsToTxnResponse,
  addPartitionsToTxnRequest,
  addPartitionsToTxnResponse,
  endTxnRequest,
  endTxnResponse,
  txnOffsetCommitRequest,
  txnOffsetCommitResponse,
} from '../../../../client/protocol/kafka/messages/transactions.js'
import type { KafkaStruct, MessageSpec } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, type Bytes, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3]
/** All four are flexible from v3. */
const FLEXIBLE_FROM = 3
const PRODUCER_ID = 2n ** 40n + 17n

const builder = (v: number): Bytes => bytesFor(v, FLEXIBLE_FROM)

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn

const ADD_PARTITIONS_REQUEST: KafkaStruct = {
  v3AndBelowTransactionalId: 'orders-tx',
  v3AndBelowProducerId: PRODUCER_ID,
  v3AndBelowProducerEpoch: 7,
  v3AndBelowTopics: [
    { name: 'orders', partitions: [0, 2] },
    { name: 'payments', partitions: [] },
  ],
}

function addPartitionsRequestBytes(v: number, tags: { top?: TaggedBytes[]; topic?: TaggedBytes[] } = {}): Buffer {
  const b = builder(v).string('orders-tx').int64(PRODUCER_ID).int16(7).count(2)
  b.string('orders').int32Array([0, 2]).tags(tags.topic)
  b.string('payments').int32Array([]).tags()
  return b.tags(tags.top).build()
}

const ADD_PARTITIONS_RESPONSE: KafkaStruct = {
  throttleTimeMs: 12,
  resultsByTopicV3AndBelow: [
    {
      name: 'orders',
      resultsByPartition: [
        { partitionIndex: 0, partitionErrorCode: 0 },
        { partitionIndex: 2, partitionErrorCode: 51 },
      ],
    },
  ],
}

function addPartitionsResponseBytes(v: number): Buffer {
  const b = builder(v).int32(12).count(1).string('orders').count(2)
  b.int32(0).int16(0).tags()
  b.int32(2).int16(51).tags()
  return b.tags().tags().build()
}

// ---------------------------------------------------------------------------------------------
// AddOffsetsToTxn and EndTxn: flat bodies.

const ADD_OFFSETS_REQUEST: KafkaStruct = { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 7, groupId: 'billing' }

function addOffsetsRequestBytes(v: number, top: TaggedBytes[] = []): Buffer {
  return builder(v).string('orders-tx').int64(PRODUCER_ID).int16(7).string('billing').tags(top).build()
}

function endTxnSample(committed: boolean): KafkaStruct {
  return { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 7, committed }
}

function endTxnRequestBytes(v: number, committed: boolean, top: TaggedBytes[] = []): Buffer {
  return builder(v).string('orders-tx').int64(PRODUCER_ID).int16(7).bool(committed).tags(top).build()
}

/** AddOffsetsToTxn and EndTxn answer alike: throttle time and one error code. */
const CODE_RESPONSE: KafkaStruct = { throttleTimeMs: 3, errorCode: 90 }

function codeResponseBytes(v: number): Buffer {
  return builder(v).int32(3).int16(90).tags().build()
}

// ---------------------------------------------------------------------------------------------
// TxnOffsetCommit

interface MemberSample {
  generationId: number
  memberId: string
  groupInstanceId: string | null
}

const V3_MEMBER: MemberSample = { generationId: 11, memberId: 'consumer-1-5b0e', groupInstanceId: 'pod-3' }
/** What a request before v3 decodes to: no member check. */
const NO_MEMBER: MemberSample = { generationId: -1, memberId: '', groupInstanceId: null }

function txnCommitRequest(v: number, member: MemberSample): KafkaStruct {
  return {
    transactionalId: 'orders-tx',
    groupId: 'billing',
    producerId: PRODUCER_ID,
    producerEpoch: 7,
    ...(v >= 3 ? member : NO_MEMBER),
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, committedOffset: 1234n, committedLeaderEpoch: v >= 2 ? 4 : -1, committedMetadata: 'batch-9' },
          { partitionIndex: 1, committedOffset: 2n ** 33n, committedLeaderEpoch: -1, committedMetadata: null },
        ],
      },
    ],
  }
}

function txnCommitRequestBytes(v: number, member: MemberSample, tags: { top?: TaggedBytes[]; partition?: TaggedBytes[] } = {}): Buffer {
  const b = builder(v).string('orders-tx').string('billing').int64(PRODUCER_ID).int16(7)
  if (v >= 3) b.int32(member.generationId).string(member.memberId).string(member.groupInstanceId)
  b.count(1).string('orders').count(2)
  b.int32(0).int64(1234n)
  if (v >= 2) b.int32(4)
  b.string('batch-9').tags(tags.partition)
  b.int32(1).int64(2n ** 33n)
  if (v >= 2) b.int32(-1)
  b.string(null).tags()
  return b.tags().tags(tags.top).build()
}

const TXN_COMMIT_RESPONSE: KafkaStruct = {
  throttleTimeMs: 0,
  topics: [
    { name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 1, errorCode: 22 }] },
    { name: 'audit', partitions: [] },
  ],
}

function txnCommitResponseBytes(v: number): Buffer {
  const b = builder(v).int32(0).count(2)
  b.string('orders').count(2).int32(0).int16(0).tags().int32(1).int16(22).tags().tags()
  b.string('audit').count(0).tags()
  return b.tags().build()
}

// ---------------------------------------------------------------------------------------------

for (const v of VERSIONS) {
  t.test(`AddPartitionsToTxn v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(addPartitionsToTxnRequest, v), ADD_PARTITIONS_REQUEST, addPartitionsRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(addPartitionsToTxnResponse, v), ADD_PARTITIONS_RESPONSE, addPartitionsResponseBytes(v))
  })
  t.test(`AddOffsetsToTxn v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(addOffsetsToTxnRequest, v), ADD_OFFSETS_REQUEST, addOffsetsRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(addOffsetsToTxnResponse, v), CODE_RESPONSE, codeResponseBytes(v))
  })
  t.test(`EndTxn v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(endTxnRequest, v), endTxnSample(true), endTxnRequestBytes(v, true))
    checkGoldenAndTruncations(t, codecOf(endTxnRequest, v), endTxnSample(false), endTxnRequestBytes(v, false))
    checkGoldenAndTruncations(t, codecOf(endTxnResponse, v), CODE_RESPONSE, codeResponseBytes(v))
  })
  t.test(`TxnOffsetCommit v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(txnOffsetCommitRequest, v), txnCommitRequest(v, V3_MEMBER), txnCommitRequestBytes(v, V3_MEMBER))
    if (v >= 3) {
      const anonymous = { generationId: -1, memberId: '', groupInstanceId: null }
      checkGoldenAndTruncations(t, codecOf(txnOffsetCommitRequest, v), txnCommitRequest(v, anonymous), txnCommitRequestBytes(v, anonymous))
    }
    checkGoldenAndTruncations(t, codecOf(txnOffsetCommitResponse, v), TXN_COMMIT_RESPONSE, txnCommitResponseBytes(v))
  })
}

t.test('EndTxn: any nonzero byte is true, as Kafka reads a bool', async (t) => {
  for (const v of VERSIONS) {
    const bytes = endTxnRequestBytes(v, true)
    bytes[bytes.length - (v >= FLEXIBLE_FROM ? 2 : 1)] = 0x02
    t.equal(codecOf(endTxnRequest, v).decode(bytes).committed, true, `v${v}`)
  }
})

t.test('v3: tags the messages do not define are skipped, at the top and inside structs', async (t) => {
  const v = 3
  t.strictSame(codecOf(addPartitionsToTxnRequest, v).decode(addPartitionsRequestBytes(v, { top: [UNKNOWN_TAG], topic: [UNKNOWN_TAG] })), ADD_PARTITIONS_REQUEST)
  t.strictSame(codecOf(addOffsetsToTxnRequest, v).decode(addOffsetsRequestBytes(v, [UNKNOWN_TAG])), ADD_OFFSETS_REQUEST)
  t.strictSame(codecOf(endTxnRequest, v).decode(endTxnRequestBytes(v, false, [UNKNOWN_TAG])), endTxnSample(false))
  t.strictSame(codecOf(txnOffsetCommitRequest, v).decode(txnCommitRequestBytes(v, V3_MEMBER, { top: [UNKNOWN_TAG], partition: [UNKNOWN_TAG] })), txnCommitRequest(v, V3_MEMBER))
})

/** The transactional id, first in AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, with a forged length. */
function forgedTransactionalId(v: number, length: number): Buffer {
  const b = builder(v)
  if (b.flexible) b.uvarint(length + 1)
  else b.int16(length)
  return b.raw(Buffer.from('orders-tx')).build()
}

t.test('forged lengths and counts are INVALID_REQUEST', async (t) => {
  const firstString: MessageSpec[] = [addPartitionsToTxnRequest, addOffsetsToTxnRequest, endTxnRequest, txnOffsetCommitRequest]
  for (const v of VERSIONS) {
    for (const spec of firstString) {
      checkRefused(t, codecOf(spec, v), forgedTransactionalId(v, 0x7ff0), 'a transactional id longer than the body')
      // -1 is null, which the transactional id never is; below -1 is no length at all.
      if (v < FLEXIBLE_FROM) checkRefused(t, codecOf(spec, v), forgedTransactionalId(v, -1), 'a null transactional id')
      if (v < FLEXIBLE_FROM) checkRefused(t, codecOf(spec, v), forgedTransactionalId(v, -5), 'a negative transactional id length')
      else checkRefused(t, codecOf(spec, v), builder(v).uvarint(0).build(), 'a null transactional id')
    }
    const head = () => builder(v).string('orders-tx').int64(PRODUCER_ID).int16(7)
    checkRefused(t, codecOf(addPartitionsToTxnRequest, v), head().count(ABSURD_COUNT).build(), 'a topic count no body could hold')
    checkRefused(t, codecOf(addPartitionsToTxnRequest, v), head().count(1).string('orders').count(ABSURD_COUNT).build(), 'a partition count no body could hold')
    const commitHead = () => {
      const b = builder(v).string('orders-tx').string('billing').int64(PRODUCER_ID).int16(7)
      if (v >= 3) b.int32(11).string('consumer-1').string(null)
      return b
    }
    checkRefused(t, codecOf(txnOffsetCommitRequest, v), commitHead().count(ABSURD_COUNT).build(), 'a topic count no body could hold')
    checkRefused(t, codecOf(txnOffsetCommitRequest, v), commitHead().count(1).string('orders').count(ABSURD_COUNT).build(), 'a partition count no body could hold')
  }
})
