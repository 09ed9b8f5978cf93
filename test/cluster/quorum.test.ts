// Three real broker processes form the metadata quorum: they elect one leader, elect another when
// it is SIGKILLed, take the old one back as a follower, and refuse votes from strangers and stale
// terms. A damaged quorum-state file stops a broker with a clear error instead of resetting its vote.

import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { DescribeQuorumResponse } from '../../client/protocol/messages/quorum.js'
import { launchBroker } from '../../broker/local/launcher.js'
import { spawnBroker, tempDir, type BrokerProcess, type Teardown } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

const ELECTION_TIMEOUT_MS = 300
const HEARTBEAT_MS = 50



async function describe(c: Connection): Promise<DescribeQuorumResponse | null> {
  try {
    return await c.request(ApiKey.DescribeQuorum, {})
  } catch {
    return null
  }
}

interface Voter {
  id: number
  port: number
  dataDir: string
  broker: BrokerProcess | null
}

async function startVoter(t: Teardown, v: Voter, voters: string): Promise<void> {
  v.broker = await spawnBroker(t, {
    dataDir: v.dataDir,
    port: v.port,
    overrides: { 'node.id': v.id, 'controller.quorum.voters': voters, 'controller.quorum.election.timeout.ms': ELECTION_TIMEOUT_MS, 'controller.quorum.heartbeat.interval.ms': HEARTBEAT_MS },
  })
}

/** Three voters on fresh ports and data dirs, with a raw connection to each. */
async function startThreeVoters(t: Teardown): Promise<{ nodes: Voter[]; voters: string; conns: Connection[] }> {
  const ports = await freePorts(3)
  const voters = quorumVoters(ports)
  const nodes: Voter[] = ports.map((port, i) => ({ id: i + 1, port, dataDir: tempDir(t), broker: null }))
  await Promise.all(nodes.map((v) => startVoter(t, v, voters)))
  return { nodes, voters, conns: nodes.map((v) => rawConnection(t, v.port)) }
}

/** Every listed voter agrees on one leader in one term; returns that view. */
async function agreedLeader(conns: Connection[], notLeader?: number): Promise<DescribeQuorumResponse> {
  return waitFor(
    async () => {
      const views = await Promise.all(conns.map(describe))
      const first = views[0]
      if (first === null || first === undefined || first.leaderId < 0 || first.leaderId === notLeader) return false
      const agree = views.every((v) => v !== null && v.leaderId === first.leaderId && v.term === first.term && v.commitIndex >= 1n)
      return agree ? first : false
    },
    { what: 'the voters to agree on a leader', timeoutMs: 30_000, intervalMs: 50 },
  )
}

t.test('three brokers elect a leader, replace it when it dies, and take it back', async (t) => {
  const { nodes, voters, conns } = await startThreeVoters(t)

  const first = await agreedLeader(conns)
  t.ok(first.term >= 1, `node ${first.leaderId} leads term ${first.term}`)
  t.same(first.voters.map((v) => v.nodeId), [1, 2, 3])

  const old = nodes.find((v) => v.id === first.leaderId)!
  old.broker!.kill('SIGKILL')
  await old.broker!.exited
  const survivors = nodes.filter((v) => v !== old)
  const second = await agreedLeader(survivors.map((v) => conns[v.id - 1]!), old.id)
  t.not(second.leaderId, old.id, `node ${second.leaderId} took over`)
  t.ok(second.term > first.term, `in a later term (${second.term} > ${first.term})`)

  await startVoter(t, old, voters)
  const rejoined = await waitFor(
    async () => {
      const v = await describe(conns[old.id - 1]!)
      return v !== null && v.role === 'follower' && v.leaderId === second.leaderId && v.term >= second.term ? v : false
    },
    { what: 'the restarted voter to follow the new leader', timeoutMs: 30_000, intervalMs: 50 },
  )
  t.equal(rejoined.leaderId, second.leaderId, 'the old leader rejoins as a follower of the new one')

  // A vote from a node that is not a voter, and one from a stale term, are refused with codes.
  const leaderConn = conns[second.leaderId - 1]!
  const stranger = await leaderConn.request(ApiKey.Vote, { term: second.term + 5, candidateId: 99, lastLogIndex: 1000n, lastLogTerm: 1000 })
  t.same(stranger, { errorCode: errorCodeOf('INCONSISTENT_VOTER_SET'), term: stranger.term, granted: false })
  const staleVote = await leaderConn.request(ApiKey.Vote, { term: 0, candidateId: old.id, lastLogIndex: 0n, lastLogTerm: 0 })
  t.equal(staleVote.errorCode, errorCodeOf('FENCED_LEADER_EPOCH'))
  t.equal(staleVote.granted, false)
  const staleAppend = await leaderConn.request(ApiKey.AppendEntries, { term: 0, leaderId: old.id, prevLogIndex: 0n, prevLogTerm: 0, leaderCommit: 0n, entries: [] })
  t.equal(staleAppend.errorCode, errorCodeOf('FENCED_LEADER_EPOCH'))
  const after = await describe(leaderConn)
  t.equal(after?.leaderId, second.leaderId, 'and leadership is untouched')
})

t.test('a paused leader is replaced, steps down when resumed, and a full restart keeps the log', async (t) => {
  const { nodes, voters, conns } = await startThreeVoters(t)
  const first = await agreedLeader(conns)

  // SIGSTOP: the leader is cut off without knowing it, as in a network partition.
  const paused = nodes.find((v) => v.id === first.leaderId)!
  paused.broker!.kill('SIGSTOP')
  t.teardown(() => paused.broker?.kill('SIGCONT'))
  const others = nodes.filter((v) => v !== paused)
  const second = await agreedLeader(others.map((v) => conns[v.id - 1]!), paused.id)
  t.ok(second.term > first.term, `the others moved on to term ${second.term}`)
  paused.broker!.kill('SIGCONT')
  const stepped = await waitFor(
    async () => {
      const v = await describe(conns[paused.id - 1]!)
      // It first learns the higher term (stepping down), then hears from the new leader.
      return v !== null && v.role === 'follower' && v.term >= second.term && v.leaderId >= 0 ? v : false
    },
    { what: 'the resumed old leader to step down and follow', timeoutMs: 30_000, intervalMs: 50 },
  )
  t.not(stepped.leaderId, paused.id, `it follows broker ${stepped.leaderId}, not itself`)
  // The resumed voter learns the commit index with the new leader's next append.
  const committed = await waitFor(async () => {
    const views = await Promise.all(conns.map(describe))
    const c = views.map((v) => v?.commitIndex ?? -1n)
    return c.every((x) => x >= 2n) ? c : false
  }, { what: 'every voter to commit both leaders\' entries', timeoutMs: 20_000, intervalMs: 50 })
  t.ok(committed.every((c) => c >= 2n), `every voter committed both leaders' entries (${committed.join(', ')})`)

  // Full restart: every voter's log and term survive, and they agree on a leader again.
  const before = await Promise.all(conns.map(describe))
  await Promise.all(nodes.map((v) => v.broker!.stop()))
  await Promise.all(nodes.map((v) => startVoter(t, v, voters)))
  const third = await agreedLeader(conns)
  const after = await Promise.all(conns.map(describe))
  for (const [i, v] of after.entries()) {
    t.ok(v!.lastIndex >= before[i]!.commitIndex, `voter ${i + 1} kept its log (${v!.lastIndex} >= ${before[i]!.commitIndex})`)
  }
  t.ok(third.term > second.term, `a new term after the restart (${third.term})`)
})

t.test('a damaged quorum-state file is a startup error, not a silent reset', async (t) => {
  const dataDir = tempDir(t)
  const broker = await spawnBroker(t, { dataDir })
  await broker.stop()
  await writeFile(path.join(dataDir, '__cluster_metadata-0', 'quorum-state'), '{"version":0,"term":')
  const lines: string[] = []
  await t.rejects(launchBroker({ overrides: { 'data.dir': dataDir, 'listener.port': 0 }, onLine: (l) => lines.push(l) }), /exited \(code 1/)
  t.match(lines.join('\n'), /quorum-state/, 'the message names the file')
})
