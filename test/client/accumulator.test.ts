// The producer's accumulator: batches close by size and by age, per-partition order survives
// retries, and the byte budget bounds what the producer holds (send() waits, memory does not grow).

import t from 'tap'
import { Accumulator, ByteBudget, recordSizeBytes, recordSizeBytesMax, sequenceAfter, type AccumulatedRecord, type ProducerBatch, type ProducerIdentity } from '../../client/accumulator.js'
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
  t.same(now.ready.map((l) => l[0]?.partition), [1], 'only the partition with a full batch')
  t.equal(now.nextReadyMs, T0 + 10, 'the lingering batch is due at createdMs + lingerMs')
  t.same(acc.ready(T0 + 10, { flushAll: false }).ready.map((l) => l[0]?.partition).sort(), [0, 1], 'linger over')
  t.same(acc.ready(T0, { flushAll: true }).ready.map((l) => l[0]?.partition).sort(), [0, 1], 'flush does not wait')
  const zero = new Accumulator({ batchBytes: 200, lingerMs: 0 })
  zero.append('t', 0, rec('a'), 0, T0)
  t.equal(zero.ready(T0, { flushAll: false }).ready.length, 1, 'lingerMs 0: ready as soon as the sender looks')
})

t.test('one batch per partition in flight; a retried batch goes back before newer ones', async (t) => {
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0 })
  for (let i = 0; i < 6; i++) acc.append('t', 0, rec('z'.repeat(30)), 0, T0)
  const [first, second] = acc.queued('t', 0)
  if (first === undefined || second === undefined) throw new Error('expected two batches')
  t.same(acc.ready(T0, { flushAll: false }).ready, [[first]], 'one batch of the partition at a time')
  acc.take(first)
  t.same(acc.ready(T0, { flushAll: true }).ready, [], 'nothing more of the partition while one is in flight')
  acc.requeue(first, T0 + 50)
  t.equal(acc.queued('t', 0)[0], first, 'the failed batch is the head again')
  const backoff = acc.ready(T0 + 10, { flushAll: true })
  t.same(backoff.ready, [], 'not before its retry time, and nothing overtakes it')
  t.equal(backoff.nextReadyMs, T0 + 50)
  t.same(acc.ready(T0 + 50, { flushAll: false }).ready, [[first]])
  acc.take(first)
  acc.complete(first)
  t.same(acc.ready(T0 + 50, { flushAll: false }).ready, [[second]], 'then the next batch, in order')
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

// Idempotence: several batches per partition in flight, stamped with consecutive sequences, and
// retries re-sent in sequence order before anything new.

const P1 = { producerId: 7n, producerEpoch: 0 }
const P2 = { producerId: 8n, producerEpoch: 0 }

/** An idempotent accumulator whose partition 0 of 't' holds `batches` closed batches of `records` records each. */
function idempotentWith(batches: number, records = 2, inflightPerPartitionMax = 5): { acc: Accumulator; all: ProducerBatch[] } {
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 1_000, inflightPerPartitionMax, idempotent: true })
  const all: ProducerBatch[] = []
  for (let i = 0; i < batches; i++) {
    for (let r = 0; r < records; r++) acc.append('t', 0, rec(`b${i}r${r}`), 0, T0)
    const last = acc.queued('t', 0).at(-1) as ProducerBatch
    last.closed = true
    all.push(last)
  }
  return { acc, all }
}

/** Takes every batch ready now, in order; returns them. */
function takeReady(acc: Accumulator, producer: ProducerIdentity | null, nowMs = T0): ProducerBatch[] {
  const taken: ProducerBatch[] = []
  for (const list of acc.ready(nowMs, { flushAll: false, producer }).ready) {
    for (const b of list) {
      acc.take(b, producer)
      taken.push(b)
    }
  }
  return taken
}

const seqs = (batches: readonly ProducerBatch[]): number[] => batches.map((b) => b.baseSequence)

t.test('idempotent: up to inflightPerPartitionMax batches in flight, stamped with consecutive sequences', async (t) => {
  const { acc, all } = idempotentWith(7, 3)
  const none = acc.ready(T0, { flushAll: false, producer: null })
  t.same(none.ready, [], 'nothing new leaves without a producer id')
  t.ok(none.needsProducerId, 'and the accumulator says it needs one')
  const first = takeReady(acc, P1)
  t.same(first, all.slice(0, 5), 'five batches, in creation order')
  t.same(seqs(first), [0, 3, 6, 9, 12], 'sequences advance by record count')
  t.ok(first.every((b) => b.producerId === 7n && b.producerEpoch === 0), 'each carries the producer id and epoch')
  t.same(takeReady(acc, P1), [], 'the sixth waits for a free slot')
  acc.complete(all[0]!)
  t.same(seqs(takeReady(acc, P1)), [15], 'one slot, one batch')
  acc.complete(all[1]!)
  acc.complete(all[2]!)
  t.same(seqs(takeReady(acc, P1)), [18], 'then the last one')
  t.same(seqs(acc.inflight('t', 0)), [9, 12, 15, 18], 'in flight, in sequence order')
})

t.test('idempotent: a retried batch and those after it are re-sent one by one, in sequence order, before anything new', async (t) => {
  const { acc, all } = idempotentWith(8)
  const [b0, b1, b2, b3, b4, b5, b6] = all as [ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch]
  takeReady(acc, P1)
  t.same(seqs(acc.inflight('t', 0)), [0, 2, 4, 6, 8])
  const bytes = all.slice(0, 5).map((b) => b.encode(encode, 'none'))

  // b1 fails retriably (say NOT_LEADER_OR_FOLLOWER); b3 comes back refused as out of order.
  acc.requeue(b1, T0 + 100)
  t.same(takeReady(acc, P1, T0 + 1_000), [], 'the retry waits while later batches are in flight, and nothing new overtakes it')
  t.ok(acc.hasEarlierUnsettled(b3), 'b3 refused as out of order is explained by b1, still unsettled')
  t.notOk(acc.hasEarlierUnsettled(b0), 'b0 has nothing unsettled before it')
  acc.requeue(b3, 0)
  acc.complete(b0)
  acc.requeue(b2, T0 + 100)
  acc.complete(b4) // a later batch may succeed (b1 had landed; only its answer was lost)
  t.same(acc.queued('t', 0).slice(0, 3), [b1, b2, b3], 'requeued in sequence order, ahead of new batches')
  t.equal(acc.queued('t', 0)[3], b5)

  t.same(takeReady(acc, P1, T0 + 50), [], 'not before its backoff')
  t.same(takeReady(acc, P1, T0 + 100), [b1], 're-sent alone')
  t.same(takeReady(acc, P1, T0 + 100), [], 'the next re-send waits for it')
  acc.complete(b1)
  t.same(takeReady(acc, P1, T0 + 100), [b2])
  acc.complete(b2)
  t.same(takeReady(acc, P1, T0 + 100), [b3])
  acc.complete(b3)
  const fresh = takeReady(acc, P1, T0 + 100)
  t.same(fresh, [b5, b6, all[7]], 'then new batches, several again')
  t.same(seqs(fresh), [10, 12, 14], 'continuing the sequence')
  t.same(all.slice(0, 5).map((b) => b.encode(encode, 'none')), bytes, 'a re-send carries the same bytes (same sequence)')
  t.same(seqs(all.slice(0, 5)), [0, 2, 4, 6, 8], 'and the same stamps')
})

t.test('idempotent: later batches acknowledged before an earlier one free no slot, so a retry stays among the last 5', async (t) => {
  const { acc, all } = idempotentWith(10)
  takeReady(acc, P1)
  // Answers from two leaders across a leader change: b1..b4 acknowledged, b0 not answered yet.
  for (const b of all.slice(1, 5)) acc.complete(b)
  t.same(takeReady(acc, P1), [], 'no new batch while the oldest unsettled one is 5 batches back')
  acc.requeue(all[0]!, 0)
  t.same(takeReady(acc, P1), [all[0]], 'its re-send is then at most 4 batches behind the last one sent')
  acc.complete(all[0]!)
  t.same(seqs(takeReady(acc, P1)), [10, 12, 14, 16, 18], 'settled: five new ones')
})

t.test('idempotent: a retry while the only batch in flight is the failed one goes as soon as its backoff ends', async (t) => {
  const { acc, all } = idempotentWith(2)
  takeReady(acc, P1)
  acc.requeue(all[1]!, T0 + 10)
  acc.requeue(all[0]!, T0 + 20)
  const r = acc.ready(T0, { flushAll: false, producer: P1 })
  t.same(r.ready, [])
  t.equal(r.nextReadyMs, T0 + 20, 'the head re-send decides when the partition is next ready')
  t.same(takeReady(acc, P1, T0 + 20), [all[0]])
})

t.test('idempotent: after a producer id change, a partition restarts at sequence 0 once its old batches are settled', async (t) => {
  const { acc, all } = idempotentWith(4)
  const [b0, b1, b2, b3] = all as [ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch]
  const u0 = acc.append('u', 0, rec('u0'), 0, T0).batch
  u0.closed = true
  takeReady(acc, P1)
  t.same([u0.producerId, u0.baseSequence], [7n, 0])
  acc.complete(u0)
  const u1 = acc.append('u', 0, rec('u1'), 0, T0).batch
  u1.closed = true
  acc.complete(b0)
  acc.requeue(b1, 0)
  const b4 = acc.append('t', 0, rec('b4'), 0, T0).batch
  b4.closed = true

  // The producer now has a new id, P2.
  t.same(takeReady(acc, P2), [u1], 'an idle partition switches at once; the other waits for its in-flight batches')
  t.same([u1.producerId, u1.baseSequence], [8n, 0], 'at sequence 0 under the new id')
  acc.complete(b2)
  acc.complete(b3)
  t.same(takeReady(acc, P2), [b1], 'a re-send goes first')
  t.same([b1.producerId, b1.baseSequence], [7n, 2], 'keeping the id and sequence it was sent with')
  t.same(takeReady(acc, P2), [], 'new batches wait while a batch of the old id is in flight')
  acc.complete(b1)
  t.same(takeReady(acc, P2), [b4])
  t.same([b4.producerId, b4.baseSequence], [8n, 0], 'then the partition starts again at 0 under the new id')
})

t.test('idempotent: sequences wrap past int32 max to 0, as the broker counts', async (t) => {
  t.equal(sequenceAfter(0, 5), 5)
  t.equal(sequenceAfter(2 ** 31 - 2, 1), 2 ** 31 - 1)
  t.equal(sequenceAfter(2 ** 31 - 2, 2), 0)
  t.equal(sequenceAfter(2 ** 31 - 2, 3), 1)
})

t.test('removeUnsent takes every batch never sent, and leaves re-sends', async (t) => {
  const { acc, all } = idempotentWith(3, 2, 2)
  takeReady(acc, P1)
  acc.requeue(all[0]!, 0)
  const open = acc.append('t', 0, rec('open'), 0, T0).batch
  t.same(acc.removeUnsent(), [all[2], open], 'the new batches, the open one included')
  t.ok(open.closed, 'closed, so no record joins a removed batch')
  t.same(acc.queued('t', 0), [all[0]])
  t.ok(acc.append('t', 0, rec('next'), 0, T0).newBatch, 'a later record starts a new batch')
})

t.test('without idempotence, one batch per partition in flight and no stamps', async (t) => {
  t.throws(() => new Accumulator({ batchBytes: 100, lingerMs: 0, inflightPerPartitionMax: 2 }), RangeError, 'more needs idempotence')
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0 })
  for (let i = 0; i < 3; i++) acc.append('t', 0, rec('z'.repeat(40)), 0, T0)
  const taken = takeReady(acc, null)
  t.equal(taken.length, 1)
  t.same([taken[0]!.producerId, taken[0]!.producerEpoch, taken[0]!.baseSequence], [-1n, -1, -1], 'the wire\'s "no producer"')
  t.same(takeReady(acc, null), [])
})
