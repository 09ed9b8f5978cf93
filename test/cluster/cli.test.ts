// The `strand` command, run as users run it (a child process through client/bin/strand.mjs),
// against a real broker process; output parsed from --json.

import t from 'tap'
import { spawnBroker } from '../helpers/broker-process.js'
import { strand } from '../helpers/cli.js'

t.test('topics, produce and consume against a live broker', async (t) => {
  const broker = await spawnBroker(t)
  const b = ['--bootstrap', broker.address, '--json']
  const created = await strand(['topics', 'create', 'cli-topic', '--partitions', '3', '--config', 'retention.ms=60000', ...b])
  t.equal(created.code, 0, created.stderr)
  t.same(JSON.parse(created.stdout), { created: 'cli-topic', partitions: 3, replicationFactor: 1 })
  t.same(JSON.parse((await strand(['topics', 'list', ...b])).stdout), { topics: ['cli-topic'] })

  const produced = await strand(['produce', 'cli-topic', '--key-separator', ':', '--acks', '1', ...b], 'k1:one\nk2:two\nk1:three\nk3:four\n')
  t.equal(produced.code, 0, produced.stderr)
  t.same(JSON.parse(produced.stdout), { topic: 'cli-topic', sent: 4 })

  const described = JSON.parse((await strand(['topics', 'describe', 'cli-topic', ...b])).stdout) as {
    configs: Array<{ name: string; value: string; isDefault: boolean }>
    partitions: Array<{ partition: number; leader: number; highWatermark: string; logEndOffset: string }>
  }
  t.same(described.configs.filter((c) => !c.isDefault), [{ name: 'retention.ms', value: '60000', isDefault: false }], 'the config given at creation')
  t.ok(described.partitions.every((p) => p.logEndOffset === p.highWatermark), 'a lone broker\'s log end is its high watermark')
  t.equal(described.partitions.length, 3)
  t.equal(described.partitions.reduce((n, p) => n + Number(p.highWatermark), 0), 4, 'the high watermarks add up to the records sent')
  t.ok(described.partitions.every((p) => p.leader === 1))
  const healthy = JSON.parse((await strand(['topics', 'describe', 'cli-topic', '--under-replicated', ...b])).stdout) as { partitions: unknown[] }
  t.same(healthy.partitions, [], '--under-replicated lists nothing on a healthy topic')
  const leaderless = JSON.parse((await strand(['topics', 'describe', 'cli-topic', '--unavailable', ...b])).stdout) as { partitions: unknown[] }
  t.same(leaderless.partitions, [], '--unavailable lists nothing while every partition has a leader')

  const consumed = await strand(['consume', 'cli-topic', '--from-beginning', '--max-messages', '4', ...b])
  t.equal(consumed.code, 0, consumed.stderr)
  const records = consumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; value: string; partition: number; offset: string })
  t.same(records.map((r) => `${r.key}:${r.value}`).sort(), ['k1:one', 'k1:three', 'k2:two', 'k3:four'])
  const k1 = records.filter((r) => r.key === 'k1')
  t.equal(k1[0]!.partition, k1[1]!.partition, 'one key, one partition')
  t.equal(k1.map((r) => r.value).join(','), 'one,three', 'in the order produced')

  const status = await strand(['cluster', 'status', ...b])
  t.equal(status.code, 0, status.stderr)
  const cluster = JSON.parse(status.stdout) as { controllerId: number; quorum: { leaderId: number; voters: Array<{ nodeId: number; role: string; reachable: boolean; lag: string }> } }
  t.equal(cluster.controllerId, 1, 'the lone broker is the controller')
  t.same(cluster.quorum.voters.map((v) => [v.nodeId, v.role, v.reachable, v.lag]), [[1, 'leader', true, '0']], 'and the only voter, leading, with no lag')

  t.equal((await strand(['topics', 'delete', 'cli-topic', ...b])).code, 0)
  const missing = await strand(['topics', 'describe', 'cli-topic', ...b])
  t.equal(missing.code, 1, 'describing a missing topic fails')
  t.match(missing.stderr, /cli-topic/)
})

t.test('bad arguments and an unreachable cluster exit non-zero with a message', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /Usage: strand/],
    [['frobnicate'], 2, /Unknown command "frobnicate"/],
    [['topics', 'create'], 2, /needs a topic name/],
    [['topics', 'create', 'x', '--partitions', 'many', '-b', '127.0.0.1:1'], 2, /--partitions must be a positive integer/],
    [['topics', 'list', '--no-such-flag'], 2, /no-such-flag/],
    [['produce', 't', '--acks', '2', '-b', '127.0.0.1:1'], 2, /--acks must be 0, 1 or all/],
    [['topics', 'list', '--bootstrap', 'not-an-address'], 2, /host:port/],
    [['topics', 'list', '--bootstrap', '127.0.0.1:1'], 1, /CONNECTION_ERROR|ECONNREFUSED/],
    [['cluster', 'explode'], 2, /Unknown action "explode"/],
  ]
  for (const [args, code, message] of cases) {
    const run = await strand(args)
    t.equal(run.code, code, `strand ${args.join(' ')} exits ${code}`)
    t.match(`${run.stdout}${run.stderr}`, message)
  }
})
