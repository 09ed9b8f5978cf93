// The apply rule (client/cdc/apply.ts) with an in-memory store: a change lands only if its
// version is newer than the store's (ties: a later timestamp), deletions leave a versioned marker
// so nothing older brings a row back, tombstones delete at their version, and so replays,
// duplicates and any delivery order converge on the source's state.

import t from 'tap'
import { applyChange, applyRecord, applyTombstone, supersedes, type ApplicableChange } from '../../../client/cdc/apply.js'
import { changeRecords } from '../../../client/cdc/event.js'
import { MemorySchemaRegistry, RowDecoder, schemaFingerprint, toType } from '../../../client/cdc/schemas.js'
import { MemoryStore } from '../../../client/cdc/store.js'
import { Rng, testSeed } from '../../helpers/random.js'

type Row = { n: number }

function change(operation: ApplicableChange['operation'], key: string, version: bigint, n: number | null, timestamp = 1000): ApplicableChange<Row> {
  return { operation, table: 't', key, after: n === null ? null : { n }, version, timestamp }
}

t.test('supersedes: a higher version wins; equal versions go to the later timestamp; a duplicate does not', async (t) => {
  t.ok(supersedes({ version: 1n, timestamp: 0 }, undefined), 'anything beats nothing')
  t.ok(supersedes({ version: 2n, timestamp: 0 }, { version: 1n, timestamp: 99 }), 'version first, whatever the timestamps')
  t.notOk(supersedes({ version: 1n, timestamp: 99 }, { version: 2n, timestamp: 0 }))
  t.ok(supersedes({ version: 5n, timestamp: 11 }, { version: 5n, timestamp: 10 }), 'tie broken by timestamp')
  t.notOk(supersedes({ version: 5n, timestamp: 10 }, { version: 5n, timestamp: 11 }))
  t.notOk(supersedes({ version: 5n, timestamp: 10 }, { version: 5n, timestamp: 10 }), 'the same change again is stale')
})

t.test('newer changes apply, older ones and duplicates are stale', async (t) => {
  const store = new MemoryStore<Row>()
  t.equal(await applyChange(store, change('create', 'a', 1n, 1)), 'applied')
  t.equal(await applyChange(store, change('update', 'a', 3n, 3)), 'applied')
  t.equal(await applyChange(store, change('update', 'a', 2n, 2)), 'stale', 'an older version after a newer one')
  t.equal(await applyChange(store, change('update', 'a', 3n, 3)), 'stale', 'a duplicate')
  t.equal(await applyChange(store, change('update', 'a', 3n, 4, 2000)), 'applied', 'same version, later timestamp')
  t.same(store.get('a'), { version: 3n, timestamp: 2000, value: { n: 4 } })
  await t.rejects(applyChange(store, change('update', 'a', 9n, null)), { code: 'CDC_BAD_EVENT' }, 'an update without a row')
})

t.test('a delete keeps a versioned marker: an older create or update does not bring the row back', async (t) => {
  const store = new MemoryStore<Row>()
  await applyChange(store, change('create', 'a', 1n, 1))
  await applyChange(store, change('update', 'a', 2n, 2))
  t.equal(await applyChange(store, change('delete', 'a', 3n, null)), 'applied')
  t.same(store.get('a'), { version: 3n, timestamp: 1000, value: null })
  t.same([...store.rows()], [], 'no live row')
  t.equal(await applyChange(store, change('update', 'a', 2n, 2)), 'stale', 'a replayed update')
  t.equal(await applyChange(store, change('create', 'a', 1n, 1)), 'stale', 'a replayed create')
  t.same([...store.rows()], [], 'still deleted')
  t.equal(await applyChange(store, change('create', 'a', 4n, 40)), 'applied', 'a newer insert after the delete')
  t.same(store.rows().get('a'), { n: 40 })
})

t.test('tombstones: stale after their DELETE event, a delete on their own, never over something newer', async (t) => {
  const store = new MemoryStore<Row>()
  await applyChange(store, change('create', 'a', 1n, 1))
  await applyChange(store, change('delete', 'a', 2n, null))
  t.equal(await applyTombstone(store, { table: 't', key: 'a', version: 2n, timestamp: 1000 }), 'stale', 'the tombstone right after its DELETE')

  await applyChange(store, change('create', 'b', 5n, 5))
  t.equal(await applyTombstone(store, { table: 't', key: 'b', version: 6n, timestamp: 1000 }), 'applied', 'compaction removed the DELETE: the tombstone deletes')
  t.same(store.get('b'), { version: 6n, timestamp: 1000, value: null })

  await applyChange(store, change('create', 'c', 9n, 9))
  t.equal(await applyTombstone(store, { table: 't', key: 'c', version: 8n, timestamp: 1000 }), 'stale', 'an older tombstone leaves a newer row')
  t.same(store.rows().get('c'), { n: 9 })

  t.equal(await applyTombstone(store, { table: 't', key: 'c', version: null, timestamp: null }), 'applied', "another writer's tombstone deletes the row")
  t.same(store.get('c'), { version: 9n, timestamp: 1000, value: null }, 'keeping its version, so older changes stay out')
  t.equal(await applyTombstone(store, { table: 't', key: 'none', version: null, timestamp: null }), 'stale', 'nothing to delete')
})

t.test('seeded: replays, duplicates and shuffled delivery all converge on the source state', async (t) => {
  const seed = testSeed()
  const rng = new Rng(seed)
  const registry = new MemorySchemaRegistry()
  const schema = toType({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'int' }] })
  const fingerprint = registry.register(schema)
  // A source of 20 keys: creates, updates and deletes with one global version counter (an LSN).
  const source = new Map<string, number>()
  const records: Array<ReturnType<typeof changeRecords>[number]> = []
  for (let version = 1n; version <= 600n; version++) {
    const key = `k${rng.int(0, 19)}`
    const current = source.get(key)
    const n = rng.int(0, 1_000_000)
    const timestamp = 1_000 + Number(version)
    const common = { table: 't', key, version, timestamp, schemaFingerprint: fingerprint }
    if (current === undefined) {
      source.set(key, n)
      records.push(...changeRecords({ ...common, operation: 'create', before: null, after: schema.toBuffer({ n }) }))
    } else if (rng.bool(0.25)) {
      source.delete(key)
      records.push(...changeRecords({ ...common, operation: 'delete', before: schema.toBuffer({ n: current }), after: null }))
    } else {
      source.set(key, n)
      records.push(...changeRecords({ ...common, operation: 'update', before: schema.toBuffer({ n: current }), after: schema.toBuffer({ n }) }))
    }
  }
  const consumed = records.map((r, i) => ({ key: Buffer.from(r.key), value: r.value, headers: r.headers, offset: BigInt(i) }))
  const expected = JSON.stringify([...source].sort())
  const stateOf = (store: MemoryStore<Row>) => JSON.stringify([...store.rows()].map(([k, v]) => [k, v.n]).sort())

  async function deliver(order: typeof consumed): Promise<MemoryStore<Row>> {
    const store = new MemoryStore<Row>()
    const context = { stores: new Map([['t', store]]), rows: new RowDecoder(registry) }
    for (const m of order) await applyRecord(m, context, { topic: 'cdc', partition: 0, offset: m.offset })
    return store
  }
  t.equal(stateOf(await deliver(consumed)), expected, `in order (seed ${seed})`)
  // A sink that crashed before committing reads a suffix again, possibly several times.
  const from = rng.int(0, consumed.length - 1)
  t.equal(stateOf(await deliver([...consumed, ...consumed.slice(from), ...consumed.slice(rng.int(from, consumed.length - 1))])), expected, `with replays from offset ${from} (seed ${seed})`)
  t.equal(stateOf(await deliver(consumed.flatMap((m) => (rng.bool(0.3) ? [m, m] : [m])))), expected, `with duplicates (seed ${seed})`)
  // Any order, given that a tombstone without its version is never out of place here (all carry one).
  t.equal(stateOf(await deliver(rng.shuffle(consumed))), expected, `shuffled (seed ${seed})`)
})

t.test('applyRecord ignores tables without a store and names the position of a bad record', async (t) => {
  const registry = new MemorySchemaRegistry()
  const schema = toType({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'int' }] })
  const [r] = changeRecords({ operation: 'create', table: 'other', key: 'k', before: null, after: schema.toBuffer({ n: 1 }), version: 1n, timestamp: 1, schemaFingerprint: schemaFingerprint(schema) })
  const context = { stores: new Map([['t', new MemoryStore()]]), rows: new RowDecoder(registry) }
  t.equal(await applyRecord({ key: Buffer.from(r!.key), value: r!.value, headers: r!.headers }, context, { topic: 'cdc', partition: 2, offset: 7n }), null)
  await t.rejects(applyRecord({ key: Buffer.from('t:k'), value: Buffer.from([9]), headers: [] }, context, { topic: 'cdc', partition: 2, offset: 7n }), { code: 'CDC_BAD_EVENT', message: /cdc-2 at offset 7/ })
})
