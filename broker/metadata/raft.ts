// The Raft consensus core of the metadata quorum: a deterministic state machine with no I/O.
//
// A driver feeds it time (`tick`) and messages (`receive`), asks it to `propose` entries, and after
// every call takes its output with `drain()`:
//
//   1. `hardState`, `installSnapshot`, `log` -> the driver persists them, in that order
//                                       (quorum-state file, snapshot file, metadata log)
//   2. `messages`                    -> sent only AFTER step 1 is durable: a vote or an append
//                                       acknowledgement must survive a crash once it was sent
//   3. `committed`                   -> entries now known committed, in order, exactly once
//
// Snapshots (Raft section 7): once the driver has durably written its state machine through an
// applied index, `compact(index)` drops the entries up to it; the log then starts after
// `snapshotIndex`, whose term the core still knows (`termAt(snapshotIndex) === snapshotTerm`). A
// follower that needs an entry the leader no longer holds gets a `snapshot` message instead of an
// append. The core never holds snapshot bytes: the leader's driver attaches them when sending,
// and the follower's core passes them through in `installSnapshot` for its driver to persist.
//
// Keeping the core free of sockets, files and clocks is what lets the tests drive thousands of
// seeded steps with message loss, reordering, partitions and crashes and check Raft's safety
// properties after every one (test/broker/metadata/raft.test.ts). Indices are 1-based; index 0 is
// the empty log's sentinel with term 0. Membership changes are not implemented: the voters are
// fixed by configuration.
//
// Elections are guarded as in the Raft thesis, section 9.6 (and KRaft's KIP-996), so that a voter
// that was paused or cut off does not depose a healthy leader when it comes back:
// - Pre-vote: a voter whose election timeout expires first asks the others whether they would
//   vote for it in the next term (`preVote`, which changes no one's term or vote); only with a
//   majority of yeses does it become a candidate and bump its term.
// - A voter that heard from a live leader within the minimum election timeout refuses pre-votes
//   and votes alike (and a vote refused this way does not raise its term either).
// - Check-quorum: a leader that has not heard from a majority within the maximum election
//   timeout steps down, so a leader cut off from the majority stops acting as one.

import assert from 'node:assert/strict'

export type NodeId = number

export interface Entry {
  term: number
  /** Opaque to Raft: an encoded metadata record, or empty for the leader's no-op. */
  data: Buffer
}

export type RaftMessage =
  /** `term` is the term the sender would stand in (its own + 1); nothing is persisted for it. */
  | { type: 'preVote'; term: number; lastLogIndex: number; lastLogTerm: number }
  /** `term` is the responder's current term. */
  | { type: 'preVoteResponse'; term: number; granted: boolean }
  | { type: 'vote'; term: number; lastLogIndex: number; lastLogTerm: number }
  | { type: 'voteResponse'; term: number; granted: boolean }
  | { type: 'append'; term: number; prevLogIndex: number; prevLogTerm: number; entries: Entry[]; leaderCommit: number }
  /** On success `matchIndex` is the follower's last matching index; on failure a hint of where to retry from. */
  | { type: 'appendResponse'; term: number; success: boolean; matchIndex: number }
  /**
   * The leader's state through `lastIndex` (whose entry has `lastTerm`), for a follower that needs
   * an entry the leader has compacted away. Answered with an appendResponse. `data` is the
   * driver's: null when the core emits it (the sending driver attaches its snapshot), passed
   * through untouched to the receiving driver in `installSnapshot`.
   */
  | { type: 'snapshot'; term: number; lastIndex: number; lastTerm: number; data: Buffer | null }

/** A precandidate asks for pre-votes: it has not bumped its term yet. */
export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader'

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

/** Where the log starts: everything through `lastIndex` is in a snapshot (0/0: no snapshot). */
export interface SnapshotPoint {
  lastIndex: number
  lastTerm: number
}

export interface Output {
  /** The term or vote changed: persist before sending `messages`. */
  hardState: HardState | null
  /**
   * A snapshot from the leader replaced this node's state through `lastIndex`. Before the log
   * changes below, the driver persists `data`, loads it into its state machine, and makes its
   * durable log start right after `lastIndex` (keeping the entries it holds after it: when the
   * core did not keep them, `log.truncateFrom` removes them). Committed entries it covers are
   * never handed out.
   */
  installSnapshot: (SnapshotPoint & { data: Buffer | null }) | null
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
  /** Persistent (via the driver's snapshot): the last index and term the snapshot covers. */
  #snapshotIndex: number
  #snapshotTerm: number
  /** Persistent: entries snapshotIndex+1..lastIndex at positions 0..n-1. */
  #log: Entry[]
  /** Volatile: highest index known committed, and highest handed out as committed. */
  #commitIndex = 0
  /** As leader: the index of its no-op, the first entry of its term. */
  #termStartIndex = 0
  #applied = 0
  #role: Role = 'follower'
  #leaderId: NodeId | null = null
  #electionDeadlineMs = 0
  #nextHeartbeatMs = 0
  #votes = new Set<NodeId>()
  /** Precandidate only: who would vote for this node in the next term. */
  #preVotes = new Set<NodeId>()
  /** When this node last heard from the leader of its term (an append or a snapshot). */
  #leaderContactMs = -Infinity
  /** Leader only: when each peer last answered an append, for check-quorum. */
  readonly #peerContactMs = new Map<NodeId, number>()
  /** Leader only: when check-quorum next looks. */
  #checkQuorumAtMs = Infinity
  /** Leader only: next index to send to each follower, and highest index known replicated there. */
  readonly #nextIndex = new Map<NodeId, number>()
  readonly #matchIndex = new Map<NodeId, number>()
  #out: Output = emptyOutput()

  /**
   * `persisted.log` holds the entries after `persisted.snapshot` (all of them when there is none).
   * A snapshot is committed state, so commit and applied start at its last index.
   */
  constructor(options: RaftOptions, persisted: { hardState: HardState; log: readonly Entry[]; snapshot?: SnapshotPoint }, nowMs: number) {
    assert.ok(options.voters.includes(options.id), 'a Raft node is one of the voters')
    assert.ok(options.electionTimeoutMsMin > options.heartbeatIntervalMs, 'heartbeats come more often than elections')
    const snapshot = persisted.snapshot ?? { lastIndex: 0, lastTerm: 0 }
    assert.ok(snapshot.lastTerm <= persisted.hardState.term, 'a snapshot holds no entry of a future term')
    this.id = options.id
    this.#options = options
    this.#term = persisted.hardState.term
    this.#votedFor = persisted.hardState.votedFor
    this.#snapshotIndex = snapshot.lastIndex
    this.#snapshotTerm = snapshot.lastTerm
    this.#commitIndex = snapshot.lastIndex
    this.#applied = snapshot.lastIndex
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

  /** As leader: the index of the first entry of its term (its no-op); once committed, so is everything before it. */
  get termStartIndex(): number {
    return this.#termStartIndex
  }

  get lastIndex(): number {
    return this.#snapshotIndex + this.#log.length
  }

  /** Highest index handed out in `committed` (or covered by a snapshot). */
  get appliedIndex(): number {
    return this.#applied
  }

  get snapshotIndex(): number {
    return this.#snapshotIndex
  }

  get snapshotTerm(): number {
    return this.#snapshotTerm
  }

  /**
   * The term of the entry at `index`: the snapshot's term at its last index (0 for the empty
   * log's sentinel), -1 beyond the log or inside the snapshot (those terms are forgotten).
   */
  termAt(index: number): number {
    if (index === this.#snapshotIndex) return this.#snapshotTerm
    if (index < this.#snapshotIndex) return -1
    return this.#log[index - this.#snapshotIndex - 1]?.term ?? -1
  }

  /** The entry at `index`, or undefined beyond the log or inside the snapshot. */
  entryAt(index: number): Entry | undefined {
    if (index <= this.#snapshotIndex) return undefined
    return this.#log[index - this.#snapshotIndex - 1]
  }

  /**
   * Forgets the entries through `index`: the driver has durably written its state machine as of
   * that applied index. An index at or below the current snapshot changes nothing (a snapshot
   * from the leader may have overtaken the driver's own).
   */
  compact(index: number): void {
    assert.ok(index <= this.#applied, 'only applied entries are compacted')
    if (index <= this.#snapshotIndex) return
    const term = this.termAt(index)
    assert.ok(term >= 0, 'a compacted entry is in the log')
    this.#log = this.#log.slice(index - this.#snapshotIndex)
    this.#snapshotIndex = index
    this.#snapshotTerm = term
  }

  /** Takes everything produced since the last drain. */
  drain(): Output {
    const out = this.#out
    this.#out = emptyOutput()
    return out
  }

  tick(nowMs: number): void {
    if (this.#role === 'leader') {
      if (nowMs >= this.#checkQuorumAtMs && !this.#checkQuorum(nowMs)) return
      if (nowMs >= this.#nextHeartbeatMs) this.#broadcastAppend(nowMs)
    } else if (nowMs >= this.#electionDeadlineMs) {
      // A candidate whose election timed out (a split vote) asks again too: a term rises only with
      // a majority's leave, so a voter cut off from the others never runs its term up.
      this.#startPreVote(nowMs)
    }
  }

  /** Check-quorum: true while a majority answered within the longest election timeout; else steps down. */
  #checkQuorum(nowMs: number): boolean {
    const since = nowMs - this.#options.electionTimeoutMsMax
    const heard = 1 + this.#peers().filter((p) => (this.#peerContactMs.get(p) ?? -Infinity) >= since).length
    if (heard >= this.#quorum()) {
      this.#checkQuorumAtMs = nowMs + this.#options.electionTimeoutMsMin
      return true
    }
    this.#role = 'follower'
    this.#leaderId = null
    this.#checkQuorumAtMs = Infinity
    this.#resetElectionTimer(nowMs)
    return false
  }

  /** True when this node leads, or heard from its term's leader within the minimum election timeout. */
  #leaderIsLive(nowMs: number): boolean {
    return this.#role === 'leader' || (this.#leaderId !== null && nowMs - this.#leaderContactMs < this.#options.electionTimeoutMsMin)
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
    // A pre-vote's term is only proposed, and a refused one's response carries a term we may be behind.
    if (message.type === 'preVote') return this.#onPreVote(from, message, nowMs)
    if (message.type === 'preVoteResponse') return this.#onPreVoteResponse(from, message, nowMs)
    if (message.type === 'vote' && message.term > this.#term && this.#leaderIsLive(nowMs)) {
      // A disruptive server (thesis 4.2.3): the leader is alive, so neither the vote nor its term counts.
      this.#send(from, { type: 'voteResponse', term: this.#term, granted: false })
      return
    }
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
      case 'snapshot':
        return this.#onSnapshot(from, message, nowMs)
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

  #startPreVote(nowMs: number): void {
    this.#role = 'precandidate'
    this.#leaderId = null
    this.#preVotes = new Set([this.id])
    this.#resetElectionTimer(nowMs)
    const request: RaftMessage = { type: 'preVote', term: this.#term + 1, lastLogIndex: this.lastIndex, lastLogTerm: this.termAt(this.lastIndex) }
    for (const peer of this.#peers()) this.#send(peer, request)
    this.#maybeWinPreVote(nowMs)
  }

  #logUpToDate(lastLogIndex: number, lastLogTerm: number): boolean {
    const myLastTerm = this.termAt(this.lastIndex)
    return lastLogTerm > myLastTerm || (lastLogTerm === myLastTerm && lastLogIndex >= this.lastIndex)
  }

  /** Would this node vote for the sender in `m.term`? Answered without changing term, vote or timer. */
  #onPreVote(from: NodeId, m: Extract<RaftMessage, { type: 'preVote' }>, nowMs: number): void {
    const granted = m.term > this.#term && this.#logUpToDate(m.lastLogIndex, m.lastLogTerm) && !this.#leaderIsLive(nowMs)
    this.#send(from, { type: 'preVoteResponse', term: this.#term, granted })
  }

  #onPreVoteResponse(from: NodeId, m: Extract<RaftMessage, { type: 'preVoteResponse' }>, nowMs: number): void {
    // A voter already past our next term refuses; it tells us a term we must catch up to.
    if (m.term > this.#term && !m.granted) {
      this.#becomeFollower(m.term, null, nowMs)
      return
    }
    if (this.#role !== 'precandidate' || !m.granted) return
    this.#preVotes.add(from)
    this.#maybeWinPreVote(nowMs)
  }

  #maybeWinPreVote(nowMs: number): void {
    if (this.#role === 'precandidate' && this.#preVotes.size >= this.#quorum()) this.#startElection(nowMs)
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
    const upToDate = this.#logUpToDate(m.lastLogIndex, m.lastLogTerm)
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
      // The votes just received count as contact: a full timeout before check-quorum can fail.
      this.#peerContactMs.set(peer, nowMs)
    }
    this.#checkQuorumAtMs = nowMs + this.#options.electionTimeoutMsMax
    // A no-op in the new term: entries of earlier terms commit only once one of the leader's own
    // term does (Raft section 5.4.2), so this settles them promptly.
    this.#termStartIndex = this.#appendLocal({ term: this.#term, data: Buffer.alloc(0) })
    this.#broadcastAppend(nowMs)
    this.#maybeCommit()
  }

  #appendLocal(entry: Entry): number {
    this.#log.push(entry)
    const index = this.lastIndex
    this.#out.log.append.push({ index, entry })
    return index
  }

  #broadcastAppend(nowMs: number): void {
    for (const peer of this.#peers()) this.#sendAppend(peer)
    this.#nextHeartbeatMs = nowMs + this.#options.heartbeatIntervalMs
  }

  /** The next entries the peer needs, or the snapshot when the first of them is compacted away. */
  #sendAppend(peer: NodeId): void {
    const next = this.#nextIndex.get(peer) ?? this.lastIndex + 1
    const prevLogIndex = next - 1
    if (prevLogIndex < this.#snapshotIndex) {
      this.#send(peer, { type: 'snapshot', term: this.#term, lastIndex: this.#snapshotIndex, lastTerm: this.#snapshotTerm, data: null })
      return
    }
    const from = prevLogIndex - this.#snapshotIndex
    const entries = this.#log.slice(from, from + this.#options.appendEntriesMax)
    this.#send(peer, { type: 'append', term: this.#term, prevLogIndex, prevLogTerm: this.termAt(prevLogIndex), entries, leaderCommit: this.#commitIndex })
  }

  #onAppend(from: NodeId, message: Extract<RaftMessage, { type: 'append' }>, nowMs: number): void {
    if (message.term < this.#term) {
      this.#send(from, { type: 'appendResponse', term: this.#term, success: false, matchIndex: 0 })
      return
    }
    assert.ok(this.#role !== 'leader', 'two leaders in one term')
    this.#becomeFollower(message.term, from, nowMs)
    this.#leaderContactMs = nowMs
    const m = this.#skipSnapshotted(message)
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

  /**
   * An append that starts inside our snapshot, rebased to start at the snapshot's last index: the
   * entries it repeats there are committed, so they match any current leader's (asserted at the
   * snapshot's last index, the one whose term we still know).
   */
  #skipSnapshotted(m: Extract<RaftMessage, { type: 'append' }>): Extract<RaftMessage, { type: 'append' }> {
    if (m.prevLogIndex >= this.#snapshotIndex) return m
    const skip = this.#snapshotIndex - m.prevLogIndex
    const atSnapshot = m.entries[skip - 1]
    if (atSnapshot !== undefined) assert.ok(atSnapshot.term === this.#snapshotTerm, 'a leader holds every committed entry')
    return { ...m, prevLogIndex: this.#snapshotIndex, prevLogTerm: this.#snapshotTerm, entries: m.entries.slice(skip) }
  }

  /** Appends what is new; on a term conflict drops our entry there and everything after it. */
  #mergeEntries(prevLogIndex: number, entries: readonly Entry[]): void {
    for (let i = 0; i < entries.length; i++) {
      const index = prevLogIndex + 1 + i
      const entry = entries[i]!
      if (index <= this.lastIndex) {
        if (this.termAt(index) === entry.term) continue
        assert.ok(index > this.#commitIndex, 'a committed entry is never truncated')
        this.#log.length = index - 1 - this.#snapshotIndex
        this.#out.log.truncateFrom = Math.min(this.#out.log.truncateFrom ?? index, index)
        this.#out.log.append = this.#out.log.append.filter((a) => a.index < index)
      }
      this.#appendLocal(entry)
    }
  }

  #onAppendResponse(from: NodeId, m: Extract<RaftMessage, { type: 'appendResponse' }>, nowMs: number): void {
    if (this.#role !== 'leader' || m.term !== this.#term) return
    this.#peerContactMs.set(from, nowMs)
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

  /**
   * A snapshot from the leader. One that does not reach past our commit index tells us nothing
   * (we answer with what we have committed, which any current leader holds). A newer one
   * replaces our state through its last index; our entries after it survive only if we hold its
   * last entry with its term (then they continue the same log), as in Raft section 7.
   */
  #onSnapshot(from: NodeId, m: Extract<RaftMessage, { type: 'snapshot' }>, nowMs: number): void {
    if (m.term < this.#term) {
      this.#send(from, { type: 'appendResponse', term: this.#term, success: false, matchIndex: 0 })
      return
    }
    assert.ok(this.#role !== 'leader', 'two leaders in one term')
    this.#becomeFollower(m.term, from, nowMs)
    this.#leaderContactMs = nowMs
    if (m.lastIndex <= this.#commitIndex) {
      this.#send(from, { type: 'appendResponse', term: this.#term, success: true, matchIndex: this.#commitIndex })
      return
    }
    assert.ok(m.lastTerm <= m.term, 'a snapshot holds no entry of a later term than its leader')
    const keep = this.termAt(m.lastIndex) === m.lastTerm
    this.#log = keep ? this.#log.slice(m.lastIndex - this.#snapshotIndex) : []
    this.#snapshotIndex = m.lastIndex
    this.#snapshotTerm = m.lastTerm
    this.#commitIndex = m.lastIndex
    this.#applied = m.lastIndex
    this.#out.installSnapshot = { lastIndex: m.lastIndex, lastTerm: m.lastTerm, data: m.data }
    // The output is applied snapshot first: log changes not persisted yet and at or below the
    // snapshot are moot, and when our entries after it were dropped the driver's must go too.
    const log = this.#out.log
    const truncated = !keep || (log.truncateFrom !== null && log.truncateFrom <= m.lastIndex)
    log.truncateFrom = truncated ? m.lastIndex + 1 : log.truncateFrom
    log.append = keep ? log.append.filter((a) => a.index > m.lastIndex) : []
    this.#out.committed = this.#out.committed.filter((c) => c.index > m.lastIndex)
    this.#send(from, { type: 'appendResponse', term: this.#term, success: true, matchIndex: m.lastIndex })
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
      this.#out.committed.push({ index: this.#applied, entry: this.entryAt(this.#applied)! })
    }
  }
}

function emptyOutput(): Output {
  return { hardState: null, installSnapshot: null, log: { truncateFrom: null, append: [] }, messages: [], committed: [] }
}
