import t from 'tap'
import { listOffsetsRequest, listOffsetsResponse } from '../../../../client/protocol/kafka/messages/list-offsets.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for ListOffsets v1-7, built field by field from Kafka's ListOffsetsRequest.json and
// ListOffsetsResponse.json (flexible from v6; no tagged fields in any version).
const VERSIONS = [1, 2, 3, 4, 5, 6, 7]
const FLEXIBLE_FROM = 6
const LATEST = -1n
const EARLIEST = -2n
const MAX_TIMESTAMP = -3n

function requestPartitions(v: number): { partitionIndex: number; currentLeaderEpoch: number; timestamp: bigint; maxNumOffsets: number }[] {
  const epoch = v >= 4 ? 5 : -1
  return [
    { partitionIndex: 0, currentLeaderEpoch: epoch, timestamp: LATEST, maxNumOffsets: 1 },
    { partitionIndex: 1, currentLeaderEpoch: epoch, timestamp: EARLIEST, maxNumOffsets: 1 },
    { partitionIndex: 2, currentLeaderEpoch: epoch, timestamp: v >= 7 ? MAX_TIMESTAMP : 1_700_000_000_000n, maxNumOffsets: 1 },
  ]
}

function request(v: number): KafkaStruct {
  return {
    replicaId: -1,
    isolationLevel: v >= 2 ? 1 : 0,
    topics: [{ name: 'orders', partitions: requestPartitions(v) }],
    timeoutMs: 0,
  }
}

function requestBytes(v: number, options: { topTags?: readonly TaggedBytes[]; partitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.int32(-1)
  if (v >= 2) b.int8(1)
  b.array(['orders'], (b, name) => {
    b.string(name)
    b.array(requestPartitions(v), (b, p) => {
      b.int32(p.partitionIndex)
      if (v >= 4) b.int32(p.currentLeaderEpoch)
      b.int64(p.timestamp)
      b.tags(options.partitionTags)
    })
    b.tags()
  })
  return b.tags(options.topTags).build()
}

function responsePartitions(v: number): { partitionIndex: number; errorCode: number; oldStyleOffsets: bigint[]; timestamp: bigint; offset: bigint; leaderEpoch: number }[] {
  return [
    { partitionIndex: 0, errorCode: 0, oldStyleOffsets: [], timestamp: -1n, offset: 1300n, leaderEpoch: v >= 4 ? 5 : -1 },
    { partitionIndex: 1, errorCode: 0, oldStyleOffsets: [], timestamp: -1n, offset: 100n, leaderEpoch: v >= 4 ? 5 : -1 },
    // OFFSET_NOT_AVAILABLE (v5+) for a leader whose high watermark has not caught up; NOT_LEADER before.
    { partitionIndex: 2, errorCode: v >= 5 ? 78 : 6, oldStyleOffsets: [], timestamp: 1_700_000_000_250n, offset: -1n, leaderEpoch: -1 },
  ]
}

function response(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 2 ? 5 : 0,
    topics: [{ name: 'orders', partitions: responsePartitions(v) }],
  }
}

function responseBytes(v: number, options: { topTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 2) b.int32(5)
  b.array(['orders'], (b, name) => {
    b.string(name)
    b.array(responsePartitions(v), (b, p) => {
      b.int32(p.partitionIndex).int16(p.errorCode)
      b.int64(p.timestamp).int64(p.offset) // v1+
      if (v >= 4) b.int32(p.leaderEpoch)
      b.tags()
    })
    b.tags()
  })
  return b.tags(options.topTags).build()
}

for (const v of VERSIONS) {
  t.test(`ListOffsets v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(listOffsetsRequest, v), request(v), requestBytes(v))
    checkGolden(t, codecOf(listOffsetsResponse, v), response(v), responseBytes(v))
    checkTruncations(t, codecOf(listOffsetsRequest, v), requestBytes(v))
    checkTruncations(t, codecOf(listOffsetsResponse, v), responseBytes(v))
  })
}

t.test('ListOffsets v1: one partition, spelled out', async (t) => {
  const one = { replicaId: -1, isolationLevel: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 4, currentLeaderEpoch: -1, timestamp: EARLIEST, maxNumOffsets: 1 }] }], timeoutMs: 0 }
  checkGolden(t, codecOf(listOffsetsRequest, 1), one, Buffer.from('ffffffff' + '00000001' + '000174' + '00000001' + '00000004' + 'fffffffffffffffe', 'hex'))
})

t.test('ListOffsets v6-7: an unknown tagged field is skipped', async (t) => {
  for (const v of [6, 7]) {
    t.strictSame(codecOf(listOffsetsRequest, v).decode(requestBytes(v, { topTags: [UNKNOWN_TAG] })), request(v), `v${v} request, top level`)
    t.strictSame(codecOf(listOffsetsRequest, v).decode(requestBytes(v, { partitionTags: [UNKNOWN_TAG] })), request(v), `v${v} request, in each partition`)
    t.strictSame(codecOf(listOffsetsResponse, v).decode(responseBytes(v, { topTags: [UNKNOWN_TAG] })), response(v), `v${v} response, top level`)
  }
})

t.test('ListOffsets: absurd counts and lengths are refused as INVALID_REQUEST', async (t) => {
  const classic = new Bytes({ flexible: false }).int32(-1).int8(0).classicCount(ABSURD_COUNT).classicString('orders').build()
  checkInvalid(t, () => codecOf(listOffsetsRequest, 2).decode(classic), 'v2 topics count')
  const flexible = new Bytes({ flexible: true }).int32(-1).int8(0).compactCount(1).compactString('orders').compactCount(ABSURD_COUNT).int32(0).build()
  checkInvalid(t, () => codecOf(listOffsetsRequest, 6).decode(flexible), 'v6 partitions count')
  const name = new Bytes({ flexible: true }).int32(5).compactCount(1).uvarint(0xfffffff0).raw(Buffer.from('orders')).build()
  checkInvalid(t, () => codecOf(listOffsetsResponse, 7).decode(name), 'v7 topic name length')
  const tags = new Bytes({ flexible: true }).int32(-1).int8(0).compactCount(0).uvarint(0xfffffff0).build()
  checkInvalid(t, () => codecOf(listOffsetsRequest, 7).decode(tags), 'v7 an absurd tagged-field count')
})
