// The schema codec's own rules, beyond what each API's golden bytes show: Kafka's 0x7fff limit on
// strings holds in flexible versions too; a `null` default holds where a field is absent; null for
// a field that cannot be null at a version is written empty, never as a length no reader accepts.

import t from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'
import { KafkaWriter, messageCodec, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'

const spec: MessageSpec = {
  name: 'TestMessage',
  apiKey: -1,
  type: 'data',
  validVersions: '0-1',
  flexibleVersions: '1+',
  fields: [
    { name: 'id', type: 'string', versions: '0+' },
    { name: 'note', type: 'string', versions: '1+', nullableVersions: '1+', default: null },
  ],
}

function encode(version: number, v: Record<string, unknown>): Buffer {
  const w = new KafkaWriter()
  messageCodec(spec, version).encode(w, v)
  return w.toBuffer()
}

t.test('a compact string longer than 0x7fff bytes is INVALID_REQUEST, as in Kafka', async (t) => {
  const length = 0x8000
  // uvarint(length + 1), the bytes, then note = null (0) and an empty tag section (0).
  const body = Buffer.concat([Buffer.from([0x81, 0x80, 0x02]), Buffer.alloc(length, 0x61), Buffer.from([0, 0])])
  let err: unknown
  try {
    messageCodec(spec, 1).decode(body)
  } catch (e) {
    err = e
  }
  t.ok(err instanceof StrandProtocolError && err.code === 'INVALID_REQUEST', `refused: ${(err as Error).message}`)
  const fits = Buffer.concat([Buffer.from([0x80, 0x80, 0x02]), Buffer.alloc(0x7fff, 0x61), Buffer.from([0, 0])])
  t.equal((messageCodec(spec, 1).decode(fits).id as string).length, 0x7fff, '0x7fff bytes are accepted')
})

t.test('an absent field with a null default decodes to null', async (t) => {
  t.same(messageCodec(spec, 0).decode(encode(0, { id: 'x' })), { id: 'x', note: null })
})

t.test('null for a string that cannot be null at the version is written empty', async (t) => {
  t.same([...encode(0, { id: null })], [0, 0], 'v0: int16 length 0, not -1')
  t.same([...encode(1, { id: null, note: null })], [1, 0, 0], 'v1: compact length 0 (empty), note null, no tags')
})
