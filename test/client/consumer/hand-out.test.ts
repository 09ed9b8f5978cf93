// The hand-out to the consuming loop on its own (client/consumer/hand-out.ts), over a real
// subscription state; batches are pushed in as the fetcher would push them, so no broker is
// needed. Batches come out oldest first, paused partitions wait, stale batches (a seek, a new
// assignment) are dropped; a batch counts as processed only when the loop asks for the next one;
// an error is thrown once; one loop at a time; close() ends the loop cleanly.

import t from 'tap'
import { HandOut } from '../../../client/consumer/hand-out.js'
import { SubscriptionState, type PartitionState } from '../../../client/consumer/subscription-state.js'
import type { ConsumerBatch } from '../../../client/consumer/types.js'

interface Setup {
  subs: SubscriptionState
  handOut: HandOut
  /** How often the hand-out asked the fetcher for more, and reported a processed batch. */
  calls: { fetchMore: number; processed: number }
  loop: AsyncGenerator<ConsumerBatch, void, undefined>
}

function setup(): Setup {
  const subs = new SubscriptionState({ partitionMaxBytes: 1024 })
  subs.assign([{ topic: 't', partition: 0, offset: 0n }, { topic: 't', partition: 1, offset: 0n }], new Map())
  const calls = { fetchMore: 0, processed: 0 }
  const handOut = new HandOut({ subscriptions: subs, fetchMore: () => void calls.fetchMore++, onProcessed: () => void calls.processed++ })
  return { subs, handOut, calls, loop: handOut.batches() }
}

/** A fetched batch of `state` holding offsets [from, to), as the fetcher queues it. */
function push(handOut: HandOut, state: PartitionState, from: bigint, to: bigint): ConsumerBatch {
  const messages = []
  for (let o = from; o < to; o++) messages.push({ key: null, value: Buffer.from(String(o)), offset: o, timestamp: 0, headers: [] })
  const batch: ConsumerBatch = { topic: state.topic, partition: state.partition, messages, highWatermark: to, nextOffset: to }
  state.buffered = true
  handOut.push({ state, epoch: state.epoch, nextOffset: to, leaderEpoch: 3, batch })
  return batch
}

async function take(loop: AsyncGenerator<ConsumerBatch, void, undefined>): Promise<ConsumerBatch> {
  const r = await loop.next()
  if (r.done === true) throw new Error('the loop ended')
  return r.value
}

t.test('batches come out oldest first; the position moves as each is handed out', async (t) => {
  const { subs, handOut, calls, loop } = setup()
  const p0 = subs.state({ topic: 't', partition: 0 })
  const p1 = subs.state({ topic: 't', partition: 1 })
  const a = push(handOut, p0, 0n, 2n)
  const b = push(handOut, p1, 0n, 5n)
  t.equal(await take(loop), a)
  t.same([p0.offset, p0.offsetLeaderEpoch, p0.buffered], [2n, 3, false], 'handed out: the position is after it, under its leader epoch')
  t.equal(handOut.batchEnd(a)?.nextOffset, 2n, 'commit(batch) can find where it ends')
  t.equal(await take(loop), b)
  t.equal(calls.fetchMore, 3, 'the fetcher is pumped when the loop starts and after each batch handed out')
  await loop.return()
})

t.test('a batch is processed when the loop asks for the next one, not when the loop is left', async (t) => {
  const { subs, handOut, calls, loop } = setup()
  const p0 = subs.state({ topic: 't', partition: 0 })
  push(handOut, p0, 0n, 2n)
  push(handOut, subs.state({ topic: 't', partition: 1 }), 0n, 1n)
  await take(loop)
  t.equal(p0.processed, null, 'in hand: not processed yet')
  let finished = false
  const waiting = handOut.waitForInHand(60_000).then(() => (finished = true))
  await take(loop)
  t.equal(p0.processed, 2n, 'the loop asked for more: processed')
  t.equal(calls.processed, 1)
  await waiting
  t.ok(finished, 'a rebalance waiting for the batch in hand goes on')
  await loop.return()
  const p1 = subs.state({ topic: 't', partition: 1 })
  t.equal(p1.processed, null, 'the batch in hand when the loop was left (break, a throw) does not count')
  t.equal(calls.processed, 1)
})

t.test('paused partitions wait, stale batches are dropped, nothing comes out while revoking', async (t) => {
  const { subs, handOut, loop } = setup()
  const p0 = subs.state({ topic: 't', partition: 0 })
  const p1 = subs.state({ topic: 't', partition: 1 })
  push(handOut, p0, 0n, 1n)
  const later = push(handOut, p1, 0n, 1n)
  subs.pause([{ topic: 't', partition: 0 }])
  t.equal(await take(loop), later, "a paused partition's batch waits; the next one comes out")
  subs.resume([{ topic: 't', partition: 0 }])
  subs.seek({ topic: 't', partition: 0, offset: 7n })
  const fresh = push(handOut, p0, 7n, 8n)
  t.equal(await take(loop), fresh, 'the batch fetched before the seek was dropped as stale')
  subs.beginRevoke()
  push(handOut, p1, 1n, 2n)
  let got: ConsumerBatch | null = null
  const next = take(loop).then((b) => (got = b))
  handOut.wake()
  // Every pending continuation runs before setImmediate's callback: the loop has looked again.
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(got, null, 'nothing is handed out while a rebalance takes the partitions away')
  subs.endRevoke()
  handOut.wake()
  await next
  t.same(got === null ? null : (got as ConsumerBatch).messages.map((m) => m.offset), [1n], 'after it, the loop goes on')
  await loop.return()
})

t.test('an error is thrown from the loop once; one loop at a time; close ends the loop cleanly', async (t) => {
  const { handOut, loop } = setup()
  const second = handOut.batches()
  const waiting = loop.next()
  await t.rejects(second.next(), { code: 'ILLEGAL_STATE', message: /one loop at a time/ })
  handOut.surface(new Error('first'))
  handOut.surface(new Error('second'))
  await t.rejects(waiting, { message: 'first' }, 'the first error surfaced, thrown from the loop')
  const again = handOut.batches()
  const ended = again.next()
  handOut.close()
  t.same(await ended, { value: undefined, done: true }, 'close() ends the loop without an error: the second one was dropped')
  handOut.surface(new Error('after close'))
  t.same(await handOut.batches().next(), { value: undefined, done: true }, 'nothing is thrown after close()')
  await handOut.waitForInHand(60_000)
  t.pass('after close() nothing waits for a batch in hand')
})
