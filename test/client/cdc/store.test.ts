// Target stores (client/cdc/store.ts): the JSON file store writes atomically (temp file, fsync,
// rename), so a reopened store holds exactly what the last flush held, deletion markers and int64
// versions included; a file that is not one of its own is refused, not misread.

import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { JsonFileStore, MemoryStore, type ChangeMeta } from '../../../client/cdc/store.js'

function meta(version: bigint, timestamp = 1000): ChangeMeta {
  return { table: 't', operation: 'update', version, timestamp }
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-cdc-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('a flushed JSON store reopens with its rows, deletion markers and int64 versions', async (t) => {
  const file = path.join(tempDir(t), 'sub', 'replica.json')
  const store = await JsonFileStore.open<{ name: string }>(file)
  t.same([...store.rows()], [], 'a missing file is an empty store')
  store.put('1', { name: 'ada' }, meta(2n ** 62n))
  store.put('2', { name: 'bob' }, meta(5n))
  store.delete('2', meta(6n, 2000))
  await store.flush()
  t.notOk(existsSync(`${file}.tmp`), 'no temp file left behind')
  const again = await JsonFileStore.open<{ name: string }>(file)
  t.same(again.get('1'), { version: 2n ** 62n, timestamp: 1000, value: { name: 'ada' } })
  t.same(again.get('2'), { version: 6n, timestamp: 2000, value: null }, 'the marker survives')
  t.same([...again.rows()], [['1', { name: 'ada' }]])
})

t.test('flush writes what was applied before it was called; later changes wait for the next flush', async (t) => {
  const file = path.join(tempDir(t), 'replica.json')
  const store = await JsonFileStore.open(file)
  store.put('a', 1, meta(1n))
  const flushing = store.flush()
  store.put('b', 2, meta(2n))
  await flushing
  t.same([...(await JsonFileStore.open(file)).rows()], [['a', 1]])
  await store.flush()
  t.same([...(await JsonFileStore.open(file)).rows()], [['a', 1], ['b', 2]])
})

t.test('a temp file left by a crash mid-write is ignored, then overwritten', async (t) => {
  const file = path.join(tempDir(t), 'replica.json')
  const store = await JsonFileStore.open(file)
  store.put('a', 1, meta(1n))
  await store.flush()
  writeFileSync(`${file}.tmp`, '{"format":"strand-cdc-json-st')
  t.same([...(await JsonFileStore.open(file)).rows()], [['a', 1]], 'the last complete flush')
  store.put('b', 2, meta(2n))
  await store.flush()
  t.notOk(existsSync(`${file}.tmp`))
  t.match(readFileSync(file, 'utf8'), /"b"/)
})

t.test('a file that is not a JSON store is refused', async (t) => {
  const dir = tempDir(t)
  writeFileSync(path.join(dir, 'a.json'), 'not json')
  writeFileSync(path.join(dir, 'b.json'), '{"rows":{}}')
  writeFileSync(path.join(dir, 'c.json'), '{"format":"strand-cdc-json-store/1","rows":{"k":{"version":"-1","timestamp":1,"value":1}}}')
  await t.rejects(JsonFileStore.open(path.join(dir, 'a.json')), /not JSON/)
  await t.rejects(JsonFileStore.open(path.join(dir, 'b.json')), /not a strand-cdc-json-store\/1 file/)
  await t.rejects(JsonFileStore.open(path.join(dir, 'c.json')), /malformed/)
})

t.test('the memory store keeps markers too', async (t) => {
  const store = new MemoryStore<number>()
  store.put('a', 1, meta(1n))
  store.delete('a', meta(2n))
  t.same([...store.rows()], [])
  t.same(store.entries().get('a'), { version: 2n, timestamp: 1000, value: null })
})
