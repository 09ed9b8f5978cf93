// Golden bytes of DescribeConfigs (32) v0-4 on the Kafka listener. Each expected body is built
// field by field from Kafka's DescribeConfigsRequest/Response.json with the independent builder
// (bytes.ts), branching on the versions that add fields, never with the codec under test.

import t from 'tap'
import { describeConfigsRequest, describeConfigsResponse } from '../../../../client/protocol/kafka/messages/describe-configs.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4]
const FLEXIBLE_FROM = 4

function requestSample(v: number): KafkaStruct {
  return {
    resources: [
      { resourceType: 2, resourceName: 'orders', configurationKeys: ['retention.ms', 'cleanup.policy'] },
      { resourceType: 4, resourceName: '1', configurationKeys: null },
    ],
    includeSynonyms: v >= 1,
    includeDocumentation: v >= 3,
  }
}

function requestBytes(v: number, topLevelTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.count(2)
  b.int8(2).string('orders').count(2).string('retention.ms').string('cleanup.policy').tags()
  b.int8(4).string('1').count(null).tags()
  if (v >= 1) b.bool(true)
  if (v >= 3) b.bool(true)
  return b.tags(topLevelTags).build()
}

function responseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: 5,
    results: [
      {
        errorCode: 0,
        errorMessage: null,
        resourceType: 2,
        resourceName: 'orders',
        configs: [
          {
            name: 'retention.ms',
            value: '86400000',
            readOnly: false,
            isDefault: false,
            configSource: v >= 1 ? 1 : -1,
            isSensitive: false,
            synonyms:
              v >= 1
                ? [
                    { name: 'retention.ms', value: '86400000', source: 1 },
                    { name: 'log.retention.ms', value: null, source: 4 },
                  ]
                : [],
            configType: v >= 3 ? 5 : 0,
            documentation: v >= 3 ? 'Delete segments older than this.' : '',
          },
          {
            name: 'cleanup.policy',
            value: 'delete',
            readOnly: true,
            // isDefault is v0 only; from v1 configSource says it (5, DEFAULT_CONFIG).
            isDefault: v === 0,
            configSource: v >= 1 ? 5 : -1,
            isSensitive: false,
            synonyms: [],
            configType: v >= 3 ? 7 : 0,
            documentation: v >= 3 ? null : '',
          },
        ],
      },
      { errorCode: 3, errorMessage: 'Topic "gone" does not exist.', resourceType: 2, resourceName: 'gone', configs: [] },
    ],
  }
}

function responseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.int32(5)
  b.count(2)
  b.int16(0).string(null).int8(2).string('orders')
  b.count(2)
  b.string('retention.ms').string('86400000').bool(false)
  if (v === 0) b.bool(false)
  if (v >= 1) b.int8(1)
  b.bool(false)
  if (v >= 1) {
    b.count(2)
    b.string('retention.ms').string('86400000').int8(1).tags()
    b.string('log.retention.ms').string(null).int8(4).tags()
  }
  if (v >= 3) b.int8(5).string('Delete segments older than this.')
  b.tags()
  b.string('cleanup.policy').string('delete').bool(true)
  if (v === 0) b.bool(true)
  if (v >= 1) b.int8(5)
  b.bool(false)
  if (v >= 1) b.count(0)
  if (v >= 3) b.int8(7).string(null)
  b.tags()
  b.tags()
  b.int16(3).string('Topic "gone" does not exist.').int8(2).string('gone').count(0).tags()
  return b.tags().build()
}

for (const v of VERSIONS) {
  t.test(`DescribeConfigs v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(describeConfigsRequest, v), requestSample(v), requestBytes(v))
    checkGoldenAndTruncations(t, codecOf(describeConfigsResponse, v), responseSample(v), responseBytes(v))
  })
}

t.test('a tag the message does not define is skipped (DescribeConfigs defines none)', async (t) => {
  for (const v of VERSIONS.filter((v) => v >= FLEXIBLE_FROM)) {
    t.strictSame(messageCodec(describeConfigsRequest, v).decode(requestBytes(v, [UNKNOWN_TAG])), requestSample(v), `v${v}`)
  }
})

t.test('forged counts are INVALID_REQUEST', async (t) => {
  for (const v of VERSIONS) {
    const flexible = v >= FLEXIBLE_FROM
    checkRefused(t, codecOf(describeConfigsRequest, v), new Bytes({ flexible }).count(ABSURD_COUNT).build(), 'an absurd resource count')
    checkRefused(t, codecOf(describeConfigsRequest, v), new Bytes({ flexible }).count(1).int8(2).string('orders').count(ABSURD_COUNT).build(), 'an absurd key count')
    checkRefused(t, codecOf(describeConfigsResponse, v), new Bytes({ flexible }).int32(0).count(ABSURD_COUNT).build(), 'an absurd result count')
  }
})
