// Row schema evolution (client/cdc/schemas.ts): events carry their writer schema's fingerprint,
// and a reader resolves them into its own schema, so a newer reader (a field added, with a
// default) reads events written before the field existed, and an older one reads newer events.

import t from 'tap'
import avro from 'avsc'
import { applyRecord } from '../../../client/cdc/apply.js'
import { changeRecords, SCHEMA_HEADER } from '../../../client/cdc/event.js'
import { MemorySchemaRegistry, RowDecoder, schemaFingerprint, toType } from '../../../client/cdc/schemas.js'
import { MemoryStore } from '../../../client/cdc/store.js'

const V1_FIELDS = [{ name: 'id', type: 'long' }, { name: 'owner', type: 'string' }]
const V1: avro.Schema = { type: 'record', name: 'Account', fields: V1_FIELDS }
const V2: avro.Schema = { type: 'record', name: 'Account', fields: [...V1_FIELDS, { name: 'tier', type: 'string', default: 'basic' }] }

function record(schema: avro.Schema, row: object, version: bigint) {
  const type = toType(schema)
  const [r] = changeRecords({ operation: 'create', table: 'accounts', key: String((row as { id: number }).id), before: null, after: type.toBuffer(row), version, timestamp: 1000, schemaFingerprint: schemaFingerprint(type) })
  return { key: Buffer.from(r!.key), value: r!.value as Buffer, headers: r!.headers }
}

t.test('a reader with an added field (with a default) reads events written with the old schema', async (t) => {
  const registry = new MemorySchemaRegistry()
  registry.register(V1)
  registry.register(V2)
  const store = new MemoryStore()
  const context = { stores: new Map([['accounts', store]]), rows: new RowDecoder(registry, { accounts: V2 }) }
  const position = { topic: 'cdc', partition: 0, offset: 0n }
  t.equal(await applyRecord(record(V1, { id: 1, owner: 'ada' }, 1n), context, position), 'applied')
  t.equal(await applyRecord(record(V2, { id: 2, owner: 'bob', tier: 'gold' }, 2n), context, { ...position, offset: 1n }), 'applied')
  t.same(JSON.parse(JSON.stringify([...store.rows()])), [['1', { id: 1, owner: 'ada', tier: 'basic' }], ['2', { id: 2, owner: 'bob', tier: 'gold' }]], 'the old event gets the default')
  t.same(store.get('2')?.version, 2n)
})

t.test('an older reader reads newer events, skipping the field it does not know', async (t) => {
  const registry = new MemorySchemaRegistry()
  registry.register(V2)
  const rows = new RowDecoder(registry, { accounts: V1 })
  const type = toType(V2)
  const row = await rows.decode('accounts', schemaFingerprint(type), type.toBuffer({ id: 3, owner: 'cy', tier: 'gold' }))
  t.same(JSON.parse(JSON.stringify(row)), { id: 3, owner: 'cy' })
})

t.test('without a reader schema, rows decode as written', async (t) => {
  const registry = new MemorySchemaRegistry()
  const fp = registry.register(V1)
  const row = await new RowDecoder(registry).decode('accounts', fp, toType(V1).toBuffer({ id: 4, owner: 'di' }))
  t.same(JSON.parse(JSON.stringify(row)), { id: 4, owner: 'di' })
})

t.test('a reader that cannot read a writer schema, or an unknown fingerprint, is a typed error', async (t) => {
  const registry = new MemorySchemaRegistry()
  const fp = registry.register(V1)
  const noDefault: avro.Schema = { type: 'record', name: 'Account', fields: [...V1_FIELDS, { name: 'tier', type: 'string' }] }
  const bytes = toType(V1).toBuffer({ id: 5, owner: 'ed' })
  await t.rejects(new RowDecoder(registry, { accounts: noDefault }).decode('accounts', fp, bytes), { code: 'CDC_SCHEMA_INCOMPATIBLE', retriable: false })
  await t.rejects(new RowDecoder(registry).decode('accounts', 'cd'.repeat(32), bytes), { code: 'CDC_SCHEMA_NOT_FOUND', retriable: false })
  await t.rejects(new RowDecoder(registry).decode('accounts', fp, bytes.subarray(0, 1)), { code: 'CDC_BAD_EVENT' }, 'truncated row bytes')
})

t.test('fingerprints cover the canonical form: defaults and docs do not change them, fields do', async (t) => {
  const withDoc: avro.Schema = { type: 'record', name: 'Account', doc: 'an account', fields: [...V1_FIELDS, { name: 'tier', type: 'string', default: 'silver' }] }
  t.equal(schemaFingerprint(toType(withDoc)), schemaFingerprint(toType(V2)))
  t.not(schemaFingerprint(toType(V1)), schemaFingerprint(toType(V2)))
  t.match(schemaFingerprint(toType(V1)), /^[0-9a-f]{64}$/)
  const r = record(V1, { id: 1, owner: 'x' }, 1n)
  t.equal(r.headers.find((h) => h.key === SCHEMA_HEADER)?.value?.toString(), schemaFingerprint(toType(V1)), 'events carry it in strand.schema')
  t.throws(() => toType({ type: 'recrod' } as never), { code: 'INVALID_ARGUMENT' })
})
