// The Raft core under a seeded, hostile network: message loss, duplication, reordering, network
// partitions and node crashes with restarts from what each node persisted, and snapshots: nodes
// compact their logs at random applied indexes, and leaders send snapshots to followers that need
// compacted entries. After every step the safety properties are checked; at the end the network
// heals and the cluster must make progress.
//
// Each node's state machine is the list of the entries it applied ("term/data"), so a snapshot
// is that list as JSON, and every applied state can be compared with the one committed sequence.

import t from 'tap'
import { RaftNode, type Entry, type HardState, type NodeId, type RaftMessage, type RaftOptions } from '../../../broker/metadata/raft.js'
import { Rng, testSeed } from '../../helpers/random.js'

const baseSeed = testSeed()

interface Snapshot {
  lastIndex: number
  lastTerm: number
  /** The state machine through lastIndex: every applied entry as "term/data". */
  state: string[]
}

interface Disk {
  hardState: HardState
  snapshot: Snapshot
  /** The entries after the snapshot: log[i] is entry snapshot.lastIndex + 1 + i. */
  log: Entry[]
}

interface InFlight {
  from: NodeId
  to: NodeId
  message: RaftMessage
  deliverAtMs: number
}

interface Faults {
  dropP: number
  duplicateP: number
  crashP: number
  partitionP: number
  proposeP: number
  /** Per live node and step: snapshot the state machine at a random applied index and compact. */
  compactP: number
}

const NO_FAULTS: Faults = { dropP: 0, duplicateP: 0, crashP: 0, partitionP: 0, proposeP: 0, compactP: 0 }

function entryValue(e: Entry): string {
  return `${e.term}/${e.data.toString()}`
}

class Simulation {
  readonly rng: Rng
  readonly ids: NodeId[]
  nowMs = 0
  readonly disks = new Map<NodeId, Disk>()
  readonly nodes = new Map<NodeId, RaftNode | null>()
  /** Each live node's state machine: the values it applied, in order (volatile: rebuilt on start). */
  readonly applied = new Map<NodeId, string[]>()
  network: InFlight[] = []
  /** Links that drop everything, as "a-b" with a < b. */
  cut = new Set<string>()
  /** Every index ever reported committed (applied or carried by a snapshot), with its entry: it must never change. */
  readonly committed = new Map<number, string>()
  /**
   * The reporting node's term when an index was first reported committed: at least the term it
   * was committed in, so leaders of later terms must hold it (an older, partitioned leader need not).
   */
  readonly commitTerm = new Map<number, number>()
  readonly leaderOfTerm = new Map<number, NodeId>()
  violations: string[] = []
  proposals = 0
  snapshotsTaken = 0
  snapshotsInstalled = 0

  constructor(seed: number, voters: number) {
    this.rng = new Rng(seed)
    this.ids = Array.from({ length: voters }, (_, i) => i + 1)
    for (const id of this.ids) {
      this.disks.set(id, { hardState: { term: 0, votedFor: null }, snapshot: { lastIndex: 0, lastTerm: 0, state: [] }, log: [] })
      this.start(id)
    }
  }

  options(id: NodeId): RaftOptions {
    return { id, voters: this.ids, electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50, appendEntriesMax: 8, random: () => this.rng.float() }
  }

  /** A (re)start from what the node persisted: the snapshot loads into the state machine, the log after it into the core. */
  start(id: NodeId): void {
    const disk = this.disks.get(id)!
    const { lastIndex, lastTerm } = disk.snapshot
    this.nodes.set(id, new RaftNode(this.options(id), { hardState: { ...disk.hardState }, log: [...disk.log], snapshot: { lastIndex, lastTerm } }, this.nowMs))
    this.applied.set(id, [...disk.snapshot.state])
  }

  /** Persist first (snapshot, then log), then send: exactly the contract a real driver follows. */
  drain(id: NodeId): void {
    const node = this.nodes.get(id)
    if (node === null || node === undefined) return
    const out = node.drain()
    const disk = this.disks.get(id)!
    if (out.hardState !== null) disk.hardState = { ...out.hardState }
    if (out.installSnapshot !== null) this.#install(id, node, out.installSnapshot)
    const base = disk.snapshot.lastIndex
    if (out.log.truncateFrom !== null && out.log.truncateFrom - 1 - base < disk.log.length) disk.log.length = Math.max(0, out.log.truncateFrom - 1 - base)
    for (const { index, entry } of out.log.append) {
      if (index !== base + disk.log.length + 1) this.violations.push(`node ${id} appended index ${index} after ${base + disk.log.length}`)
      disk.log.push(entry)
    }
    for (const { index, entry } of out.committed) this.#apply(id, index, entryValue(entry), node.term)
    for (const { to, message } of out.messages) this.#sendMessage(id, to, this.#attachSnapshot(id, message))
  }

  /** The driver's side of a leader's snapshot message: the bytes of the snapshot it persisted. */
  #attachSnapshot(id: NodeId, message: RaftMessage): RaftMessage {
    if (message.type !== 'snapshot') return message
    const snap = this.disks.get(id)!.snapshot
    if (snap.lastIndex !== message.lastIndex || snap.lastTerm !== message.lastTerm) {
      this.violations.push(`node ${id} sends snapshot ${message.lastIndex}/${message.lastTerm} but persisted ${snap.lastIndex}/${snap.lastTerm}`)
    }
    return { ...message, data: Buffer.from(JSON.stringify(snap.state)) }
  }

  /** The driver's side of an installed snapshot: persist it, load it, make the log start after it. */
  #install(id: NodeId, node: RaftNode, s: { lastIndex: number; lastTerm: number; data: Buffer | null }): void {
    const disk = this.disks.get(id)!
    if (s.data === null) {
      this.violations.push(`node ${id} installs a snapshot without data`)
      return
    }
    const state = JSON.parse(s.data.toString()) as string[]
    if (state.length !== s.lastIndex) this.violations.push(`snapshot at ${s.lastIndex} holds ${state.length} entries`)
    if (s.lastIndex > 0 && !state[s.lastIndex - 1]!.startsWith(`${s.lastTerm}/`)) this.violations.push(`snapshot at ${s.lastIndex} claims term ${s.lastTerm} for ${state[s.lastIndex - 1]}`)
    for (const [i, value] of state.entries()) this.#checkCommitted(id, i + 1, value, node.term)
    // Keep the persisted entries after the snapshot when the disk reaches its last index (the
    // core's truncateFrom removes them when they do not continue it); otherwise start empty.
    const base = disk.snapshot.lastIndex
    disk.log = s.lastIndex <= base + disk.log.length ? disk.log.slice(s.lastIndex - base) : []
    disk.snapshot = { lastIndex: s.lastIndex, lastTerm: s.lastTerm, state }
    this.applied.set(id, [...state])
    this.snapshotsInstalled++
  }

  #apply(id: NodeId, index: number, value: string, term: number): void {
    const sm = this.applied.get(id)!
    if (index !== sm.length + 1) this.violations.push(`node ${id} applied ${index} after ${sm.length}`)
    sm.push(value)
    this.#checkCommitted(id, index, value, term)
  }

  #checkCommitted(id: NodeId, index: number, value: string, term: number): void {
    const known = this.committed.get(index)
    if (known === undefined) {
      this.committed.set(index, value)
      this.commitTerm.set(index, term)
    } else if (known !== value) {
      this.violations.push(`node ${id} committed ${value} at ${index}, but ${known} was committed there`)
    }
  }

  /** The driver snapshots its state machine at an applied index, durably, then compacts the core. */
  compact(id: NodeId): void {
    const node = this.nodes.get(id)
    if (node === null || node === undefined) return
    const sm = this.applied.get(id)!
    const disk = this.disks.get(id)!
    if (sm.length <= disk.snapshot.lastIndex) return
    const index = this.rng.int(disk.snapshot.lastIndex + 1, sm.length)
    const term = node.termAt(index)
    if (term !== disk.log[index - disk.snapshot.lastIndex - 1]?.term) this.violations.push(`node ${id} term at ${index} differs in core and on disk`)
    disk.log = disk.log.slice(index - disk.snapshot.lastIndex)
    disk.snapshot = { lastIndex: index, lastTerm: term, state: sm.slice(0, index) }
    node.compact(index)
    if (node.snapshotIndex !== index || node.termAt(index) !== term || node.entryAt(index) !== undefined) this.violations.push(`node ${id} did not compact to ${index}`)
    this.snapshotsTaken++
  }

  #sendMessage(from: NodeId, to: NodeId, message: RaftMessage): void {
    const copies = this.rng.bool(this.faults.duplicateP) ? 2 : 1
    for (let i = 0; i < copies; i++) this.network.push({ from, to, message, deliverAtMs: this.nowMs + this.rng.int(1, 30) })
  }

  faults: Faults = { ...NO_FAULTS }

  linkCut(a: NodeId, b: NodeId): boolean {
    return this.cut.has(a < b ? `${a}-${b}` : `${b}-${a}`)
  }

  step(): void {
    this.nowMs += this.rng.int(1, 10)
    this.#maybeFault()
    // Deliver due messages in a random order (reordering), dropping some.
    const due = this.network.filter((m) => m.deliverAtMs <= this.nowMs)
    this.network = this.network.filter((m) => m.deliverAtMs > this.nowMs)
    for (const m of this.rng.shuffle(due)) {
      const node = this.nodes.get(m.to)
      if (node === null || node === undefined || this.linkCut(m.from, m.to) || this.rng.bool(this.faults.dropP)) continue
      node.receive(m.from, m.message, this.nowMs)
      this.drain(m.to)
    }
    for (const id of this.ids) {
      const node = this.nodes.get(id)
      if (node === null || node === undefined) continue
      node.tick(this.nowMs)
      if (node.role === 'leader' && this.rng.bool(this.faults.proposeP)) node.propose(Buffer.from(`p${++this.proposals}`), this.nowMs)
      this.drain(id)
      if (this.rng.bool(this.faults.compactP)) this.compact(id)
    }
    this.checkInvariants()
  }

  #maybeFault(): void {
    if (this.rng.bool(this.faults.partitionP)) {
      this.cut = new Set()
      const isolated = this.rng.pick(this.ids)
      if (this.rng.bool(0.7)) for (const other of this.ids) if (other !== isolated) this.cut.add(isolated < other ? `${isolated}-${other}` : `${other}-${isolated}`)
    }
    if (this.rng.bool(this.faults.crashP)) {
      const id = this.rng.pick(this.ids)
      if (this.nodes.get(id) === null) this.start(id)
      else this.nodes.set(id, null)
    }
  }

  /** The entry at `index` as this node persisted it: from its snapshot or its log. */
  persistedValue(id: NodeId, index: number): string | undefined {
    const disk = this.disks.get(id)!
    if (index <= disk.snapshot.lastIndex) return disk.snapshot.state[index - 1]
    const e = disk.log[index - disk.snapshot.lastIndex - 1]
    return e === undefined ? undefined : entryValue(e)
  }

  checkInvariants(): void {
    for (const id of this.ids) {
      const node = this.nodes.get(id)
      if (node === null || node === undefined) continue
      const disk = this.disks.get(id)!
      if (node.snapshotIndex !== disk.snapshot.lastIndex || node.lastIndex !== disk.snapshot.lastIndex + disk.log.length) {
        this.violations.push(`node ${id}: core holds (${node.snapshotIndex}, ${node.lastIndex}], disk (${disk.snapshot.lastIndex}, ${disk.snapshot.lastIndex + disk.log.length}]`)
      }
      if (node.role === 'leader') {
        const other = this.leaderOfTerm.get(node.term)
        if (other !== undefined && other !== id) this.violations.push(`two leaders in term ${node.term}: ${other} and ${id}`)
        this.leaderOfTerm.set(node.term, id)
        // Leader completeness: a leader holds every committed entry, in its log or its snapshot.
        for (const [index, value] of this.committed) {
          if (this.commitTerm.get(index)! >= node.term) continue
          const e = node.entryAt(index)
          const held = index <= node.snapshotIndex ? this.persistedValue(id, index) : e === undefined ? undefined : entryValue(e)
          if (held !== value) this.violations.push(`leader ${id} (term ${node.term}) lacks committed ${value} at ${index}`)
        }
      }
    }
  }

  /**
   * Log matching: two logs that agree on an index's term agree on every entry up to it (compared
   * where both still hold entries; the snapshots are checked against the committed sequence).
   */
  checkLogMatching(): void {
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a >= b) continue
        const da = this.disks.get(a)!
        const db = this.disks.get(b)!
        const from = Math.max(da.snapshot.lastIndex, db.snapshot.lastIndex) + 1
        const to = Math.min(da.snapshot.lastIndex + da.log.length, db.snapshot.lastIndex + db.log.length)
        const at = (d: Disk, i: number): Entry => d.log[i - d.snapshot.lastIndex - 1]!
        let agreeUpTo = 0
        for (let i = to; i >= from; i--) {
          if (at(da, i).term === at(db, i).term) {
            agreeUpTo = i
            break
          }
        }
        for (let i = from; i <= agreeUpTo; i++) {
          if (at(da, i).term !== at(db, i).term || !at(da, i).data.equals(at(db, i).data)) {
            this.violations.push(`logs of ${a} and ${b} agree at ${agreeUpTo} but differ at ${i}`)
            return
          }
        }
      }
    }
  }

  heal(): void {
    this.faults = { ...NO_FAULTS }
    this.cut = new Set()
    for (const id of this.ids) if (this.nodes.get(id) === null) this.start(id)
  }
}

/** The node leading the highest term any live node has seen, if that term has a leader. */
function currentLeader(sim: Simulation): RaftNode | null {
  const live = sim.ids.map((id) => sim.nodes.get(id)).filter((n): n is RaftNode => n !== null && n !== undefined)
  const maxTerm = Math.max(...live.map((n) => n.term))
  return live.find((n) => n.role === 'leader' && n.term === maxTerm) ?? null
}

/** Proposes `data` at the current leader until every node has committed it; returns its index. */
function proposeUntilCommitted(sim: Simulation, data: string): number | null {
  for (let attempt = 0; attempt < 10; attempt++) {
    let leader: RaftNode | null = null
    for (let i = 0; i < 400 && (leader = currentLeader(sim)) === null; i++) sim.step()
    if (leader === null) return null
    const term = leader.term
    const index = leader.propose(Buffer.from(data), sim.nowMs)!
    sim.drain(leader.id)
    for (let i = 0; i < 400 && sim.committed.get(index) === undefined; i++) sim.step()
    if (sim.committed.get(index) !== `${term}/${data}`) continue
    for (let i = 0; i < 400 && !sim.ids.every((id) => (sim.nodes.get(id)?.commitIndex ?? 0) >= index); i++) sim.step()
    if (sim.ids.every((id) => (sim.nodes.get(id)?.commitIndex ?? 0) >= index)) return index
  }
  return null
}

function runSeed(seed: number, voters: number, steps: number): Simulation {
  const sim = new Simulation(seed, voters)
  sim.faults = { dropP: 0.1, duplicateP: 0.05, crashP: 0.003, partitionP: 0.004, proposeP: 0.2, compactP: 0.01 }
  for (let i = 0; i < steps && sim.violations.length === 0; i++) {
    sim.step()
    if (i % 25 === 0) sim.checkLogMatching()
  }
  sim.checkLogMatching()
  return sim
}

t.test(`safety under loss, duplication, reordering, partitions, crashes and snapshots (base seed ${baseSeed})`, async (t) => {
  let committedTotal = 0
  let termsTotal = 0
  let snapshotsTaken = 0
  let snapshotsInstalled = 0
  for (let k = 0; k < 24; k++) {
    const seed = baseSeed + k
    const voters = k % 2 === 0 ? 3 : 5
    const sim = runSeed(seed, voters, 4000)
    if (sim.violations.length > 0) {
      t.fail(`seed ${seed} (${voters} voters): ${sim.violations.slice(0, 3).join('; ')}`)
      continue
    }
    committedTotal += sim.committed.size
    termsTotal += sim.leaderOfTerm.size
    snapshotsTaken += sim.snapshotsTaken

    // Liveness once the faults stop: a leader emerges and a new proposal commits on every node.
    // A proposal made to a leader that is deposed before it replicates is lost, as in any Raft;
    // the client retries it, here up to a bounded number of times.
    // Every node compacts right before healing, so a node that was down or cut off can only
    // catch up through a snapshot.
    sim.heal()
    for (const id of sim.ids) sim.compact(id)
    const committedFinal = proposeUntilCommitted(sim, 'final')
    if (committedFinal === null || sim.violations.length > 0) t.fail(`seed ${seed}: no progress after healing; ${sim.violations.join('; ')}`)
    const states = sim.ids.map((id) => JSON.stringify(sim.applied.get(id)!.slice(0, committedFinal ?? 0)))
    if (!states.every((s) => s === states[0])) t.fail(`seed ${seed}: state machines differ after healing`)
    snapshotsInstalled += sim.snapshotsInstalled
  }
  t.ok(committedTotal > 1000, `${committedTotal} entries committed across the runs (the faults did not stop all progress)`)
  t.ok(termsTotal > 48, `${termsTotal} terms had a leader (elections really happened)`)
  t.ok(snapshotsTaken > 100, `${snapshotsTaken} snapshots taken`)
  t.ok(snapshotsInstalled > 10, `${snapshotsInstalled} snapshots sent to and installed by lagging followers`)
})

t.test('votes and appends from stale terms or unknown voters are refused', async (t) => {
  const options = (id: NodeId): RaftOptions => ({ id, voters: [1, 2, 3], electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50, appendEntriesMax: 8, random: () => 0.5 })
  const node = new RaftNode(options(1), { hardState: { term: 5, votedFor: null }, log: [{ term: 4, data: Buffer.from('a') }] }, 0)
  node.receive(2, { type: 'vote', term: 4, lastLogIndex: 9, lastLogTerm: 4 }, 1)
  t.same(node.drain().messages, [{ to: 2, message: { type: 'voteResponse', term: 5, granted: false } }], 'a stale-term vote is refused with our term')
  node.receive(2, { type: 'vote', term: 5, lastLogIndex: 0, lastLogTerm: 0 }, 2)
  t.same(node.drain().messages[0]?.message, { type: 'voteResponse', term: 5, granted: false }, 'a candidate with a shorter log is refused')
  node.receive(3, { type: 'vote', term: 6, lastLogIndex: 1, lastLogTerm: 4 }, 3)
  const granted = node.drain()
  t.same(granted.hardState, { term: 6, votedFor: 3 }, 'the vote is in the output to persist...')
  t.same(granted.messages[0]?.message, { type: 'voteResponse', term: 6, granted: true }, '...with the response it must precede')
  node.receive(2, { type: 'vote', term: 6, lastLogIndex: 5, lastLogTerm: 5 }, 4)
  t.same(node.drain().messages[0]?.message, { type: 'voteResponse', term: 6, granted: false }, 'one vote per term')
  node.receive(9, { type: 'vote', term: 99, lastLogIndex: 5, lastLogTerm: 5 }, 5)
  const unknown = node.drain()
  t.equal(unknown.messages.length, 0, 'an unknown voter gets no answer')
  t.equal(node.term, 6, 'and cannot move the term')
  node.receive(2, { type: 'append', term: 5, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0 }, 6)
  t.same(node.drain().messages[0]?.message, { type: 'appendResponse', term: 6, success: false, matchIndex: 0 }, 'a stale leader is refused')
})

t.test('a single voter elects itself and commits alone', async (t) => {
  const node = new RaftNode({ id: 1, voters: [1], electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50, appendEntriesMax: 8, random: () => 0 }, { hardState: { term: 0, votedFor: null }, log: [] }, 0)
  node.tick(200)
  t.equal(node.role, 'leader')
  const index = node.propose(Buffer.from('x'), 201)
  const out = node.drain()
  t.equal(node.commitIndex, index)
  t.same(out.committed.map((c) => c.entry.data.toString()), ['', 'x'], 'the no-op of the new term, then the proposal')
})

const OPTIONS = (id: NodeId): RaftOptions => ({ id, voters: [1, 2, 3], electionTimeoutMsMin: 150, electionTimeoutMsMax: 300, heartbeatIntervalMs: 50, appendEntriesMax: 8, random: () => 0 })
const entries = (terms: number[]): Entry[] => terms.map((term, i) => ({ term, data: Buffer.from(`e${i}`) }))

t.test('a leader sends its snapshot to a follower that needs a compacted entry', async (t) => {
  // Entries 1..10 are in the snapshot (last term 2); 11 and 12 follow it.
  const node = new RaftNode(OPTIONS(1), { hardState: { term: 2, votedFor: 1 }, log: entries([2, 2]), snapshot: { lastIndex: 10, lastTerm: 2 } }, 0)
  t.equal(node.lastIndex, 12)
  t.equal(node.commitIndex, 10, 'a snapshot is committed state')
  t.equal(node.termAt(10), 2, 'the snapshot keeps the term of its last entry')
  t.equal(node.termAt(9), -1, 'and forgets the ones before')
  node.tick(1000)
  node.drain()
  node.receive(2, { type: 'preVoteResponse', term: 2, granted: true }, 1000)
  node.drain()
  node.receive(2, { type: 'voteResponse', term: 3, granted: true }, 1001)
  t.equal(node.role, 'leader')
  node.drain()
  node.receive(2, { type: 'appendResponse', term: 3, success: false, matchIndex: 0 }, 1002)
  t.same(node.drain().messages, [{ to: 2, message: { type: 'snapshot', term: 3, lastIndex: 10, lastTerm: 2, data: null } }], 'entry 10 is gone, so the snapshot goes instead')
  node.receive(2, { type: 'appendResponse', term: 3, success: true, matchIndex: 10 }, 1003)
  const next = node.drain().messages[0]?.message
  t.match(next, { type: 'append', prevLogIndex: 10, prevLogTerm: 2 }, 'then appends continue after it')
  t.equal(next?.type === 'append' ? next.entries.length : -1, 3, 'with 11, 12 and the no-op')
  t.throws(() => node.compact(12), /only applied entries are compacted/)
})

t.test('a follower installs a newer snapshot, keeping its log after it only if that log continues it', async (t) => {
  const snapshot = (lastIndex: number, lastTerm: number): RaftMessage => ({ type: 'snapshot', term: 3, lastIndex, lastTerm, data: Buffer.from('S') })

  const empty = new RaftNode(OPTIONS(2), { hardState: { term: 1, votedFor: null }, log: [] }, 0)
  empty.receive(1, snapshot(10, 2), 1)
  const out = empty.drain()
  t.same(out.installSnapshot, { lastIndex: 10, lastTerm: 2, data: Buffer.from('S') }, 'the bytes pass through to the driver')
  t.same(out.log, { truncateFrom: 11, append: [] }, 'nothing of the old log survives')
  t.same(out.messages, [{ to: 1, message: { type: 'appendResponse', term: 3, success: true, matchIndex: 10 } }])
  t.same([empty.snapshotIndex, empty.lastIndex, empty.commitIndex, empty.appliedIndex, empty.termAt(10)], [10, 10, 10, 10, 2])

  // Entries 1..12; entry 10 has term 2, as in the snapshot: 11 and 12 continue the same log.
  const matching = new RaftNode(OPTIONS(2), { hardState: { term: 2, votedFor: null }, log: entries([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]) }, 0)
  matching.receive(1, snapshot(10, 2), 1)
  const kept = matching.drain()
  t.same(kept.log, { truncateFrom: null, append: [] }, 'the entries after the snapshot stay')
  t.same([matching.snapshotIndex, matching.lastIndex, matching.commitIndex], [10, 12, 10])
  t.equal(matching.entryAt(11)?.data.toString(), 'e10')

  // Entry 10 has term 1 here: the log diverged from the leader's, so it all goes.
  const diverged = new RaftNode(OPTIONS(2), { hardState: { term: 2, votedFor: null }, log: entries([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) }, 0)
  diverged.receive(1, snapshot(10, 2), 1)
  t.same(diverged.drain().log, { truncateFrom: 11, append: [] })
  t.same([diverged.snapshotIndex, diverged.lastIndex], [10, 10])

  // A snapshot that does not pass the commit index is old news.
  const ahead = new RaftNode(OPTIONS(2), { hardState: { term: 2, votedFor: null }, log: entries([2, 2]), snapshot: { lastIndex: 20, lastTerm: 2 } }, 0)
  ahead.receive(1, snapshot(10, 2), 1)
  const stale = ahead.drain()
  t.equal(stale.installSnapshot, null)
  t.same(stale.messages[0]?.message, { type: 'appendResponse', term: 3, success: true, matchIndex: 20 }, 'answered with what is committed here')
  ahead.receive(1, { type: 'snapshot', term: 1, lastIndex: 30, lastTerm: 1, data: null }, 2)
  t.same(ahead.drain().messages[0]?.message, { type: 'appendResponse', term: 3, success: false, matchIndex: 0 }, 'a stale leader\'s snapshot is refused')
})

t.test('an append that starts inside the snapshot is accepted from the snapshot on', async (t) => {
  const node = new RaftNode(OPTIONS(2), { hardState: { term: 2, votedFor: null }, log: [], snapshot: { lastIndex: 10, lastTerm: 2 } }, 0)
  node.receive(1, { type: 'append', term: 2, prevLogIndex: 8, prevLogTerm: 2, entries: entries([2, 2, 2, 2]), leaderCommit: 12 }, 1)
  const out = node.drain()
  t.same(out.log.append.map((a) => a.index), [11, 12], 'entries 9 and 10 are already in the snapshot')
  t.same(out.committed.map((c) => c.index), [11, 12])
  t.same(out.messages[0]?.message, { type: 'appendResponse', term: 2, success: true, matchIndex: 12 })
  node.receive(1, { type: 'append', term: 2, prevLogIndex: 3, prevLogTerm: 1, entries: entries([1]), leaderCommit: 12 }, 2)
  t.same(node.drain().messages[0]?.message, { type: 'appendResponse', term: 2, success: true, matchIndex: 10 }, 'one that ends inside it is acknowledged at the snapshot')
})

t.test('pre-vote: a timed-out voter asks first, and its term moves only with a majority\'s yes', async (t) => {
  const node = new RaftNode(OPTIONS(3), { hardState: { term: 4, votedFor: null }, log: entries([4]) }, 0)
  for (let now = 200; now <= 2000; now += 200) {
    node.tick(now)
    const sent = node.drain()
    t.ok(sent.messages.every((m) => m.message.type === 'preVote' && m.message.term === 5), `t=${now}: only pre-votes for term 5 go out`)
    t.equal(sent.hardState, null, 'nothing to persist: no term, no vote')
  }
  t.equal(node.term, 4, 'cut off from the others, the voter never raises its term')
  t.equal(node.role, 'precandidate')
  node.receive(1, { type: 'append', term: 4, prevLogIndex: 1, prevLogTerm: 4, entries: [], leaderCommit: 1 }, 2100)
  t.equal(node.role, 'follower', 'back in touch, the leader\'s heartbeat makes it a follower again')
  t.equal(node.term, 4, 'at the same term: the healthy leader is not deposed')
  t.equal(node.leaderId, 1)
})

t.test('pre-vote and vote are refused while the leader is live; granted once it has been silent', async (t) => {
  const node = new RaftNode(OPTIONS(2), { hardState: { term: 4, votedFor: null }, log: entries([4]) }, 0)
  node.receive(1, { type: 'append', term: 4, prevLogIndex: 1, prevLogTerm: 4, entries: [], leaderCommit: 1 }, 100)
  node.drain()
  node.receive(3, { type: 'preVote', term: 5, lastLogIndex: 5, lastLogTerm: 4 }, 150)
  t.same(node.drain().messages, [{ to: 3, message: { type: 'preVoteResponse', term: 4, granted: false } }], 'a pre-vote is refused while the leader was heard within the election timeout')
  node.receive(3, { type: 'vote', term: 5, lastLogIndex: 5, lastLogTerm: 4 }, 160)
  t.same(node.drain().messages, [{ to: 3, message: { type: 'voteResponse', term: 4, granted: false } }], 'so is a vote (a disruptive server)')
  t.equal(node.term, 4, 'and neither moves the term')
  node.receive(3, { type: 'preVote', term: 5, lastLogIndex: 5, lastLogTerm: 4 }, 100 + 150)
  t.same(node.drain().messages[0]?.message, { type: 'preVoteResponse', term: 4, granted: true }, 'after an election timeout of silence it would vote')
  t.equal(node.term, 4, 'a granted pre-vote changes nothing either')
  node.receive(3, { type: 'preVote', term: 5, lastLogIndex: 0, lastLogTerm: 0 }, 260)
  t.same(node.drain().messages[0]?.message, { type: 'preVoteResponse', term: 4, granted: false }, 'never for a shorter log')
})

t.test('check-quorum: a leader that hears from no majority steps down without a new term', async (t) => {
  const node = new RaftNode(OPTIONS(1), { hardState: { term: 1, votedFor: null }, log: [] }, 0)
  node.tick(200)
  node.receive(2, { type: 'preVoteResponse', term: 1, granted: true }, 200)
  node.receive(2, { type: 'voteResponse', term: 2, granted: true }, 201)
  t.equal(node.role, 'leader')
  node.drain()
  for (let now = 250; now < 201 + 300; now += 50) {
    node.tick(now)
    node.receive(2, { type: 'appendResponse', term: 2, success: true, matchIndex: 1 }, now)
  }
  t.equal(node.role, 'leader', 'one follower answering is a majority of three')
  let now = 550
  for (; now < 2000 && node.role === 'leader'; now += 50) node.tick(now)
  t.equal(node.role, 'follower', `silence from both followers: it steps down (at ${now - 50} ms, last answer at 500)`)
  t.ok(now - 50 - 500 <= 300 + 150 + 50, 'within the longest election timeout plus a check interval')
  t.equal(node.term, 2, 'in the same term')
  t.equal(node.leaderId, null)
  t.equal(node.propose(Buffer.from('x'), now), null, 'and takes no proposal')
})
