// One segment on its own (broker/log/segment.ts), below the Log that normally drives it: appends
// and reads of whole batches, reads bounded by maxOffset, truncation, indexes persisted and loaded
// on a clean open, a torn tail cut by recovery, and a sync of a segment closed meanwhile.

import { appendFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { decodeBatches, patchBatch } from '../../../client/protocol/records.js'
import { DEFAULT_LOG_CONFIG } from '../../../broker/log/config.js'
import { Segment, segmentFileName, type AppendedBatch } from '../../../broker/log/segment.js'
import { tempDir, testBatch, valueFor } from '../../helpers/log.js'

const BASE = 100n
const CONFIG = { ...DEFAULT_LOG_CONFIG, indexIntervalBytes: 256 }

/** Appends `count` records as one batch at the segment's next offset, as Log would (offsets patched in). */
async function appendRecords(s: Segment, count: number, padBytes = 64): Promise<AppendedBatch> {
  const first = s.nextOffset
  const buf = testBatch(first, count, { padBytes })
  patchBatch(buf, 0, { baseOffset: first, partitionLeaderEpoch: 1 })
  const batch = { pos: 0, sizeBytes: buf.length, baseOffset: first, lastOffset: first + BigInt(count) - 1n, maxTimestamp: 1_700_000_000_000 }
  await s.append(buf, [batch])
  return batch
}

async function offsetsFrom(s: Segment, offset: bigint, maxOffset = s.nextOffset): Promise<bigint[]> {
  const out: bigint[] = []
  for (let at = offset; ; ) {
    const got = await s.read(at, 1024, maxOffset)
    if (got === null) return out
    for (const b of decodeBatches(got.records).batches) for (const r of b.records) if (r.offset >= at) out.push(r.offset)
    at = got.nextOffset
  }
}

t.test('appends read back whole, from any offset, and never at or past maxOffset', async (t) => {
  const dir = await tempDir(t)
  const s = await Segment.create(dir, BASE, CONFIG, 0)
  t.teardown(() => s.close({ persistIndexes: false }))
  t.equal(s.isEmpty, true)
  for (let i = 0; i < 20; i++) await appendRecords(s, 5)
  t.equal(s.nextOffset, BASE + 100n)
  t.equal(s.isEmpty, false)
  t.equal((await stat(path.join(dir, segmentFileName(BASE, '.log')))).size, s.sizeBytes, 'the file holds exactly what was appended')
  const all = Array.from({ length: 100 }, (_, i) => BASE + BigInt(i))
  t.same(await offsetsFrom(s, BASE), all)
  t.same(await offsetsFrom(s, BASE + 57n), all.slice(57), 'a read from the middle of a batch starts in that batch')
  const first = await s.read(BASE + 57n, 1, s.nextOffset)
  t.equal(decodeBatches(first!.records).batches.length, 1, 'at least one whole batch, even past maxBytes')
  t.same(await offsetsFrom(s, BASE, BASE + 50n), all.slice(0, 50), 'nothing at or past maxOffset')
  t.equal(await s.read(s.nextOffset, 1024, s.nextOffset), null, 'nothing at the end')
})

t.test('truncation removes whole batches from the offset on, and appends go on from there', async (t) => {
  const dir = await tempDir(t)
  const s = await Segment.create(dir, BASE, CONFIG, 0)
  t.teardown(() => s.close({ persistIndexes: false }))
  for (let i = 0; i < 10; i++) await appendRecords(s, 4)
  const removed = await s.truncateTo(BASE + 20n)
  t.ok(removed > 0, `${removed} bytes removed`)
  t.equal(s.nextOffset, BASE + 20n)
  await appendRecords(s, 3)
  t.same(await offsetsFrom(s, BASE), Array.from({ length: 23 }, (_, i) => BASE + BigInt(i)))
  const batches = decodeBatches((await s.read(BASE + 20n, 1024, s.nextOffset))!.records).batches
  t.equal(batches[0]!.records[0]!.value!.toString(), valueFor(BASE + 20n, 64), 'the new batch, not the truncated one')
})

t.test('a clean open loads the persisted indexes; recovery cuts a torn tail and rebuilds them', async (t) => {
  const dir = await tempDir(t)
  const s = await Segment.create(dir, BASE, CONFIG, 0)
  for (let i = 0; i < 30; i++) await appendRecords(s, 2)
  const size = s.sizeBytes
  await s.close({ persistIndexes: true })
  const names = await readdir(dir)
  t.ok(names.includes(segmentFileName(BASE, '.index')) && names.includes(segmentFileName(BASE, '.timeindex')), 'indexes written on close')

  const clean = await Segment.open(dir, BASE, CONFIG, { recover: false, nowMs: 0 })
  t.equal(clean.droppedBytes, 0)
  t.equal(clean.segment.nextOffset, BASE + 60n)
  t.same(await offsetsFrom(clean.segment, BASE + 33n), Array.from({ length: 27 }, (_, i) => BASE + 33n + BigInt(i)))
  await clean.segment.close({ persistIndexes: false })

  // A crash mid-write: half a batch after the last whole one.
  const torn = testBatch(BASE + 60n, 5, { padBytes: 64 })
  await appendFile(path.join(dir, segmentFileName(BASE, '.log')), torn.subarray(0, torn.length >> 1))
  const recovered = await Segment.open(dir, BASE, CONFIG, { recover: true, nowMs: 0 })
  t.teardown(() => recovered.segment.close({ persistIndexes: false }))
  t.equal(recovered.droppedBytes, torn.length >> 1, 'exactly the torn bytes are dropped')
  t.equal(recovered.segment.sizeBytes, size)
  t.equal(recovered.segment.nextOffset, BASE + 60n)
  t.same(await offsetsFrom(recovered.segment, BASE), Array.from({ length: 60 }, (_, i) => BASE + BigInt(i)))
})

t.test('a sync of a segment closed meanwhile does nothing; one in flight is waited for by close', async (t) => {
  const dir = await tempDir(t)
  const s = await Segment.create(dir, BASE, CONFIG, 0)
  await appendRecords(s, 3)
  const syncing = s.flush()
  await s.close({ persistIndexes: false })
  await syncing
  await s.flush()
  t.equal(s.isEmpty, false, 'a flush after close resolved without touching the closed file (a closed FileHandle would reject it)')
  await t.rejects(s.read(BASE, 1024, s.nextOffset), { code: 'OFFSET_OUT_OF_RANGE' }, 'reads of a closed segment fail cleanly')
})
