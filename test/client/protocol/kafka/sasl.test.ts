import t from 'tap'
import { saslAuthenticateRequest, saslAuthenticateResponse, saslHandshakeRequest, saslHandshakeResponse } from '../../../../client/protocol/kafka/messages/sasl.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, UNKNOWN_TAG, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for SaslHandshake v0-1 (never flexible) and SaslAuthenticate v0-2 (flexible from
// v2, no tagged fields), built field by field from Kafka's SaslHandshake*.json and
// SaslAuthenticate*.json.

const CLIENT_FIRST = Buffer.from('n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL')
const SERVER_FIRST = Buffer.from('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')
const AUTHENTICATE_FROM_FLEXIBLE = 2

for (const v of [0, 1]) {
  t.test(`SaslHandshake v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    const request = { mechanism: 'SCRAM-SHA-256' }
    const requestBytes = new Bytes({ flexible: false }).string('SCRAM-SHA-256').build()
    checkGolden(t, codecOf(saslHandshakeRequest, v), request, requestBytes)
    // UNSUPPORTED_SASL_MECHANISM, listing what the listener does enable.
    const response = { errorCode: 33, mechanisms: ['PLAIN', 'SCRAM-SHA-512'] }
    const responseBytes = new Bytes({ flexible: false }).int16(33).stringArray(['PLAIN', 'SCRAM-SHA-512']).build()
    checkGolden(t, codecOf(saslHandshakeResponse, v), response, responseBytes)
    t.equal(requestBytes.toString('hex'), '000d' + Buffer.from('SCRAM-SHA-256').toString('hex'), 'int16 length, then the name')
    checkTruncations(t, codecOf(saslHandshakeRequest, v), requestBytes)
    checkTruncations(t, codecOf(saslHandshakeResponse, v), responseBytes)
  })
}

t.test('SaslHandshake: absurd counts and lengths are refused as INVALID_REQUEST', async (t) => {
  const mechanisms = new Bytes({ flexible: false }).int16(0).classicCount(ABSURD_COUNT).classicString('PLAIN').build()
  checkInvalid(t, () => codecOf(saslHandshakeResponse, 1).decode(mechanisms), 'v1 mechanisms count')
  const name = new Bytes({ flexible: false }).int16(0x7fff).raw(Buffer.from('PLAIN')).build()
  checkInvalid(t, () => codecOf(saslHandshakeRequest, 1).decode(name), 'v1 mechanism length')
  const nullName = new Bytes({ flexible: false }).classicString(null).build()
  checkInvalid(t, () => codecOf(saslHandshakeRequest, 0).decode(nullName), 'v0 a null mechanism (not nullable)')
})

function authenticateRequest(): KafkaStruct {
  return { authBytes: CLIENT_FIRST }
}

function authenticateRequestBytes(v: number, topTags: readonly TaggedBytes[] = []): Buffer {
  return bytesFor(v, AUTHENTICATE_FROM_FLEXIBLE).bytes(CLIENT_FIRST).tags(topTags).build()
}

function authenticateResponse(v: number): KafkaStruct {
  return { errorCode: 0, errorMessage: null, authBytes: SERVER_FIRST, sessionLifetimeMs: v >= 1 ? 3_600_000n : 0n }
}

function authenticateResponseBytes(v: number, topTags: readonly TaggedBytes[] = []): Buffer {
  const b = bytesFor(v, AUTHENTICATE_FROM_FLEXIBLE)
  b.int16(0).string(null).bytes(SERVER_FIRST)
  if (v >= 1) b.int64(3_600_000n)
  return b.tags(topTags).build()
}

for (const v of [0, 1, 2]) {
  t.test(`SaslAuthenticate v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(saslAuthenticateRequest, v), authenticateRequest(), authenticateRequestBytes(v))
    checkGolden(t, codecOf(saslAuthenticateResponse, v), authenticateResponse(v), authenticateResponseBytes(v))
    checkTruncations(t, codecOf(saslAuthenticateRequest, v), authenticateRequestBytes(v))
    checkTruncations(t, codecOf(saslAuthenticateResponse, v), authenticateResponseBytes(v))
  })
}

t.test('SaslAuthenticate: a failure carries a message and empty (not null) auth bytes', async (t) => {
  const message = 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256'
  for (const v of [0, 1, 2]) {
    const failed = { errorCode: 58, errorMessage: message, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n }
    const b = bytesFor(v, AUTHENTICATE_FROM_FLEXIBLE).int16(58).string(message).bytes(Buffer.alloc(0))
    if (v >= 1) b.int64(0n)
    checkGolden(t, codecOf(saslAuthenticateResponse, v), failed, b.tags().build())
  }
  t.equal(authenticateRequestBytes(2).subarray(0, 1).toString('hex'), (CLIENT_FIRST.length + 1).toString(16), 'v2: uvarint length+1')
})

t.test('SaslAuthenticate v2: an unknown tagged field is skipped', async (t) => {
  t.strictSame(codecOf(saslAuthenticateRequest, 2).decode(authenticateRequestBytes(2, [UNKNOWN_TAG])), authenticateRequest(), 'request')
  t.strictSame(codecOf(saslAuthenticateResponse, 2).decode(authenticateResponseBytes(2, [UNKNOWN_TAG])), authenticateResponse(2), 'response')
})

t.test('SaslAuthenticate: absurd lengths are refused as INVALID_REQUEST', async (t) => {
  const classic = new Bytes({ flexible: false }).int32(0x7fffffff).raw(CLIENT_FIRST).build()
  checkInvalid(t, () => codecOf(saslAuthenticateRequest, 1).decode(classic), 'v1 authBytes length')
  const flexible = new Bytes({ flexible: true }).uvarint(0xfffffff0).raw(CLIENT_FIRST).build()
  checkInvalid(t, () => codecOf(saslAuthenticateRequest, 2).decode(flexible), 'v2 authBytes length')
  const nullBytes = new Bytes({ flexible: false }).classicBytes(null).build()
  checkInvalid(t, () => codecOf(saslAuthenticateRequest, 0).decode(nullBytes), 'v0 null authBytes (not nullable)')
  const message = new Bytes({ flexible: false }).int16(58).int16(0x7000).raw(Buffer.from('Authentication failed')).build()
  checkInvalid(t, () => codecOf(saslAuthenticateResponse, 1).decode(message), 'v1 errorMessage length')
})
