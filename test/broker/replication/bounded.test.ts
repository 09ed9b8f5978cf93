import t from 'tap'
import { Limiter, settleEach } from '../../../broker/replication/bounded.js'
import { waitFor } from '../../helpers/wait.js'

t.test('every item is run, never more than the bound at once', async (t) => {
  let inflight = 0
  let most = 0
  const done: number[] = []
  await settleEach([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    inflight++
    most = Math.max(most, inflight)
    await new Promise((resolve) => setTimeout(resolve, n % 3))
    inflight--
    done.push(n)
  })
  t.same(done.sort(), [1, 2, 3, 4, 5, 6, 7])
  t.equal(most, 3)
})

t.test('a failure rejects only after every other item has settled, with the first failure', async (t) => {
  const finished: number[] = []
  const run = settleEach([1, 2, 3, 4], 2, async (n) => {
    await new Promise((resolve) => setTimeout(resolve, n))
    if (n === 1) throw new Error('first')
    if (n === 3) throw new Error('second')
    finished.push(n)
  })
  await t.rejects(run, { message: 'first' })
  t.same(finished.sort(), [2, 4], 'the items after the failure still ran to the end')
})

t.test('a bound below one is a programming error', async (t) => {
  await t.rejects(settleEach([1], 0, async () => {}), RangeError)
})

t.test('a limiter runs steps as they come, never more than its bound at once, the rest in order', async (t) => {
  const limiter = new Limiter(2)
  let inflight = 0
  let most = 0
  const started: number[] = []
  const release = new Map<number, () => void>()
  const runs = [1, 2, 3, 4, 5].map((n) =>
    limiter.run(async () => {
      started.push(n)
      inflight++
      most = Math.max(most, inflight)
      await new Promise<void>((resolve) => release.set(n, resolve))
      inflight--
      if (n === 3) throw new Error('three')
      return n
    }),
  )
  const outcomes = Promise.allSettled(runs)
  await waitFor(() => release.size === 2)
  t.same(started, [1, 2], 'two at once')
  release.get(2)!()
  await waitFor(() => release.has(3))
  t.same(started, [1, 2, 3], 'a finished step hands its slot to the first waiting')
  for (const n of [3, 1, 4, 5]) {
    await waitFor(() => release.has(n))
    release.get(n)!()
  }
  t.same((await outcomes).map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)), [1, 2, 'three', 4, 5], 'a failing step fails only its own run')
  t.same(started, [1, 2, 3, 4, 5])
  t.equal(most, 2)
  t.same(await limiter.run(async () => 'free'), 'free', 'every slot was given back')
})
