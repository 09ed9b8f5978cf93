// Golden bytes of InitProducerId (22) v0-4 on the Kafka listener. Each expected body is built
// field by field from Kafka's InitProducerIdRequest/Response.json with the independent builder
// (bytes.ts), branching on the versions that add fields, never with the codec under test.

import t from 'tap'
import { initProducerIdRequest, initProducerIdResponse } from '../../../../client/protocol/kafka/messages/init-producer-id.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { Bytes, bytesFor, checkGoldenAndTruncations, checkRefused, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4]
const FLEXIBLE_FROM = 2

function requestSample(v: number, transactionalId: string | null): KafkaStruct {
  // producerId / producerEpoch are v3+; before, they decode to their defaults, -1.
  return { transactionalId, transactionTimeoutMs: 60000, producerId: v >= 3 ? 4242n : -1n, producerEpoch: v >= 3 ? 7 : -1 }
}

function requestBytes(v: number, transactionalId: string | null, topLevelTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.string(transactionalId).int32(60000)
  if (v >= 3) b.int64(4242n).int16(7)
  return b.tags(topLevelTags).build()
}

const RESPONSE: KafkaStruct = { throttleTimeMs: 0, errorCode: 0, producerId: 2n ** 62n + 5n, producerEpoch: 8 }

function responseBytes(v: number): Buffer {
  return bytesFor(v, FLEXIBLE_FROM).int32(0).int16(0).int64(2n ** 62n + 5n).int16(8).tags().build()
}

for (const v of VERSIONS) {
  t.test(`InitProducerId v${v}`, async (t) => {
    checkGoldenAndTruncations(t, codecOf(initProducerIdRequest, v), requestSample(v, 'orders-tx'), requestBytes(v, 'orders-tx'))
    checkGoldenAndTruncations(t, codecOf(initProducerIdRequest, v), requestSample(v, null), requestBytes(v, null))
    checkGoldenAndTruncations(t, codecOf(initProducerIdResponse, v), RESPONSE, responseBytes(v))
  })
}

t.test('a tag the message does not define is skipped (InitProducerId defines none)', async (t) => {
  for (const v of VERSIONS.filter((v) => v >= FLEXIBLE_FROM)) {
    t.strictSame(messageCodec(initProducerIdRequest, v).decode(requestBytes(v, 'orders-tx', [UNKNOWN_TAG])), requestSample(v, 'orders-tx'), `v${v}`)
  }
})

t.test('forged lengths are INVALID_REQUEST', async (t) => {
  for (const v of VERSIONS) {
    const flexible = v >= FLEXIBLE_FROM
    // InitProducerId has no array; its one variable-length field is the transactional id.
    const long = flexible ? new Bytes({ flexible: true }).uvarint(0x7ffffff0).build() : new Bytes({ flexible: false }).int16(0x7fff).raw(Buffer.from('orders-tx')).build()
    checkRefused(t, codecOf(initProducerIdRequest, v), long, 'a transactional id longer than the body')
    const negative = flexible ? new Bytes({ flexible: true }).raw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])).build() : new Bytes({ flexible: false }).int16(-5).build()
    checkRefused(t, codecOf(initProducerIdRequest, v), negative, 'a transactional id of impossible length')
  }
})
