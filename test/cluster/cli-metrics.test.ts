// `strand cluster metrics --metrics host:port` against a real broker process serving /metrics on
// a port the OS chose (metrics.port 0; the port is in its log line 'serving metrics at /metrics'):
// the per-broker summary as --json figures and as tables, and an endpoint that does not answer
// (exit 1, the others still printed). Reading over the wire is in cli-cluster.test.ts.

import t from 'tap'
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js'
import { strand } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'

interface Figures {
  intervalMs: number
  activeController: string | null
  brokers: Array<{
    address: string
    error?: string
    activeController: boolean
    underReplicatedPartitions: number
    leaderPartitions: number
    topics: Array<{ topic: string; messagesIn: number; bytesIn: number; messagesInPerSec: number | null }>
    apis: Array<{ api: string; requests: number; requestsPerSec: number | null; latencyMsP99: number | null }>
    replication: unknown[]
  }>
}

/** The metrics port a broker logged when it started serving /metrics. */
function metricsPort(b: BrokerProcess): Promise<number> {
  return waitFor(() => {
    const line = b.output.find((l) => l.includes('serving metrics at /metrics'))
    return line === undefined ? false : (JSON.parse(line) as { port: number }).port
  }, { what: 'the metrics endpoint to be announced' })
}

t.test('cluster metrics sums up a broker\'s /metrics', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'metrics.port': 0 } })
  const metrics = `127.0.0.1:${await metricsPort(broker)}`
  const b = ['--bootstrap', broker.address]
  t.equal((await strand(['topics', 'create', 'm', '--partitions', '2', ...b])).code, 0)
  t.equal((await strand(['produce', 'm', '--acks', '1', ...b], 'a\nb\nc\nd\ne\n')).code, 0)

  const run = await strand(['cluster', 'metrics', '--metrics', metrics, '--interval-ms', '200', '--json'])
  t.equal(run.code, 0, run.stderr)
  const figures = JSON.parse(run.stdout) as Figures
  t.equal(figures.activeController, metrics, 'the lone broker is the active controller')
  const [only] = figures.brokers
  t.equal(only?.address, metrics)
  t.equal(only?.underReplicatedPartitions, 0)
  t.equal(only?.leaderPartitions, 2)
  const topic = only?.topics.find((x) => x.topic === 'm')
  t.equal(topic?.messagesIn, 5, 'the 5 records produced')
  t.ok((topic?.bytesIn ?? 0) > 0, 'and their bytes')
  t.equal(typeof topic?.messagesInPerSec, 'number', 'a rate from the two scrapes')
  const produce = only?.apis.find((a) => a.api === 'Produce')
  t.ok((produce?.requests ?? 0) >= 1, 'Produce requests counted')
  t.ok((produce?.latencyMsP99 ?? -1) >= 0, 'with a p99 latency')
  t.same(only?.replication, [], 'no followers on a one-broker cluster')

  const human = await strand(['cluster', 'metrics', '--metrics', metrics, '--interval-ms', '0'])
  t.equal(human.code, 0, human.stderr)
  t.match(human.stdout, `Active controller: ${metrics}; latencies and lags since each broker started, no rates (--interval-ms 0)`)
  t.match(human.stdout, new RegExp(`Broker ${metrics} \\(active controller\\): \\d+ partitions, 2 led, 0 under-replicated`))
  t.match(human.stdout, /TOPIC\s+RECORDS IN\s+RECORDS IN\/S\s+BYTES IN\/S\s+BYTES OUT\/S\s+BYTES TO FOLLOWERS\s+ISR SHRINKS\nm\s+5\s+-/)
  t.match(human.stdout, /API\s+REQUESTS\s+REQUESTS\/S\s+P99 MS\s+MAX MS\n/)
  t.match(human.stdout, /\nProduce\s+\d+\s+-\s+\d+\.\d\d/)

  // One endpoint that does not answer: the others are still printed, and the exit code says so.
  const partial = await strand(['cluster', 'metrics', '--metrics', metrics, '--metrics', '127.0.0.1:1', '--interval-ms', '0', '--json'])
  t.equal(partial.code, 1, 'an unreachable endpoint fails the command')
  const seen = JSON.parse(partial.stdout) as Figures
  t.same(seen.brokers.map((x) => [x.address, x.error ?? null]), [[metrics, null], ['127.0.0.1:1', 'ECONNREFUSED']])
  t.match(partial.stderr, /1 of 2 metrics endpoints did not answer: 127\.0\.0\.1:1 \(ECONNREFUSED\)/)
})

t.test('bad metrics arguments exit 2 with a message', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['cluster', 'metrics', '--metrics', '127.0.0.1:1', '--bootstrap', '127.0.0.1:1'], /Give one or the other/],
    [['cluster', 'metrics', '--metrics', 'localhost'], /--metrics wants host:port, got "localhost"/],
    [['cluster', 'metrics', '--metrics', '127.0.0.1:1', '--interval-ms', 'soon'], /--interval-ms must be an integer from 0 to 60000/],
    [['cluster', 'status', '--metrics', '127.0.0.1:1'], /options of strand cluster metrics/],
  ]
  for (const [args, message] of cases) {
    const run = await strand(args)
    t.equal(run.code, 2, `strand ${args.join(' ')} exits 2`)
    t.match(run.stderr, message)
  }
  const help = await strand(['cluster', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /strand cluster metrics \[--metrics host:port \.\.\.\]/)
})
