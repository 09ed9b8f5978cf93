import t from 'tap'
import { decodeBatches } from '../../../client/protocol/records.js'
import type { Log } from '../../../broker/log/log.js'
import { ManualClock, openLog, tempDir, testBatch, valueFor } from '../../helpers/log.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()

/** Appends `batches` batches of 1..maxPerBatch records; returns the offsets' count. */
async function fill(log: Log, rng: Rng, batches: number, options: { maxPerBatch?: number; padBytes?: number } = {}): Promise<bigint> {
  let next = log.logEndOffset
  for (let i = 0; i < batches; i++) {
    const count = rng.int(1, options.maxPerBatch ?? 5)
    const info = await log.append(testBatch(next, count, { padBytes: options.padBytes ?? rng.int(0, 200) }), { assignOffsets: true, leaderEpoch: 3 })
    t.equal(info.firstOffset, next)
    next = info.lastOffset + 1n
  }
  return next
}

async function readAll(log: Log, from: bigint): Promise<{ offset: bigint; value: string }[]> {
  const out: { offset: bigint; value: string }[] = []
  let offset = from
  while (offset < log.logEndOffset) {
    const { records, nextOffset } = await log.read(offset, 4096)
    for (const b of decodeBatches(records).batches) for (const r of b.records) if (r.offset >= offset) out.push({ offset: r.offset, value: r.value!.toString() })
    if (nextOffset === offset) break // a stuck read fails the caller's checks instead of hanging
    offset = nextOffset
  }
  return out
}

t.test(`every offset reads back across rolled segments (seed ${seed})`, async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { segmentBytes: 4096, indexIntervalBytes: 512 } })
  t.teardown(() => log.close())
  const end = await fill(log, new Rng(seed), 300)
  t.ok(log.segmentCount > 5, `rolled into ${log.segmentCount} segments`)
  t.equal(log.logStartOffset, 0n)
  t.equal(log.logEndOffset, end)
  let mismatches = 0
  for (let offset = 0n; offset < end; offset++) {
    const { records } = await log.read(offset, 1)
    const [batch] = decodeBatches(records).batches
    const record = batch?.records.find((r) => r.offset === offset)
    if (record?.value?.toString() !== valueFor(offset, record === undefined ? 0 : record.value!.length - valueFor(offset).length)) mismatches++
    if (batch === undefined || batch.header.baseOffset > offset) mismatches++
  }
  t.equal(mismatches, 0, `all ${end} offsets found in the batch that holds them`)
  const all = await readAll(log, 0n)
  t.same(all.map((r) => r.offset), Array.from({ length: Number(end) }, (_, i) => BigInt(i)), 'a sequential read sees every offset once, in order')
  t.equal((await log.read(end, 4096)).records.length, 0, 'reading at the log end returns nothing')
  await t.rejects(log.read(end + 1n, 4096), { code: 'OFFSET_OUT_OF_RANGE' })
})

t.test('a read returns whole batches, at least one, and never at or past maxOffset', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir)
  t.teardown(() => log.close())
  for (let i = 0; i < 10; i++) await log.append(testBatch(BigInt(i * 10), 10, { padBytes: 300 }), { assignOffsets: true })
  const one = await log.read(15n, 1)
  const decoded = decodeBatches(one.records)
  t.equal(decoded.batches.length, 1, 'one batch even though it is larger than maxBytes')
  t.equal(decoded.partialBytes, 0, 'no partial batch')
  t.equal(decoded.batches[0]!.header.baseOffset, 10n, 'the batch holding offset 15')
  t.equal(one.nextOffset, 20n)
  const several = decodeBatches((await log.read(0n, 10_000)).records)
  t.ok(several.batches.length > 1 && several.batches.length < 10, `${several.batches.length} whole batches fit 10000 bytes`)
  t.equal(several.partialBytes, 0)
  const bounded = decodeBatches((await log.read(0n, 1 << 20, { maxOffset: 40n })).records)
  t.same(bounded.batches.map((b) => b.header.baseOffset), [0n, 10n, 20n, 30n], 'stops before the high watermark')
  t.equal((await log.read(40n, 1 << 20, { maxOffset: 40n })).records.length, 0, 'nothing at the high watermark')
})

t.test('leader appends stamp the leader epoch; follower appends keep offsets and must continue the log', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir)
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 3), { assignOffsets: true, leaderEpoch: 7 })
  const [batch] = decodeBatches((await log.read(0n, 1000)).records).batches
  t.equal(batch!.header.partitionLeaderEpoch, 7)
  const follower = testBatch(0n, 2)
  follower.writeBigInt64BE(3n, 0)
  await log.append(follower, { assignOffsets: false })
  t.equal(log.logEndOffset, 5n)
  const stale = testBatch(0n, 2)
  stale.writeBigInt64BE(4n, 0)
  await t.rejects(log.append(stale, { assignOffsets: false }), { code: 'INVALID_RECORD' })
  t.equal(log.logEndOffset, 5n, 'a rejected append changes nothing')
})

t.test('bad appends are rejected whole and leave the log unchanged', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { segmentBytes: 2048 } })
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 1), { assignOffsets: true })
  const corrupt = Buffer.concat([testBatch(1n, 2), testBatch(3n, 2)])
  corrupt[corrupt.length - 3]! ^= 0xff
  t.throws(() => log.append(corrupt, { assignOffsets: true }), { code: 'CORRUPT_MESSAGE' })
  t.throws(() => log.append(testBatch(1n, 20, { padBytes: 200 }), { assignOffsets: true }), { code: 'RECORD_LIST_TOO_LARGE' })
  t.equal(log.logEndOffset, 1n)
  t.same((await readAll(log, 0n)).map((r) => r.value), [valueFor(0n)])
})

t.test('segment.ms rolls a segment once its first batch is old enough', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: { segmentMs: 60_000 } })
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 1, { timestampMs: clock.nowMs }), { assignOffsets: true })
  clock.nowMs += 59_000
  await log.append(testBatch(1n, 1, { timestampMs: clock.nowMs }), { assignOffsets: true })
  t.equal(log.segmentCount, 1)
  clock.nowMs += 2_000
  await log.append(testBatch(2n, 1, { timestampMs: clock.nowMs }), { assignOffsets: true })
  t.same(log.segmentBaseOffsets(), [0n, 2n], 'rolled at offset 2')
})

t.test(`time lookup returns the first offset at or after a timestamp (seed ${seed})`, async (t) => {
  const dir = await tempDir(t)
  const rng = new Rng(seed + 1)
  const { log } = await openLog(dir, { config: { segmentBytes: 4096, indexIntervalBytes: 300 } })
  t.teardown(() => log.close())
  const stamps: number[] = []
  let ts = 1_000_000
  for (let b = 0; b < 150; b++) {
    const count = rng.int(1, 4)
    const batchStamps = Array.from({ length: count }, () => (ts += rng.int(0, 50)) - (rng.bool(0.2) ? rng.int(0, 120) : 0))
    await log.append(testBatch(BigInt(stamps.length), count, { timestamps: batchStamps, padBytes: rng.int(0, 100) }), { assignOffsets: true })
    stamps.push(...batchStamps)
  }
  t.ok(log.segmentCount > 2)
  let wrong = 0
  for (let target = stamps[0]! - 10; target <= ts + 10; target += 7) {
    const expected = stamps.findIndex((s) => s >= target)
    const found = await log.offsetForTimestamp(target)
    if (expected < 0 ? found !== null : found?.offset !== BigInt(expected) || found.timestamp !== stamps[expected]) wrong++
  }
  t.equal(wrong, 0, 'every probe agrees with a linear scan (timestamps jitter backwards too)')
  t.equal(await log.offsetForTimestamp(ts + 1000), null, 'nothing newer than the newest record')
})

t.test('truncateTo removes the tail, even across segments, and appends continue from there', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { segmentBytes: 2048, indexIntervalBytes: 256 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 60; i++) await log.append(testBatch(BigInt(i * 2), 2, { padBytes: 50 }), { assignOffsets: true })
  t.ok(log.segmentCount >= 4)
  const removed = await log.truncateTo(31n)
  t.ok(removed > 0)
  t.equal(log.logEndOffset, 30n, 'the batch holding offset 31 goes with it')
  t.equal(await log.truncateTo(100n), 0, 'truncating past the end is a no-op')
  await log.append(testBatch(30n, 2), { assignOffsets: true })
  const all = await readAll(log, 0n)
  t.same(all.map((r) => r.offset), Array.from({ length: 32 }, (_, i) => BigInt(i)))
  t.same(all.map((r) => r.value), Array.from({ length: 32 }, (_, i) => valueFor(BigInt(i), i < 30 ? 50 : 0)))
  await log.truncateTo(0n)
  t.equal(log.logEndOffset, 0n)
  t.equal(log.segmentCount, 1)
})

t.test('truncateFullyAndStartAt empties the log and restarts it at the offset', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir)
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 5), { assignOffsets: true })
  await log.truncateFullyAndStartAt(1000n)
  t.equal(log.logStartOffset, 1000n)
  t.equal(log.logEndOffset, 1000n)
  await t.rejects(log.read(0n, 100), { code: 'OFFSET_OUT_OF_RANGE' })
  const info = await log.append(testBatch(1000n, 2), { assignOffsets: true })
  t.equal(info.firstOffset, 1000n)
  t.same((await readAll(log, 1000n)).map((r) => r.value), [valueFor(1000n), valueFor(1001n)])
})

t.test('retention deletes whole old segments by size and by age, advancing the log start', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: { segmentBytes: 2048, retentionBytes: 5000, retentionMs: 3_600_000 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 40; i++) await log.append(testBatch(BigInt(i * 2), 2, { padBytes: 100, timestampMs: clock.nowMs }), { assignOffsets: true })
  const before = log.segmentCount
  const deleted = await log.deleteExpiredSegments()
  t.ok(deleted > 0, `deleted ${deleted} of ${before} segments by size`)
  t.ok(log.sizeBytes < 5000 + 2048, `${log.sizeBytes} bytes left`)
  t.equal(log.logStartOffset, log.segmentBaseOffsets()[0])
  await t.rejects(log.read(0n, 100), { code: 'OFFSET_OUT_OF_RANGE' })
  const start = log.logStartOffset
  t.same((await readAll(log, start))[0], { offset: start, value: valueFor(start, 100) }, 'the new log start reads back')
  clock.nowMs += 3_600_001
  await log.deleteExpiredSegments()
  t.equal(log.segmentCount, 1, 'by age: every segment but the active one')
  t.equal(log.logEndOffset, 80n, 'retention never moves the log end')
})

t.test('deleteSegmentsBelow removes only whole segments below the offset, never the active one', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { segmentBytes: 2048 } })
  t.teardown(() => log.close())
  for (let i = 0; i < 40; i++) await log.append(testBatch(BigInt(i * 2), 2, { padBytes: 100 }), { assignOffsets: true })
  const bases = log.segmentBaseOffsets()
  t.ok(bases.length > 4, `${bases.length} segments`)
  const cut = bases[3]! + 1n
  t.equal(await log.deleteSegmentsBelow(cut), 3, 'the segments ending at or before the offset go; the one holding it stays')
  t.equal(log.logStartOffset, bases[3])
  t.same((await readAll(log, bases[3]!))[0]?.offset, bases[3], 'the new log start reads back')
  t.equal(await log.deleteSegmentsBelow(bases[3]!), 0, 'an offset inside the first segment deletes nothing')
  t.equal(await log.deleteSegmentsBelow(log.logEndOffset + 100n), bases.length - 4)
  t.equal(log.segmentCount, 1, 'the active segment is kept even when everything is below the offset')
  t.equal(log.logEndOffset, 80n, 'and the log end never moves')
})

t.test('a reader beside an appender only ever sees whole batches', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { segmentBytes: 64 * 1024 } })
  t.teardown(() => log.close())
  let appending = true
  const appender = (async () => {
    for (let i = 0; i < 400; i++) await log.append(testBatch(BigInt(i * 3), 3, { padBytes: 500 }), { assignOffsets: true })
    appending = false
  })()
  let offset = 0n
  let reads = 0
  let bad = 0
  while (appending || offset < log.logEndOffset) {
    const { records, nextOffset } = await log.read(offset, 3000)
    const decoded = decodeBatches(records)
    if (decoded.partialBytes !== 0) bad++
    if (records.length > 0 && decoded.batches[0]!.header.baseOffset !== offset) bad++
    offset = nextOffset
    reads++
    if (records.length === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await appender
  t.equal(bad, 0, `${reads} reads, all whole and contiguous`)
  t.equal(offset, 1200n)
})

t.test('fsync: always group-commits: appends written while an fsync runs share the next one, and each resolves only once fsynced', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { fsync: true, segmentBytes: 64 * 1024 } })
  t.teardown(() => log.close())
  const appends = 64
  const resolved: { lastOffset: bigint; durableEnd: bigint }[] = []
  await Promise.all(
    Array.from({ length: appends }, (_, i) =>
      log.append(testBatch(BigInt(i * 3), 3, { padBytes: 2000 }), { assignOffsets: true }).then((info) => {
        resolved.push({ lastOffset: info.lastOffset, durableEnd: log.durableEndOffset })
      }),
    ),
  )
  t.equal(resolved.length, appends)
  t.same(resolved.map((r) => r.lastOffset), Array.from({ length: appends }, (_, i) => BigInt(i * 3 + 2)), 'appends resolve in log order')
  t.equal(resolved.filter((r) => r.durableEnd <= r.lastOffset).length, 0, 'no append resolved before an fsync covered it')
  t.ok(log.segmentCount > 1, `the appends rolled ${log.segmentCount} segments`)
  t.ok(log.fsyncs < appends, `${appends} appends took ${log.fsyncs} fsyncs`)
  t.equal(log.recoveryPoint, log.logEndOffset, 'everything written is fsynced')
  t.same((await readAll(log, 0n)).map((r) => r.offset), Array.from({ length: appends * 3 }, (_, i) => BigInt(i)), 'every record reads back in order')
})

t.test('without fsync: always an append resolves at once and the durable end is the log end', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir)
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 5), { assignOffsets: true })
  t.equal(log.fsyncs, 0, 'no fsync')
  t.equal(log.recoveryPoint, 0n, 'nothing is known fsynced')
  t.equal(log.durableEndOffset, 5n, 'the leader counts its whole log (durability is the replicas\')')
  await log.flush()
  t.equal(log.fsyncs, 1)
  t.equal(log.recoveryPoint, 5n)
})

t.test('fsync: always: a truncation fails the appends it removes before an fsync covered them', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { fsync: true } })
  t.teardown(() => log.close())
  await log.append(testBatch(0n, 4), { assignOffsets: true })
  const kept = log.recoveryPoint
  t.equal(kept, 4n)
  // Queued behind the append's write, the truncation runs before that append's fsync can finish.
  const removed = log.append(testBatch(4n, 4), { assignOffsets: true })
  const truncated = log.truncateTo(4n)
  await t.rejects(removed, { code: 'NOT_LEADER_OR_FOLLOWER' }, 'the removed append is not reported durable')
  await truncated
  t.equal(log.logEndOffset, 4n)
  const again = await log.append(testBatch(4n, 2), { assignOffsets: true })
  t.equal(again.firstOffset, 4n, 'appends go on at the truncation point')
  t.equal(log.recoveryPoint, 6n, 'and are fsynced')
  t.same((await readAll(log, 0n)).map((r) => r.value), [0, 1, 2, 3, 4, 5].map((o) => valueFor(BigInt(o))))
})

t.test('untilDurable waits for the append that wrote an offset, and refuses one past the log end', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { fsync: true } })
  t.teardown(() => log.close())
  const first = log.append(testBatch(0n, 3), { assignOffsets: true })
  await first
  await log.untilDurable(3n)
  t.ok(log.recoveryPoint >= 3n, 'resolved once offsets below 3 are fsynced')
  await t.rejects(log.untilDurable(10n), { code: 'NOT_LEADER_OR_FOLLOWER' })
})

t.test('fsync: always: deleting the log fails appends still waiting for their fsync', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { fsync: true } })
  const pending = log.append(testBatch(0n, 3), { assignOffsets: true })
  const deleted = log.delete()
  await t.rejects(pending, { code: 'KAFKA_STORAGE_ERROR' })
  await deleted
})

t.test('fsync: always: onWritten runs once the records are readable and before the append resolves, ahead of its fsync', async (t) => {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { config: { fsync: true } })
  t.teardown(() => log.close())
  const seen: { readable: number; durableEnd: bigint; at: string }[] = []
  const appended = log.append(testBatch(0n, 4), {
    assignOffsets: true,
    onWritten: () => seen.push({ readable: log.logEndOffset === 4n ? 1 : 0, durableEnd: log.durableEndOffset, at: 'written' }),
  })
  await appended
  seen.push({ readable: 1, durableEnd: log.durableEndOffset, at: 'resolved' })
  t.same(seen.map((s) => s.at), ['written', 'resolved'])
  t.equal(seen[0]!.readable, 1, 'the records are at the log end when it runs')
  t.equal(seen[0]!.durableEnd, 0n, 'and not fsynced yet: a follower may fetch them while the leader fsyncs')
  t.equal(seen[1]!.durableEnd, 4n, 'the append resolves once they are')
  t.same((await readAll(log, 0n)).map((r) => r.offset), [0n, 1n, 2n, 3n])
})
