// The lifecycle's part in the lease (broker/metadata/broker-lifecycle.ts): which controller answers
// renew it, which end it, and that a lost lease comes back only once the metadata image has caught
// up with the controller and the partitions follow that image. The controller is scripted, the
// lease's clock is the test's; heartbeats run on the real timer, every 5 ms.

import { pino } from 'pino'
import t from 'tap'
import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { BrokerLease } from '../../../broker/metadata/broker-lease.js'
import { BrokerLifecycle, type LifecycleChannel } from '../../../broker/metadata/broker-lifecycle.js'
import type { QuorumNode } from '../../../broker/metadata/quorum.js'
import { ManualClock } from '../../helpers/log.js'
import { waitFor } from '../../helpers/wait.js'

const SESSION_MS = 1000
const MARGIN_MS = 200
const LEASE_MS = SESSION_MS - MARGIN_MS

/** A controller whose answers the test sets, counting what it was asked. */
class ScriptedController {
  heartbeat: { errorCode: number; isFenced: boolean } | 'unreachable' = { errorCode: 0, isFenced: false }
  commitIndex = 0
  readonly asked = new Map<number, number>()
  /** The body of every registration, in order. */
  readonly registrations: unknown[] = []

  readonly channel: LifecycleChannel = {
    current: () => ({ nodeId: 1, connection: { request: ((apiKey: number, body: unknown) => this.#answer(apiKey, body)) as never } }),
    close: () => undefined,
  }

  count(apiKey: number): number {
    return this.asked.get(apiKey) ?? 0
  }

  async #answer(apiKey: number, body: unknown): Promise<unknown> {
    this.asked.set(apiKey, this.count(apiKey) + 1)
    if (apiKey === ApiKey.BrokerRegistration) this.registrations.push(body)
    if (apiKey === ApiKey.BrokerRegistration) return { errorCode: 0 }
    if (apiKey === ApiKey.DescribeQuorum) return { errorCode: 0, role: 'leader', commitIndex: BigInt(this.commitIndex) }
    if (apiKey !== ApiKey.BrokerHeartbeat) throw new Error(`unexpected API ${apiKey}`)
    if (this.heartbeat === 'unreachable') throw new Error('connection refused')
    return this.heartbeat
  }
}

interface Setup {
  clock: ManualClock
  lease: BrokerLease
  controller: ScriptedController
  image: { appliedIndex: number }
  /** The lease as `beforeLeading` saw it, at each call. */
  syncs: boolean[]
}

function start(t: { teardown(fn: () => unknown): void }, appliedIndex: number, commitIndex: number, kafkaPort = -1): Setup {
  const clock = new ManualClock(10_000)
  const lease = new BrokerLease({ sessionTimeoutMs: SESSION_MS, marginMs: MARGIN_MS, clock: clock.now })
  const controller = new ScriptedController()
  controller.commitIndex = commitIndex
  const image = { appliedIndex }
  const syncs: boolean[] = []
  const quorum = { image } as unknown as QuorumNode
  const lifecycle = new BrokerLifecycle(quorum, {
    brokerId: 2,
    advertised: { host: '127.0.0.1', port: 9092, kafkaPort },
    heartbeatIntervalMs: 5,
    logger: pino({ level: 'silent' }),
    security: {},
    lease,
    channel: controller.channel,
    beforeLeading: async () => {
      syncs.push(lease.valid())
    },
  })
  t.teardown(() => {
    lifecycle.close()
    lease.close()
  })
  return { clock, lease, controller, image, syncs }
}

const heartbeats = (s: Setup): number => s.controller.count(ApiKey.BrokerHeartbeat)

t.test('the first lease waits for the image to reach the controller\'s commit index, then for the partitions to follow it', async (t) => {
  const s = start(t, 5, 7)
  await waitFor(() => heartbeats(s) >= 5, { what: 'heartbeats', timeoutMs: 5000 })
  t.equal(s.controller.count(ApiKey.BrokerRegistration), 1, 'registered once')
  t.notOk(s.lease.valid(), 'answered heartbeats, but the image (at 5) is behind the controller (at 7): no lease')
  t.same(s.syncs, [], 'and the partitions were not synced for leading')

  s.image.appliedIndex = 7
  await waitFor(() => s.lease.valid(), { what: 'the lease', timeoutMs: 5000 })
  t.same(s.syncs, [false], 'the partitions were synced with the caught-up image while the lease was not held yet')
  t.equal(s.lease.deadlineMs, 10_000 + LEASE_MS, 'held to the send time of an answered heartbeat + the lease length')
})

t.test('a held lease is renewed by every answered heartbeat, without asking the controller again', async (t) => {
  const s = start(t, 3, 3)
  await waitFor(() => s.lease.valid(), { what: 'the lease', timeoutMs: 5000 })
  const describes = s.controller.count(ApiKey.DescribeQuorum)
  s.clock.nowMs += 300
  await waitFor(() => s.lease.deadlineMs === 10_300 + LEASE_MS, { what: 'a renewal from a heartbeat sent at 10300', timeoutMs: 5000 })
  t.pass('renewed with the send time of a later heartbeat')
  const before = heartbeats(s)
  await waitFor(() => heartbeats(s) >= before + 3, { what: 'more heartbeats', timeoutMs: 5000 })
  t.equal(s.controller.count(ApiKey.DescribeQuorum), describes, 'no catching up while the lease held')
  t.equal(s.syncs.length, 1, 'nor another sync')
})

t.test('unanswered heartbeats let the lease lapse at the last answered one\'s send time + the lease length', async (t) => {
  const s = start(t, 3, 3)
  await waitFor(() => s.lease.valid(), { what: 'the lease', timeoutMs: 5000 })
  const heard: boolean[] = []
  s.lease.onChange((held) => heard.push(held))
  s.controller.heartbeat = 'unreachable'
  const before = heartbeats(s)
  await waitFor(() => heartbeats(s) >= before + 2, { what: 'failed heartbeats', timeoutMs: 5000 })
  s.clock.nowMs = 10_000 + LEASE_MS - 1
  t.ok(s.lease.valid(), 'held up to the deadline')
  s.clock.nowMs = 10_000 + LEASE_MS
  t.notOk(s.lease.valid(), 'lapsed at the deadline')
  s.lease.check()
  t.same(heard, [false], 'and said so')

  // Contact comes back: the controller may have fenced and unfenced the broker meanwhile.
  s.controller.commitIndex = 9
  s.controller.heartbeat = { errorCode: 0, isFenced: false }
  await waitFor(() => s.controller.count(ApiKey.DescribeQuorum) >= 2, { what: 'the controller asked its commit index again', timeoutMs: 5000 })
  t.notOk(s.lease.valid(), 'not regained while the image (at 3) is behind the controller (at 9)')
  s.image.appliedIndex = 9
  await waitFor(() => s.lease.valid(), { what: 'the lease back', timeoutMs: 5000 })
  t.same(heard, [false, true], 'regained once caught up')
  t.same(s.syncs, [false, false], 'after a sync each time')
})

t.test('a fenced answer or an unknown incarnation ends the lease at once; NOT_CONTROLLER does not', async (t) => {
  const s = start(t, 3, 3)
  await waitFor(() => s.lease.valid(), { what: 'the lease', timeoutMs: 5000 })
  s.controller.heartbeat = { errorCode: errorCodeOf('NOT_CONTROLLER'), isFenced: true }
  let before = heartbeats(s)
  await waitFor(() => heartbeats(s) >= before + 2, { what: 'refused heartbeats', timeoutMs: 5000 })
  t.ok(s.lease.valid(), 'NOT_CONTROLLER says nothing about the session: the lease runs its course')
  t.ok(s.controller.count(ApiKey.BrokerRegistration) >= 2, 'and the broker registers again')

  s.controller.heartbeat = { errorCode: 0, isFenced: true }
  await waitFor(() => !s.lease.valid(), { what: 'the lease revoked', timeoutMs: 5000 })
  t.pass('fenced: revoked before its deadline')

  s.controller.heartbeat = { errorCode: 0, isFenced: false }
  await waitFor(() => s.lease.valid(), { what: 'the lease back', timeoutMs: 5000 })
  s.controller.heartbeat = { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), isFenced: true }
  await waitFor(() => !s.lease.valid(), { what: 'the lease revoked', timeoutMs: 5000 })
  t.pass('STALE_BROKER_EPOCH: revoked too')
  before = s.controller.count(ApiKey.BrokerRegistration)
  await waitFor(() => s.controller.count(ApiKey.BrokerRegistration) > before, { what: 'a new registration', timeoutMs: 5000 })
  t.pass('and the broker registers again')
})

t.test('the registration carries the advertised Kafka listener port, or -1 without one', async (t) => {
  for (const kafkaPort of [19092, -1]) {
    const s = start(t, 3, 3, kafkaPort)
    await waitFor(() => s.controller.registrations.length >= 1, { what: 'a registration', timeoutMs: 5000 })
    t.match(s.controller.registrations[0], { brokerId: 2, host: '127.0.0.1', port: 9092, kafkaPort, incarnationId: String }, `kafkaPort ${kafkaPort}`)
  }
})
