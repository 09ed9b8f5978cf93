// `strand consume --group` and `strand groups list|describe|reset-offsets`, run as users run them
// (child processes through client/bin/strand.mjs) against a real broker process: a group consumer
// commits exactly what it printed, so a second run continues after the first; describe shows
// committed offsets, log ends, lag and members; reset-offsets plans without committing under
// --dry-run, moves the group for real otherwise (the next consume starts there), and is refused
// while the group has an active member.

import t from 'tap'
import { Strand } from '../../client/index.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { jsonLines, strand } from '../helpers/cli.js'

interface Printed {
  partition: number
  offset: string
  timestamp: number
  key: string | null
  value: string
}

interface Described {
  groupId: string
  state: string
  generationId: number
  protocol: string
  members: Array<{ memberId: string; clientId: string; assignment: Array<{ topic: string; partition: number }> }>
  partitions: Array<{ topic: string; partition: number; committed: string | null; highWatermark: string; lag: string | null; memberId: string | null; clientId: string | null }>
}

interface Planned {
  groupId: string
  dryRun: boolean
  partitions: Array<{ topic: string; partition: number; committed: string | null; newOffset: string; logStartOffset: string; highWatermark: string }>
}

function values(run: { stdout: string }): string[] {
  return jsonLines<Printed>(run).map((r) => r.value).sort()
}

t.test('consume --group, groups list / describe / reset-offsets', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'offsets.topic.num.partitions': 1, 'group.initial.rebalance.delay.ms': 0 } })
  const b = ['--bootstrap', broker.address]
  const json = [...b, '--json']
  t.equal((await strand(['topics', 'create', 'orders', '--partitions', '2', ...b])).code, 0)
  for (const partition of ['0', '1']) {
    const run = await strand(['produce', 'orders', '--partition', partition, ...b], `p${partition}-a\np${partition}-b\np${partition}-c\n`)
    t.equal(run.code, 0, run.stderr)
  }
  const all = ['p0-a', 'p0-b', 'p0-c', 'p1-a', 'p1-b', 'p1-c']
  const describe = async (group: string): Promise<Described> => {
    const run = await strand(['groups', 'describe', group, ...json])
    t.equal(run.code, 0, run.stderr)
    return JSON.parse(run.stdout) as Described
  }

  // Two runs of one group: the second continues exactly after what the first printed.
  const first = await strand(['consume', 'orders', '--group', 'billing', '--from-beginning', '--max-messages', '4', ...json])
  t.equal(first.code, 0, first.stderr)
  const second = await strand(['consume', 'orders', '--group', 'billing', '--from-beginning', '--max-messages', '2', ...json])
  t.equal(second.code, 0, second.stderr)
  t.equal(values(first).length, 4, 'the first run stops after 4')
  t.same([...values(first), ...values(second)].sort(), all, 'the second run reads the other 2: nothing twice, nothing skipped')

  const listed = await strand(['groups', 'list', ...json])
  t.equal(listed.code, 0, listed.stderr)
  t.same((JSON.parse(listed.stdout) as { groups: unknown[] }).groups, [{ groupId: 'billing', protocolType: 'consumer', state: 'Empty' }], 'groups list shows the group, empty once its consumers left')
  const table = await strand(['groups', 'list', ...b])
  t.match(table.stdout, /GROUP\s+STATE\s+PROTOCOL TYPE\nbilling\s+Empty\s+consumer/)

  let d = await describe('billing')
  t.equal(d.state, 'Empty')
  t.same(d.members, [])
  t.same(d.partitions.map((p) => [p.partition, p.committed, p.highWatermark, p.lag, p.memberId]), [[0, '3', '3', '0', null], [1, '3', '3', '0', null]], 'committed at the log end of both partitions, no lag')
  const human = await strand(['groups', 'describe', 'billing', ...b])
  t.match(human.stdout, /^Group billing: state Empty, generation \d+, protocol - \(consumer\), coordinator broker 1, 0 members\n/)
  t.match(human.stdout, /TOPIC\s+PARTITION\s+COMMITTED\s+LOG END\s+LAG\s+MEMBER\s+CLIENT ID\norders\s+0\s+3\s+3\s+0/)

  // --dry-run prints the plan and changes nothing.
  const dry = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest', '--dry-run', ...json])
  t.equal(dry.code, 0, dry.stderr)
  const plan = JSON.parse(dry.stdout) as Planned
  t.equal(plan.dryRun, true)
  t.same(plan.partitions.map((p) => [p.partition, p.committed, p.newOffset]), [[0, '3', '0'], [1, '3', '0']], 'the plan: from 3 back to 0')
  t.same((await describe('billing')).partitions.map((p) => p.committed), ['3', '3'], 'a dry run commits nothing')
  const dryHuman = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest', '--dry-run', ...b])
  t.match(dryHuman.stdout, /dry run, nothing committed\)\nTOPIC\s+PARTITION\s+WAS\s+NEW OFFSET\s+LOG START\s+LOG END\norders\s+0\s+3\s+0\s+0\s+3/)

  // For real: the next consume of the group starts at the log start again.
  const reset = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest', ...json])
  t.equal(reset.code, 0, reset.stderr)
  t.same((await describe('billing')).partitions.map((p) => [p.committed, p.lag]), [['0', '3'], ['0', '3']], 'committed at 0, lag 3 each')
  const again = await strand(['consume', 'orders', '--group', 'billing', '--max-messages', '6', ...json])
  t.equal(again.code, 0, again.stderr)
  t.same(values(again), all, 'the group reads everything again, without --from-beginning')

  // --shift-by -1 from the log end: the last record of each partition.
  const shifted = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--shift-by', '-1', ...json])
  t.equal(shifted.code, 0, shifted.stderr)
  t.same((JSON.parse(shifted.stdout) as Planned).partitions.map((p) => p.newOffset), ['2', '2'])
  const tail = await strand(['consume', 'orders', '--group', 'billing', '--max-messages', '2', ...json])
  t.same(values(tail), ['p0-c', 'p1-c'], 'after shifting back one, the group reads the last record of each partition')
  const clamped = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--shift-by=-100', '--dry-run', ...json])
  t.same((JSON.parse(clamped.stdout) as Planned).partitions.map((p) => p.newOffset), ['0', '0'], 'a shift past the log start is clamped to it')
  const ahead = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--shift-by', '100', '--dry-run', ...json])
  t.same((JSON.parse(ahead.stdout) as Planned).partitions.map((p) => p.newOffset), ['3', '3'], 'and one past the log end to the log end')

  // --to-datetime: the first record at or after the time, else the log end.
  const records = jsonLines<Printed>(await strand(['consume', 'orders', '--from-beginning', '--max-messages', '6', ...json]))
  const middle = records.find((r) => r.partition === 0 && r.offset === '1')!.timestamp
  const expected = [0, 1].map((p) => String(records.filter((r) => r.partition === p).find((r) => r.timestamp >= middle)?.offset ?? 3))
  const byTime = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-datetime', new Date(middle).toISOString(), '--dry-run', ...json])
  t.equal(byTime.code, 0, byTime.stderr)
  t.same((JSON.parse(byTime.stdout) as Planned).partitions.map((p) => p.newOffset), expected, 'each partition goes to its first record at or after the time')
  const latest = Math.max(...records.map((r) => r.timestamp)) + 1
  const future = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-datetime', new Date(latest).toISOString(), '--dry-run', ...json])
  t.same((JSON.parse(future.stdout) as Planned).partitions.map((p) => p.newOffset), ['3', '3'], 'no record that recent: the log end')

  // A group nobody ever joined can be given offsets; shifting needs a committed offset to start from.
  t.equal((await strand(['groups', 'reset-offsets', 'audit', '--topic', 'orders', '--to-latest', ...b])).code, 0)
  t.same((await describe('audit')).partitions.map((p) => [p.committed, p.lag]), [['3', '0'], ['3', '0']], 'a new group starts where reset-offsets put it')
  const noBase = await strand(['groups', 'reset-offsets', 'nobody', '--topic', 'orders', '--shift-by', '1', ...b])
  t.equal(noBase.code, 1)
  t.match(noBase.stderr, /no committed offset for orders-0 to shift/)
  const unknown = await strand(['groups', 'describe', 'nobody', ...b])
  t.equal(unknown.code, 1, 'describing an unknown group fails')
  t.match(unknown.stderr, /GROUP_ID_NOT_FOUND/)

  // An active member: describe shows it, and reset-offsets (even --dry-run) is refused.
  const client = new Strand({ brokers: [broker.address], clientId: 'test-member' })
  t.teardown(() => client.close())
  const member = client.consumer({ groupId: 'billing', sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 })
  await member.subscribe({ topics: ['orders'] })
  d = await describe('billing')
  t.equal(d.state, 'Stable')
  t.equal(d.protocol, 'range')
  t.equal(d.members.length, 1)
  t.same(d.partitions.map((p) => [p.partition, p.memberId, p.clientId]), [[0, d.members[0]!.memberId, 'test-member'], [1, d.members[0]!.memberId, 'test-member']], 'each partition with its member and client id')
  for (const extra of [[], ['--dry-run']]) {
    const refused = await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest', ...extra, ...b])
    t.equal(refused.code, 1, `reset-offsets ${extra.join(' ')} is refused while the group has a member`)
    t.match(refused.stderr, /Group "billing" has 1 active member \(state Stable\): offsets can only be reset while the group has none/)
  }
  t.same((await describe('billing')).partitions.map((p) => p.committed), ['3', '3'], 'and the offsets did not move')
  await member.close()
  t.equal((await strand(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-latest', ...b])).code, 0, 'once the member left, the reset goes through')
})

t.test('bad group arguments exit 2 with a message, before connecting', async (t) => {
  const nowhere = ['--bootstrap', '127.0.0.1:1']
  const cases: Array<[string[], RegExp]> = [
    [['groups', 'describe'], /needs a group id/],
    [['groups', 'frob'], /Unknown action "frob"/],
    [['groups', 'reset-offsets', 'g', '--to-earliest'], /needs --topic/],
    [['groups', 'reset-offsets', 'g', '--topic', 't'], /exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by \(got 0\)/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-earliest', '--to-latest'], /exactly one of .* \(got 2\)/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-datetime', 'yesterday'], /--to-datetime wants an ISO date-time/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--shift-by', 'back'], /--shift-by must be an integer/],
    [['groups', 'describe', 'g', '--dry-run'], /options of strand groups reset-offsets/],
    [['consume', 't', '--group', 'g', '--partition', '0'], /--group and --partition cannot be combined/],
    [['consume', 't', '--group', ''], /--group needs a group id/],
  ]
  for (const [args, message] of cases) {
    const run = await strand([...args, ...nowhere])
    t.equal(run.code, 2, `strand ${args.join(' ')} exits 2`)
    t.match(run.stderr, message)
  }
  const help = await strand(['groups', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /strand groups reset-offsets <group> --topic T/)
})
