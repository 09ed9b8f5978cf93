// Golden bytes of DeleteTopics (20) v0-6 on the Kafka listener. Each expected body is built field
// by field from Kafka's DeleteTopicsRequest/Response.json with the independent builder
// (bytes.ts), branching on the versions that add fields, never with the codec under test.

import t from 'tap'
import { deleteTopicsRequest, deleteTopicsResponse } from '../../../../client/protocol/kafka/messages/delete-topics.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, uuid, ZERO_UUID, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4, 5, 6]
const FLEXIBLE_FROM = 4
const AUDIT_ID = uuid('0b6f2c1e-8a3d-4e5f-9a1b-2c3d4e5f6a7b')

function requestSample(v: number): KafkaStruct {
  if (v >= 6) {
    return {
      topics: [
        { name: 'orders', topicId: ZERO_UUID },
        { name: null, topicId: AUDIT_ID },
      ],
      topicNames: [],
      timeoutMs: 15000,
    }
  }
  return { topics: [], topicNames: ['orders', 'audit'], timeoutMs: 15000 }
}

function requestBytes(v: number, topLevelTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 6) {
    b.count(2)
    b.string('orders').uuid(ZERO_UUID).tags()
    b.string(null).uuid(AUDIT_ID).tags()
  } else {
    b.count(2).string('orders').string('audit')
  }
  b.int32(15000)
  return b.tags(topLevelTags).build()
}

function responseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 1 ? 10 : 0,
    responses: [
      // errorMessage is v5+; before, it decodes to its default, null.
      { name: 'orders', topicId: ZERO_UUID, errorCode: 0, errorMessage: null },
      v >= 6
        ? { name: null, topicId: AUDIT_ID, errorCode: 100, errorMessage: 'Topics are deleted by name only.' }
        : { name: 'audit', topicId: ZERO_UUID, errorCode: 3, errorMessage: v >= 5 ? 'Topic "audit" does not exist.' : null },
    ],
  }
}

function responseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 1) b.int32(10)
  b.count(2)
  b.string('orders')
  if (v >= 6) b.uuid(ZERO_UUID)
  b.int16(0)
  if (v >= 5) b.string(null)
  b.tags()
  if (v >= 6) b.string(null).uuid(AUDIT_ID).int16(100).string('Topics are deleted by name only.')
  else {
    b.string('audit').int16(3)
    if (v >= 5) b.string('Topic "audit" does not exist.')
  }
  b.tags()
  return b.tags().build()
}

for (const v of VERSIONS) {
  t.test(`DeleteTopics v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(deleteTopicsRequest, v), requestSample(v), requestBytes(v))
    checkGoldenAndTruncations(t, codecOf(deleteTopicsResponse, v), responseSample(v), responseBytes(v))
  })
}

t.test('a tag the message does not define is skipped', async (t) => {
  for (const v of VERSIONS.filter((v) => v >= FLEXIBLE_FROM)) {
    t.strictSame(messageCodec(deleteTopicsRequest, v).decode(requestBytes(v, [UNKNOWN_TAG])), requestSample(v), `v${v}`)
  }
})

t.test('forged counts and lengths are INVALID_REQUEST', async (t) => {
  for (const v of VERSIONS) {
    const flexible = v >= FLEXIBLE_FROM
    checkRefused(t, codecOf(deleteTopicsRequest, v), new Bytes({ flexible }).count(ABSURD_COUNT).int32(15000).build(), 'an absurd topic count')
    const response = new Bytes({ flexible })
    if (v >= 1) response.int32(0)
    checkRefused(t, codecOf(deleteTopicsResponse, v), response.count(ABSURD_COUNT).build(), 'an absurd result count')
    // A null name is allowed only in v6's topics, never in v0-5's topicNames.
    if (v < 6) checkRefused(t, codecOf(deleteTopicsRequest, v), new Bytes({ flexible }).count(1).string(null).int32(15000).build(), 'a null topic name')
  }
})
