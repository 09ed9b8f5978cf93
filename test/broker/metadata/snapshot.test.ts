// Snapshot files of the metadata image (broker/metadata/snapshot.ts) and the metadata log around
// them (raft-storage.ts): files round-trip, damage of any kind is detected, the newest intact
// snapshot wins, a damaged newest one is passed over only while the log still covers what it
// held, and the log restarts after a snapshot it does not continue.

import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { RaftStorage } from '../../../broker/metadata/raft-storage.js'
import type { Entry } from '../../../broker/metadata/raft.js'
import {
  decodeSnapshot,
  encodeSnapshot,
  listSnapshots,
  loadNewestSnapshot,
  pruneSnapshots,
  readSnapshot,
  SNAPSHOT_HEADER_BYTES,
  snapshotFileName,
  writeSnapshot,
} from '../../../broker/metadata/snapshot.js'
import { tempDir, type Teardown } from '../../helpers/broker-process.js'

const data = (n: number): Buffer => Buffer.from(`state through ${n}`)
const noLog = { firstIndex: 1, lastIndex: 0 }

t.test('a snapshot file round-trips behind its header and is named by index and term', async (t) => {
  const dir = tempDir(t)
  const file = await writeSnapshot(dir, { lastIndex: 42, lastTerm: 3, data: data(42) })
  t.equal(path.basename(file), '00000000000000000042-3.snapshot')
  t.equal(snapshotFileName(12345678901, 17), '00000000012345678901-17.snapshot')
  const bytes = await readFile(file)
  t.equal(bytes.length, SNAPSHOT_HEADER_BYTES + data(42).length)
  t.equal(bytes.subarray(0, 6).toString('hex'), '53534e500000', 'magic "SSNP", version 0')
  const [ref] = await listSnapshots(dir)
  t.same(await readSnapshot(ref!), { lastIndex: 42, lastTerm: 3, data: data(42) })
  t.same((await readdir(dir)).sort(), ['00000000000000000042-3.snapshot'], 'no temp file is left behind')
})

t.test('any damage is a SnapshotError naming the file', async (t) => {
  const good = encodeSnapshot({ lastIndex: 7, lastTerm: 2, data: data(7) })
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a flipped data byte', Buffer.concat([good.subarray(0, -1), Buffer.from([good[good.length - 1]! ^ 1])]), /fails its CRC check/],
    ['a flipped index byte', Buffer.concat([good.subarray(0, 13), Buffer.from([good[13]! ^ 1]), good.subarray(14)]), /fails its CRC check/],
    ['a torn tail', good.subarray(0, good.length - 3), /claims 15 bytes of data but holds 12/],
    ['a torn header', good.subarray(0, 10), /shorter than its 26-byte header/],
    ['another magic', Buffer.concat([Buffer.from('XXXX'), good.subarray(4)]), /magic/],
    ['a future version', Buffer.concat([good.subarray(0, 4), Buffer.from([0, 9]), good.subarray(6)]), /unsupported version 9/],
  ]
  for (const [what, bytes, message] of cases) t.throws(() => decodeSnapshot(bytes, 'the file'), { name: 'SnapshotError', message }, what)

  const dir = tempDir(t)
  await writeFile(path.join(dir, snapshotFileName(8, 2)), good)
  const [ref] = await listSnapshots(dir)
  await t.rejects(readSnapshot(ref!), /holds lastIndex 7, lastTerm 2, not what its name says/, 'a file renamed to another index is refused')
})

t.test('the newest intact snapshot wins; older ones beyond two are pruned', async (t) => {
  const dir = tempDir(t)
  for (const [index, term] of [[10, 1], [30, 2], [20, 1]] as const) await writeSnapshot(dir, { lastIndex: index, lastTerm: term, data: data(index) })
  await writeFile(path.join(dir, `${snapshotFileName(40, 2)}.tmp`), 'an interrupted write')
  t.same((await listSnapshots(dir)).map((r) => r.lastIndex), [30, 20, 10], 'newest first; temp files are not snapshots')
  const { snapshot, skipped } = await loadNewestSnapshot(dir, noLog)
  t.equal(snapshot?.lastIndex, 30)
  t.same(skipped, [])
  t.same((await pruneSnapshots(dir)).map((r) => r.lastIndex), [30, 20])
  t.same((await listSnapshots(dir)).map((r) => r.lastIndex), [30, 20])
  t.same(await loadNewestSnapshot(tempDir(t), noLog), { snapshot: null, skipped: [] }, 'no snapshot at all: start from the log')
})

t.test('a damaged newest snapshot falls back only while the log covers it, else startup fails', async (t) => {
  const dir = tempDir(t)
  await writeSnapshot(dir, { lastIndex: 20, lastTerm: 1, data: data(20) })
  const newest = await writeSnapshot(dir, { lastIndex: 30, lastTerm: 2, data: data(30) })
  const bytes = await readFile(newest)
  bytes[bytes.length - 1]! ^= 0xff
  await writeFile(newest, bytes)

  await t.rejects(loadNewestSnapshot(dir, { firstIndex: 25, lastIndex: 35 }), { name: 'SnapshotError', message: /fails its CRC check.*entries 25\.\.35, not every entry from the snapshot at 20 through 30.*refusing to start/s }, 'the log prefix after the older one is gone')
  await t.rejects(loadNewestSnapshot(dir, { firstIndex: 15, lastIndex: 28 }), /not every entry from the snapshot at 20 through 30/, 'the log does not reach what the damaged one held')
  t.same((await listSnapshots(dir)).map((r) => r.lastIndex), [30, 20], 'a refused start changes no file')

  const covered = await loadNewestSnapshot(dir, { firstIndex: 15, lastIndex: 35 })
  t.equal(covered.snapshot?.lastIndex, 20, 'the older snapshot plus entries 21..30 rebuild the same state')
  t.match(covered.skipped, [{ file: newest, reason: /fails its CRC check/ }], 'and the damage is reported')
  t.same((await listSnapshots(dir)).map((r) => r.lastIndex), [20], 'the damaged file is set aside, so pruning never prefers it to a good one')
  t.ok((await readdir(dir)).includes(`${path.basename(newest)}.damaged`), 'but kept for inspection')

  const only = tempDir(t)
  const file = await writeSnapshot(only, { lastIndex: 5, lastTerm: 1, data: data(5) })
  await writeFile(file, 'garbage')
  await t.rejects(loadNewestSnapshot(only, noLog), /holds no entries, not every entry from an empty state through 5/)
  t.equal((await loadNewestSnapshot(only, { firstIndex: 1, lastIndex: 9 })).snapshot, null, 'a log from entry 1 covers a lone damaged snapshot')
})

const logger = pino({ level: 'silent' })
const entry = (term: number, i: number): Entry => ({ term, data: Buffer.from(`entry ${i} `.padEnd(100, '.')) })

async function storageWith(t: Teardown, terms: number[]): Promise<{ dir: string; storage: RaftStorage }> {
  const dir = tempDir(t)
  const storage = await RaftStorage.open(dir, { clock: Date.now, logger, segmentBytes: 4096 })
  t.teardown(() => storage.close().catch(() => undefined))
  await storage.append(terms.map((term, i) => ({ index: i + 1, entry: entry(term, i + 1) })))
  return { dir, storage }
}

t.test('the metadata log drops whole segments below a snapshot and loads only what follows it', async (t) => {
  const terms = Array.from({ length: 120 }, (_, i) => (i < 60 ? 1 : 2))
  const { dir, storage } = await storageWith(t, terms)
  t.ok(storage.segmentBaseOffsets().length > 3, `one append spread over ${storage.segmentBaseOffsets().length} segments`)
  const deleted = await storage.deleteBelow(90)
  t.ok(deleted > 0, `${deleted} segments deleted`)
  const { firstIndex, lastIndex } = storage.range()
  t.ok(firstIndex > 1 && firstIndex <= 90, `the log now starts at entry ${firstIndex}, at or before 90`)
  t.equal(lastIndex, 120)
  const after = await storage.loadAfter({ lastIndex: 90, lastTerm: 2 })
  t.equal(after.length, 30)
  t.match(after[0]?.data.toString(), /^entry 91 \./, 'from entry 91 on')
  await storage.close()

  const reopened = await RaftStorage.open(dir, { clock: Date.now, logger, segmentBytes: 4096 })
  t.teardown(() => reopened.close().catch(() => undefined))
  await t.rejects(reopened.loadAfter({ lastIndex: 0, lastTerm: 0 }), { name: 'RaftStorageError', message: /starts at entry \d+, but there is no snapshot/ })
  await t.rejects(reopened.loadAfter({ lastIndex: firstIndex - 5, lastTerm: 1 }), /entries are missing/)
})

t.test('a snapshot the log does not continue restarts the log right after it', async (t) => {
  // Entry 10 has term 1 here, but the snapshot's entry 10 has term 2: the tail is another history.
  const diverged = await storageWith(t, Array.from({ length: 15 }, () => 1))
  t.same(await diverged.storage.loadAfter({ lastIndex: 10, lastTerm: 2 }), [])
  t.same(diverged.storage.range(), { firstIndex: 11, lastIndex: 10 }, 'empty, and the next entry is 11')
  await diverged.storage.append([{ index: 11, entry: entry(3, 11) }])
  t.same((await diverged.storage.loadAfter({ lastIndex: 10, lastTerm: 2 })).map((e) => e.term), [3], 'a log that starts right after the snapshot continues it')

  const short = await storageWith(t, [1, 1, 1])
  await short.storage.startAfter({ lastIndex: 10, lastTerm: 2 })
  t.same(short.storage.range(), { firstIndex: 11, lastIndex: 10 }, 'a log that ends before the snapshot restarts after it')

  const matching = await storageWith(t, [1, 1, 2, 2, 2])
  await matching.storage.startAfter({ lastIndex: 3, lastTerm: 2 })
  t.same(matching.storage.range(), { firstIndex: 1, lastIndex: 5 }, 'a log holding the snapshot\'s last entry with its term is kept whole')
  t.same((await matching.storage.loadAfter({ lastIndex: 3, lastTerm: 2 })).length, 2)
})
