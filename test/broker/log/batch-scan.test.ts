// Walking a segment's .log file (broker/log/batch-scan.ts) on real files: header summaries, cuts
// at whole batches below a bound, and the recovery scan stopping at the first torn, corrupt or
// out-of-order batch (and reading a batch larger than its chunk whole).

import { open, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { readFully, scanValidBatches, summarize, wholeBatchesBelow, writeFully, type BatchSummary } from '../../../broker/log/batch-scan.js'
import { patchBatch } from '../../../client/protocol/records.js'
import { tempDir, testBatch } from '../../helpers/log.js'

/** Batches of `counts` records each, at consecutive offsets from `base`, back to back. */
function batches(base: bigint, counts: readonly number[], padBytes = 16): Buffer[] {
  const out: Buffer[] = []
  let next = base
  for (const count of counts) {
    const buf = testBatch(next, count, { padBytes })
    patchBatch(buf, 0, { baseOffset: next })
    out.push(buf)
    next += BigInt(count)
  }
  return out
}

async function scanFile(file: string, firstOffsetMin: bigint): Promise<{ validBytes: number; nextOffset: bigint; seen: BatchSummary[] }> {
  const fh = await open(file, 'r')
  try {
    const seen: BatchSummary[] = []
    const { size } = await fh.stat()
    return { ...(await scanValidBatches(fh, size, firstOffsetMin, (s) => seen.push(s))), seen }
  } finally {
    await fh.close()
  }
}

t.test('summarize reads a batch header, and refuses one that is truncated or runs past the bytes left', async (t) => {
  const [b] = batches(40n, [5])
  const s = summarize(b!, 0, 1000, b!.length)
  t.same(s, { position: 1000, sizeBytes: b!.length, baseOffset: 40n, lastOffset: 44n, maxTimestamp: 1_700_000_000_000 })
  t.equal(summarize(b!.subarray(0, 30), 0, 0, 30), null, 'fewer bytes than a header')
  t.equal(summarize(b!, 0, 0, b!.length - 1), null, 'the batch is longer than what is left of the file')
})

t.test('wholeBatchesBelow cuts after the last whole batch below the bound', async (t) => {
  const bufs = batches(0n, [3, 3, 3])
  const all = Buffer.concat(bufs)
  t.same(wholeBatchesBelow(all, 100n), { bytes: all.length, nextOffset: 9n })
  t.same(wholeBatchesBelow(all, 6n), { bytes: bufs[0]!.length + bufs[1]!.length, nextOffset: 6n }, 'the batch holding the bound is left out')
  t.same(wholeBatchesBelow(all.subarray(0, all.length - 1), 100n), { bytes: bufs[0]!.length + bufs[1]!.length, nextOffset: 6n }, 'a torn last batch is left out')
  t.throws(() => wholeBatchesBelow(all, 2n), 'a read that has not one whole batch is a programmer error')
})

t.test('the recovery scan keeps every valid batch and stops at a torn one', async (t) => {
  const dir = await tempDir(t, 'strand-scan-')
  const bufs = batches(10n, [4, 4, 4])
  const file = path.join(dir, 'torn.log')
  const whole = Buffer.concat(bufs)
  await writeFile(file, whole.subarray(0, whole.length - 7))
  const got = await scanFile(file, 10n)
  t.equal(got.validBytes, bufs[0]!.length + bufs[1]!.length)
  t.equal(got.nextOffset, 18n)
  t.same(got.seen.map((s) => [s.position, s.baseOffset]), [[0, 10n], [bufs[0]!.length, 14n]], 'each valid batch once, in file order')
})

t.test('the recovery scan stops at a batch whose CRC does not check', async (t) => {
  const dir = await tempDir(t, 'strand-scan-')
  const bufs = batches(0n, [2, 2, 2])
  bufs[1]![bufs[1]!.length - 1]! ^= 0xff
  const file = path.join(dir, 'corrupt.log')
  await writeFile(file, Buffer.concat(bufs))
  const got = await scanFile(file, 0n)
  t.equal(got.validBytes, bufs[0]!.length, 'everything from the corrupt batch on is dropped, the good one after it too')
  t.equal(got.nextOffset, 2n)
})

t.test('the recovery scan stops at offsets that do not ascend from the segment base', async (t) => {
  const dir = await tempDir(t, 'strand-scan-')
  const file = path.join(dir, 'order.log')
  const ascending = batches(0n, [3, 3])
  await writeFile(file, Buffer.concat([...ascending, ...batches(2n, [3])]))
  const got = await scanFile(file, 0n)
  t.equal(got.validBytes, ascending[0]!.length + ascending[1]!.length)
  t.equal(got.nextOffset, 6n)
  const below = await scanFile(file, 1n)
  t.equal(below.validBytes, 0, 'a first batch below the segment base is not the segment\'s')
})

t.test('the recovery scan reads a batch larger than its 1 MiB chunk whole', async (t) => {
  const dir = await tempDir(t, 'strand-scan-')
  const file = path.join(dir, 'large.log')
  const bufs = [...batches(0n, [2]), ...batches(2n, [3], 1024 * 1024 + 100)]
  await writeFile(file, Buffer.concat(bufs))
  const got = await scanFile(file, 0n)
  t.equal(got.validBytes, bufs[0]!.length + bufs[1]!.length)
  t.equal(got.nextOffset, 5n)
})

t.test('readFully and writeFully move every byte, and a read past the end is a storage error', async (t) => {
  const dir = await tempDir(t, 'strand-scan-')
  const fh = await open(path.join(dir, 'io.log'), 'w+')
  t.teardown(() => fh.close())
  const data = Buffer.from('0123456789')
  await writeFully(fh, data, 0)
  await writeFully(fh, data, 10)
  t.same(await readFully(fh, 5, 10), Buffer.from('5678901234'))
  await t.rejects(readFully(fh, 15, 10), { code: 'KAFKA_STORAGE_ERROR' })
})
