// The consumer's subscription state on its own (client/consumer/subscription-state.ts): pure
// state, so no broker and no clock, only the times the test names. An assignment replaces every
// partition state (answers for the old ones are stale), positions start resolved or waiting for
// ListOffsets, seek() moves a position and ends its backoff, pause() holds a partition, and
// readiness() says what the fetcher may do with each partition now.

import t from 'tap'
import { checkTopicPartition, NO_LEADER_EPOCH, SubscriptionState } from '../../../client/consumer/subscription-state.js'

const PARTITION_MAX_BYTES = 4096

function assigned(): SubscriptionState {
  const subs = new SubscriptionState({ partitionMaxBytes: PARTITION_MAX_BYTES })
  subs.assign(
    [
      { topic: 'orders', partition: 0, offset: 7n },
      { topic: 'orders', partition: 1, offset: 'earliest' },
      { topic: 'audit', partition: 0, offset: { timestamp: 1_000 } },
    ],
    new Map([['orders\u00000', 5n]]),
  )
  return subs
}

t.test('an assignment: resolved and unresolved positions, committed offsets, topics', async (t) => {
  const subs = assigned()
  t.same(subs.assignment(), [
    { topic: 'orders', partition: 0 },
    { topic: 'orders', partition: 1 },
    { topic: 'audit', partition: 0 },
  ], 'in the order assigned')
  t.equal(subs.size, 3)
  t.same(subs.topics(), ['orders', 'audit'], 'each topic once')
  t.equal(subs.position({ topic: 'orders', partition: 0 }), 7n, 'an offset is the position at once')
  t.equal(subs.position({ topic: 'orders', partition: 1 }), null, "'earliest' waits for ListOffsets")
  t.same(subs.state({ topic: 'audit', partition: 0 }).reset, { timestamp: 1_000 }, 'a timestamp is kept to be looked up')
  t.equal(subs.state({ topic: 'orders', partition: 0 }).committed, 5n, 'the committed offset given with the assignment')
  t.equal(subs.state({ topic: 'orders', partition: 1 }).committed, null)
  t.equal(subs.state({ topic: 'orders', partition: 0 }).fetchBytes, PARTITION_MAX_BYTES, 'fetch size starts at partitionMaxBytes')
  t.same(subs.positions(), [{ topic: 'orders', partition: 0, offset: 7n }], 'commit() commits only resolved positions')
  t.throws(() => subs.position({ topic: 'orders', partition: 9 }), { code: 'INVALID_ARGUMENT', message: /orders-9 is not assigned/ })
  t.equal(subs.find('orders', 9), undefined)
})

t.test('a new assignment replaces every state: answers meant for the old ones are stale', async (t) => {
  const subs = assigned()
  const old = subs.state({ topic: 'orders', partition: 0 })
  t.ok(subs.isCurrent(old, old.epoch))
  subs.assign([{ topic: 'orders', partition: 0, offset: 7n }], new Map())
  const fresh = subs.state({ topic: 'orders', partition: 0 })
  t.not(fresh, old, 'the same partition gets a new state')
  t.notOk(subs.isAssigned(old), 'the old state is no longer assigned')
  t.notOk(subs.isCurrent(old, old.epoch), 'so an answer for it is stale')
  t.ok(fresh.generation > old.generation)
  t.same(subs.assignment(), [{ topic: 'orders', partition: 0 }], 'partitions not named again are gone')
  t.throws(() => subs.assign([{ topic: 'a', partition: 0, offset: 0n }, { topic: 'a', partition: 0, offset: 1n }], new Map()), { message: /a-0 is assigned twice/ })
  t.same(subs.assignment(), [{ topic: 'orders', partition: 0 }], 'a refused assignment changes nothing')
})

t.test('seek moves the position, makes earlier answers stale and ends the backoff', async (t) => {
  const subs = assigned()
  const s = subs.state({ topic: 'orders', partition: 0 })
  s.retryAtMs = 10_000
  s.errors = 4
  s.buffered = true
  s.offsetLeaderEpoch = 3
  s.validatePosition = true
  const epochBefore = s.epoch
  t.equal(subs.seek({ topic: 'orders', partition: 0, offset: 42n }), s, 'returns the state moved')
  t.equal(subs.position({ topic: 'orders', partition: 0 }), 42n)
  t.notOk(subs.isCurrent(s, epochBefore), 'an answer to a request sent before the seek is stale')
  t.ok(subs.isCurrent(s, s.epoch))
  t.same([s.retryAtMs, s.errors, s.buffered], [0, 0, false], 'a new start: no backoff, no batch waiting')
  t.equal(s.offsetLeaderEpoch, NO_LEADER_EPOCH, "the application's offset comes with no leader epoch")
  t.equal(s.validatePosition, false, 'and is not validated against the leader (how a LogTruncationError is moved past)')
  subs.seek({ topic: 'orders', partition: 0, offset: 'latest' })
  t.equal(subs.position({ topic: 'orders', partition: 0 }), null, "seek to 'latest' waits for ListOffsets")
  t.equal(s.reset, 'latest')
  t.throws(() => subs.seek({ topic: 'orders', partition: 0, offset: { timestamp: -1 } }), { code: 'INVALID_ARGUMENT', message: /non-negative integer/ })
  t.throws(() => subs.seek({ topic: 'nope', partition: 0, offset: 1n }), { code: 'INVALID_ARGUMENT' })
})

t.test('pause and resume name assigned partitions only; a paused partition is not fetchable', async (t) => {
  const subs = assigned()
  const p0 = { topic: 'orders', partition: 0 }
  subs.pause([p0])
  t.same(subs.paused(), [p0])
  t.equal(subs.readiness(subs.state(p0), 0), 'paused')
  t.throws(() => subs.pause([{ topic: 'orders', partition: 1 }, { topic: 'orders', partition: 9 }]), { code: 'INVALID_ARGUMENT' })
  t.same(subs.paused(), [p0], 'a list with an unassigned partition pauses none of it')
  subs.resume([p0])
  t.same(subs.paused(), [])
  t.equal(subs.readiness(subs.state(p0), 0), 'fetchable')
  subs.assign([{ topic: 'orders', partition: 0, offset: 0n }], new Map())
  subs.pause([p0])
  subs.assign([{ topic: 'orders', partition: 0, offset: 0n }], new Map())
  t.same(subs.paused(), [], 'a reassigned partition starts unpaused')
})

t.test('readiness: the first reason that holds, in the order the fetcher needs', async (t) => {
  const subs = assigned()
  const s = subs.state({ topic: 'orders', partition: 0 })
  t.equal(subs.readiness(s, 0), 'fetchable')
  s.retryAtMs = 500
  t.equal(subs.readiness(s, 499), 'backing-off', 'until its retry time')
  t.equal(subs.readiness(s, 500), 'fetchable', 'and from it on')
  s.busy = true
  t.equal(subs.readiness(s, 0), 'in-flight', 'one request per partition at a time')
  s.buffered = true
  t.equal(subs.readiness(s, 0), 'buffered', 'a batch waiting to be handed out bounds the prefetch to one')
  s.paused = true
  t.equal(subs.readiness(s, 0), 'paused', "a paused partition's waiting batch does not count as buffered")
})

t.test('beginRevoke: nothing waits to be handed out while the partitions are taken away', async (t) => {
  const subs = assigned()
  const s = subs.state({ topic: 'orders', partition: 0 })
  s.buffered = true
  subs.beginRevoke()
  t.ok(subs.revoking)
  t.equal(s.buffered, false)
  subs.endRevoke()
  t.notOk(subs.revoking)
})

t.test('a newer leader epoch in the metadata asks for the position to be validated', async (t) => {
  const subs = assigned()
  const s = subs.state({ topic: 'orders', partition: 0 })
  t.equal(subs.observeLeaderEpoch(s, 4), false, 'the first epoch seen is the one the position is read under')
  t.equal(s.knownLeaderEpoch, 4)
  t.equal(subs.observeLeaderEpoch(s, 5), false, 'a position with no leader epoch (an offset from outside) is never validated')
  subs.handedOut(s, 20n, 5)
  t.same([s.offset, s.offsetLeaderEpoch], [20n, 5], 'a batch handed out moves the position and says its epoch')
  t.equal(subs.observeLeaderEpoch(s, 5), false, 'same epoch: nothing to validate')
  t.equal(subs.observeLeaderEpoch(s, 6), true, 'a newer one: a new leader, whose log may differ')
  t.equal(subs.observeLeaderEpoch(s, 5), true, 'an older epoch in stale metadata does not cancel it')
  subs.resolved(s, 30n, 6)
  t.equal(subs.observeLeaderEpoch(s, 6), false, 'a position the leader answered (ListOffsets) is valid')
  t.same([s.offset, s.offsetLeaderEpoch], [30n, 6])
})

t.test('rewind after a truncation: back to where the logs agree, processed offsets too', async (t) => {
  const subs = assigned()
  const s = subs.state({ topic: 'orders', partition: 0 })
  subs.handedOut(s, 50n, 2)
  s.processed = 50n
  s.validatePosition = true
  const epoch = s.epoch
  subs.rewind(s, 40n, 1)
  t.same([s.offset, s.offsetLeaderEpoch, s.validatePosition], [40n, 1, false])
  t.equal(s.processed, 40n, 'auto-commit must not commit past records never handed out')
  t.notOk(subs.isCurrent(s, epoch), 'as a seek: earlier answers are stale')
  subs.rewind(s, 45n, -1)
  t.equal(s.offsetLeaderEpoch, NO_LEADER_EPOCH, 'an unknown epoch from the leader stays unknown')
  t.equal(s.processed, 40n, 'a processed offset below the new position stays')
})

t.test('commits: processed offsets not committed yet, and what the group now holds', async (t) => {
  const subs = assigned()
  const p0 = subs.state({ topic: 'orders', partition: 0 })
  const p1 = subs.state({ topic: 'orders', partition: 1 })
  t.same(subs.uncommitted(), [], 'nothing processed yet')
  p0.processed = 5n
  p1.processed = 3n
  t.same(subs.uncommitted(), [{ topic: 'orders', partition: 1, offset: 3n }], 'orders-0 processed up to what is committed already')
  subs.committed('orders', 1, 3n)
  t.same(subs.uncommitted(), [])
  t.doesNotThrow(() => subs.committed('orders', 9, 1n), 'a commit answered after a rebalance took the partition is ignored')
  subs.requestReset(p0, 'earliest')
  t.same([p0.offset, p0.reset], [null, 'earliest'], 'an out-of-range position waits for ListOffsets again')
})

t.test('checkTopicPartition refuses what is not a topic-partition and a start offset', async (t) => {
  t.doesNotThrow(() => checkTopicPartition({ topic: 'a', partition: 0, offset: 0n }))
  t.doesNotThrow(() => checkTopicPartition({ topic: 'a', partition: 3, offset: { timestamp: 0 } }))
  t.throws(() => checkTopicPartition({ topic: '', partition: 0, offset: 0n }), { code: 'INVALID_ARGUMENT', message: /Not a topic-partition/ })
  t.throws(() => checkTopicPartition({ topic: 'a', partition: -1, offset: 0n }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => checkTopicPartition({ topic: 'a', partition: 0, offset: -1n }), { code: 'INVALID_ARGUMENT', message: /offset must be/ })
  t.throws(() => checkTopicPartition({ topic: 'a', partition: 0, offset: 5 as never }), { code: 'INVALID_ARGUMENT', message: /offset must be/ }, 'a number is not an offset: offsets are bigint')
})
