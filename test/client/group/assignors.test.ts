// The built-in assignors give the same answers as Kafka's RangeAssignor and RoundRobinAssignor
// (the examples of their Javadoc), are balanced and deterministic whatever order members come in,
// and the leader refuses an assignment that loses or doubles a partition.

import t from 'tap'
import { rangeAssignor, resolveAssignors, roundRobinAssignor, runAssignor, type AssignedPartition, type Assignor, type AssignorMember } from '../../../client/group/assignors.js'
import { Rng, testSeed } from '../../helpers/random.js'

function names(list: readonly AssignedPartition[] | undefined): string[] {
  return (list ?? []).map((tp) => `${tp.topic}p${tp.partition}`)
}

function shape(result: Map<string, AssignedPartition[]>): Record<string, string[]> {
  return Object.fromEntries([...result].sort(([a], [b]) => (a < b ? -1 : 1)).map(([m, list]) => [m, names(list)]))
}

t.test('range: contiguous ranges per topic, the first members get the remainder (Kafka RangeAssignor Javadoc)', async (t) => {
  const members = [
    { memberId: 'C1', topics: ['t0', 't1'] },
    { memberId: 'C0', topics: ['t0', 't1'] },
  ]
  const result = runAssignor(rangeAssignor, members, new Map([['t0', 3], ['t1', 3]]))
  t.same(shape(result), { C0: ['t0p0', 't0p1', 't1p0', 't1p1'], C1: ['t0p2', 't1p2'] })
  const seven = runAssignor(rangeAssignor, [{ memberId: 'a', topics: ['x'] }, { memberId: 'b', topics: ['x'] }, { memberId: 'c', topics: ['x'] }], new Map([['x', 7]]))
  t.same(shape(seven), { a: ['xp0', 'xp1', 'xp2'], b: ['xp3', 'xp4'], c: ['xp5', 'xp6'] })
})

t.test('roundrobin: sorted topic-partitions dealt to sorted members, skipping the unsubscribed (Kafka RoundRobinAssignor Javadoc)', async (t) => {
  const same = runAssignor(roundRobinAssignor, [{ memberId: 'C0', topics: ['t0', 't1'] }, { memberId: 'C1', topics: ['t1', 't0'] }], new Map([['t0', 3], ['t1', 3]]))
  t.same(shape(same), { C0: ['t0p0', 't0p2', 't1p1'], C1: ['t0p1', 't1p0', 't1p2'] })
  const mixed = runAssignor(
    roundRobinAssignor,
    [{ memberId: 'C2', topics: ['t0', 't1', 't2'] }, { memberId: 'C0', topics: ['t0'] }, { memberId: 'C1', topics: ['t0', 't1'] }],
    new Map([['t0', 1], ['t1', 2], ['t2', 3]]),
  )
  t.same(shape(mixed), { C0: ['t0p0'], C1: ['t1p0'], C2: ['t1p1', 't2p0', 't2p1', 't2p2'] })
})

t.test('six partitions over three members: two each, with either assignor', async (t) => {
  for (const assignor of [rangeAssignor, roundRobinAssignor]) {
    const result = runAssignor(assignor, ['m-b', 'm-c', 'm-a'].map((memberId) => ({ memberId, topics: ['orders'] })), new Map([['orders', 6]]))
    t.same([...result.values()].map((l) => l.length), [2, 2, 2], `${assignor.name}: 2, 2, 2`)
  }
})

t.test('members without partitions, topics that do not exist yet, more members than partitions', async (t) => {
  for (const assignor of [rangeAssignor, roundRobinAssignor]) {
    const members = [{ memberId: 'a', topics: ['x', 'missing'] }, { memberId: 'b', topics: ['x'] }, { memberId: 'c', topics: ['x'] }]
    const result = runAssignor(assignor, members, new Map([['x', 2]]))
    t.same([...result.keys()].sort(), ['a', 'b', 'c'], `${assignor.name}: every member is in the result`)
    t.same(result.get('c'), [], `${assignor.name}: the third member gets nothing from two partitions`)
    t.same(names([...result.values()].flat()).sort(), ['xp0', 'xp1'], `${assignor.name}: a missing topic contributes nothing`)
  }
})

t.test('randomized: every subscribed partition exactly once, balanced, independent of member order', async (t) => {
  const seed = testSeed()
  const rng = new Rng(seed)
  for (let round = 0; round < 200; round++) {
    const topics = Array.from({ length: rng.int(1, 4) }, (_, i) => `topic-${i}`)
    const counts = new Map(topics.map((tp) => [tp, rng.int(0, 20)]))
    const members: AssignorMember[] = Array.from({ length: rng.int(1, 8) }, (_, i) => ({ memberId: `member-${rng.int(0, 1e6)}-${i}`, topics }))
    const shuffled = [...members].sort(() => rng.float() - 0.5)
    for (const assignor of [rangeAssignor, roundRobinAssignor]) {
      // runAssignor throws on a lost or doubled partition.
      const result = runAssignor(assignor, members, counts)
      t.same(shape(runAssignor(assignor, shuffled, counts)), shape(result), `seed ${seed} round ${round}: ${assignor.name} ignores member order`)
      const sizes = [...result.values()].map((l) => l.length)
      const total = [...counts.values()].reduce((a, b) => a + b, 0)
      if (assignor === roundRobinAssignor) {
        t.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `seed ${seed} round ${round}: roundrobin within one partition (${sizes.join(',')})`)
      } else {
        // Range balances per topic: off by at most one per topic.
        t.ok(Math.max(...sizes) - Math.min(...sizes) <= topics.length, `seed ${seed} round ${round}: range within one per topic (${sizes.join(',')})`)
      }
      t.equal(sizes.reduce((a, b) => a + b, 0), total, `seed ${seed} round ${round}: ${assignor.name} assigns all ${total}`)
    }
  }
})

t.test('the leader refuses an assignor that doubles, drops or invents partitions', async (t) => {
  const members = [{ memberId: 'a', topics: ['x'] }, { memberId: 'b', topics: ['x'] }]
  const counts = new Map([['x', 2]])
  const broken = (result: Record<string, AssignedPartition[]>): Assignor => ({ name: 'broken', assign: () => new Map(Object.entries(result)) })
  t.throws(() => runAssignor(broken({ a: [{ topic: 'x', partition: 0 }], b: [{ topic: 'x', partition: 0 }, { topic: 'x', partition: 1 }] }), members, counts), /to both a and b/)
  t.throws(() => runAssignor(broken({ a: [{ topic: 'x', partition: 0 }], b: [] }), members, counts), /left x-1 unassigned/)
  t.throws(() => runAssignor(broken({ a: [{ topic: 'x', partition: 0 }, { topic: 'x', partition: 1 }] }), members, counts), /left member b out/)
  t.throws(() => runAssignor(broken({ a: [{ topic: 'x', partition: 0 }, { topic: 'x', partition: 2 }], b: [{ topic: 'x', partition: 1 }] }), members, counts), /does not exist/)
})

t.test('assignor options: names, custom objects, errors', async (t) => {
  t.same(resolveAssignors(undefined).map((a) => a.name), ['range', 'roundrobin'], "default: Kafka's order, range first")
  t.same(resolveAssignors(['roundrobin']).map((a) => a.name), ['roundrobin'])
  const custom: Assignor = { name: 'mine', assign: (m, c) => rangeAssignor.assign(m, c) }
  t.equal(resolveAssignors([custom, 'range'])[0], custom)
  t.throws(() => resolveAssignors([]), { code: 'INVALID_ARGUMENT' })
  t.throws(() => resolveAssignors(['sticky' as 'range']), { code: 'INVALID_ARGUMENT' })
  t.throws(() => resolveAssignors(['range', 'range']), { code: 'INVALID_ARGUMENT' })
})
