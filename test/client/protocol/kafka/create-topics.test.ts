// Golden bytes of CreateTopics (19) v0-7 on the Kafka listener. Each expected body is built field
// by field from Kafka's CreateTopicsRequest/Response.json with the independent builder
// (bytes.ts), branching on the versions that add fields, never with the codec under test.

import t from 'tap'
import { createTopicsRequest, createTopicsResponse } from '../../../../client/protocol/kafka/messages/create-topics.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, uuid, ZERO_UUID, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4, 5, 6, 7]
const FLEXIBLE_FROM = 5
const ORDERS_ID = uuid('5f0c3a8e-2d41-4b6a-9c1e-7a3b2c1d0e9f')

function requestSample(v: number): KafkaStruct {
  return {
    topics: [
      {
        name: 'orders',
        numPartitions: 6,
        replicationFactor: 3,
        assignments: [],
        configs: [
          { name: 'retention.ms', value: '86400000' },
          { name: 'cleanup.policy', value: null },
        ],
      },
      {
        name: 'audit',
        numPartitions: -1,
        replicationFactor: -1,
        assignments: [
          { partitionIndex: 0, brokerIds: [1, 2] },
          { partitionIndex: 1, brokerIds: [2, 3] },
        ],
        configs: [],
      },
    ],
    timeoutMs: 30000,
    // validateOnly is v1+; at v0 it decodes to its default, false.
    validateOnly: v >= 1,
  }
}

function requestBytes(v: number, topLevelTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.count(2)
  b.string('orders').int32(6).int16(3)
  b.count(0)
  b.count(2)
  b.string('retention.ms').string('86400000').tags()
  b.string('cleanup.policy').string(null).tags()
  b.tags()
  b.string('audit').int32(-1).int16(-1)
  b.count(2)
  b.int32(0).count(2).int32(1).int32(2).tags()
  b.int32(1).count(2).int32(2).int32(3).tags()
  b.count(0)
  b.tags()
  b.int32(30000)
  if (v >= 1) b.bool(true)
  return b.tags(topLevelTags).build()
}

function responseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 2 ? 40 : 0,
    topics: [
      {
        name: 'orders',
        topicId: v >= 7 ? ORDERS_ID : ZERO_UUID,
        errorCode: 0,
        errorMessage: v >= 1 ? null : '',
        topicConfigErrorCode: 0,
        numPartitions: v >= 5 ? 6 : -1,
        replicationFactor: v >= 5 ? 3 : -1,
        configs:
          v >= 5
            ? [
                { name: 'retention.ms', value: '86400000', readOnly: false, configSource: 1, isSensitive: false },
                { name: 'sasl.password', value: null, readOnly: true, configSource: 5, isSensitive: true },
              ]
            : [],
      },
      {
        name: 'audit',
        topicId: ZERO_UUID,
        errorCode: 42,
        errorMessage: v >= 1 ? 'Manual replica assignment is not supported.' : '',
        // The tagged field (v5+): set, so it is written.
        topicConfigErrorCode: v >= 5 ? 29 : 0,
        numPartitions: -1,
        replicationFactor: -1,
        configs: v >= 5 ? null : [],
      },
    ],
  }
}

function responseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 2) b.int32(40)
  b.count(2)
  b.string('orders')
  if (v >= 7) b.uuid(ORDERS_ID)
  b.int16(0)
  if (v >= 1) b.string(null)
  if (v >= 5) {
    b.int32(6).int16(3)
    b.count(2)
    b.string('retention.ms').string('86400000').bool(false).int8(1).bool(false).tags()
    b.string('sasl.password').string(null).bool(true).int8(5).bool(true).tags()
  }
  // topicConfigErrorCode is 0, its default: not written.
  b.tags()
  b.string('audit')
  if (v >= 7) b.uuid(ZERO_UUID)
  b.int16(42)
  if (v >= 1) b.string('Manual replica assignment is not supported.')
  if (v >= 5) b.int32(-1).int16(-1).count(null)
  b.tags(v >= 5 ? [{ tag: 0, value: (x) => x.int16(29) }] : [])
  return b.tags().build()
}

for (const v of VERSIONS) {
  t.test(`CreateTopics v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(createTopicsRequest, v), requestSample(v), requestBytes(v))
    checkGoldenAndTruncations(t, codecOf(createTopicsResponse, v), responseSample(v), responseBytes(v))
  })
}

t.test('a tag the message does not define is skipped', async (t) => {
  for (const v of VERSIONS.filter((v) => v >= FLEXIBLE_FROM)) {
    t.strictSame(messageCodec(createTopicsRequest, v).decode(requestBytes(v, [UNKNOWN_TAG])), requestSample(v), `v${v}`)
  }
})

t.test('forged counts and lengths are INVALID_REQUEST', async (t) => {
  for (const v of VERSIONS) {
    const flexible = v >= FLEXIBLE_FROM
    checkRefused(t, codecOf(createTopicsRequest, v), new Bytes({ flexible }).count(ABSURD_COUNT).build(), 'an absurd topic count')
    const nested = new Bytes({ flexible }).count(1).string('orders').int32(1).int16(1).count(ABSURD_COUNT).build()
    checkRefused(t, codecOf(createTopicsRequest, v), nested, 'an absurd assignment count')
    const response = new Bytes({ flexible })
    if (v >= 2) response.int32(0)
    checkRefused(t, codecOf(createTopicsResponse, v), response.count(ABSURD_COUNT).build(), 'an absurd result count')
    const negative = flexible ? new Bytes({ flexible: true }).count(1).raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])).build() : new Bytes({ flexible: false }).count(1).int16(-2).build()
    checkRefused(t, codecOf(createTopicsRequest, v), negative, 'a topic name of impossible length')
  }
})
