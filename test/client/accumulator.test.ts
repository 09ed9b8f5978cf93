// The producer's accumulator: batches close by size and by age, per-partition order survives
// retries, and the byte budget bounds what the producer holds (send() waits, memory does not grow).

import t from 'tap'
import { Accumulator, ByteBudget, recordSizeBytes, recordSizeBytesMax, type AccumulatedRecord } from '../../client/accumulator.js'
import { BATCH_HEADER_BYTES, decodeBatch, encodeBatch } from '../../client/protocol/records.js'

const T0 = 1_700_000_000_000

function rec(value: string | null, extra: Partial<AccumulatedRecord> = {}): AccumulatedRecord {
  return { key: null, value, headers: [], timestamp: T0, ...extra }
}

function encode(records: AccumulatedRecord[]): Buffer {
  return encodeBatch(records, { timestamp: T0 })
}

t.test('the size estimate equals the encoded batch size', async (t) => {
  const acc = new Accumulator({ batchBytes: 1 << 20, lingerMs: 5 })
  const records = [
    rec('a'),
    rec(null, { key: 'k' }),
    rec('ü'.repeat(100), { key: Buffer.alloc(300, 1), timestamp: T0 + 5 }),
    rec('v', { headers: [{ key: 'h1', value: Buffer.from('x') }, { key: 'héllo', value: null }], timestamp: T0 + 70_000 }),
  ]
  for (let i = 0; i < 200; i++) records.push(rec(`value-${i}`, { key: `key-${i}`, timestamp: T0 + i }))
  let last
  for (const r of records) last = acc.append('t', 0, r, recordSizeBytesMax(r), T0)
  const batch = last?.batch
  if (batch === undefined) throw new Error('no batch')
  const encoded = encode(batch.records)
  t.equal(batch.sizeBytes, encoded.length, 'estimate is exact for in-order timestamps')
  t.equal(decodeBatch(encoded).records.length, records.length)
  t.ok(recordSizeBytesMax(records[2] as AccumulatedRecord) >= recordSizeBytes(records[2] as AccumulatedRecord, 2, 5), 'the reservation bounds the real size')
})

t.test('a batch closes before it would pass batchBytes', async (t) => {
  const batchBytes = 1024
  const acc = new Accumulator({ batchBytes, lingerMs: 1_000 })
  const created = new Set<unknown>()
  const closed: number[] = []
  for (let i = 0; i < 100; i++) {
    const r = acc.append('t', 3, rec('x'.repeat(50)), 0, T0)
    created.add(r.batch)
    if (r.closedBatch !== null) {
      t.ok(r.newBatch, 'the record that did not fit starts a new batch')
      t.equal(r.index, 0)
      closed.push(r.closedBatch.sizeBytes)
    }
  }
  t.ok(closed.length > 1, `${closed.length} batches closed by size`)
  for (const size of closed) {
    t.ok(size <= batchBytes, `closed batch of ${size} bytes fits ${batchBytes}`)
    t.ok(size > batchBytes - 80, 'and is not closed early')
  }
  const queued = acc.queued('t', 3)
  t.equal(queued.length, created.size, 'batches queue in creation order')
  t.same(queued.map((b) => b.closed), queued.map((_, i) => i < queued.length - 1), 'all but the last are closed')
  t.equal(queued.reduce((n, b) => n + b.recordCount, 0), 100, 'no record lost or duplicated')
  for (const b of queued) t.equal(encode(b.records).length, b.sizeBytes)
})

t.test('a record larger than batchBytes gets a batch of its own, closed at once', async (t) => {
  const acc = new Accumulator({ batchBytes: 256, lingerMs: 1_000 })
  acc.append('t', 0, rec('small'), 0, T0)
  const big = acc.append('t', 0, rec('y'.repeat(1000)), 0, T0)
  t.ok(big.newBatch)
  t.not(big.closedBatch, null, 'the open batch was closed')
  t.ok(big.batch.closed, 'the oversized batch is closed')
  t.ok(big.batch.sizeBytes > 256)
  const after = acc.append('t', 0, rec('next'), 0, T0)
  t.ok(after.newBatch, 'the next record starts another batch')
  t.equal(acc.queued('t', 0).length, 3)
})

t.test('ready: full batches at once, others after lingerMs, everything when flushing', async (t) => {
  const acc = new Accumulator({ batchBytes: 200, lingerMs: 10 })
  acc.append('t', 0, rec('a'), 0, T0)
  for (let i = 0; i < 10; i++) acc.append('t', 1, rec('b'.repeat(30)), 0, T0 + 2)
  const now = acc.ready(T0 + 2, { flushAll: false })
  t.same(now.ready.map((b) => b.partition), [1], 'only the partition with a full batch')
  t.equal(now.nextReadyMs, T0 + 10, 'the lingering batch is due at createdMs + lingerMs')
  t.same(acc.ready(T0 + 10, { flushAll: false }).ready.map((b) => b.partition).sort(), [0, 1], 'linger over')
  t.same(acc.ready(T0, { flushAll: true }).ready.map((b) => b.partition).sort(), [0, 1], 'flush does not wait')
  const zero = new Accumulator({ batchBytes: 200, lingerMs: 0 })
  zero.append('t', 0, rec('a'), 0, T0)
  t.equal(zero.ready(T0, { flushAll: false }).ready.length, 1, 'lingerMs 0: ready as soon as the sender looks')
})

t.test('one batch per partition in flight; a retried batch goes back before newer ones', async (t) => {
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0 })
  for (let i = 0; i < 6; i++) acc.append('t', 0, rec('z'.repeat(30)), 0, T0)
  const [first, second] = acc.queued('t', 0)
  if (first === undefined || second === undefined) throw new Error('expected two batches')
  t.equal(acc.ready(T0, { flushAll: false }).ready[0], first)
  acc.take(first)
  t.same(acc.ready(T0, { flushAll: true }).ready, [], 'nothing more of the partition while one is in flight')
  acc.requeue(first, T0 + 50)
  t.equal(acc.queued('t', 0)[0], first, 'the failed batch is the head again')
  const backoff = acc.ready(T0 + 10, { flushAll: true })
  t.same(backoff.ready, [], 'not before its retry time, and nothing overtakes it')
  t.equal(backoff.nextReadyMs, T0 + 50)
  t.equal(acc.ready(T0 + 50, { flushAll: false }).ready[0], first)
  acc.take(first)
  acc.complete(first)
  t.equal(acc.ready(T0 + 50, { flushAll: false }).ready[0], second, 'then the next batch, in order')
  t.throws(() => acc.take(first), 'taking a batch that is not the head is a bug')
})

t.test('a batch is encoded once and resent as the same bytes', async (t) => {
  const acc = new Accumulator({ batchBytes: 1000, lingerMs: 0 })
  const { batch } = acc.append('t', 0, rec('once'), 0, T0)
  let calls = 0
  const encoder = (records: AccumulatedRecord[]): Buffer => {
    calls++
    return encode(records)
  }
  const a = batch.encode(encoder, 'none')
  const b = batch.encode(encoder, 'none')
  t.equal(calls, 1)
  t.equal(a, b)
  t.same(batch.records, [], 'records are dropped once encoded')
})

t.test('the byte budget never grants more than bytesMax', async (t) => {
  const budget = new ByteBudget(1000)
  t.ok(budget.tryAcquire(600))
  t.notOk(budget.tryAcquire(500), 'over the bound: refused')
  t.ok(budget.tryAcquire(400))
  t.equal(budget.usedBytes, 1000)
  t.throws(() => budget.tryAcquire(1001), RangeError, 'a request above the bound can never be met')
  budget.release(1000)
  t.equal(budget.usedBytes, 0)
  t.throws(() => budget.release(1), 'releasing more than granted is a bug')
})

t.test('acquire waits for room (backpressure) and serves waiters in order', async (t) => {
  const budget = new ByteBudget(1000)
  t.ok(budget.tryAcquire(900))
  const order: string[] = []
  const big = budget.acquire(800).then(() => order.push('big'))
  const small = budget.acquire(50).then(() => order.push('small'))
  t.ok(budget.waiting)
  t.notOk(budget.tryAcquire(50), 'a newcomer does not jump the queue, though 50 bytes would fit')
  await Promise.resolve()
  t.same(order, [], 'nothing granted while full')
  budget.release(100)
  await new Promise((r) => setImmediate(r))
  t.same(order, [], 'the big waiter still does not fit, and the small one waits behind it')
  budget.release(800)
  await Promise.all([big, small])
  t.same(order, ['big', 'small'])
  t.equal(budget.usedBytes, 850)
  t.notOk(budget.waiting)
  t.ok(budget.usedBytes <= budget.bytesMax)
})

t.test('every reservation fits: header plus records stay under the budget', async (t) => {
  // A producer reserves recordSizeBytesMax per record; the bound must hold for large headers too.
  const r = rec('v'.repeat(5000), { key: 'k'.repeat(100), headers: [{ key: 'a', value: Buffer.alloc(2000) }] })
  const reserved = recordSizeBytesMax(r)
  t.ok(reserved >= encode([r]).length - BATCH_HEADER_BYTES, 'reservation covers the encoded record')
})

t.test('closeIfFull closes an open batch only when the record would not fit', async (t) => {
  const acc = new Accumulator({ batchBytes: 200, lingerMs: 1_000 })
  t.notOk(acc.closeIfFull('t', 0, rec('a')), 'no batch yet: nothing to close')
  acc.append('t', 0, rec('x'.repeat(100)), 0, T0)
  t.notOk(acc.closeIfFull('t', 0, rec('small')), 'fits: stays open')
  t.notOk(acc.queued('t', 0)[0]?.closed)
  t.ok(acc.closeIfFull('t', 0, rec('y'.repeat(100))), 'does not fit: closed')
  t.ok(acc.queued('t', 0)[0]?.closed)
  t.equal(acc.ready(T0, { flushAll: false }).ready.length, 1, 'and ready without lingering')
})
