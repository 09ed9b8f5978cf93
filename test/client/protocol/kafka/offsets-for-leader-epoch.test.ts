// Golden bytes of OffsetsForLeaderEpoch (23) v0-4 on the Kafka listener. Each expected body is
// built field by field from Kafka's OffsetForLeaderEpochRequest/Response.json with the
// independent builder (bytes.ts), branching on the versions that add fields, never with the
// codec under test.

import t from 'tap'
import { offsetsForLeaderEpochRequest, offsetsForLeaderEpochResponse } from '../../../../client/protocol/kafka/messages/offsets-for-leader-epoch.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, type Bytes, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4]
const FLEXIBLE_FROM = 4
/** Kafka's default replica id where the request has none (before v3): its "debug consumer". */
const NO_REPLICA_ID = -2

const builder = (v: number): Bytes => bytesFor(v, FLEXIBLE_FROM)

function requestSample(v: number): KafkaStruct {
  return {
    replicaId: v >= 3 ? -1 : NO_REPLICA_ID,
    topics: [
      {
        topic: 'orders',
        partitions: [
          { partition: 0, currentLeaderEpoch: v >= 2 ? 5 : -1, leaderEpoch: 4 },
          { partition: 3, currentLeaderEpoch: -1, leaderEpoch: 0 },
        ],
      },
      { topic: 'audit', partitions: [] },
    ],
  }
}

function requestBytes(v: number, tags: { top?: TaggedBytes[]; partition?: TaggedBytes[] } = {}): Buffer {
  const b = builder(v)
  if (v >= 3) b.int32(-1)
  b.count(2).string('orders').count(2)
  b.int32(0)
  if (v >= 2) b.int32(5)
  b.int32(4).tags(tags.partition)
  b.int32(3)
  if (v >= 2) b.int32(-1)
  b.int32(0).tags()
  b.tags()
  b.string('audit').count(0).tags()
  return b.tags(tags.top).build()
}

function responseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 2 ? 7 : 0,
    topics: [
      {
        topic: 'orders',
        partitions: [
          { errorCode: 0, partition: 0, leaderEpoch: v >= 1 ? 4 : -1, endOffset: 2n ** 35n + 9n },
          { errorCode: 74, partition: 3, leaderEpoch: -1, endOffset: -1n },
        ],
      },
    ],
  }
}

function responseBytes(v: number): Buffer {
  const b = builder(v)
  if (v >= 2) b.int32(7)
  b.count(1).string('orders').count(2)
  b.int16(0).int32(0)
  if (v >= 1) b.int32(4)
  b.int64(2n ** 35n + 9n).tags()
  b.int16(74).int32(3)
  if (v >= 1) b.int32(-1)
  b.int64(-1n).tags()
  return b.tags().tags().build()
}

for (const v of VERSIONS) {
  t.test(`OffsetsForLeaderEpoch v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(offsetsForLeaderEpochRequest, v), requestSample(v), requestBytes(v))
    checkGoldenAndTruncations(t, codecOf(offsetsForLeaderEpochResponse, v), responseSample(v), responseBytes(v))
  })
}

t.test('v3+: a follower id decodes as sent (the handler, not the codec, decides what it means)', async (t) => {
  for (const v of [3, 4]) {
    const bytes = requestBytes(v)
    bytes.writeInt32BE(2, 0)
    t.equal(codecOf(offsetsForLeaderEpochRequest, v).decode(bytes).replicaId, 2, `v${v}`)
  }
})

t.test('v4: tags the message does not define are skipped, at the top and inside structs', async (t) => {
  t.strictSame(codecOf(offsetsForLeaderEpochRequest, 4).decode(requestBytes(4, { top: [UNKNOWN_TAG], partition: [UNKNOWN_TAG] })), requestSample(4))
})

t.test('forged lengths and counts are INVALID_REQUEST', async (t) => {
  for (const v of VERSIONS) {
    const head = () => {
      const b = builder(v)
      if (v >= 3) b.int32(-1)
      return b
    }
    checkRefused(t, codecOf(offsetsForLeaderEpochRequest, v), head().count(ABSURD_COUNT).build(), 'a topic count no body could hold')
    checkRefused(t, codecOf(offsetsForLeaderEpochRequest, v), head().count(1).string('orders').count(ABSURD_COUNT).build(), 'a partition count no body could hold')
    const long = head().count(1)
    if (long.flexible) long.uvarint(0x7ff0 + 1)
    else long.int16(0x7ff0)
    checkRefused(t, codecOf(offsetsForLeaderEpochRequest, v), long.raw(Buffer.from('orders')).build(), 'a topic name longer than the body')
  }
})
