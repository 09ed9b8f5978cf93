// The `strand` command against a three-broker cluster of real processes: `topics describe` with
// the topic's configs and both log end and high watermark, `cluster metrics` reading every broker
// over the wire (no --metrics), and `cluster status` with each follower's replication lag.

import t from 'tap'
import { strand } from '../helpers/cli.js'
import { TestCluster } from '../helpers/cluster.js'

interface Described {
  topic: string
  configs: Array<{ name: string; value: string | null; isDefault: boolean }>
  partitions: Array<{ partition: number; leader: number; replicas: number[]; isr: number[]; logStartOffset: string; logEndOffset: string; highWatermark: string }>
}

interface Metrics {
  activeController: string | null
  brokers: Array<{ address: string; nodeId: number | null; error?: string; activeController: boolean; topics: Array<{ topic: string; messagesIn: number }>; replication: Array<{ follower: string; topic: string }> }>
}

interface Status {
  controllerId: number
  replication: Array<{ leader: number; follower: number; topics: number; lagMsP99: number | null; lagMsMax: number | null; lagOffsetsP99: number | null; lagOffsetsMax: number | null }>
  metricsUnavailable: unknown[]
}

t.test('describe, metrics and status of a three-broker cluster', async (t) => {
  const cluster = await TestCluster.start(t)
  const b = ['--bootstrap', cluster.bootstrap.join(',')]
  const created = await strand(['topics', 'create', 'lagged', '--partitions', '2', '--replication-factor', '3', '--config', 'retention.ms=60000', '--config', 'max.message.bytes=2048', ...b])
  t.equal(created.code, 0, created.stderr)
  // Records in both partitions, so that each partition's leader has seen its followers copy some.
  for (const partition of ['0', '1']) t.equal((await strand(['produce', 'lagged', '--acks', 'all', '--partition', partition, ...b], 'a\nb\nc\n')).code, 0)

  const json = await strand(['topics', 'describe', 'lagged', '--json', ...b])
  t.equal(json.code, 0, json.stderr)
  const described = JSON.parse(json.stdout) as Described
  t.same(described.configs.filter((c) => !c.isDefault).map((c) => `${c.name}=${c.value}`), ['retention.ms=60000', 'max.message.bytes=2048'], 'the overrides')
  t.ok(described.configs.some((c) => c.name === 'cleanup.policy' && c.value === 'delete' && c.isDefault), 'every key, with its default')
  t.equal(described.partitions.reduce((n, p) => n + Number(p.highWatermark), 0), 6, 'high watermarks add up to the records sent')
  t.ok(described.partitions.every((p) => BigInt(p.logEndOffset) >= BigInt(p.highWatermark)), 'the log end is never below the high watermark')

  const human = await strand(['topics', 'describe', 'lagged', ...b])
  t.equal(human.code, 0, human.stderr)
  t.match(human.stdout, /^Topic lagged: 2 partitions, replication factor 3\nConfig overrides: retention\.ms=60000 max\.message\.bytes=2048\n\n/)
  t.match(human.stdout, /PARTITION\s+LEADER\s+REPLICAS\s+ISR\s+LOG START\s+LOG END\s+HIGH WATERMARK\n0\s+\d\s+[\d,]+\s+[\d,]+\s+0\s+\d\s+\d/)
  const all = await strand(['topics', 'describe', 'lagged', '--all-configs', ...b])
  t.match(all.stdout, /CONFIG\s+VALUE\s+SOURCE\n/)
  t.match(all.stdout, /\nretention\.ms\s+60000\s+topic\n/)
  t.match(all.stdout, /\nmin\.insync\.replicas\s+1\s+default\n/)
  t.equal((await strand(['topics', 'list', '--all-configs', ...b])).code, 2, '--all-configs belongs to describe')

  const metrics = await strand(['cluster', 'metrics', '--interval-ms', '200', '--json', ...b])
  t.equal(metrics.code, 0, metrics.stderr)
  const figures = JSON.parse(metrics.stdout) as Metrics
  t.same(figures.brokers.map((x) => [x.nodeId, x.address, x.error ?? null]), cluster.ids.map((id) => [id, `127.0.0.1:${cluster.ports[id - 1]}`, null]), 'every broker, read over the wire')
  t.equal(figures.brokers.filter((x) => x.activeController).length, 1, 'one of them the active controller')
  t.equal(figures.brokers.reduce((n, x) => n + (x.topics.find((y) => y.topic === 'lagged')?.messagesIn ?? 0), 0), 6, 'the leaders counted the records in')
  t.ok(figures.brokers.some((x) => x.replication.some((r) => r.topic === 'lagged')), 'with replication lag figures')
  const metricsHuman = await strand(['cluster', 'metrics', '--interval-ms', '0', ...b])
  t.equal(metricsHuman.code, 0, metricsHuman.stderr)
  t.match(metricsHuman.stdout, new RegExp(`Broker 1 \\(127\\.0\\.0\\.1:${cluster.ports[0]}\\)( \\(active controller\\))?: \\d+ partitions`))

  const status = await strand(['cluster', 'status', '--json', ...b])
  t.equal(status.code, 0, status.stderr)
  const s = JSON.parse(status.stdout) as Status
  t.same(s.metricsUnavailable, [])
  const leaders = described.partitions.map((p) => p.leader)
  for (const leader of new Set(leaders)) {
    const followers = cluster.ids.filter((id) => id !== leader).sort()
    const rows = s.replication.filter((r) => r.leader === leader)
    t.same(rows.map((r) => r.follower).filter((f) => followers.includes(f)), followers, `the followers of broker ${leader}'s partitions`)
    t.ok(rows.every((r) => r.topics >= 1 && r.lagOffsetsMax !== null && r.lagMsMax !== null), 'each with its lag figures')
  }
  const statusHuman = await strand(['cluster', 'status', ...b])
  t.equal(statusHuman.code, 0, statusHuman.stderr)
  t.match(statusHuman.stdout, /\n\nReplication lag \(on each leader since it started; worst topic\)\nFOLLOWER\s+LEADER\s+TOPICS\s+LAG P99 MS\s+LAG MAX MS\s+LAG P99 RECORDS\s+LAG MAX RECORDS\n\d\s+\d\s+\d+\s+\d+\.\d\d/)
})

t.test('a broker that is down leaves the others\' metrics and lag', async (t) => {
  const cluster = await TestCluster.start(t)
  const b = ['--bootstrap', cluster.bootstrap.join(',')]
  await cluster.kill(3)
  await cluster.waitForBrokers([1, 2])
  const metrics = await strand(['cluster', 'metrics', '--interval-ms', '0', '--json', ...b])
  t.equal(metrics.code, 0, metrics.stderr)
  t.same((JSON.parse(metrics.stdout) as Metrics).brokers.map((x) => x.nodeId), [1, 2], 'the live brokers')
  const status = await strand(['cluster', 'status', ...b])
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, /Replication lag: no follower has fetched from a leader yet/)
})
