// The CLI's reading of a broker's Prometheus text: the broker's own renderer (broker/metrics)
// produces the exposition, the CLI parses it and sums it up, so both sides agree on the format;
// rates from two scrapes, and a counter that went down (a restart) gives no rate.

import t from 'tap'
import { Metrics } from '../../../broker/metrics/metrics.js'
import { summarize } from '../../../client/cli/metrics.js'
import { parseExposition, sampleValue } from '../../../client/cli/prometheus.js'

function broker(): Metrics {
  const m = new Metrics()
  m.gauge('strand_active_controller', 'controller', () => [{ labels: {}, value: 1 }])
  m.gauge('strand_under_replicated_partitions', 'urp', () => [{ labels: {}, value: 2 }])
  m.inc('strand_messages_in_total', 'in', { topic: 'orders' }, 100)
  m.inc('strand_bytes_in_total', 'in', { topic: 'orders' }, 4000)
  m.inc('strand_requests_total', 'req', { api: 'Produce' }, 10)
  for (const ms of [1, 2, 3, 50]) m.observe('strand_request_latency_ms', 'lat', { api: 'Produce' }, ms)
  for (const ms of [4, 8]) m.observe('strand_replica_lag_ms', 'lag', { topic: 'orders', follower: 3 }, ms)
  m.observe('strand_replica_lag_offsets', 'lag', { topic: 'orders', follower: 3 }, 7)
  m.observe('strand_replica_lag_ms', 'lag', { topic: 'a"b\\c', follower: 2 }, 1)
  return m
}

t.test('the broker\'s exposition, parsed and summed up', async (t) => {
  const m = broker()
  const before = parseExposition(m.render())
  m.inc('strand_messages_in_total', 'in', { topic: 'orders' }, 50)
  m.inc('strand_requests_total', 'req', { api: 'Produce' }, 5)
  const now = parseExposition(m.render())
  t.equal(sampleValue(now, 'strand_replica_lag_ms_count', { topic: 'a"b\\c', follower: '2' }), 1, 'escaped label values read back as written')

  const f = summarize('127.0.0.1:9192', now, before, 500)
  t.equal(f.activeController, true)
  t.equal(f.underReplicatedPartitions, 2)
  t.same(f.topics.map((x) => [x.topic, x.messagesIn, x.bytesIn, x.messagesInPerSec, x.bytesInPerSec]), [['orders', 150, 4000, 100, 0]], 'totals, and rates per second over the 500 ms')
  const produce = f.apis.find((a) => a.api === 'Produce')!
  t.same([produce.requests, produce.requestsPerSec], [15, 10])
  // The broker's histogram keeps about three significant digits.
  t.ok(Math.abs(produce.latencyMsMax! - 50) < 0.1, `max latency about 50 ms (${produce.latencyMsMax})`)
  t.ok(produce.latencyMsP99! >= produce.latencyMsP50!, 'p99 at least p50')
  t.same(f.replication.map((r) => [r.follower, r.topic, Math.round(r.lagMsMax!), r.lagOffsetsP99 === null ? null : Math.round(r.lagOffsetsP99)]), [['2', 'a"b\\c', 1, null], ['3', 'orders', 8, 7]], 'lag per follower and topic, by follower')

  t.same(summarize('x', before, now, 500).topics[0]?.messagesInPerSec, null, 'a counter that went down (a restart) gives no rate')
  t.same(summarize('x', now, null, 0).apis[0]?.requestsPerSec, null, 'one scrape: no rates')
})

t.test('special values and timestamps', async (t) => {
  const s = parseExposition('# HELP x y\nx{a="1"} +Inf 1700000000000\ny NaN\nz -Inf\n\nbad line\n')
  t.same(s.map((x) => [x.name, x.labels, x.value]), [['x', { a: '1' }, Number.POSITIVE_INFINITY], ['y', {}, Number.NaN], ['z', {}, Number.NEGATIVE_INFINITY]])
})

t.test('label sets map to their own series whatever their order, and never to another\'s', async (t) => {
  const m = new Metrics()
  m.inc('c', 'help', { topic: 'a', follower: 2 }, 1)
  m.inc('c', 'help', { follower: 2, topic: 'a' }, 10)
  t.equal(m.counter('c', { topic: 'a', follower: 2 }), 11, 'the same labels in another order are the same series')
  // Values that carry the separators the remembered keys are joined with.
  m.inc('c', 'help', { topic: 'x\u0001follower\u0000y' }, 100)
  m.inc('c', 'help', { topic: 'x', follower: 'y' }, 1000)
  t.equal(m.counter('c', { topic: 'x\u0001follower\u0000y' }), 100)
  t.equal(m.counter('c', { topic: 'x', follower: 'y' }), 1000)
  for (let i = 0; i < 3; i++) m.observe('s', 'help', { api: 'Fetch' }, i)
  m.observe('s', 'help', { api: 'Produce' }, 9)
  t.equal(m.summary('s', { api: 'Fetch' })?.count, 3)
  const max = m.summary('s', { api: 'Produce' })?.max ?? NaN
  t.ok(Math.abs(max - 9) < 0.01, `the other series holds its own observation (max ${max})`)
})
