import t from 'tap'
import { produceRequest, produceResponse } from '../../../../client/protocol/kafka/messages/produce.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, tagged, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for Produce v3-9, built field by field from Kafka's ProduceRequest.json and
// ProduceResponse.json (flexible from v9; the tagged fields currentLeader and nodeEndpoints start
// at v10, so v9 has none).
const VERSIONS = [3, 4, 5, 6, 7, 8, 9]
const FLEXIBLE_FROM = 9

/** Stands in for a record batch: the codec passes records through as an opaque blob. */
const BATCH = Buffer.from('000000000000000a0000003d00000005025e5b2a9c0000', 'hex')

interface ProducePartition {
  index: number
  records: Buffer | null
}

const TOPIC_DATA: { name: string; partitionData: ProducePartition[] }[] = [
  { name: 'orders', partitionData: [{ index: 0, records: BATCH }, { index: 3, records: null }] },
  { name: 'payments', partitionData: [{ index: 1, records: BATCH.subarray(0, 12) }] },
]

function request(transactionalId: string | null): KafkaStruct {
  return { transactionalId, acks: -1, timeoutMs: 30000, topicData: TOPIC_DATA }
}

function requestBytes(v: number, transactionalId: string | null, options: { topTags?: readonly TaggedBytes[]; partitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.string(transactionalId).int16(-1).int32(30000)
  b.array(TOPIC_DATA, (b, topic) => {
    b.string(topic.name)
    b.array(topic.partitionData, (b, p) => b.int32(p.index).bytes(p.records).tags(options.partitionTags))
    b.tags()
  })
  return b.tags(options.topTags).build()
}

interface RecordError {
  batchIndex: number
  batchIndexErrorMessage: string | null
}

interface PartitionResponse {
  index: number
  errorCode: number
  baseOffset: bigint
  logAppendTimeMs: bigint
  logStartOffset: bigint
  recordErrors: RecordError[]
  errorMessage: string | null
  currentLeader: { leaderId: number; leaderEpoch: number }
}

function partitionResponses(v: number): PartitionResponse[] {
  const noLeaderHint = { leaderId: -1, leaderEpoch: -1 }
  return [
    {
      index: 0,
      errorCode: 0,
      baseOffset: 1200n,
      logAppendTimeMs: 1_700_000_000_123n,
      logStartOffset: v >= 5 ? 100n : -1n,
      recordErrors: [],
      errorMessage: null,
      currentLeader: noLeaderHint,
    },
    {
      index: 3,
      errorCode: 87, // INVALID_RECORD
      baseOffset: -1n,
      logAppendTimeMs: -1n,
      logStartOffset: v >= 5 ? 0n : -1n,
      recordErrors: v >= 8 ? [{ batchIndex: 2, batchIndexErrorMessage: 'Timestamp 0 of message with offset 2 is out of range.' }, { batchIndex: 5, batchIndexErrorMessage: null }] : [],
      errorMessage: v >= 8 ? 'One or more records have been rejected' : null,
      currentLeader: noLeaderHint,
    },
  ]
}

function response(v: number): KafkaStruct {
  return {
    responses: [{ name: 'orders', partitionResponses: partitionResponses(v) }],
    throttleTimeMs: 15,
    nodeEndpoints: [],
  }
}

function responseBytes(v: number, options: { topTags?: readonly TaggedBytes[]; partitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.array(['orders'], (b, name) => {
    b.string(name)
    b.array(partitionResponses(v), (b, p) => {
      b.int32(p.index).int16(p.errorCode).int64(p.baseOffset)
      b.int64(p.logAppendTimeMs) // v2+
      if (v >= 5) b.int64(p.logStartOffset)
      if (v >= 8) {
        b.array(p.recordErrors, (b, e) => b.int32(e.batchIndex).string(e.batchIndexErrorMessage).tags())
        b.string(p.errorMessage)
      }
      b.tags(options.partitionTags)
    })
    b.tags()
  })
  b.int32(15)
  return b.tags(options.topTags).build()
}

for (const v of VERSIONS) {
  t.test(`Produce v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(produceRequest, v), request(null), requestBytes(v, null))
    checkGolden(t, codecOf(produceRequest, v), request('orders-txn-1'), requestBytes(v, 'orders-txn-1'))
    checkGolden(t, codecOf(produceResponse, v), response(v), responseBytes(v))
    checkTruncations(t, codecOf(produceRequest, v), requestBytes(v, 'orders-txn-1'))
    checkTruncations(t, codecOf(produceResponse, v), responseBytes(v))
  })
}

t.test('Produce v3: a non-transactional request, spelled out', async (t) => {
  const one = { transactionalId: null, acks: 1, timeoutMs: 1000, topicData: [{ name: 't', partitionData: [{ index: 2, records: Buffer.from('abcd', 'hex') }] }] }
  const hex = 'ffff' + '0001' + '000003e8' + '00000001' + '000174' + '00000001' + '00000002' + '00000002abcd'
  checkGolden(t, codecOf(produceRequest, 3), one, Buffer.from(hex, 'hex'))
})

t.test('Produce v9: an unknown tagged field is skipped at every level', async (t) => {
  t.strictSame(codecOf(produceRequest, 9).decode(requestBytes(9, null, { topTags: [UNKNOWN_TAG] })), request(null), 'request, top level')
  t.strictSame(codecOf(produceRequest, 9).decode(requestBytes(9, null, { partitionTags: [UNKNOWN_TAG] })), request(null), 'request, in each partition')
  t.strictSame(codecOf(produceResponse, 9).decode(responseBytes(9, { topTags: [UNKNOWN_TAG] })), response(9), 'response, top level')
  // Tag 0 in a v9 partition response is v10's currentLeader: unknown at v9, so skipped, not read.
  const v10Hint = tagged(0, (b) => b.int32(2).int32(7).tags())
  t.strictSame(codecOf(produceResponse, 9).decode(responseBytes(9, { partitionTags: [v10Hint, UNKNOWN_TAG] })), response(9), 'response, v10 currentLeader at v9')
})

t.test('Produce: absurd counts and lengths are refused as INVALID_REQUEST', async (t) => {
  const topics = new Bytes({ flexible: false }).classicString(null).int16(-1).int32(30000).classicCount(ABSURD_COUNT).classicString('orders').build()
  checkInvalid(t, () => codecOf(produceRequest, 3).decode(topics), 'v3 topicData count')
  const partitions = new Bytes({ flexible: true }).compactString(null).int16(1).int32(30000).compactCount(1).compactString('orders').compactCount(ABSURD_COUNT).int32(0).build()
  checkInvalid(t, () => codecOf(produceRequest, 9).decode(partitions), 'v9 partitionData count')
  const records = new Bytes({ flexible: false }).classicString(null).int16(1).int32(30000).classicCount(1).classicString('orders').classicCount(1).int32(0).int32(0x7fffffff).raw(BATCH).build()
  checkInvalid(t, () => codecOf(produceRequest, 7).decode(records), 'v7 records length')
  const negative = new Bytes({ flexible: false }).classicString(null).int16(1).int32(30000).classicCount(1).classicString('orders').classicCount(1).int32(0).int32(-2).build()
  checkInvalid(t, () => codecOf(produceRequest, 7).decode(negative), 'v7 records length -2')
  const errors = new Bytes({ flexible: true }).compactCount(1).compactString('orders').compactCount(1).int32(0).int16(87).int64(-1n).int64(-1n).int64(0n).compactCount(ABSURD_COUNT).build()
  checkInvalid(t, () => codecOf(produceResponse, 9).decode(errors), 'v9 recordErrors count')
})
