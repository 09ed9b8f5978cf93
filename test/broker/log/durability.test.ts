// A log's durability on its own (broker/log/durability.ts), over real segment files in a temp dir:
// group commit (appends waiting together share one fdatasync per dirty segment, and resolve in
// log order once covered), a truncation failing the appends it removes and keeping the recovery
// point within the log, the flush policy's `flush.ms` timing on an injected clock, and deletion
// failing every append still waiting.
//
// The log here is a few lines over real Segments (SegmentLog) rather than a Log, so that each call
// Log makes under its lock is made by the test, in an order it chooses.

import t, { type Test } from 'tap'
import { DEFAULT_LOG_CONFIG } from '../../../broker/log/config.js'
import { Durability, type SyncTarget } from '../../../broker/log/durability.js'
import { Segment } from '../../../broker/log/segment.js'
import { patchBatch } from '../../../client/protocol/records.js'
import { ManualClock, silentLogger, tempDir, testBatch } from '../../helpers/log.js'

/** Real segments appended to as Log appends: offsets patched in, the last segment active. */
class SegmentLog implements SyncTarget {
  readonly dir: string
  #segments: Segment[]

  private constructor(dir: string, first: Segment) {
    this.dir = dir
    this.#segments = [first]
  }

  static async create(dir: string): Promise<SegmentLog> {
    return new SegmentLog(dir, await Segment.create(dir, 0n, DEFAULT_LOG_CONFIG, 0))
  }

  get logEndOffset(): bigint {
    return this.#active.nextOffset
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!
  }

  segmentsSnapshot(): readonly Segment[] {
    return this.#segments
  }

  /** Appends one batch of `count` records at the log end; resolves with the new log end. */
  async append(count: number): Promise<bigint> {
    const first = this.logEndOffset
    const buf = testBatch(first, count)
    patchBatch(buf, 0, { baseOffset: first, partitionLeaderEpoch: 0 })
    await this.#active.append(buf, [{ pos: 0, sizeBytes: buf.length, baseOffset: first, lastOffset: first + BigInt(count) - 1n, maxTimestamp: 1_700_000_000_000 }])
    return this.logEndOffset
  }

  async roll(): Promise<void> {
    this.#segments = [...this.#segments, await Segment.create(this.dir, this.logEndOffset, DEFAULT_LOG_CONFIG, 0)]
  }

  async close(): Promise<void> {
    for (const s of this.#segments) await s.close({ persistIndexes: false })
  }
}

async function setUp(t: Test, clock = new ManualClock()): Promise<{ log: SegmentLog; durability: Durability; clock: ManualClock }> {
  const log = await SegmentLog.create(await tempDir(t, 'strand-durability-'))
  t.teardown(() => log.close())
  return { log, durability: new Durability({ log, clock: clock.now, logger: silentLogger, recoveryPoint: 0n }), clock }
}

t.test('appends waiting together share one sync round, one fdatasync per dirty segment, and resolve in log order', async (t) => {
  const { log, durability } = await setUp(t)
  const ends = [await log.append(3), await log.append(2)]
  await log.roll()
  ends.push(await log.append(4))
  const resolved: bigint[] = []
  await Promise.all(ends.map((end) => durability.durable(end).then(() => resolved.push(end))))
  t.same(resolved, ends, 'each resolved, in log order')
  t.equal(durability.recoveryPoint, 9n, 'everything written is fsynced')
  t.equal(durability.fsyncs, 2, 'one round: one fdatasync for each of the two segments it covered')
  await durability.durable(5n)
  t.equal(durability.fsyncs, 2, 'offsets already fsynced wait for nothing')
  await log.append(1)
  await durability.durable(10n)
  t.equal(durability.fsyncs, 3, 'the next round syncs only the segment past the recovery point')
})

t.test('untilDurable refuses an offset past the log end, and waits for one within it', async (t) => {
  const { log, durability } = await setUp(t)
  const end = await log.append(5)
  await t.rejects(durability.untilDurable(end + 1n), { code: 'NOT_LEADER_OR_FOLLOWER' })
  await durability.untilDurable(end)
  t.equal(durability.recoveryPoint, end)
})

t.test('a truncation fails the appends it removes and keeps the recovery point within the log', async (t) => {
  const { log, durability } = await setUp(t)
  const kept = await log.append(5)
  const removed = await log.append(5)
  const keptDurable = durability.durable(kept)
  const removedDurable = durability.durable(removed)
  // As Log.truncateTo does under its lock, while the sync round those appends started is in flight.
  durability.beginTruncation(kept)
  await t.rejects(removedDurable, { code: 'NOT_LEADER_OR_FOLLOWER' }, 'the append past the truncation point is not reported durable')
  await log.segmentsSnapshot()[0]!.truncateTo(kept)
  durability.endTruncation()
  await keptDurable
  t.equal(log.logEndOffset, kept)
  t.equal(durability.recoveryPoint, kept, 'the append before the truncation point is fsynced, and nothing past the log end is claimed')
})

t.test('flush.ms: a flush is due once the oldest unflushed append is that old, and covers every append since', async (t) => {
  const { log, durability, clock } = await setUp(t)
  await log.append(3)
  t.equal(durability.written(3), 3)
  clock.nowMs += 600
  await log.append(2)
  t.equal(durability.written(2), 5, 'the count runs on until a flush')
  await durability.flushIfDue(1000)
  t.equal(durability.fsyncs, 0, 'not due: the oldest append is 600 ms old')
  await durability.flushIfDue(-1)
  t.equal(durability.fsyncs, 0, 'flush.ms -1 never flushes')
  clock.nowMs += 400
  await durability.flushIfDue(1000)
  t.equal(durability.fsyncs, 1, 'due: the oldest append is 1000 ms old')
  t.equal(durability.recoveryPoint, 5n)
  await log.append(1)
  t.equal(durability.written(1), 1, 'the flush reset the count')
  await durability.flush()
  t.equal(durability.fsyncs, 2, 'an explicit flush syncs what was written since')
  await durability.flush()
  t.equal(durability.fsyncs, 2, 'and with nothing unflushed, nothing')
})

t.test('deleting the log fails every append still waiting; restarting it moves the recovery point to the new start', async (t) => {
  const { log, durability } = await setUp(t)
  const waiting = durability.durable(await log.append(4))
  const gone = new Error('deleted')
  durability.abandon(gone)
  await t.rejects(waiting, gone)
  durability.beginTruncation(-1n)
  durability.restartAt(100n)
  t.equal(durability.recoveryPoint, 100n)
})
