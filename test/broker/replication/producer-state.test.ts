// Producer state: sequence checks, the window of remembered batches, epochs, and wrap-around.

import t from 'tap'
import { nextSequence, PRODUCER_BATCHES_KEPT, ProducerStateManager } from '../../../broker/replication/producer-state.js'

const h = (producerId: bigint, baseSequence: number, records: number, producerEpoch = 0) => ({ producerId, producerEpoch, baseSequence, lastOffsetDelta: records - 1 })

t.test('sequences advance by record count; retries inside the window are duplicates', async (t) => {
  const s = new ProducerStateManager()
  let offset = 0n
  const batches: ReturnType<typeof h>[] = []
  for (let i = 0; i < PRODUCER_BATCHES_KEPT + 2; i++) {
    const b = h(7n, i * 3, 3)
    t.same(s.check(b), { kind: 'append' }, `batch ${i} appends`)
    s.record(b, offset)
    batches.push(b)
    offset += 3n
  }
  const last = batches[batches.length - 1]!
  const dup = s.check(last)
  t.equal(dup.kind, 'duplicate', 'the latest batch again is a duplicate')
  t.equal(dup.kind === 'duplicate' ? dup.batch.firstOffset : -1n, offset - 3n, 'answered with its original offset')
  const oldest = batches[batches.length - PRODUCER_BATCHES_KEPT]!
  t.equal(s.check(oldest).kind, 'duplicate', `the ${PRODUCER_BATCHES_KEPT}th newest is still remembered`)
  t.throws(() => s.check(batches[0]!), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }, 'older than the window: not recognised, so a gap')
  t.throws(() => s.check(h(7n, last.baseSequence + 4, 1)), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }, 'a gap is refused')
  t.same(s.check(h(7n, last.baseSequence + 3, 1)), { kind: 'append' }, 'the next sequence appends')
})

t.test('epochs and unknown producers', async (t) => {
  const s = new ProducerStateManager()
  t.throws(() => s.check(h(1n, 5, 1)), { code: 'UNKNOWN_PRODUCER_ID' }, 'an unknown producer must start at 0')
  s.record(h(1n, 0, 2, 3), 0n)
  t.throws(() => s.check(h(1n, 2, 1, 2)), { code: 'INVALID_PRODUCER_EPOCH' }, 'an older epoch is fenced')
  t.throws(() => s.check(h(1n, 2, 1, 4)), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }, 'a new epoch must start at 0')
  t.same(s.check(h(1n, 0, 1, 4)), { kind: 'append' }, 'a new epoch starting at 0 appends')
  s.record(h(1n, 0, 1, 4), 2n)
  t.same(s.check(h(1n, 1, 1, 4)), { kind: 'append' }, 'and continues in the new epoch')
  t.throws(() => s.check(h(2n, -1, 1)), { code: 'INVALID_RECORD' }, 'a producer batch without a sequence is refused')
})

t.test('sequence numbers wrap past int32 max to 0', async (t) => {
  const max = 2 ** 31 - 1
  t.equal(nextSequence(max), 0)
  t.equal(nextSequence(max - 1, 3), 1)
  t.equal(nextSequence(5, 3), 8)
  const s = new ProducerStateManager()
  s.record(h(9n, 0, 2), 0n)
  // Fast-forward: a batch ending exactly at max, then the next starts at 0.
  s.record({ producerId: 9n, producerEpoch: 0, baseSequence: max - 1, lastOffsetDelta: 1 }, 1n)
  t.same(s.check(h(9n, 0, 1)), { kind: 'append' }, 'after a batch ending at int32 max the next sequence is 0')
})
