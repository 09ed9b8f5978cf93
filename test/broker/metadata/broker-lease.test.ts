// The broker's lease on leadership (broker/metadata/broker-lease.ts): how long an answered
// heartbeat lets a broker go on leading, with a clock the test moves.

import t from 'tap'
import { BrokerLease, leaseMarginMs } from '../../../broker/metadata/broker-lease.js'
import { ManualClock } from '../../helpers/log.js'
import { waitFor } from '../../helpers/wait.js'

const SESSION_MS = 1000
const MARGIN_MS = 200

function leaseAt(t: { teardown(fn: () => unknown): void }, clock: ManualClock): BrokerLease {
  const lease = new BrokerLease({ sessionTimeoutMs: SESSION_MS, marginMs: MARGIN_MS, clock: clock.now })
  t.teardown(() => lease.close())
  return lease
}

t.test('an answered heartbeat holds the lease until its send time + the session timeout less the margin', async (t) => {
  const clock = new ManualClock(5000)
  const lease = leaseAt(t, clock)
  t.equal(lease.lengthMs, 800)
  t.notOk(lease.valid(), 'no heartbeat answered yet: not held')
  // Sent at 5000, answered 300 ms later: the controller heard from the broker no earlier than 5000.
  clock.nowMs = 5300
  lease.renew(5000)
  t.ok(lease.valid(), 'held once answered')
  t.ok(lease.valid(5799), 'held up to just before 5000 + 800')
  t.notOk(lease.valid(5800), 'lapsed at 5000 + 800, whatever the time of the answer')
  t.equal(lease.deadlineMs, 5800)

  lease.renew(4900)
  t.equal(lease.deadlineMs, 5800, 'a late answer to an older heartbeat does not shorten it')
  lease.renew(5400)
  t.equal(lease.deadlineMs, 6200, 'a newer one extends it')

  lease.revoke()
  t.notOk(lease.valid(), 'revoked (fenced, unknown incarnation): over at once')
  lease.renew(5400)
  t.ok(lease.valid(), 'and held again by the next answered heartbeat')
})

t.test('listeners hear of a lapse and of a return, once each', async (t) => {
  const clock = new ManualClock(0)
  const lease = leaseAt(t, clock)
  const heard: boolean[] = []
  lease.onChange((held) => heard.push(held))
  lease.check()
  t.same(heard, [], 'never held: nothing lapsed')
  lease.renew(0)
  t.same(heard, [true], 'granted')
  clock.nowMs = 500
  lease.renew(400)
  lease.check()
  t.same(heard, [true], 'renewals while held say nothing')
  clock.nowMs = 1199
  lease.check()
  t.same(heard, [true], 'still held just before 400 + 800')
  clock.nowMs = 1200
  lease.check()
  lease.check()
  t.same(heard, [true, false], 'lapsed at 1200, said once')
  lease.renew(1100)
  t.same(heard, [true, false, true], 'back with a heartbeat sent at 1100')
  lease.revoke()
  t.same(heard, [true, false, true, false], 'a revoke is a lapse too')
  lease.close()
  lease.renew(1100)
  t.same(heard, [true, false, true, false], 'closed: listeners hear nothing more')
  t.ok(lease.valid(), 'though it still answers')
})

t.test('on the real clock, the lease lapses by itself when heartbeats stop being answered', async (t) => {
  const lease = new BrokerLease({ sessionTimeoutMs: 60, marginMs: 10 })
  t.teardown(() => lease.close())
  const heard: boolean[] = []
  lease.onChange((held) => heard.push(held))
  const sentAt = lease.now()
  lease.renew(sentAt)
  t.same(heard, [true])
  await waitFor(() => heard.length === 2, { what: 'the lapse to be heard', timeoutMs: 5000 })
  t.same(heard, [true, false], 'heard with nobody calling check')
  t.ok(lease.now() >= sentAt + 50, 'no sooner than the deadline')
  t.notOk(lease.valid())
})

t.test('the margin: two election timeouts, at most a quarter of the session', async (t) => {
  t.equal(leaseMarginMs({ sessionTimeoutMs: 9000, electionTimeoutMs: 1000 }), 2000, 'the defaults: a 7 s lease from a 9 s session')
  t.equal(leaseMarginMs({ sessionTimeoutMs: 1500, electionTimeoutMs: 300 }), 375, 'the test cluster\'s (1500 ms session, 300 ms elections): a quarter of the session')
  t.throws(() => new BrokerLease({ sessionTimeoutMs: 100, marginMs: 100 }), /margin is shorter than the session/)
})
