// Pre-vote and check-quorum with real broker processes (Raft thesis 9.6, KIP-996): a voter that
// was paused past its election timeout comes back without changing the term or deposing the
// healthy leader, and a leader that can reach no majority steps down. Each voter's own view comes
// from DescribeQuorum, asked of that voter.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import type { DescribeQuorumResponse } from '../../client/protocol/messages/quorum.js'
import { TestCluster } from '../helpers/cluster.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

async function view(c: Connection): Promise<DescribeQuorumResponse | null> {
  return c.request(ApiKey.DescribeQuorum, {}, { timeoutMs: 1000 }).catch(() => null)
}

/** Every connection's voter agrees on one leader in one term. */
async function agreed(conns: Connection[]): Promise<{ leaderId: number; term: number }> {
  return waitFor(
    async () => {
      const views = await Promise.all(conns.map(view))
      const first = views[0]
      if (first === null || first === undefined || first.leaderId < 0) return false
      return views.every((v) => v !== null && v.leaderId === first.leaderId && v.term === first.term) ? { leaderId: first.leaderId, term: first.term } : false
    },
    { what: 'the voters to agree on a leader', timeoutMs: 30_000, intervalMs: 50 },
  )
}

t.test('a voter paused past its election timeout rejoins without a new term', async (t) => {
  const cluster = await TestCluster.start(t)
  const conns = cluster.ports.map((p) => rawConnection(t, p))
  const before = await agreed(conns)
  const paused = cluster.ids.find((id) => id !== before.leaderId)!
  const client = cluster.client('prevote', { requestTimeoutMs: 2000 })
  cluster.pause(paused)
  // Fenced means the controller went broker.session.timeout.ms (1500) without its heartbeat: far
  // past its election timeout (300-600 ms), so its timer fires the moment it runs again.
  await waitFor(async () => {
    const d = await client.admin().describeCluster().catch(() => null)
    return d !== null && !d.brokers.some((b) => b.nodeId === paused)
  }, { what: `broker ${paused} fenced while paused`, timeoutMs: 30_000, intervalMs: 50 })
  const others = conns.filter((_, i) => i + 1 !== paused)
  t.same(await agreed(others), before, 'the other two keep the leader and the term meanwhile')
  cluster.resume(paused)
  await cluster.waitForBrokers(cluster.ids, client)
  const after = await agreed(conns)
  t.equal(after.term, before.term, `the term is still ${before.term}: the resumed voter's pre-vote was refused, so it never stood`)
  t.equal(after.leaderId, before.leaderId, 'and the healthy leader was not deposed')
  const resumed = await view(conns[paused - 1]!)
  t.equal(resumed?.role, 'follower', 'the resumed voter follows it')
})

t.test('a leader that hears from no majority steps down (check-quorum)', async (t) => {
  const cluster = await TestCluster.start(t)
  const conns = cluster.ports.map((p) => rawConnection(t, p))
  const before = await agreed(conns)
  const followers = cluster.ids.filter((id) => id !== before.leaderId)
  for (const id of followers) cluster.pause(id)
  const leaderConn = conns[before.leaderId - 1]!
  const stepped = await waitFor(async () => {
    const v = await view(leaderConn)
    return v !== null && v.role !== 'leader' ? v : false
  }, { what: `broker ${before.leaderId} to step down`, timeoutMs: 10_000, intervalMs: 20 })
  t.equal(stepped.term, before.term, 'it steps down in its own term: no election of its own, nobody to win one with')
  t.equal(stepped.leaderId, -1, 'and no longer names a leader')
  for (const id of followers) cluster.resume(id)
  const healed = await agreed(conns)
  t.ok(healed.term >= before.term, `the healed quorum has a leader again (broker ${healed.leaderId}, term ${healed.term})`)
})
