// The change event format (client/cdc/event.ts): golden bytes of envelope v1, which never change
// once released; record keys; a delete's tombstone and its version headers; and refusal of
// anything that is not an event this code knows.

import t from 'tap'
import {
  changeRecords,
  decodeChangeRecord,
  decodeEnvelope,
  encodeEnvelope,
  parseRecordKey,
  recordKey,
  SCHEMA_HEADER,
  type EncodedChangeEvent,
} from '../../../client/cdc/event.js'

const FP = 'ab'.repeat(32)

t.test('envelope v1 golden bytes: magic 1, then Avro operation, table, key, before, after, version, timestamp', async (t) => {
  const update = encodeEnvelope({ operation: 'update', table: 'accounts', key: '17', before: Buffer.from([1, 2]), after: Buffer.from([3]), version: 300n, timestamp: 1_700_000_000_000 })
  t.equal(update.toString('hex'), '0102106163636f756e747304313702040102020203d80480a0abfef962')
  const del = encodeEnvelope({ operation: 'delete', table: 't', key: 'k', before: null, after: null, version: 2n ** 63n - 1n, timestamp: 0 })
  t.equal(del.toString('hex'), '01040274026b0000feffffffffffffffff0100', 'the largest version, nulls, timestamp 0')
  t.same(decodeEnvelope(update), { operation: 'update', table: 'accounts', key: '17', before: Buffer.from([1, 2]), after: Buffer.from([3]), version: 300n, timestamp: 1_700_000_000_000 })
  t.same(decodeEnvelope(del), { operation: 'delete', table: 't', key: 'k', before: null, after: null, version: 2n ** 63n - 1n, timestamp: 0 })
})

t.test('decoding refuses unknown magics, truncation and trailing bytes with CDC_BAD_EVENT', async (t) => {
  const good = encodeEnvelope({ operation: 'create', table: 'a', key: 'k', before: null, after: Buffer.from([9]), version: 1n, timestamp: 5 })
  const bad = { code: 'CDC_BAD_EVENT', retriable: false }
  t.throws(() => decodeEnvelope(Buffer.concat([Buffer.from([2]), good.subarray(1)])), bad, 'magic 2 is not known here')
  t.throws(() => decodeEnvelope(Buffer.alloc(0)), bad, 'empty')
  t.throws(() => decodeEnvelope(good.subarray(0, good.length - 2)), bad, 'truncated')
  t.throws(() => decodeEnvelope(Buffer.concat([good, Buffer.from([0])])), bad, 'trailing data')
  t.throws(() => decodeEnvelope(Buffer.from([1, 6])), bad, 'operation index 3 does not exist')
})

t.test('encoding checks table names, keys, versions and timestamps', async (t) => {
  const base = { operation: 'create' as const, table: 'a', key: 'k', before: null, after: Buffer.from([1]), version: 1n, timestamp: 1 }
  const invalid = { code: 'INVALID_ARGUMENT' }
  t.throws(() => encodeEnvelope({ ...base, table: 'has:colon' }), invalid)
  t.throws(() => encodeEnvelope({ ...base, table: '' }), invalid)
  t.throws(() => encodeEnvelope({ ...base, key: '' }), invalid)
  t.throws(() => encodeEnvelope({ ...base, key: 'x'.repeat(4097) }), invalid)
  t.throws(() => encodeEnvelope({ ...base, version: -1n }), invalid)
  t.throws(() => encodeEnvelope({ ...base, version: 2n ** 63n }), invalid)
  t.throws(() => encodeEnvelope({ ...base, timestamp: 1.5 }), invalid)
  t.throws(() => encodeEnvelope({ ...base, operation: 'upsert' as never }), invalid)
})

t.test('record keys are <table>:<key>, split at the first colon', async (t) => {
  t.equal(recordKey('accounts', '17'), 'accounts:17')
  t.same(parseRecordKey(Buffer.from('orders:eu:42')), { table: 'orders', key: 'eu:42' }, 'a key may hold colons')
  for (const bad of ['nocolon', ':k', 'a:', 'bad table:k']) t.throws(() => parseRecordKey(Buffer.from(bad)), { code: 'CDC_BAD_EVENT' }, JSON.stringify(bad))
  t.throws(() => parseRecordKey(null), { code: 'CDC_BAD_EVENT' }, 'no key')
})

t.test('a delete is its event then a tombstone carrying its version; both decode back', async (t) => {
  const e: EncodedChangeEvent = { operation: 'delete', table: 'accounts', key: '7', before: Buffer.from([4]), after: null, version: 12345678901234567n, timestamp: 1_700_000_000_123, schemaFingerprint: FP }
  const records = changeRecords(e)
  t.equal(records.length, 2)
  const [event, tombstone] = records
  t.equal(event!.key, 'accounts:7')
  t.same(event!.headers, [{ key: SCHEMA_HEADER, value: Buffer.from(FP) }])
  t.equal(tombstone!.key, 'accounts:7', 'same key, so same partition, right after the event')
  t.equal(tombstone!.value, null)
  const asConsumed = (r: (typeof records)[number]) => ({ key: Buffer.from(r.key), value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value, headers: r.headers })
  t.same(decodeChangeRecord(asConsumed(event!)), { kind: 'event', event: e })
  t.same(decodeChangeRecord(asConsumed(tombstone!)), { kind: 'tombstone', table: 'accounts', key: '7', version: 12345678901234567n, timestamp: 1_700_000_000_123 })
  t.equal(changeRecords({ ...e, operation: 'update', after: Buffer.from([5]) }).length, 1, 'other operations are one record')
})

t.test('a tombstone without version headers (not written by capture) decodes with version null', async (t) => {
  t.same(decodeChangeRecord({ key: Buffer.from('a:k'), value: null, headers: [] }), { kind: 'tombstone', table: 'a', key: 'k', version: null, timestamp: null })
  t.throws(() => decodeChangeRecord({ key: Buffer.from('a:k'), value: null, headers: [{ key: 'strand.cdc.version', value: Buffer.from('x') }] }), { code: 'CDC_BAD_EVENT' })
})

t.test('an event needs a schema fingerprint header and a key matching its envelope', async (t) => {
  const value = encodeEnvelope({ operation: 'create', table: 'a', key: 'k', before: null, after: Buffer.from([1]), version: 1n, timestamp: 1 })
  t.throws(() => decodeChangeRecord({ key: Buffer.from('a:k'), value, headers: [] }), { code: 'CDC_BAD_EVENT' }, 'no fingerprint')
  t.throws(() => decodeChangeRecord({ key: Buffer.from('a:other'), value, headers: [{ key: SCHEMA_HEADER, value: Buffer.from(FP) }] }), { code: 'CDC_BAD_EVENT' }, 'key mismatch')
  t.equal(decodeChangeRecord({ key: Buffer.from('a:k'), value, headers: [{ key: SCHEMA_HEADER, value: Buffer.from(FP) }] }).kind, 'event')
})
