// The Raft consensus core of the metadata quorum: a deterministic state machine with no I/O.
//
// A driver feeds it time (`tick`) and messages (`receive`), asks it to `propose` entries, and after
// every call takes its output with `drain()`:
//
//   1. `hardState` / `log` changes   -> the driver persists them (quorum-state file, metadata log)
//   2. `messages`                    -> sent only AFTER step 1 is durable: a vote or an append
//                                       acknowledgement must survive a crash once it was sent
//   3. `committed`                   -> entries now known committed, in order, exactly once
//
// Keeping the core free of sockets, files and clocks is what lets the tests drive thousands of
// seeded steps with message loss, reordering, partitions and crashes and check Raft's safety
// properties after every one (test/broker/metadata/raft.test.ts). Indices are 1-based; index 0 is
// the empty log's sentinel with term 0. Pre-vote and membership changes are not implemented: the
// voters are fixed by configuration.

import assert from 'node:assert/strict'

export type NodeId = number

export interface Entry {
  term: number
  /** Opaque to Raft: an encoded metadata record, or empty for the leader's no-op. */
  data: Buffer
}

export type RaftMessage =
  | { type: 'vote'; term: number; lastLogIndex: number; lastLogTerm: number }
  | { type: 'voteResponse'; term: number; granted: boolean }
  | { type: 'append'; term: number; prevLogIndex: number; prevLogTerm: number; entries: Entry[]; leaderCommit: number }
  /** On success `matchIndex` is the follower's last matching index; on failure a hint of where to retry from. */
  | { type: 'appendResponse'; term: number; success: boolean; matchIndex: number }

export type Role = 'follower' | 'candidate' | 'leader'

export interface HardState {
  term: number
  votedFor: NodeId | null
}

export interface RaftOptions {
  id: NodeId
  voters: readonly NodeId[]
  /** An election starts after a random timeout in [min, max) without hearing from a leader. */
  electionTimeoutMsMin: number
  electionTimeoutMsMax: number
  heartbeatIntervalMs: number
  /** Entries in one append message, so a lagging follower is caught up in bounded steps. */
  appendEntriesMax: number
  /** Uniform in [0, 1): injected so elections are reproducible under a seed. */
  random: () => number
}

export interface Output {
  /** The term or vote changed: persist before sending `messages`. */
  hardState: HardState | null
  /** Log changes to persist before sending: drop entries from `truncateFrom` on, then append. */
  log: { truncateFrom: number | null; append: Array<{ index: number; entry: Entry }> }
  messages: Array<{ to: NodeId; message: RaftMessage }>
  committed: Array<{ index: number; entry: Entry }>
}

export class RaftNode {
  readonly id: NodeId
  readonly #options: RaftOptions
  /** Persistent: latest term seen, and whom this node voted for in it. */
  #term: number
  #votedFor: NodeId | null
  /** Persistent: entries 1..n at positions 0..n-1. */
  readonly #log: Entry[]
  /** Volatile: highest index known committed, and highest handed out as committed. */
  #commitIndex = 0
  #applied = 0
  #role: Role = 'follower'
  #leaderId: NodeId | null = null
  #electionDeadlineMs = 0
  #nextHeartbeatMs = 0
  #votes = new Set<NodeId>()
  /** Leader only: next index to send to each follower, and highest index known replicated there. */
  readonly #nextIndex = new Map<NodeId, number>()
  readonly #matchIndex = new Map<NodeId, number>()
  #out: Output = emptyOutput()

  constructor(options: RaftOptions, persisted: { hardState: HardState; log: readonly Entry[] }, nowMs: number) {
    assert.ok(options.voters.includes(options.id), 'a Raft node is one of the voters')
    assert.ok(options.electionTimeoutMsMin > options.heartbeatIntervalMs, 'heartbeats come more often than elections')
    this.id = options.id
    this.#options = options
    this.#term = persisted.hardState.term
    this.#votedFor = persisted.hardState.votedFor
    this.#log = [...persisted.log]
    this.#resetElectionTimer(nowMs)
    // A lone voter has no one to wait for: it elects itself on its first tick.
    if (options.voters.length === 1) this.#electionDeadlineMs = nowMs
  }

  get role(): Role {
    return this.#role
  }

  get term(): number {
    return this.#term
  }

  get leaderId(): NodeId | null {
    return this.#leaderId
  }

  get commitIndex(): number {
    return this.#commitIndex
  }

  get lastIndex(): number {
    return this.#log.length
  }

  /** The term of the entry at `index` (0 for the sentinel), or -1 beyond the log. */
  termAt(index: number): number {
    if (index === 0) return 0
    return this.#log[index - 1]?.term ?? -1
  }

  entryAt(index: number): Entry | undefined {
    return this.#log[index - 1]
  }

  /** Takes everything produced since the last drain. */
  drain(): Output {
    const out = this.#out
    this.#out = emptyOutput()
    return out
  }

  tick(nowMs: number): void {
    if (this.#role === 'leader') {
      if (nowMs >= this.#nextHeartbeatMs) this.#broadcastAppend(nowMs)
    } else if (nowMs >= this.#electionDeadlineMs) {
      this.#startElection(nowMs)
    }
  }

  /** Appends `data` as a new entry if this node leads; returns its index, or null when it does not. */
  propose(data: Buffer, nowMs: number): number | null {
    if (this.#role !== 'leader') return null
    const index = this.#appendLocal({ term: this.#term, data })
    this.#broadcastAppend(nowMs)
    this.#maybeCommit()
    return index
  }

  receive(from: NodeId, message: RaftMessage, nowMs: number): void {
    if (!this.#options.voters.includes(from) || from === this.id) return
    if (message.term > this.#term) this.#becomeFollower(message.term, null, nowMs)
    switch (message.type) {
      case 'vote':
        return this.#onVote(from, message, nowMs)
      case 'voteResponse':
        return this.#onVoteResponse(from, message, nowMs)
      case 'append':
        return this.#onAppend(from, message, nowMs)
      case 'appendResponse':
        return this.#onAppendResponse(from, message, nowMs)
    }
  }

  #send(to: NodeId, message: RaftMessage): void {
    this.#out.messages.push({ to, message })
  }

  #setHardState(term: number, votedFor: NodeId | null): void {
    assert.ok(term >= this.#term, 'the term never goes backwards')
    this.#term = term
    this.#votedFor = votedFor
    this.#out.hardState = { term, votedFor }
  }

  #resetElectionTimer(nowMs: number): void {
    const { electionTimeoutMsMin: min, electionTimeoutMsMax: max } = this.#options
    this.#electionDeadlineMs = nowMs + min + Math.floor(this.#options.random() * (max - min))
  }

  #becomeFollower(term: number, leaderId: NodeId | null, nowMs: number): void {
    if (term > this.#term) this.#setHardState(term, null)
    this.#role = 'follower'
    this.#leaderId = leaderId
    this.#resetElectionTimer(nowMs)
  }

  #startElection(nowMs: number): void {
    this.#role = 'candidate'
    this.#leaderId = null
    this.#setHardState(this.#term + 1, this.id)
    this.#votes = new Set([this.id])
    this.#resetElectionTimer(nowMs)
    const request: RaftMessage = { type: 'vote', term: this.#term, lastLogIndex: this.lastIndex, lastLogTerm: this.termAt(this.lastIndex) }
    for (const peer of this.#peers()) this.#send(peer, request)
    this.#maybeWinElection(nowMs)
  }

  #peers(): NodeId[] {
    return this.#options.voters.filter((v) => v !== this.id)
  }

  #quorum(): number {
    return Math.floor(this.#options.voters.length / 2) + 1
  }

  #onVote(from: NodeId, m: Extract<RaftMessage, { type: 'vote' }>, nowMs: number): void {
    const myLastTerm = this.termAt(this.lastIndex)
    const upToDate = m.lastLogTerm > myLastTerm || (m.lastLogTerm === myLastTerm && m.lastLogIndex >= this.lastIndex)
    const granted = m.term === this.#term && (this.#votedFor === null || this.#votedFor === from) && upToDate
    if (granted) {
      this.#setHardState(this.#term, from)
      this.#resetElectionTimer(nowMs)
    }
    this.#send(from, { type: 'voteResponse', term: this.#term, granted })
  }

  #onVoteResponse(from: NodeId, m: Extract<RaftMessage, { type: 'voteResponse' }>, nowMs: number): void {
    if (this.#role !== 'candidate' || m.term !== this.#term || !m.granted) return
    this.#votes.add(from)
    this.#maybeWinElection(nowMs)
  }

  #maybeWinElection(nowMs: number): void {
    if (this.#role !== 'candidate' || this.#votes.size < this.#quorum()) return
    this.#role = 'leader'
    this.#leaderId = this.id
    for (const peer of this.#peers()) {
      this.#nextIndex.set(peer, this.lastIndex + 1)
      this.#matchIndex.set(peer, 0)
    }
    // A no-op in the new term: entries of earlier terms commit only once one of the leader's own
    // term does (Raft section 5.4.2), so this settles them promptly.
    this.#appendLocal({ term: this.#term, data: Buffer.alloc(0) })
    this.#broadcastAppend(nowMs)
    this.#maybeCommit()
  }

  #appendLocal(entry: Entry): number {
    this.#log.push(entry)
    const index = this.#log.length
    this.#out.log.append.push({ index, entry })
    return index
  }

  #broadcastAppend(nowMs: number): void {
    for (const peer of this.#peers()) this.#sendAppend(peer)
    this.#nextHeartbeatMs = nowMs + this.#options.heartbeatIntervalMs
  }

  #sendAppend(peer: NodeId): void {
    const next = this.#nextIndex.get(peer) ?? this.lastIndex + 1
    const prevLogIndex = next - 1
    const entries = this.#log.slice(prevLogIndex, prevLogIndex + this.#options.appendEntriesMax)
    this.#send(peer, { type: 'append', term: this.#term, prevLogIndex, prevLogTerm: this.termAt(prevLogIndex), entries, leaderCommit: this.#commitIndex })
  }

  #onAppend(from: NodeId, m: Extract<RaftMessage, { type: 'append' }>, nowMs: number): void {
    if (m.term < this.#term) {
      this.#send(from, { type: 'appendResponse', term: this.#term, success: false, matchIndex: 0 })
      return
    }
    assert.ok(this.#role !== 'leader', 'two leaders in one term')
    this.#becomeFollower(m.term, from, nowMs)
    if (m.prevLogIndex > this.lastIndex || this.termAt(m.prevLogIndex) !== m.prevLogTerm) {
      // Retry from before the mismatch; below our commit index everything matches any leader's log.
      const hint = Math.max(this.#commitIndex, Math.min(m.prevLogIndex - 1, this.lastIndex))
      this.#send(from, { type: 'appendResponse', term: this.#term, success: false, matchIndex: hint })
      return
    }
    this.#mergeEntries(m.prevLogIndex, m.entries)
    const lastNew = m.prevLogIndex + m.entries.length
    if (m.leaderCommit > this.#commitIndex) this.#commitTo(Math.min(m.leaderCommit, lastNew))
    this.#send(from, { type: 'appendResponse', term: this.#term, success: true, matchIndex: lastNew })
  }

  /** Appends what is new; on a term conflict drops our entry there and everything after it. */
  #mergeEntries(prevLogIndex: number, entries: readonly Entry[]): void {
    for (let i = 0; i < entries.length; i++) {
      const index = prevLogIndex + 1 + i
      const entry = entries[i]!
      if (index <= this.lastIndex) {
        if (this.termAt(index) === entry.term) continue
        assert.ok(index > this.#commitIndex, 'a committed entry is never truncated')
        this.#log.length = index - 1
        this.#out.log.truncateFrom = Math.min(this.#out.log.truncateFrom ?? index, index)
        this.#out.log.append = this.#out.log.append.filter((a) => a.index < index)
      }
      this.#appendLocal(entry)
    }
  }

  #onAppendResponse(from: NodeId, m: Extract<RaftMessage, { type: 'appendResponse' }>, _nowMs: number): void {
    if (this.#role !== 'leader' || m.term !== this.#term) return
    const match = this.#matchIndex.get(from) ?? 0
    if (m.success) {
      this.#matchIndex.set(from, Math.max(match, m.matchIndex))
      this.#nextIndex.set(from, Math.max(match, m.matchIndex) + 1)
      this.#maybeCommit()
      if ((this.#nextIndex.get(from) ?? 0) <= this.lastIndex) this.#sendAppend(from)
    } else {
      const next = this.#nextIndex.get(from) ?? this.lastIndex + 1
      this.#nextIndex.set(from, Math.max(match + 1, Math.min(next - 1, m.matchIndex + 1)))
      this.#sendAppend(from)
    }
  }

  /** Commits the highest index of the current term that a quorum holds (never an older term's by count). */
  #maybeCommit(): void {
    for (let n = this.lastIndex; n > this.#commitIndex; n--) {
      if (this.termAt(n) !== this.#term) break
      const holders = 1 + this.#peers().filter((p) => (this.#matchIndex.get(p) ?? 0) >= n).length
      if (holders >= this.#quorum()) {
        this.#commitTo(n)
        return
      }
    }
  }

  #commitTo(index: number): void {
    assert.ok(index <= this.lastIndex, 'commit never passes the log end')
    if (index <= this.#commitIndex) return
    this.#commitIndex = index
    while (this.#applied < this.#commitIndex) {
      this.#applied++
      this.#out.committed.push({ index: this.#applied, entry: this.#log[this.#applied - 1]! })
    }
  }
}

function emptyOutput(): Output {
  return { hardState: null, log: { truncateFrom: null, append: [] }, messages: [], committed: [] }
}
