// Golden bytes of FindCoordinator (10) v0-4 on the Kafka listener. Each expected body is built
// field by field from Kafka's FindCoordinatorRequest/Response.json with the independent builder
// (bytes.ts), never with the codec under test.

import t from 'tap'
import { findCoordinatorRequest, findCoordinatorResponse } from '../../../../client/protocol/kafka/messages/find-coordinator.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { Bytes, bytesFor, checkGoldenAndTruncations, tagged } from './bytes.js'
import { codecOf } from './codec.js'

const VERSIONS = [0, 1, 2, 3, 4]
const FLEXIBLE_FROM = 3

function requestSample(v: number): KafkaStruct {
  return {
    key: v <= 3 ? 'billing-sinks' : '',
    keyType: v >= 1 ? 1 : 0,
    coordinatorKeys: v >= 4 ? ['billing-sinks', 'ledger'] : [],
  }
}

function requestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v <= 3) b.string('billing-sinks')
  if (v >= 1) b.int8(1)
  if (v >= 4) b.count(2).string('billing-sinks').string('ledger')
  return b.tags().build()
}

function responseSample(v: number): KafkaStruct {
  if (v >= 4) {
    return {
      throttleTimeMs: 25,
      errorCode: 0,
      errorMessage: '',
      nodeId: 0,
      host: '',
      port: 0,
      coordinators: [
        { key: 'billing-sinks', nodeId: 2, host: 'broker-2.local', port: 19092, errorCode: 0, errorMessage: null },
        { key: 'ledger', nodeId: -1, host: '', port: -1, errorCode: 15, errorMessage: 'not yet' },
      ],
    }
  }
  return {
    throttleTimeMs: v >= 1 ? 25 : 0,
    errorCode: 15,
    errorMessage: v >= 1 ? null : '',
    nodeId: 2,
    host: 'broker-2.local',
    port: 19092,
    coordinators: [],
  }
}

function responseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 1) b.int32(25)
  if (v <= 3) {
    b.int16(15)
    if (v >= 1) b.string(null)
    b.int32(2).string('broker-2.local').int32(19092)
  }
  if (v >= 4) {
    b.count(2)
    b.string('billing-sinks').int32(2).string('broker-2.local').int32(19092).int16(0).string(null).tags()
    b.string('ledger').int32(-1).string('').int32(-1).int16(15).string('not yet').tags()
  }
  return b.tags().build()
}

t.test('FindCoordinator requests, every version', async (t) => {
  for (const v of VERSIONS) checkGoldenAndTruncations(t, codecOf(findCoordinatorRequest, v), requestSample(v), requestBytes(v))
})

t.test('FindCoordinator responses, every version', async (t) => {
  for (const v of VERSIONS) checkGoldenAndTruncations(t, codecOf(findCoordinatorResponse, v), responseSample(v), responseBytes(v))
})

t.test('flexible versions skip tagged fields they do not know (FindCoordinator has none of its own)', async (t) => {
  const unknown = [tagged(7, (b) => b.raw(Buffer.from('ignored')))]
  const req = new Bytes({ flexible: true }).string('billing-sinks').int8(1).tags(unknown).build()
  t.strictSame(messageCodec(findCoordinatorRequest, 3).decode(req), requestSample(3))
  const res = new Bytes({ flexible: true }).int32(25).count(2)
  res.string('billing-sinks').int32(2).string('broker-2.local').int32(19092).int16(0).string(null).tags(unknown)
  res.string('ledger').int32(-1).string('').int32(-1).int16(15).string('not yet').tags()
  t.strictSame(messageCodec(findCoordinatorResponse, 4).decode(res.tags(unknown).build()), responseSample(4))
})

t.test('an absurd key count is refused before anything is allocated', async (t) => {
  const body = new Bytes({ flexible: true }).int8(0).uvarint(0x7fffffff).build()
  t.throws(() => messageCodec(findCoordinatorRequest, 4).decode(body), { code: 'INVALID_REQUEST' })
  const coordinators = new Bytes({ flexible: true }).int32(0).uvarint(0x7ffffff0).build()
  t.throws(() => messageCodec(findCoordinatorResponse, 4).decode(coordinators), { code: 'INVALID_REQUEST' })
})

t.test('version 5 is not spoken', async (t) => {
  t.throws(() => messageCodec(findCoordinatorRequest, 5), { code: 'UNSUPPORTED_VERSION' })
})
