// The producer's accumulator: batches close by size and by age, per-partition order survives
// retries, and the byte budget bounds what the producer holds (send() waits, memory does not grow).

import t from 'tap'
import {
  Accumulator,
  accumulatedRecord,
  ByteBudget,
  recordSizeBytes,
  recordSizeBytesMax,
  sequenceAfter,
  type AccumulatedRecord,
  type ProducerBatch,
  type ProducerIdentity,
} from '../../client/accumulator.js'
import { BATCH_HEADER_BYTES, decodeBatch, encodeBatch, type RecordHeader } from '../../client/protocol/records.js'

const T0 = 1_700_000_000_000

function rec(value: string | null, extra: { key?: Buffer | string; headers?: RecordHeader[]; timestamp?: number } = {}): AccumulatedRecord {
  return accumulatedRecord(extra.key ?? null, value, extra.headers ?? [], extra.timestamp ?? T0)
}

function encode(records: AccumulatedRecord[]): Buffer {
  return encodeBatch(records, { timestamp: T0 })
}

t.test('appended records are written as they come: the size is exact and the bytes decode to them', async (t) => {
  const acc = new Accumulator({ batchBytes: 1 << 20, lingerMs: 5 })
  const records = [
    rec('a'),
    rec(null, { key: 'k' }),
    rec('ü'.repeat(100), { key: Buffer.alloc(300, 1), timestamp: T0 + 5 }),
    rec('v', { headers: [{ key: 'h1', value: Buffer.from('x') }, { key: 'héllo', value: null }], timestamp: T0 + 70_000 }),
    rec('earlier than the first', { timestamp: T0 - 3 }),
  ]
  // Enough records for the batch's buffer to grow several times past its first size.
  for (let i = 0; i < 2000; i++) records.push(rec(`value-${i}`, { key: `key-${i}`, timestamp: T0 + i }))
  let batch: ProducerBatch | undefined
  for (const r of records) batch = acc.append('t', 0, r, recordSizeBytesMax(r), T0)
  if (batch === undefined) throw new Error('no batch')
  t.equal(acc.queued('t', 0).length, 1, 'one batch')
  acc.take(batch)
  const encoded = batch.encode('none')
  t.equal(batch.sizeBytes, encoded.length, 'the size is exact, out-of-order timestamps included')
  const decoded = decodeBatch(encoded)
  t.equal(decoded.header.baseTimestamp, T0, "the base timestamp is the first record's")
  t.equal(decoded.header.maxTimestamp, T0 + 70_000)
  t.same(
    decoded.records.map((r) => [r.key, r.value, r.headers, r.timestamp]),
    records.map((r) => [r.key === null ? null : Buffer.from(r.key), r.value === null ? null : Buffer.from(r.value), r.headers, r.timestamp]),
    'every key, value, header and timestamp as appended (an earlier one as a negative delta)',
  )
  t.same(decoded.records, decodeBatch(encode(records)).records, 'the same records as encodeBatch writes (its base timestamp is the earliest)')
  t.ok(recordSizeBytesMax(records[2] as AccumulatedRecord) >= recordSizeBytes(records[2] as AccumulatedRecord, 2, 5), 'the reservation bounds the real size')
})

t.test('compressed, a batch holds the same records', async (t) => {
  const acc = new Accumulator({ batchBytes: 1 << 20, lingerMs: 5 })
  const records = Array.from({ length: 50 }, (_, i) => rec(`value-${i}`.repeat(10), { key: `k${i}`, timestamp: T0 + i }))
  let batch: ProducerBatch | undefined
  for (const r of records) batch = acc.append('t', 0, r, 0, T0)
  if (batch === undefined) throw new Error('no batch')
  acc.take(batch)
  const encoded = batch.encode('gzip')
  t.ok(encoded.length < batch.sizeBytes, 'smaller than the uncompressed size')
  const decoded = decodeBatch(encoded)
  t.equal(decoded.header.compression, 'gzip')
  t.same(decoded.records.map((r) => r.value?.toString()), records.map((r) => r.value))
})

t.test('a batch closes before it would pass batchBytes', async (t) => {
  const batchBytes = 1024
  const acc = new Accumulator({ batchBytes, lingerMs: 1_000 })
  const created = new Set<ProducerBatch>()
  const closed: number[] = []
  let previous: ProducerBatch | undefined
  for (let i = 0; i < 100; i++) {
    const batch = acc.append('t', 3, rec('x'.repeat(50)), 0, T0)
    created.add(batch)
    if (previous !== undefined && batch !== previous) {
      t.equal(batch.recordCount, 1, 'the record that did not fit starts a new batch')
      t.ok(previous.closed, 'and the full one is closed')
      closed.push(previous.sizeBytes)
    }
    previous = batch
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
  for (const b of queued) {
    b.closed = true
    t.equal(b.encode('none').length, b.sizeBytes, 'the size is exact')
  }
})

t.test('a record larger than batchBytes gets a batch of its own, closed at once', async (t) => {
  const acc = new Accumulator({ batchBytes: 256, lingerMs: 1_000 })
  const small = acc.append('t', 0, rec('small'), 0, T0)
  const big = acc.append('t', 0, rec('y'.repeat(1000)), 0, T0)
  t.not(big, small)
  t.equal(big.recordCount, 1, 'a batch of its own')
  t.ok(small.closed, 'the open batch was closed')
  t.ok(big.closed, 'the oversized batch is closed')
  t.ok(big.sizeBytes > 256)
  const after = acc.append('t', 0, rec('next'), 0, T0)
  t.equal(after.recordCount, 1, 'the next record starts another batch')
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

t.test('inflightPerPartitionMax 1: one batch per partition in flight; a retried batch goes back before newer ones', async (t) => {
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0, inflightPerPartitionMax: 1 })
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

t.test('a batch is encoded once, when closed, and resent as the same bytes', async (t) => {
  const acc = new Accumulator({ batchBytes: 1000, lingerMs: 0 })
  const batch = acc.append('t', 0, rec('once'), 0, T0)
  t.throws(() => batch.encode('none'), 'an open batch is not encoded')
  acc.take(batch)
  const a = batch.encode('none')
  t.equal(batch.encode('gzip'), a, 'the same buffer every time (a later call cannot change it)')
  t.equal(decodeBatch(a).records[0]?.value?.toString(), 'once')
  t.throws(() => batch.append(rec('late'), 10, 0), 'nothing is appended to it after')
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

t.test('tryAppend places a record unless the open batch cannot take it, and then closes that batch', async (t) => {
  const closed: ProducerBatch[] = []
  const acc = new Accumulator({ batchBytes: 200, lingerMs: 1_000, onBatchClosed: (b) => closed.push(b) })
  const first = acc.tryAppend('t', 0, rec('x'.repeat(100)), 10, T0)
  t.ok(first !== null && first.recordCount === 1, 'no batch yet: a new one')
  t.equal(acc.tryAppend('t', 0, rec('small'), 10, T0), first, 'fits: appended to the open batch')
  t.notOk(first?.closed)
  t.same(closed, [])
  t.equal(acc.tryAppend('t', 0, rec('y'.repeat(100)), 10, T0), null, 'does not fit: not placed')
  t.ok(first?.closed, 'and the open batch is closed')
  t.same(closed, [first], 'the closure is reported once')
  t.same(acc.queued('t', 0), [first], 'no batch was opened for the record')
  t.same([first?.recordCount, first?.reservedBytes], [2, 20], 'the refused record left nothing behind')
  t.equal(acc.ready(T0, { flushAll: false }).ready.length, 1, 'and the closed batch is ready without lingering')
  const next = acc.tryAppend('t', 0, rec('y'.repeat(100)), 10, T0)
  t.ok(next !== null && next !== first, 'with the open batch closed, the next record opens a new one')
})

t.test('every closure of an open batch is reported once: full, taken, abandoned, removed', async (t) => {
  const closed: ProducerBatch[] = []
  const acc = new Accumulator({ batchBytes: 200, lingerMs: 0, onBatchClosed: (b) => closed.push(b) })
  const full = acc.append('t', 0, rec('x'.repeat(250)), 0, T0)
  t.same(closed, [full], 'a record that fills its batch closes it')
  const open = acc.append('t', 1, rec('a'), 0, T0)
  acc.take(full)
  acc.take(open)
  t.same(closed, [full, open], 'taking an open batch closes it; a closed one is not reported again')
  const abandoned = acc.append('t', 2, rec('b'), 0, T0)
  acc.abandon(abandoned)
  const removed = acc.append('t', 3, rec('c'), 0, T0)
  acc.removeUnsent()
  t.same(closed, [full, open, abandoned, removed])
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
  const bytes = all.slice(0, 5).map((b) => b.encode('none'))

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
  t.same(all.slice(0, 5).map((b) => b.encode('none')), bytes, 'a re-send carries the same bytes (same sequence)')
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
  const u0 = acc.append('u', 0, rec('u0'), 0, T0)
  u0.closed = true
  takeReady(acc, P1)
  t.same([u0.producerId, u0.baseSequence], [7n, 0])
  acc.complete(u0)
  const u1 = acc.append('u', 0, rec('u1'), 0, T0)
  u1.closed = true
  acc.complete(b0)
  acc.requeue(b1, 0)
  const b4 = acc.append('t', 0, rec('b4'), 0, T0)
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
  const open = acc.append('t', 0, rec('open'), 0, T0)
  t.same(acc.removeUnsent(), [all[2], open], 'the new batches, the open one included')
  t.ok(open.closed, 'closed, so no record joins a removed batch')
  t.same(acc.queued('t', 0), [all[0]])
  t.equal(acc.append('t', 0, rec('next'), 0, T0).recordCount, 1, 'a later record starts a new batch')
})

t.test('without idempotence, 5 batches per partition in flight by default, 1 when asked, and no stamps', async (t) => {
  t.throws(() => new Accumulator({ batchBytes: 100, lingerMs: 0, inflightPerPartitionMax: 6 }), RangeError, 'at most 5')
  t.throws(() => new Accumulator({ batchBytes: 100, lingerMs: 0, inflightPerPartitionMax: 0 }), RangeError, 'at least 1')
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0 })
  for (let i = 0; i < 7; i++) acc.append('t', 0, rec('z'.repeat(40)), 0, T0)
  const taken = takeReady(acc, null)
  t.equal(taken.length, 5, 'Kafka\'s default of 5')
  t.ok(taken.every((b) => b.producerId === -1n && b.producerEpoch === -1 && b.baseSequence === -1), 'the wire\'s "no producer"')
  t.same(takeReady(acc, null), [], 'the sixth waits for a free slot')
  const one = new Accumulator({ batchBytes: 100, lingerMs: 0, inflightPerPartitionMax: 1 })
  for (let i = 0; i < 3; i++) one.append('t', 0, rec('z'.repeat(40)), 0, T0)
  t.equal(takeReady(one, null).length, 1)
  t.same(takeReady(one, null), [])
})

t.test('without idempotence, a retried batch waits until nothing of its partition is in flight, then goes alone before new ones', async (t) => {
  const acc = new Accumulator({ batchBytes: 100, lingerMs: 0 })
  for (let i = 0; i < 7; i++) acc.append('t', 0, rec('z'.repeat(40)), 0, T0)
  const [b0, b1, b2, b3, b4] = takeReady(acc, null) as [ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch, ProducerBatch]
  const [b5, b6] = acc.queued('t', 0) as [ProducerBatch, ProducerBatch]
  acc.complete(b0)
  acc.requeue(b1, T0 + 10)
  t.same(takeReady(acc, null, T0 + 10), [], 'the retry waits while later batches are in flight, and nothing new overtakes it')
  acc.complete(b2)
  acc.complete(b3)
  t.same(takeReady(acc, null, T0 + 10), [], 'still one in flight')
  acc.complete(b4)
  t.same(takeReady(acc, null, T0 + 5), [], 'not before its backoff')
  t.same(takeReady(acc, null, T0 + 10), [b1], 're-sent alone')
  t.same([b1.producerId, b1.baseSequence], [-1n, -1], 'still unstamped')
  // As with idempotence, once no re-send waits, new batches follow within the window of 5 that
  // starts at the oldest unsettled batch (b1): sends b1..b5.
  t.same(takeReady(acc, null, T0 + 10), [b5], 'then new batches, behind it')
  acc.complete(b1)
  t.same(takeReady(acc, null, T0 + 10), [b6])
})
