import t from 'tap'
import { AppendWaiters } from '../../../broker/replication/append-waiters.js'

/** Whether `p` has settled within the current turn's microtasks. */
async function settled<T>(p: Promise<T>): Promise<{ done: boolean; value?: T }> {
  const marker = Symbol('pending')
  const value = await Promise.race([p, new Promise<typeof marker>((resolve) => setImmediate(() => resolve(marker)))])
  return value === marker ? { done: false } : { done: true, value: value as T }
}

t.test('a consumer fetch wakes on an append to one of its partitions only', async (t) => {
  const waiters = new AppendWaiters()
  const w = waiters.wait(['a/0', 'a/1'], 60_000)!
  waiters.notify('a/2')
  t.same(await settled(w.done), { done: false }, 'another partition does not wake it')
  waiters.notify('a/1')
  t.same(await settled(w.done), { done: true, value: true }, 'its own partition does')
  t.equal(waiters.count, 0, 'it unregistered everywhere')
  waiters.notify('a/0') // no waiter left: nothing to do, nothing thrown
})

t.test('a follower fetch wakes on a change to any partition its broker replicates, found by key', async (t) => {
  const replicas = new Map<string, number[]>([['a/0', [1, 2]], ['a/1', [1, 3]]])
  const waiters = new AppendWaiters({ replicasOf: (key) => replicas.get(key) })
  const follower2 = waiters.waitForReplica(2, 60_000)!
  const follower3 = waiters.waitForReplica(3, 60_000)!
  waiters.notify('a/0')
  t.same(await settled(follower2.done), { done: true, value: true }, 'broker 2 replicates a/0')
  t.same(await settled(follower3.done), { done: false }, 'broker 3 does not')
  waiters.notify('gone/0', [3]) // a dropped partition: its replicas are passed in
  t.same(await settled(follower3.done), { done: true, value: true }, 'the replicas given are woken')
  t.equal(waiters.count, 0)
})

t.test('a moved high watermark wakes the consumers of its partition, not the follower fetches', async (t) => {
  const waiters = new AppendWaiters({ replicasOf: () => [2] })
  const consumer = waiters.wait(['a/0'], 60_000)!
  const follower = waiters.waitForReplica(2, 60_000)!
  waiters.notifyConsumers('a/0')
  t.same(await settled(consumer.done), { done: true, value: true }, 'a consumer may now read more')
  t.same(await settled(follower.done), { done: false }, 'a follower hears it with its next records (or its short wait for news)')
  waiters.notify('a/0')
  t.same(await settled(follower.done), { done: true, value: true }, 'an append still wakes it')
})

t.test('an append that did not move the high watermark wakes the followers only', async (t) => {
  const waiters = new AppendWaiters({ replicasOf: () => [2] })
  const consumer = waiters.wait(['a/0'], 60_000)!
  const follower = waiters.waitForReplica(2, 60_000)!
  waiters.notifyFollowers('a/0')
  t.same(await settled(follower.done), { done: true, value: true }, 'a follower fetches the new records')
  t.same(await settled(consumer.done), { done: false }, 'a consumer has nothing new below the high watermark')
  consumer.cancel()
})

t.test('waits time out, can be cancelled, are bounded, and shutdown wakes them all', async (t) => {
  const waiters = new AppendWaiters({ waitersMax: 2 })
  const timed = waiters.waitForReplica(1, 5)!
  t.equal(await timed.done, false, 'a timeout resolves false')
  const a = waiters.waitForReplica(1, 60_000)!
  const b = waiters.wait(['x/0'], 60_000)!
  t.equal(waiters.waitForReplica(2, 60_000), null, 'beyond the bound the caller answers at once')
  a.cancel()
  t.equal(await a.done, false, 'a cancel resolves false')
  const c = waiters.waitForReplica(2, 60_000)!
  waiters.notifyAll()
  t.same([await b.done, await c.done], [true, true])
  t.equal(waiters.count, 0)
})
