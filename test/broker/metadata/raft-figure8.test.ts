// Raft's figure 8, replayed step by step: a leader must not commit an entry of an earlier term by
// counting replicas, or a later leader can overwrite it. Here the old-term entry reaches a
// majority, the leader must NOT mark it committed, and the next leader indeed replaces it.

import t from 'tap'
import { RaftNode, type Entry, type NodeId, type RaftMessage } from '../../../broker/metadata/raft.js'

const VOTERS = [1, 2, 3, 4, 5]

class Harness {
  nowMs = 0
  readonly disks = new Map<NodeId, { term: number; votedFor: NodeId | null; log: Entry[] }>()
  readonly nodes = new Map<NodeId, RaftNode | null>()
  /** Messages produced and not yet delivered. */
  inbox: Array<{ from: NodeId; to: NodeId; message: RaftMessage }> = []
  readonly committed = new Map<number, string>()

  constructor() {
    for (const id of VOTERS) {
      this.disks.set(id, { term: 0, votedFor: null, log: [] })
      this.start(id)
    }
  }

  start(id: NodeId): void {
    const d = this.disks.get(id)!
    // appendEntriesMax 1: each append carries one entry, so the test decides how far each follower gets.
    const options = { id, voters: VOTERS, electionTimeoutMsMin: 1000, electionTimeoutMsMax: 1001, heartbeatIntervalMs: 100, appendEntriesMax: 1, random: () => 0 }
    this.nodes.set(id, new RaftNode(options, { hardState: { term: d.term, votedFor: d.votedFor }, log: [...d.log] }, this.nowMs))
  }

  crash(id: NodeId): void {
    this.nodes.set(id, null)
    this.inbox = this.inbox.filter((m) => m.from !== id && m.to !== id)
  }

  node(id: NodeId): RaftNode {
    return this.nodes.get(id)!
  }

  drain(id: NodeId): void {
    const out = this.node(id).drain()
    const d = this.disks.get(id)!
    if (out.hardState !== null) Object.assign(d, out.hardState)
    if (out.log.truncateFrom !== null) d.log.length = out.log.truncateFrom - 1
    for (const { entry } of out.log.append) d.log.push(entry)
    for (const { index, entry } of out.committed) this.committed.set(index, `${entry.term}/${entry.data.toString()}`)
    for (const m of out.messages) this.inbox.push({ from: id, ...m })
  }

  /** Delivers (and drains) every pending message matching `which`, repeatedly, until none is left. */
  deliver(which: (m: { from: NodeId; to: NodeId; message: RaftMessage }) => boolean, rounds = 50): void {
    for (let r = 0; r < rounds; r++) {
      const now = this.inbox.filter(which)
      if (now.length === 0) return
      this.inbox = this.inbox.filter((m) => !which(m))
      for (const m of now) {
        const node = this.nodes.get(m.to)
        if (node === null || node === undefined) continue
        node.receive(m.from, m.message, this.nowMs)
        this.drain(m.to)
      }
    }
  }

  /**
   * Makes `id` time out and stand for election with exactly `voters` answering; a voter that
   * already voted in that term refuses, so it may take a further term (at most a few).
   */
  elect(id: NodeId, voters: NodeId[]): void {
    const among = (x: NodeId): boolean => x === id || voters.includes(x)
    for (let attempt = 0; attempt < 5 && this.node(id).role !== 'leader'; attempt++) {
      this.nowMs += 2000
      this.node(id).tick(this.nowMs)
      this.drain(id)
      // Pre-votes first (a voter stands only with a majority's yes), then the votes themselves.
      const election = (m: RaftMessage): boolean => m.type === 'preVote' || m.type === 'preVoteResponse' || m.type === 'vote' || m.type === 'voteResponse'
      this.deliver((m) => among(m.from) && among(m.to) && election(m.message))
      this.inbox = this.inbox.filter((m) => !election(m.message))
    }
  }
}

t.test('an entry of an earlier term is not committed by counting replicas (Raft figure 8)', async (t) => {
  const h = new Harness()
  // S1 leads term 1; its no-op (index 1) reaches everyone and commits.
  h.elect(1, [2, 3, 4, 5])
  t.equal(h.node(1).role, 'leader')
  h.deliver((m) => m.message.type === 'append' || m.message.type === 'appendResponse')
  t.equal(h.committed.get(1), '1/', 'index 1 committed everywhere it matters')
  // S1 appends X at index 2 (term 1) and gets it to S2 only, then crashes.
  h.node(1).propose(Buffer.from('X'), h.nowMs)
  h.drain(1)
  h.deliver((m) => (m.from === 1 && m.to === 2) || (m.from === 2 && m.to === 1))
  h.inbox = []
  h.crash(1)
  // S5 leads term 2 with S3 and S4; its no-op stays on S5 alone; S5 crashes.
  h.elect(5, [3, 4])
  t.equal(h.node(5).role, 'leader')
  h.inbox = []
  h.crash(5)
  // S1 restarts and leads a later term with S2 and S3; X reaches S3: X is now on S1, S2, S3, a majority.
  h.start(1)
  h.elect(1, [2, 3])
  t.equal(h.node(1).role, 'leader', `S1 leads term ${h.node(1).term}`)
  // Four rounds between S1 and S2, S3: append (rejected: they lack index 3), the rejection, the
  // append of X, its acknowledgement. S1 now knows X is on S1, S2 and S3; its own no-op is not yet.
  const talk = (a: NodeId, b: NodeId): boolean => (a === 1 && (b === 2 || b === 3)) || (b === 1 && (a === 2 || a === 3))
  h.deliver((m) => talk(m.from, m.to), 4)
  const s3 = h.disks.get(3)!.log
  t.equal(s3[1]?.data.toString(), 'X', 'X (term 1) reached S3: a majority holds it')
  t.ok(h.node(1).commitIndex < 2, `the leader does not commit X by counting (commit index ${h.node(1).commitIndex}): X is not of its term`)
  t.equal(h.committed.get(2), undefined, 'no node reports X committed')
  // S1 crashes before its own term's entry spreads; S5 (last term 2) wins term 4 and overwrites X.
  h.inbox = []
  h.crash(1)
  h.start(5)
  h.elect(5, [2, 3, 4])
  t.equal(h.node(5).role, 'leader', 'S5 can still win: its log is more up to date than X')
  h.deliver((m) => m.message.type === 'append' || m.message.type === 'appendResponse')
  t.equal(h.disks.get(3)!.log[1]?.term, 2, "X was replaced on S3 by S5's no-op of term 2")
  t.not(h.committed.get(2), '1/X', 'and X never counted as committed, so nothing committed was lost')
})
