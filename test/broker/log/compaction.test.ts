import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { decodeBatches } from '../../../client/protocol/records.js'
import { cleanableRange, cleanLog } from '../../../broker/log/compaction.js'
import type { LogConfig } from '../../../broker/log/config.js'
import type { Log } from '../../../broker/log/log.js'
import { segmentFileName } from '../../../broker/log/segment.js'
import { appendKeyed, cleanOptions, expectedAfterClean, readRecords, type KeyedRecord, type StoredRecord } from '../../helpers/compaction.js'
import { ManualClock, openLog, tempDir } from '../../helpers/log.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()
/** Small segments, so a few dozen records span several. */
const COMPACT: Partial<LogConfig> = { cleanupPolicy: 'compact', segmentBytes: 600, indexIntervalBytes: 100 }

/** Appends `batches` batches of 1..4 records over `keys` keys; each value names its offset. */
async function writeKeyed(log: Log, rng: Rng, batches: number, options: { keys: number; tombstones?: number; timestampMs: number }): Promise<StoredRecord[]> {
  const written: StoredRecord[] = []
  for (let i = 0; i < batches; i++) {
    let next = log.logEndOffset
    const records: KeyedRecord[] = Array.from({ length: rng.int(1, 4) }, () => ({
      key: `k${rng.int(0, options.keys - 1)}`,
      value: rng.bool(options.tombstones ?? 0) ? null : `v${next++}`,
    }))
    written.push(...(await appendKeyed(log, records, { timestampMs: options.timestampMs })))
  }
  return written
}

/** Appends single unique-key records until the log has at least `segments` segments. */
async function rollTo(log: Log, segments: number, timestampMs: number): Promise<StoredRecord[]> {
  const written: StoredRecord[] = []
  while (log.segmentCount < segments) written.push(...(await appendKeyed(log, [{ key: `filler-${log.logEndOffset}`, value: 'f' }], { timestampMs })))
  return written
}

function activeBase(log: Log): bigint {
  return log.segmentBaseOffsets().at(-1)!
}

/** Every offset in [0, end): a read there returns, first, the earliest expected record at or after it. */
async function misreadOffsets(log: Log, expected: readonly StoredRecord[]): Promise<number> {
  let wrong = 0
  for (let o = log.logStartOffset; o < log.logEndOffset; o++) {
    const { records } = await log.read(o, 1)
    const first = decodeBatches(records).batches[0]?.records.find((r) => r.offset >= o)
    const want = expected.find((r) => r.offset >= o)
    const value = first === undefined || first.value === null ? null : first.value.toString()
    if (first?.offset !== want?.offset || (want !== undefined && value !== want.value)) wrong++
  }
  return wrong
}

t.test(`the latest value per key survives at its own offset; the active segment is untouched (seed ${seed})`, async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: COMPACT })
  t.teardown(() => log.close())
  const written = await writeKeyed(log, new Rng(seed), 120, { keys: 10, timestampMs: clock.nowMs })
  const active = activeBase(log)
  const activeFile = path.join(dir, segmentFileName(active, '.log'))
  const activeBytes = await readFile(activeFile)
  const segmentsBefore = log.segmentCount
  const staleSnapshot = log.segmentsSnapshot()

  const result = await cleanLog(log, cleanOptions(clock.now))
  t.ok(result !== null)
  t.equal(result!.endOffset, active, 'everything closed was mapped')
  const expected = expectedAfterClean(written, { from: 0n, to: active }, () => false)
  t.ok(expected.length < written.length, `${written.length - expected.length} superseded records to remove`)
  t.same(await readRecords(log), expected, 'exactly the latest record of each key below the active segment, and all of the active one, at their offsets')
  t.equal(result!.recordsSuperseded, written.length - expected.length)
  t.same(await readFile(activeFile), activeBytes, 'the active segment is byte for byte the same')
  t.equal(activeBase(log), active)
  t.equal(log.logStartOffset, 0n, 'the log start does not move')
  t.equal(log.logEndOffset, BigInt(written.length), 'nor does the log end')
  t.equal(await misreadOffsets(log, expected), 0, 'a read at any offset, removed or not, starts at the next surviving record')

  // A replaced segment with a survivor; one whose records all went would answer null, and the
  // reader would go on to the next segment of its snapshot, as Log.read does.
  const old = staleSnapshot.slice(0, -1).find((s) => expected.some((r) => r.offset >= s.baseOffset && r.offset < s.nextOffset))!
  const forwarded = await old.read(old.baseOffset, 8192, log.logEndOffset)
  const firstForwarded = decodeBatches(forwarded!.records).batches[0]!.records.find((r) => r.offset >= old.baseOffset)
  t.equal(firstForwarded?.offset, expected.find((r) => r.offset >= old.baseOffset)?.offset, 'a reader holding a replaced segment is served from the cleaned one')

  const again = await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: result!.endOffset }))
  t.equal(again!.recordsSuperseded, 0, 'a second pass with nothing dirty removes nothing')
  t.same(await readRecords(log), expected)
  t.ok(log.segmentCount < segmentsBefore, `but merges the small cleaned segments: ${segmentsBefore} -> ${log.segmentCount}`)
})

t.test('a compacted log reopens intact, after a clean shutdown or a full recovery', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const first = await openLog(dir, { clock: clock.now, config: COMPACT })
  const written = await writeKeyed(first.log, new Rng(seed + 1), 80, { keys: 6, timestampMs: clock.nowMs })
  await cleanLog(first.log, cleanOptions(clock.now))
  const expected = expectedAfterClean(written, { from: 0n, to: activeBase(first.log) }, () => false)
  await first.log.close()
  for (const how of [{ cleanShutdown: true }, { cleanShutdown: false, recoveryPoint: 0n }]) {
    const { log, droppedBytes } = await openLog(dir, { clock: clock.now, config: COMPACT, ...how })
    t.equal(droppedBytes, 0, `nothing dropped (${JSON.stringify(how, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))})`)
    t.same(await readRecords(log), expected)
    t.equal(await misreadOffsets(log, expected), 0, 'gaps read through the loaded or rebuilt indexes')
    await log.close()
  }
})

t.test('tombstones stay until delete.retention.ms past their segment, then go with the records they deleted', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: { ...COMPACT, deleteRetentionMs: 1000 } })
  t.teardown(() => log.close())
  const t0 = clock.nowMs
  const written = [
    ...(await appendKeyed(log, [{ key: 'k1', value: 'a' }, { key: 'k2', value: 'b' }], { timestampMs: t0 })),
    ...(await appendKeyed(log, [{ key: 'k1', value: null }], { timestampMs: t0 })),
    ...(await appendKeyed(log, [{ key: 'k3', value: 'c' }], { timestampMs: t0 })),
  ]
  written.push(...(await rollTo(log, 3, t0)))
  written.push(...(await appendKeyed(log, [{ key: 'k2', value: null }], { timestampMs: t0 })))
  t.ok(written.at(-1)!.offset >= activeBase(log), 'the k2 tombstone sits in the active segment')

  clock.nowMs = t0 + 10
  const first = await cleanLog(log, cleanOptions(clock.now))
  t.same((await readRecords(log)).filter((r) => r.key?.startsWith('k')), [
    { key: 'k2', value: 'b', offset: 1n },
    { key: 'k1', value: null, offset: 2n },
    { key: 'k3', value: 'c', offset: 3n },
    { key: 'k2', value: null, offset: written.at(-1)!.offset },
  ], 'k1=a is gone, its tombstone is kept; k2=b stays: its tombstone is in the active segment')
  t.equal(first!.nextTombstoneExpiryMs, t0 + 1001, 'the pass says when the kept tombstone may go')

  clock.nowMs = t0 + 1000
  await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: first!.endOffset }))
  t.ok((await readRecords(log)).some((r) => r.key === 'k1'), 'exactly delete.retention.ms old: still there')

  clock.nowMs = t0 + 1001
  const last = await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: first!.endOffset }))
  t.equal(last!.tombstonesExpired, 1)
  t.equal(last!.nextTombstoneExpiryMs, null)
  const after = await readRecords(log)
  t.notOk(after.some((r) => r.key === 'k1'), 'past it: the tombstone is gone, and nothing of k1 is left')
  t.same(after.filter((r) => r.key === 'k2').map((r) => r.value), ['b', null], 'a tombstone in the active segment is never removed')
  t.ok(after.every((r) => written.some((w) => w.offset === r.offset && w.value === r.value)), 'every survivor kept its offset')
})

t.test('min.compaction.lag.ms holds back segments with recent records', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: { ...COMPACT, minCompactionLagMs: 10_000 } })
  t.teardown(() => log.close())
  const rng = new Rng(seed + 2)
  const t0 = clock.nowMs
  const written = await writeKeyed(log, rng, 40, { keys: 5, timestampMs: t0 })
  written.push(...(await writeKeyed(log, rng, 40, { keys: 5, timestampMs: t0 + 20_000 })))
  clock.nowMs = t0 + 25_000
  const segments = log.segmentsSnapshot()
  const young = segments.find((s) => s.maxTimestamp > clock.nowMs - 10_000)!
  t.ok(young.baseOffset > 0n && young.baseOffset < activeBase(log), 'the newer records start in a closed segment')

  const first = await cleanLog(log, cleanOptions(clock.now))
  t.equal(first!.endOffset, young.baseOffset, 'the pass stops at the first segment with a record younger than the lag')
  const expectedFirst = expectedAfterClean(written, { from: 0n, to: young.baseOffset }, () => false)
  t.same(await readRecords(log), expectedFirst, 'old records superseded only by recent ones stay')

  clock.nowMs = t0 + 40_000
  const second = await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: first!.endOffset }))
  t.equal(second!.endOffset, activeBase(log), 'once the lag has passed, everything closed is cleaned')
  t.same(await readRecords(log), expectedAfterClean(written, { from: 0n, to: activeBase(log) }, () => false))
})

t.test('an upper bound (the high watermark) keeps records at or past it from removing older ones', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: COMPACT })
  t.teardown(() => log.close())
  const written = await writeKeyed(log, new Rng(seed + 3), 60, { keys: 4, timestampMs: clock.nowMs })
  const hw = written[Math.floor(written.length / 2)]!.offset
  const result = await cleanLog(log, cleanOptions(clock.now, { upperBoundOffset: hw }))
  t.ok(result!.endOffset <= hw, 'the mapped section ends at or before the bound')
  t.same(await readRecords(log), expectedAfterClean(written, { from: 0n, to: result!.endOffset }, () => false))
})

t.test('a full offset map ends a pass early; later passes go on from its end', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: COMPACT })
  t.teardown(() => log.close())
  const written = await writeKeyed(log, new Rng(seed + 4), 100, { keys: 12, timestampMs: clock.nowMs })
  const end = activeBase(log)
  let checkpoint = 0n
  let passes = 0
  while (checkpoint < end) {
    const r = await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: checkpoint, offsetMapBytesMax: 300 }))
    t.ok(r!.endOffset > checkpoint, 'every pass makes progress')
    checkpoint = r!.endOffset
    passes++
  }
  t.ok(passes > 2, `${passes} passes with a map of about three keys`)
  t.same(await readRecords(log), expectedAfterClean(written, { from: 0n, to: end }, () => false), 'the same result as one pass with a big map')
})

t.test('a batch that loses some records is re-encoded per run, keeping offsets, epoch, producer fields and compression', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: COMPACT })
  t.teardown(() => log.close())
  const batch = ['a', 'b', 'c', 'd', 'e'].map((key) => ({ key, value: `${key}1` }))
  await appendKeyed(log, batch, { timestampMs: clock.nowMs, compression: 'gzip', producerId: 7n, producerEpoch: 2, baseSequence: 100, leaderEpoch: 4 })
  await appendKeyed(log, [{ key: 'b', value: 'b2' }, { key: 'd', value: 'd2' }], { timestampMs: clock.nowMs, leaderEpoch: 5 })
  await rollTo(log, 2, clock.nowMs)
  await cleanLog(log, cleanOptions(clock.now))
  const { batches } = decodeBatches((await log.read(0n, 1 << 20, { maxOffset: 7n })).records)
  t.same(batches.map((b) => b.records.map((r) => `${r.offset}:${r.value}`)), [['0:a1'], ['2:c1'], ['4:e1'], ['5:b2', '6:d2']])
  for (const b of batches.slice(0, 3)) {
    t.match(b.header, { partitionLeaderEpoch: 4, producerId: 7n, producerEpoch: 2, compression: 'gzip' }, `batch at ${b.header.baseOffset}`)
    t.equal(b.header.baseSequence, 100 + Number(b.header.baseOffset), 'the sequence follows the offset')
  }
  t.equal(batches[3]!.header.partitionLeaderEpoch, 5, 'an untouched batch is copied as it was')
})

t.test('retention never deletes segments of a compact-only log; compact,delete does both', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: { ...COMPACT, retentionMs: 1000 } })
  t.teardown(() => log.close())
  await writeKeyed(log, new Rng(seed + 5), 40, { keys: 100, timestampMs: clock.nowMs - 60_000 })
  const segments = log.segmentCount
  t.equal(await log.deleteExpiredSegments(), 0, 'compact: old segments stay')
  t.equal(log.segmentCount, segments)
  log.config = { ...log.config, cleanupPolicy: 'compact,delete' }
  t.equal(await log.deleteExpiredSegments(), segments - 1, 'compact,delete: retention applies too')
})

t.test('the dirty ratio counts bytes of closed segments written since the checkpoint', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log } = await openLog(dir, { clock: clock.now, config: COMPACT })
  t.teardown(() => log.close())
  await writeKeyed(log, new Rng(seed + 6), 60, { keys: 1000, timestampMs: clock.nowMs })
  const segments = log.segmentsSnapshot()
  const closedBytes = segments.slice(0, -1).reduce((n, s) => n + s.sizeBytes, 0)
  t.match(cleanableRange(segments, log.config, 0n, null, clock.nowMs), { firstDirtyOffset: 0n, firstUncleanableOffset: activeBase(log), dirtyBytes: closedBytes, dirtyRatio: 1 })
  const third = segments[3]!
  const fromThird = cleanableRange(segments, log.config, third.baseOffset, null, clock.nowMs)
  t.equal(fromThird.dirtyBytes, closedBytes - segments.slice(0, 3).reduce((n, s) => n + s.sizeBytes, 0))
  t.equal(fromThird.totalBytes, closedBytes)
  t.equal(cleanableRange(segments, log.config, activeBase(log) + 5n, null, clock.nowMs).dirtyBytes, 0, 'a checkpoint past the active base (a truncated log) is clamped')
  t.equal(cleanableRange(segments, log.config, 0n, 0n, clock.nowMs).dirtyRatio, 0, 'nothing is dirty below an upper bound of 0')
})

t.test(`randomized puts and deletes against a model (seed ${seed})`, async (t) => {
  const rng = new Rng(seed + 7)
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const config: Partial<LogConfig> = { cleanupPolicy: 'compact', segmentBytes: rng.int(400, 1500), indexIntervalBytes: rng.int(50, 400), deleteRetentionMs: rng.int(0, 5000), minCompactionLagMs: rng.pick([0, 0, 2000]) }
  const { log } = await openLog(dir, { clock: clock.now, config })
  const model = new Map<string, string>()
  const all = new Map<bigint, StoredRecord>()
  let checkpoint = 0n
  let cleans = 0
  for (let b = 0; b < 300; b++) {
    const records: KeyedRecord[] = []
    let next = log.logEndOffset
    for (let i = rng.int(1, 5); i > 0; i--) {
      const key = `key-${rng.int(0, 29)}`
      records.push({ key, value: rng.bool(0.2) ? null : `${key}@${next++}` })
    }
    for (const r of await appendKeyed(log, records, { timestampMs: clock.nowMs, compression: rng.pick(['none', 'none', 'gzip'] as const) })) {
      all.set(r.offset, r)
      if (r.value === null) model.delete(r.key!)
      else model.set(r.key!, r.value)
    }
    clock.nowMs += rng.int(0, 200)
    if (rng.bool(0.08)) {
      const bound = rng.bool(0.3) ? BigInt(rng.int(Number(log.logStartOffset), Number(log.logEndOffset))) : null
      const r = await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: checkpoint, upperBoundOffset: bound, offsetMapBytesMax: rng.int(100, 4000) }))
      checkpoint = r!.endOffset
      cleans++
    }
  }
  const check = async (what: string): Promise<StoredRecord[]> => {
    const present = await readRecords(log)
    t.equal(present.filter((r) => { const w = all.get(r.offset); return w?.key !== r.key || w?.value !== r.value }).length, 0, `${what}: every record is at the offset it was written to`)
    const replayed = new Map<string, string>()
    for (const r of present) {
      if (r.value === null) replayed.delete(r.key!)
      else replayed.set(r.key!, r.value)
    }
    t.same([...replayed].sort(), [...model].sort(), `${what}: reading from the start gives the model's state`)
    return present
  }
  await check(`after ${cleans} random cleans`)
  // Everything closed and every tombstone old enough: one record per key below the active segment.
  clock.nowMs += 1_000_000
  while (checkpoint < activeBase(log)) checkpoint = (await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: checkpoint })))!.endOffset
  await cleanLog(log, cleanOptions(clock.now, { firstDirtyOffset: checkpoint }))
  const present = await check('after a full clean')
  const closed = present.filter((r) => r.offset < activeBase(log))
  t.equal(new Set(closed.map((r) => r.key)).size, closed.length, 'one record per key in the closed segments')
  t.notOk(closed.some((r) => r.value === null), 'no tombstone left in them')
  let wrong = 0
  for (let i = 0; i < 200; i++) {
    const o = BigInt(rng.int(0, Number(log.logEndOffset) - 1))
    const first = decodeBatches((await log.read(o, 1)).records).batches[0]?.records.find((r) => r.offset >= o)
    if (first?.offset !== present.find((r) => r.offset >= o)?.offset) wrong++
  }
  t.equal(wrong, 0, 'random reads start at the next surviving record')
  await log.close()
  const reopened = await openLog(dir, { clock: clock.now, config, recoveryPoint: 0n })
  t.same(await readRecords(reopened.log), present, 'the same after a full recovery')
  await reopened.log.close()
})
