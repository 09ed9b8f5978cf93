// The brokers' Prometheus endpoint, scraped over HTTP from real broker processes: records in,
// replication lag per follower, the active controller, and under-replicated partitions and ISR
// shrinks once a follower dies (which `strand topics describe --under-replicated` also shows).

import t from 'tap'
import { runCli } from '../../client/cli.js'
import { TestCluster } from '../helpers/cluster.js'
import type { BrokerProcess } from '../helpers/broker-process.js'
import { waitFor } from '../helpers/wait.js'

/** The metrics port a broker logged when it started serving /metrics. */
function metricsPort(b: BrokerProcess): Promise<number> {
  return waitFor(() => {
    for (const line of b.output) {
      if (!line.includes('serving metrics at /metrics')) continue
      return (JSON.parse(line) as { port: number }).port
    }
    return false
  }, { what: 'the metrics endpoint to be announced' })
}

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: await res.text() }
}

/** The value of the series `name{labels}` (labels in the exposition's sorted order), or 0 when absent. */
function value(body: string, series: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

t.test('brokers serve replication, traffic and controller metrics as Prometheus text', async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'metrics.port': 0 } })
  const ports = await Promise.all(cluster.ids.map((id) => metricsPort(cluster.broker(id))))
  const strand = cluster.client('metrics')
  await strand.admin().createTopic({ topic: 'm', partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const p = await cluster.waitForPartition(strand, 'm', 0, (x) => x.isr.length === 3, 'three in-sync replicas')
  const producer = strand.producer({ acks: 'all', lingerMs: 0 })
  for (let i = 0; i < 20; i++) await producer.send({ topic: 'm', messages: Array.from({ length: 10 }, (_, j) => ({ value: `v${i}-${j}` })) })
  await producer.close()

  // A consumer reads the 200 records back: the leader counts them out.
  const consumer = strand.consumer({ maxWaitMs: 100 })
  consumer.assign([{ topic: 'm', partition: 0, offset: 'earliest' }])
  let read = 0
  for await (const batch of consumer) {
    read += batch.messages.length
    if (read >= 200) break
  }
  await consumer.close()

  const leaderPort = ports[p.leaderId - 1]!
  const { status, body } = await scrape(leaderPort)
  t.equal(value(body, 'strand_messages_out_total{topic="m"}'), read, `the leader counted the ${read} records out to the consumer`)
  t.equal(status, 200, 'GET /metrics answers')
  const loop = [0.5, 0.99, 1].map((q) => body.split('\n').find((l) => l.startsWith(`strand_event_loop_delay_ms{quantile="${q}"} `)))
  t.ok(loop.every((l) => l !== undefined), 'event-loop delay is reported at p50, p99 and max')
  const [p50, p99, max] = loop.map((l) => Number(l!.split(' ')[1]))
  t.ok(p50! >= 0 && p50! <= p99! && p99! <= max!, `event-loop delay quantiles ascend (${p50} <= ${p99} <= ${max} ms)`)
  t.equal(value(body, 'strand_messages_in_total{topic="m"}'), 200, 'the leader counted the 200 records in')
  const followers = p.replicas.filter((r) => r !== p.leaderId)
  for (const f of followers) {
    t.ok(value(body, `strand_replica_lag_ms_count{follower="${f}",topic="m"}`) > 0, `lag samples for follower ${f}`)
    t.ok(value(body, `strand_replica_lag_ms{follower="${f}",topic="m",quantile="0.99"}`) >= value(body, `strand_replica_lag_ms{follower="${f}",topic="m",quantile="0.5"}`), `follower ${f}: p99 lag >= p50`)
  }
  t.ok(value(body, 'strand_request_latency_ms_count{api="Produce"}') >= 20, 'produce latencies recorded')
  const memory = Object.fromEntries(['rss', 'heap_used', 'heap_total', 'external', 'array_buffers'].map((k) => [k, value(body, `strand_memory_bytes{kind="${k}"}`)]))
  t.ok(memory.heap_used! > 0 && memory.heap_used! <= memory.heap_total!, `heap used within the heap (${JSON.stringify(memory)})`)
  t.ok(memory.rss! > memory.heap_used! && memory.array_buffers! <= memory.external!, 'resident memory covers the heap; buffers are part of external memory')
  const controllers = await Promise.all(ports.map(async (port) => value((await scrape(port)).body, 'strand_active_controller')))
  t.same(controllers.reduce((a, b) => a + b, 0), 1, `exactly one active controller (${controllers.join(',')})`)
  t.equal((await scrape(leaderPort, '/other')).status, 404, 'other paths are 404')

  // A follower dies: the leader reports the partition under-replicated once the ISR shrinks.
  const victim = followers.find((f) => f !== controllers.indexOf(1) + 1) ?? followers[0]!
  await cluster.kill(victim)
  const after = await waitFor(async () => {
    const b = (await scrape(leaderPort)).body
    return value(b, 'strand_under_replicated_partitions') === 1 ? b : false
  }, { what: 'the partition to be reported under-replicated', timeoutMs: 30_000, intervalMs: 100 })
  t.equal(value(after, 'strand_under_replicated_partitions'), 1, 'one under-replicated partition')

  // The CLI finds it too, once the shrunk ISR has reached the metadata it reads (the leader's
  // gauge can count it first: it learns the ISR from the controller's answer to its AlterPartition).
  type Described = { partitions: { partition: number; isr: number[] }[] }
  const described = await waitFor(async () => {
    const lines: string[] = []
    const code = await runCli(['topics', 'describe', 'm', '--under-replicated', '--json', '--bootstrap', cluster.bootstrap[p.leaderId - 1]!], (text) => lines.push(text))
    if (code !== 0) throw new Error(`topics describe --under-replicated exited ${code}: ${lines.join('\n')}`)
    const d = JSON.parse(lines.join('\n')) as Described
    return d.partitions.length > 0 ? d : false
  }, { what: 'topics describe --under-replicated to list the partition', timeoutMs: 30_000, intervalMs: 100 })
  t.same(described.partitions.map((x) => [x.partition, x.isr.includes(victim)]), [[0, false]], 'topics describe --under-replicated lists the partition, without the dead follower in its ISR')
})
