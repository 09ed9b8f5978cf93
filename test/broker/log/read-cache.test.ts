// The tail read cache (broker/log/read-cache.ts): reads it answers must be exactly what the
// segment files give, and its memory is bounded across logs, oldest appends evicted first.

import t from 'tap'
import type { Log } from '../../../broker/log/log.js'
import { ReadCache, type CachedBatch } from '../../../broker/log/read-cache.js'
import { openLog, tempDir, testBatch } from '../../helpers/log.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()

/** One append of 1..4 batches, built twice: each log patches its own copy in place. */
function appendBuffers(rng: Rng, next: bigint): { a: Buffer; b: Buffer; records: number } {
  const parts: Array<{ count: number; pad: number }> = Array.from({ length: rng.int(1, 4) }, () => ({ count: rng.int(1, 6), pad: rng.int(0, 400) }))
  const build = (): Buffer => {
    let offset = next
    return Buffer.concat(parts.map((p) => {
      const buf = testBatch(offset, p.count, { padBytes: p.pad })
      offset += BigInt(p.count)
      return buf
    }))
  }
  return { a: build(), b: build(), records: parts.reduce((n, p) => n + p.count, 0) }
}

t.test(`cached reads equal file reads through appends, rolls, truncations and evictions (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  // Small enough that the cache evicts all the time, shared with a second cached log that competes for it.
  const cache = new ReadCache(24 * 1024)
  const config = { segmentBytes: 32 * 1024, indexIntervalBytes: 1024 }
  const { log: cached } = await openLog(await tempDir(t), { config, readCache: cache })
  const { log: plain } = await openLog(await tempDir(t), { config })
  const { log: rival } = await openLog(await tempDir(t), { config, readCache: cache })
  t.teardown(async () => {
    await cached.close()
    await plain.close()
    await rival.close()
  })
  let mismatches = 0
  let reads = 0
  const compare = async (offset: bigint, maxBytes: number, maxOffset: bigint): Promise<void> => {
    const [x, y] = await Promise.all([cached.read(offset, maxBytes, { maxOffset }), plain.read(offset, maxBytes, { maxOffset })])
    reads++
    if (x.nextOffset !== y.nextOffset || !x.records.equals(y.records)) {
      mismatches++
      if (mismatches <= 3) t.fail(`read(${offset}, ${maxBytes}, maxOffset ${maxOffset}): cached ${x.records.length} bytes to ${x.nextOffset}, files ${y.records.length} bytes to ${y.nextOffset}`)
    }
  }
  for (let step = 0; step < 600; step++) {
    const end = cached.logEndOffset
    if (step % 97 === 96 && end > cached.logStartOffset + 5n) {
      const to = end - BigInt(rng.int(1, 5))
      await Promise.all([cached.truncateTo(to), plain.truncateTo(to)])
    } else {
      const { a, b, records } = appendBuffers(rng, end)
      await Promise.all([cached.append(a, { assignOffsets: true, leaderEpoch: 1 }), plain.append(b, { assignOffsets: true, leaderEpoch: 1 })])
      if (rng.bool(0.3)) await rival.append(appendBuffers(rng, rival.logEndOffset).a, { assignOffsets: true })
      t.equal(cached.logEndOffset, end + BigInt(records))
    }
    t.ok(cache.bytes <= cache.bytesMax, 'the cache stays within its bound')
    const newEnd = cached.logEndOffset
    const start = cached.logStartOffset
    // Mostly at the tail (followers and consumers keeping up), sometimes anywhere.
    for (let i = 0; i < 4; i++) {
      const back = rng.bool(0.8) ? BigInt(rng.int(0, 12)) : BigInt(rng.int(0, Number(newEnd - start)))
      const offset = newEnd - back < start ? start : newEnd - back
      const maxOffset = rng.bool(0.5) ? newEnd : offset + BigInt(rng.int(0, 10))
      await compare(offset, rng.int(1, 6000), maxOffset > newEnd ? newEnd : maxOffset)
    }
  }
  t.equal(mismatches, 0, `${reads} reads matched`)
  t.ok(cache.hits > reads / 2, `most reads were answered from memory (${cache.hits} hits, ${cache.misses} misses)`)
  t.ok(cache.misses > 0, 'some went to the files (evicted or before a roll)')
})

/** A chunk of `count` one-offset batches of `size` bytes each, starting at `base` (contents irrelevant). */
function chunk(base: number, count: number, size: number): { buf: Buffer; batches: CachedBatch[] } {
  const batches = Array.from({ length: count }, (_, i) => ({ pos: i * size, sizeBytes: size, baseOffset: BigInt(base + i), lastOffset: BigInt(base + i) }))
  return { buf: Buffer.alloc(count * size, base % 251), batches }
}

t.test('the bound is shared: the oldest chunk goes first, whichever log holds it', async (t) => {
  const cache = new ReadCache(1000)
  const a = cache.tail()
  const b = cache.tail()
  const add = (tail: typeof a, base: number, count: number, size = 100): void => {
    const c = chunk(base, count, size)
    tail.append(c.buf, c.batches)
  }
  add(a, 0, 3) // a: 0..2
  add(b, 0, 3) // b: 0..2
  add(a, 3, 3) // a: 3..5
  t.equal(cache.bytes, 900)
  add(b, 3, 2) // 1100 bytes: a's first chunk (the oldest) goes
  t.equal(cache.bytes, 800)
  t.equal(a.firstOffset, 3n, 'the oldest chunk, in log a, was evicted')
  t.equal(b.firstOffset, 0n, 'log b kept its first chunk')
  t.equal(a.read(1n, 10_000, 100n), undefined, 'an evicted offset is not answered from memory')
  t.same(a.read(4n, 10_000, 100n)?.nextOffset, 6n, 'a held offset still is')
  b.clear()
  t.equal(cache.bytes, 300, 'clearing a log gives its bytes back')
  add(a, 6, 7) // 1000 bytes: within the bound, nothing evicted
  t.equal(cache.bytes, 1000)
  t.equal(a.firstOffset, 3n)
  add(a, 13, 11) // a chunk larger than the whole bound empties the log's tail rather than be kept
  t.equal(a.firstOffset, null)
  t.equal(cache.bytes, 0)
})

t.test('a read spans chunks, stops at maxOffset and maxBytes, and returns at least one batch', async (t) => {
  const cache = new ReadCache(1 << 20)
  const tail = cache.tail()
  for (const base of [0, 4, 8]) {
    const c = chunk(base, 4, 100)
    tail.append(c.buf, c.batches)
  }
  const r = tail.read(2n, 10_000, 12n)
  t.equal(r?.records.length, 1000, 'offsets 2..11: ten batches across three chunks')
  t.equal(r?.nextOffset, 12n)
  t.equal(tail.read(2n, 10_000, 7n)?.nextOffset, 7n, 'stops before the batch holding maxOffset')
  t.equal(tail.read(2n, 250, 12n)?.records.length, 200, 'whole batches within maxBytes')
  t.equal(tail.read(2n, 1, 12n)?.records.length, 100, 'at least one batch, even past maxBytes')
  t.equal(tail.read(5n, 10_000, 5n), null, 'nothing below maxOffset')
  t.equal(tail.read(12n, 10_000, 12n), null, 'nothing at the log end')
  const big = Buffer.alloc(1 << 16)
  const view = big.subarray(0, 100)
  tail.append(view, [{ pos: 0, sizeBytes: 100, baseOffset: 12n, lastOffset: 12n }])
  view.fill(7)
  t.equal(tail.read(12n, 10_000, 13n)?.records[0], 0, 'a small view of a large buffer is copied, not pinned (nor shared)')
})
