import { cp, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { cleanLog } from '../../../broker/log/compaction.js'
import type { LogConfig } from '../../../broker/log/config.js'
import type { Log } from '../../../broker/log/log.js'
import { appendKeyed, cleanOptions, expectedAfterClean, readRecords, type StoredRecord } from '../../helpers/compaction.js'
import { ManualClock, openLog, tempDir } from '../../helpers/log.js'
import { Rng } from '../../helpers/random.js'

const CONFIG: Partial<LogConfig> = { cleanupPolicy: 'compact', segmentBytes: 500, indexIntervalBytes: 100, deleteRetentionMs: 0 }

class SimulatedCrash extends Error {}

/** The same log every time: keyed records with tombstones over many small segments. */
async function scenario(dir: string, clock: ManualClock): Promise<{ log: Log; written: StoredRecord[] }> {
  const { log } = await openLog(dir, { clock: clock.now, config: CONFIG })
  const rng = new Rng(20240601)
  const written: StoredRecord[] = []
  for (let i = 0; i < 60; i++) {
    const records = Array.from({ length: rng.int(1, 3) }, () => ({ key: `k${rng.int(0, 7)}`, value: rng.bool(0.15) ? null : `v${log.logEndOffset}-${i}` }))
    written.push(...(await appendKeyed(log, records, { timestampMs: clock.nowMs })))
  }
  // Segments were rolled at 500 bytes; groups of up to 1500 bytes make the cleaner merge them.
  log.config = { ...log.config, segmentBytes: 1500 }
  clock.nowMs += 10
  return { log, written }
}

function activeBase(log: Log): bigint {
  return log.segmentBaseOffsets().at(-1)!
}

function key(r: StoredRecord): string {
  return `${r.offset}:${r.key}:${r.value}`
}

t.test('a crash at any step of a clean leaves a log that opens complete, readable and cleanable', async (t) => {
  let rolledBack = 0
  let completed = 0
  let steps = 0
  for (let crashAt = 0; ; crashAt++) {
    const dir = await tempDir(t)
    const clock = new ManualClock()
    const { log, written } = await scenario(dir, clock)
    const expected = expectedAfterClean(written, { from: 0n, to: activeBase(log) }, () => true)
    const before = log.segmentsSnapshot()
    let calls = 0
    let stoppedAt = ''
    const crashPoint = (step: string): void => {
      if (calls++ === crashAt) {
        stoppedAt = step
        throw new SimulatedCrash(step)
      }
    }
    const crashed = await cleanLog(log, cleanOptions(clock.now, { crashPoint })).then(
      () => false,
      (err: unknown) => {
        if (!(err instanceof SimulatedCrash)) throw err
        return true
      },
    )
    if (!crashed) {
      steps = calls
      t.same(await readRecords(log), expected, 'without a crash the clean completes')
      await log.close()
      break
    }
    // The disk as the crash left it: copied before anything else can touch it.
    const copy = await tempDir(t)
    await cp(dir, copy, { recursive: true })
    const recoveryPoint = crashAt % 2 === 0 ? log.recoveryPoint : 0n
    await log.close().catch(() => undefined)
    for (const s of before) await s.close({ persistIndexes: false }) // replaced ones the crash left open

    const { log: reopened } = await openLog(copy, { clock: clock.now, config: log.config, recoveryPoint })
    const what = `crash after step ${crashAt} (${stoppedAt})`
    t.same((await readdir(copy)).filter((n) => /\.(cleaned|swap)/.test(n)), [], `${what}: no staged file is left`)
    const present = await readRecords(reopened)
    const original = new Set(written.map(key))
    const kept = new Set(present.map(key))
    t.equal(present.filter((r) => !original.has(key(r))).length, 0, `${what}: every record is one that was written, at its offset`)
    t.equal(expected.filter((r) => !kept.has(key(r))).length, 0, `${what}: every record the clean must keep is there`)
    if (present.length === written.length) rolledBack++
    else if (present.length === expected.length) completed++
    await cleanLog(reopened, cleanOptions(clock.now))
    t.same(await readRecords(reopened), expected, `${what}: a new clean finishes the job`)
    await reopened.close()
  }
  t.ok(steps >= 12, `${steps} crash points, several groups`)
  t.ok(rolledBack > 0 && completed > 0, `some crashes roll the clean back (${rolledBack}), some complete it (${completed})`)
})

t.test('an index swap file left without its .log.swap is the live segment\'s index', async (t) => {
  const dir = await tempDir(t)
  const clock = new ManualClock()
  const { log, written } = await scenario(dir, clock)
  await cleanLog(log, cleanOptions(clock.now))
  const expected = await readRecords(log)
  const base = log.segmentBaseOffsets()[0]!
  await log.close()
  // As if the crash came after step 4 renamed the .log but not the indexes.
  const name = base.toString().padStart(20, '0')
  await cp(path.join(dir, `${name}.index`), path.join(dir, `${name}.index.swap`))
  await writeFile(path.join(dir, `${name}.timeindex.swap`), Buffer.alloc(0))
  const { log: reopened } = await openLog(dir, { clock: clock.now, config: CONFIG, cleanShutdown: true })
  t.teardown(() => reopened.close())
  t.same((await readdir(dir)).filter((n) => n.includes('.swap')), [])
  t.same(await readRecords(reopened), expected)
  t.ok(expected.length < written.length)
})
