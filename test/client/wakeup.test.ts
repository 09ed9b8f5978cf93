// The loop timer shared by the producer's sender and the consumer's fetch pump (client/wakeup.ts):
// the earliest time asked for wins, a later one changes nothing, and a cancel keeps it quiet.

import t from 'tap'
import { Wakeup } from '../../client/wakeup.js'
import { waitFor } from '../helpers/wait.js'

t.test('the earliest time asked for wins, and it fires once', async (t) => {
  const fired: number[] = []
  const started = Date.now()
  const w = new Wakeup(Date.now, () => fired.push(Date.now() - started))
  w.at(started + 5_000)
  t.equal(w.atMs, started + 5_000)
  w.at(started + 20)
  t.equal(w.atMs, started + 20, 'an earlier time moves the timer')
  w.at(started + 1_000)
  t.equal(w.atMs, started + 20, 'a later one changes nothing')
  w.at(Number.POSITIVE_INFINITY)
  t.equal(w.atMs, started + 20, '+Infinity asks for nothing')
  await waitFor(() => fired.length === 1, { what: 'the wake-up' })
  t.ok(fired[0]! >= 19, `fired after ${fired[0]} ms, not before the earliest time asked for`)
  t.equal(w.atMs, Number.POSITIVE_INFINITY, 'nothing set once it fired')
  // A sentinel set after the 5 s and 1 s asks would have fired shows those were dropped.
  let sentinel = false
  const s = new Wakeup(Date.now, () => (sentinel = true))
  s.at(Date.now() + 50)
  await waitFor(() => sentinel, { what: 'the sentinel' })
  t.same(fired.length, 1, 'once, for the three asks')
  w.cancel()
})

t.test('a cancel keeps it quiet until asked again, and a time in the past fires at once', async (t) => {
  let fired = 0
  const w = new Wakeup(Date.now, () => fired++)
  w.at(Date.now() + 30)
  w.cancel()
  t.equal(w.atMs, Number.POSITIVE_INFINITY)
  let sentinel = false
  const s = new Wakeup(Date.now, () => (sentinel = true))
  s.at(Date.now() + 80)
  await waitFor(() => sentinel, { what: 'the sentinel, past the cancelled time' })
  t.equal(fired, 0, 'the cancelled wake-up never fired')
  w.at(Date.now() - 1_000)
  await waitFor(() => fired === 1, { what: 'the wake-up asked for in the past' })
  t.equal(fired, 1, 'asked again after the cancel, it fires')
})
