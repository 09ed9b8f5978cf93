import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache } from '../../../broker/replication/leader-epoch-cache.js'
import { silentLogger, tempDir } from '../../helpers/log.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()

type Entry = { epoch: number; startOffset: bigint }

async function cacheWith(dir: string, entries: [number, bigint][]): Promise<LeaderEpochCache> {
  const cache = await LeaderEpochCache.load(dir, silentLogger)
  for (const [epoch, startOffset] of entries) await cache.assign(epoch, startOffset)
  return cache
}

function plain(entries: ReadonlyArray<Entry>): [number, bigint][] {
  return entries.map((e) => [e.epoch, e.startOffset])
}

t.test('a missing file is an empty cache', async (t) => {
  const cache = await LeaderEpochCache.load(await tempDir(t), silentLogger)
  t.equal(cache.latestEpoch, -1)
  t.same(cache.entries(), [])
  t.equal(cache.epochAt(0n), -1)
})

t.test('assign records the first offset of each new epoch and ignores epochs already known', async (t) => {
  const dir = await tempDir(t)
  const cache = await cacheWith(dir, [[0, 0n], [3, 1500n]])
  t.equal(cache.latestEpoch, 3)
  await cache.assign(3, 1600n) // the same epoch again: a later batch of it, not a new start
  await cache.assign(2, 1700n) // an older epoch: already superseded
  await cache.assign(1, 10n)
  t.same(plain(cache.entries()), [[0, 0n], [3, 1500n]])
  await cache.assign(5, 1600n)
  t.same(plain(cache.entries()), [[0, 0n], [3, 1500n], [5, 1600n]])
  t.equal(cache.latestEpoch, 5)
  t.equal(await readFile(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8'), '0\n3\n0 0\n3 1500\n5 1600\n', 'each change is persisted in Kafka\'s text format')
})

t.test('a new epoch starting before later entries removes them first', async (t) => {
  const cache = await cacheWith(await tempDir(t), [[1, 0n], [2, 100n], [4, 200n]])
  await cache.assign(6, 150n)
  t.same(plain(cache.entries()), [[1, 0n], [2, 100n], [6, 150n]], 'epoch 4 at 200 conflicts with epoch 6 from 150')
  await cache.assign(7, 150n)
  t.same(plain(cache.entries()), [[1, 0n], [2, 100n], [7, 150n]], 'an epoch that wrote nothing gives way to the next one at the same offset')
  t.equal(cache.epochAt(150n), 7)
})

t.test('endOffsetFor answers OffsetsForLeaderEpoch', async (t) => {
  const cache = await cacheWith(await tempDir(t), [[1, 10n], [3, 50n], [4, 80n]])
  t.same(cache.endOffsetFor(4, 120n), { epoch: 4, endOffset: 120n }, 'the latest epoch ends at the log end')
  t.same(cache.endOffsetFor(1, 120n), { epoch: 1, endOffset: 50n }, 'a middle epoch ends where the next starts')
  t.same(cache.endOffsetFor(3, 120n), { epoch: 3, endOffset: 80n })
  t.same(cache.endOffsetFor(2, 120n), { epoch: 1, endOffset: 50n }, 'an epoch this log never wrote maps to the largest one below it')
  t.same(cache.endOffsetFor(0, 120n), { epoch: -1, endOffset: 10n }, 'below the first epoch nothing agrees before its start')
  t.same(cache.endOffsetFor(9, 120n), { epoch: 4, endOffset: 120n }, 'above the latest: the latest epoch and the log end')
  t.same(cache.endOffsetFor(4, 79n), { epoch: 4, endOffset: 79n }, 'a log end briefly below the latest start (truncated log, cache not yet) is passed through')
  const empty = await LeaderEpochCache.load(await tempDir(t), silentLogger)
  t.same(empty.endOffsetFor(3, 0n), { epoch: -1, endOffset: -1n }, 'an empty cache knows nothing')
})

t.test('epochAt finds the entry covering an offset', async (t) => {
  const cache = await cacheWith(await tempDir(t), [[1, 10n], [3, 50n]])
  t.equal(cache.epochAt(9n), -1, 'before the first entry')
  t.equal(cache.epochAt(10n), 1)
  t.equal(cache.epochAt(49n), 1)
  t.equal(cache.epochAt(50n), 3)
  t.equal(cache.epochAt(10_000n), 3)
})

t.test('truncateFromEnd drops entries starting at or after the new log end', async (t) => {
  const dir = await tempDir(t)
  const cache = await cacheWith(dir, [[1, 10n], [3, 50n], [4, 80n]])
  await cache.truncateFromEnd(81n)
  t.same(plain(cache.entries()), [[1, 10n], [3, 50n], [4, 80n]], 'epoch 4 still has offset 80')
  await cache.truncateFromEnd(80n)
  t.same(plain(cache.entries()), [[1, 10n], [3, 50n]])
  t.equal(cache.latestEpoch, 3)
  await cache.assign(4, 60n)
  t.same(plain(cache.entries()), [[1, 10n], [3, 50n], [4, 60n]], 'a truncated epoch can start again at the new end')
  await cache.truncateFromEnd(10n)
  t.same(cache.entries(), [])
  t.same(plain((await LeaderEpochCache.load(dir, silentLogger)).entries()), [], 'the truncation is persisted')
})

t.test('truncateFromStart drops entries wholly before the new log start and moves the covering one up', async (t) => {
  const dir = await tempDir(t)
  const cache = await cacheWith(dir, [[1, 10n], [3, 50n], [4, 80n]])
  await cache.truncateFromStart(5n)
  t.same(plain(cache.entries()), [[1, 10n], [3, 50n], [4, 80n]], 'a start before the first entry changes nothing')
  await cache.truncateFromStart(30n)
  t.same(plain(cache.entries()), [[1, 30n], [3, 50n], [4, 80n]])
  await cache.truncateFromStart(50n)
  t.same(plain(cache.entries()), [[3, 50n], [4, 80n]], 'a start exactly at an entry drops everything before it')
  await cache.truncateFromStart(100n)
  t.same(plain(cache.entries()), [[4, 100n]], 'the latest epoch survives, starting at the log start')
  t.equal(cache.epochAt(99n), -1)
  t.same(plain((await LeaderEpochCache.load(dir, silentLogger)).entries()), [[4, 100n]], 'the truncation is persisted')
})

t.test('an update that changes nothing does not rewrite the file', async (t) => {
  const dir = await tempDir(t)
  const cache = await cacheWith(dir, [[1, 10n], [3, 50n]])
  const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
  const marker = '0\n1\n9 9\n' // differs from the cache, so any rewrite would show
  await writeFile(file, marker)
  await cache.assign(3, 60n)
  await cache.truncateFromEnd(51n)
  await cache.truncateFromStart(10n)
  await cache.truncateFromStart(0n)
  t.equal(await readFile(file, 'utf8'), marker)
})

t.test('load reads back what was written, and a file in Kafka\'s format', async (t) => {
  const dir = await tempDir(t)
  const written = await cacheWith(dir, [[0, 0n], [2, 7n], [5, 9_007_199_254_740_993n]])
  const loaded = await LeaderEpochCache.load(dir, silentLogger)
  t.same(plain(loaded.entries()), plain(written.entries()))
  t.equal(loaded.latestEpoch, 5)
  t.equal(loaded.entries()[2]?.startOffset, 9_007_199_254_740_993n, 'offsets beyond 2^53 survive as bigint')

  const kafkaDir = await tempDir(t)
  await writeFile(path.join(kafkaDir, LEADER_EPOCH_CHECKPOINT_FILE), '0\n2\n0 0\n3 1500\n')
  const kafka = await LeaderEpochCache.load(kafkaDir, silentLogger)
  t.same(plain(kafka.entries()), [[0, 0n], [3, 1500n]])
  t.same(kafka.endOffsetFor(0, 2000n), { epoch: 0, endOffset: 1500n })
})

t.test('concurrent updates persist in call order without clashing on the temp file', async (t) => {
  const dir = await tempDir(t)
  const cache = await LeaderEpochCache.load(dir, silentLogger)
  const updates: Promise<void>[] = []
  for (let epoch = 0; epoch < 40; epoch++) updates.push(cache.assign(epoch, BigInt(epoch * 10)))
  updates.push(cache.truncateFromStart(25n), cache.truncateFromEnd(300n))
  await Promise.all(updates)
  const expected: [number, bigint][] = [[2, 25n], ...Array.from({ length: 27 }, (_, i): [number, bigint] => [i + 3, BigInt((i + 3) * 10)])]
  t.same(plain(cache.entries()), expected)
  t.same(plain((await LeaderEpochCache.load(dir, silentLogger)).entries()), expected, 'the last write on disk is the last state')
})

t.test('a damaged file makes load throw, naming the file', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['empty file', '', /version line/],
    ['bad version', '1\n1\n0 0\n', /version line is "1"/],
    ['count too high', '0\n3\n0 0\n1 5\n', /entry count line "3" does not match the 2 entry lines/],
    ['count not a number', '0\nx\n', /entry count line "x"/],
    ['missing count', '0\n', /entry count line ""/],
    ['bad line', '0\n2\n0 0\n1 five\n', /line 4 is "1 five"/],
    ['negative offset', '0\n1\n0 -1\n', /line 3 is "0 -1"/],
    ['epoch beyond int32', '0\n1\n2147483648 0\n', /line 3/],
    ['blank line in the middle', '0\n2\n0 0\n\n', /line 4 is ""/],
    ['epochs not ascending', '0\n2\n3 0\n3 10\n', /line 4 \(epoch 3 from offset 10\) does not follow epoch 3 from offset 0/],
    ['offsets not ascending', '0\n2\n1 10\n2 10\n', /does not follow/],
    ['offsets going back', '0\n2\n1 10\n2 5\n', /does not follow/],
  ]
  for (const [name, text, why] of cases) {
    const dir = await tempDir(t)
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE)
    await writeFile(file, text)
    const err = await LeaderEpochCache.load(dir, silentLogger).then(
      () => null,
      (e: unknown) => e as Error,
    )
    t.equal(err?.name, 'LeaderEpochCheckpointError', `${name}: load rejects`)
    t.ok(err?.message.includes(file), `${name}: the message names ${file}`)
    t.match(err?.message, why, `${name}: the message says what is wrong`)
  }
})

/**
 * The model: the epoch of every offset in [0, OFFSETS), -1 where no entry covers it. Each operation
 * is stated on offsets, so it shares no code or structure with the cache's entry list. The last
 * offset is never assigned or truncated to, so it always carries the latest epoch.
 */
const OFFSETS = 64

class EpochModel {
  epochs: number[] = new Array<number>(OFFSETS).fill(-1)
  get latestEpoch(): number {
    return this.epochs[OFFSETS - 1] as number
  }
  assign(epoch: number, start: number): void {
    if (epoch <= this.latestEpoch) return
    for (let o = start; o < OFFSETS; o++) this.epochs[o] = epoch
  }
  truncateFromEnd(end: number): void {
    const last = end === 0 ? -1 : (this.epochs[end - 1] as number)
    for (let o = end; o < OFFSETS; o++) this.epochs[o] = last
  }
  truncateFromStart(start: number): void {
    for (let o = 0; o < start; o++) this.epochs[o] = -1
  }
  entries(): [number, bigint][] {
    const out: [number, bigint][] = []
    this.epochs.forEach((epoch, o) => {
      if (epoch !== -1 && epoch !== out.at(-1)?.[0]) out.push([epoch, BigInt(o)])
    })
    return out
  }
  endOffsetFor(epoch: number, logEnd: bigint): { epoch: number; endOffset: bigint } {
    const covered = this.epochs.filter((e) => e !== -1)
    if (covered.length === 0) return { epoch: -1, endOffset: -1n }
    const found = Math.max(-1, ...covered.filter((e) => e <= epoch))
    if (found === -1) return { epoch: -1, endOffset: BigInt(this.epochs.indexOf(covered[0] as number)) }
    const after = this.epochs.findIndex((e) => e > found)
    return { epoch: found, endOffset: after === -1 ? logEnd : BigInt(after) }
  }
}

t.test(`random updates agree with an offset-by-offset model (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  const dir = await tempDir(t)
  let cache = await LeaderEpochCache.load(dir, silentLogger)
  const model = new EpochModel()
  const history: string[] = []
  const steps = 400
  let checked = 0
  for (let step = 0; step < steps; step++) {
    const kind = rng.pick(['assign', 'assign', 'assign', 'end', 'start', 'reload'] as const)
    const offset = rng.int(0, OFFSETS - 2)
    if (kind === 'assign') {
      const epoch = Math.max(0, model.latestEpoch + rng.int(-2, 3))
      // Mostly where a leader would start (at or just past the latest entry, including an epoch
      // re-elected with no append in between), sometimes anywhere (a caller that skipped truncation).
      const latestStart = Number(model.entries().at(-1)?.[1] ?? 0n)
      const start = rng.bool(0.6) ? Math.min(OFFSETS - 2, latestStart + rng.int(0, 2)) : offset
      history.push(`assign(${epoch}, ${start})`)
      model.assign(epoch, start)
      await cache.assign(epoch, BigInt(start))
    } else if (kind === 'end') {
      history.push(`truncateFromEnd(${offset})`)
      model.truncateFromEnd(offset)
      await cache.truncateFromEnd(BigInt(offset))
    } else if (kind === 'start') {
      history.push(`truncateFromStart(${offset})`)
      model.truncateFromStart(offset)
      await cache.truncateFromStart(BigInt(offset))
    } else {
      history.push('reload')
      cache = await LeaderEpochCache.load(dir, silentLogger)
    }
    const where = `seed ${seed}, step ${step}, after ${history.slice(-6).join('; ')}`
    const probe = BigInt(rng.int(0, OFFSETS - 1))
    const asked = rng.int(-1, model.latestEpoch + 2)
    const logEnd = BigInt(OFFSETS - 1)
    const actual = { entries: plain(cache.entries()), latest: cache.latestEpoch, at: cache.epochAt(probe), end: cache.endOffsetFor(asked, logEnd) }
    const expected = { entries: model.entries(), latest: model.latestEpoch, at: model.epochs[Number(probe)], end: model.endOffsetFor(asked, logEnd) }
    if (JSON.stringify(actual, bigintJson) !== JSON.stringify(expected, bigintJson)) {
      t.same(actual, expected, `${where}; epochAt(${probe}), endOffsetFor(${asked})`)
      return
    }
    checked++
  }
  t.equal(checked, steps, `seed ${seed}: every step agreed`)
  const reloaded = await LeaderEpochCache.load(dir, silentLogger)
  t.same(plain(reloaded.entries()), model.entries(), `seed ${seed}: the file holds the final state`)
  t.ok(history.some((h) => h.startsWith('truncateFromStart')) && history.some((h) => h.startsWith('truncateFromEnd')), `seed ${seed}: every kind of update ran`)
})

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value
}
