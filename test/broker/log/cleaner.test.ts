import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { CLEANER_CHECKPOINT_FILE } from '../../../broker/log/cleaner.js'
import { cleanableRange } from '../../../broker/log/compaction.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../../broker/log/config.js'
import type { Log } from '../../../broker/log/log.js'
import { LogManager, type LogManagerOptions } from '../../../broker/log/log-manager.js'
import { appendKeyed, expectedAfterClean, readRecords, type StoredRecord } from '../../helpers/compaction.js'
import { ManualClock, silentLogger, tempDir } from '../../helpers/log.js'
import { Rng, testSeed } from '../../helpers/random.js'
import { waitFor } from '../../helpers/wait.js'

const seed = testSeed()
const COMPACT: LogConfig = { ...DEFAULT_LOG_CONFIG, cleanupPolicy: 'compact', segmentBytes: 600, indexIntervalBytes: 100 }
/** Long enough that only the test's own calls clean. */
const NO_TIMER_MS = 3_600_000

async function openManager(dataDir: string, clock: ManualClock, cleaner: LogManagerOptions['cleaner'] = { backoffMs: NO_TIMER_MS }): Promise<LogManager> {
  return LogManager.open(dataDir, { clock: clock.now, logger: silentLogger, cleaner })
}

/** `batches` batches of 1..3 records over `keys` keys. */
async function write(log: Log, rng: Rng, batches: number, keys: number, timestampMs: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  for (let i = 0; i < batches; i++) {
    const records = Array.from({ length: rng.int(1, 3) }, () => ({ key: `k${rng.int(0, keys - 1)}`, value: `v${log.logEndOffset}` }))
    out.push(...(await appendKeyed(log, records, { timestampMs })))
  }
  return out
}

function activeBase(log: Log): bigint {
  return log.segmentBaseOffsets().at(-1)!
}

t.test(`each pass cleans the dirtiest compacted log above its ratio and checkpoints it (seed ${seed})`, async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const rng = new Rng(seed)
  const manager = await openManager(dataDir, clock)
  const small = await manager.getOrCreate('small', 0, COMPACT)
  const big = await manager.getOrCreate('big', 0, COMPACT)
  const plain = await manager.getOrCreate('plain', 0, { ...COMPACT, cleanupPolicy: 'delete' })
  await write(small, rng, 40, 1000, clock.nowMs) // mostly distinct keys: cleaning keeps most of it
  const bigWritten = await write(big, rng, 60, 5, clock.nowMs)
  await write(plain, rng, 60, 5, clock.nowMs)
  const plainSegments = plain.segmentBaseOffsets()
  // Both are all dirty; make `small` less so by cleaning it first, then dirtying it a little.
  const first = await manager.cleanLogs()
  const second = await manager.cleanLogs()
  t.same([first?.topic, second?.topic].sort(), ['big', 'small'], 'both compacted logs are cleaned, one per pass')
  t.equal(await manager.cleanLogs(), null, 'then nothing is dirty')
  t.equal(manager.cleanerCheckpoint('big', 0), activeBase(big))
  t.same(await readRecords(big), expectedAfterClean(bigWritten, { from: 0n, to: activeBase(big) }, () => false))
  t.same(plain.segmentBaseOffsets(), plainSegments, 'a delete-policy log is never cleaned')

  const checkpoint = manager.cleanerCheckpoint('small', 0)!
  while (cleanableRange(small.segmentsSnapshot(), small.config, checkpoint, null, clock.nowMs).dirtyBytes === 0) {
    await appendKeyed(small, [{ key: `new-${small.logEndOffset}`, value: 'x'.repeat(100) }], { timestampMs: clock.nowMs })
  }
  const range = cleanableRange(small.segmentsSnapshot(), small.config, checkpoint, null, clock.nowMs)
  t.ok(range.dirtyRatio > 0 && range.dirtyRatio <= 0.5, `small is a little dirty: ${range.dirtyRatio.toFixed(2)}`)
  t.equal(await manager.cleanLogs(), null, 'below min.cleanable.dirty.ratio: no clean')
  t.equal(manager.cleanerCheckpoint('small', 0), checkpoint)
  small.config = { ...small.config, minCleanableDirtyRatio: range.dirtyRatio / 2 }
  t.match(await manager.cleanLogs(), { topic: 'small', partition: 0 }, 'above a lower ratio: cleaned')
  t.ok(manager.cleanerCheckpoint('small', 0)! > checkpoint)

  const saved = await readFile(path.join(dataDir, CLEANER_CHECKPOINT_FILE), 'utf8')
  await manager.close()
  const again = await openManager(dataDir, clock)
  t.teardown(() => again.close())
  t.equal(again.cleanerCheckpoint('big', 0), activeBase(big), 'the checkpoint file survives a restart')
  t.match(saved, /^0\n2\n/, 'in the recovery-point checkpoint format')
})

t.test('tombstones due after delete.retention.ms get a pass even when nothing is dirty', async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const manager = await openManager(dataDir, clock)
  t.teardown(() => manager.close())
  const log = await manager.getOrCreate('t', 0, { ...COMPACT, deleteRetentionMs: 5000 })
  const t0 = clock.nowMs
  await appendKeyed(log, [{ key: 'gone', value: 'v' }], { timestampMs: t0 })
  await appendKeyed(log, [{ key: 'gone', value: null }], { timestampMs: t0 })
  while (log.segmentCount < 2) await appendKeyed(log, [{ key: `f${log.logEndOffset}`, value: 'f' }], { timestampMs: t0 })
  t.match(await manager.cleanLogs(), { tombstonesExpired: 0, nextTombstoneExpiryMs: t0 + 5001 })
  t.same((await readRecords(log)).filter((r) => r.key === 'gone'), [{ key: 'gone', value: null, offset: 1n }])
  clock.nowMs = t0 + 5000
  t.equal(await manager.cleanLogs(), null, 'not due yet, not dirty')
  clock.nowMs = t0 + 5001
  t.match(await manager.cleanLogs(), { topic: 't', tombstonesExpired: 1 }, 'due: cleaned')
  t.same((await readRecords(log)).filter((r) => r.key === 'gone'), [])
  t.equal(await manager.cleanLogs(), null)
})

t.test('the cleaner runs by itself every log.cleaner.backoff.ms', async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const manager = await openManager(dataDir, clock, { backoffMs: 20 })
  t.teardown(() => manager.close())
  const log = await manager.getOrCreate('auto', 0, COMPACT)
  const written = await write(log, new Rng(seed + 1), 40, 4, clock.nowMs)
  await waitFor(() => manager.cleanerCheckpoint('auto', 0) === activeBase(log), { what: 'the periodic clean' })
  t.same(await readRecords(log), expectedAfterClean(written, { from: 0n, to: activeBase(log) }, () => false))
})

t.test('the high watermark bounds a clean; an unhosted partition is skipped; a deleted one is forgotten', async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const bounds = new Map<string, bigint>()
  const manager = await openManager(dataDir, clock, { backoffMs: NO_TIMER_MS, cleanableEndOffset: (topic) => bounds.get(topic) ?? null })
  t.teardown(() => manager.close())
  const log = await manager.getOrCreate('hw', 0, COMPACT)
  const written = await write(log, new Rng(seed + 2), 60, 4, clock.nowMs)
  t.equal(await manager.cleanLogs(), null, 'no bound known: not cleaned')
  const hw = written[Math.floor(written.length / 2)]!.offset
  bounds.set('hw', hw)
  const pass = await manager.cleanLogs()
  t.ok(pass !== null && pass.endOffset <= hw, 'cleaned up to the bound at most')
  t.same(await readRecords(log), expectedAfterClean(written, { from: 0n, to: pass!.endOffset }, () => false))
  await manager.delete('hw', 0)
  t.equal(manager.cleanerCheckpoint('hw', 0), undefined)
})

t.test('close stops a running pass without damage', async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const manager = await openManager(dataDir, clock)
  const log = await manager.getOrCreate('stop', 0, { ...COMPACT, segmentBytes: 4096 })
  const written = await write(log, new Rng(seed + 3), 600, 50, clock.nowMs)
  const pass = manager.cleanLogs()
  // Close once the pass is writing (or has finished, on a fast machine).
  let settled = false
  void pass.finally(() => (settled = true))
  await waitFor(async () => settled || (await readdir(log.dir)).some((n) => n.endsWith('.cleaned')), { intervalMs: 1, what: 'the pass to start writing' })
  await manager.close()
  const result = await pass
  t.same((await readdir(log.dir)).filter((n) => /\.(cleaned|swap)/.test(n)), [], 'an abandoned pass removes its staged files')
  const reopened = await openManager(dataDir, clock)
  t.teardown(() => reopened.close())
  const again = await reopened.getOrCreate('stop', 0, { ...COMPACT, segmentBytes: 4096 })
  const present = await readRecords(again)
  const expected = expectedAfterClean(written, { from: 0n, to: activeBase(again) }, () => false)
  if (result !== null) {
    t.same(present, expected, 'the pass finished first')
    return
  }
  // A pass swaps in one group of segments at a time: stopped, it leaves the groups it finished
  // cleaned (a prefix of the log, up to a segment boundary) and everything after them untouched.
  const kept = new Set(expected.map((r) => r.offset))
  const cleanedBelow = (boundary: bigint): typeof written => written.filter((r) => r.offset >= boundary || kept.has(r.offset))
  const boundary = [0n, ...again.segmentBaseOffsets()].find((b) => isDeepStrictEqual(present, cleanedBelow(b)))
  t.not(boundary, undefined, `the abandoned pass left the log as it was, or cleaned only below a segment boundary (${boundary ?? 'none matched'})`)
})

t.test('deleting a topic during a pass leaves no checkpoint behind', async (t) => {
  const dataDir = await tempDir(t)
  const clock = new ManualClock()
  const manager = await openManager(dataDir, clock)
  t.teardown(() => manager.close())
  const log = await manager.getOrCreate('doomed', 0, { ...COMPACT, segmentBytes: 4096 })
  await write(log, new Rng(seed + 4), 600, 50, clock.nowMs)
  const pass = manager.cleanLogs()
  let settled = false
  void pass.finally(() => (settled = true))
  await waitFor(async () => settled || (await readdir(log.dir)).some((n) => n.endsWith('.cleaned')), { intervalMs: 1, what: 'the pass to start writing' })
  const finishedFirst = settled // a fast machine may finish the pass first
  await manager.delete('doomed', 0)
  if (!finishedFirst) t.equal(await pass, null, 'the pass gives up')
  t.equal(manager.cleanerCheckpoint('doomed', 0), undefined)
  const fresh = await manager.getOrCreate('doomed', 0, COMPACT)
  t.equal(fresh.logEndOffset, 0n, 'a recreated topic starts empty')
  await write(fresh, new Rng(seed + 5), 40, 4, clock.nowMs)
  t.match(await manager.cleanLogs(), { topic: 'doomed' }, 'and is cleaned from its start')
})
