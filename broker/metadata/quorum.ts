// A broker's seat in the metadata quorum: drives the Raft core (raft.ts) with a clock, persists
// what it decides (quorum-state file, metadata log) BEFORE sending the messages that depend on it,
// and carries its messages to the other voters over the wire (Vote and AppendEntries requests,
// whose responses are fed back in).
//
// Every call into the core is followed by `#drain`, which queues the output on one promise chain:
// outputs are persisted and sent strictly in the order the core produced them.

import type { Logger } from 'pino'
import { Connection } from '../../client/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, StrandProtocolError } from '../../client/protocol/errors.js'
import type { AppendEntriesRequest, AppendEntriesResponse, DescribeQuorumResponse, VoteRequest, VoteResponse } from '../../client/protocol/messages/quorum.js'
import { readQuorumState, writeQuorumState } from './quorum-state.js'
import { RaftNode, type NodeId, type Output, type RaftMessage } from './raft.js'
import { RaftStorage } from './raft-storage.js'
import { MetadataImage, MetadataImageError } from './image.js'
import { decodeMetadataEntry, encodeMetadataEntry, MetadataRecordError, type MetadataRecord } from './records.js'

/** How often the core's timers are checked; well below the heartbeat interval. */
const TICK_INTERVAL_MS = 10
/** Entries per AppendEntries request, so catching up a lagging voter takes bounded steps. */
const APPEND_ENTRIES_MAX = 256
/** A voter's connection: frames bounded by what APPEND_ENTRIES_MAX entries can hold. */
const VOTER_FRAME_BYTES_MAX = 64 * 1024 * 1024

export interface Voter {
  nodeId: NodeId
  host: string
  port: number
}

/** Parses `controller.quorum.voters` ("1@host:9092,2@host:9093"). */
export function parseVoters(text: string): Voter[] {
  return text.split(',').map((part) => {
    const m = /^(\d+)@([^@,\s:]+):(\d{1,5})$/.exec(part.trim())
    if (m === null) throw new Error(`Bad voter "${part}": expected id@host:port.`)
    return { nodeId: Number(m[1]), host: m[2]!, port: Number(m[3]) }
  })
}

export interface QuorumOptions {
  nodeId: NodeId
  voters: readonly Voter[]
  /** `<dataDir>/__cluster_metadata-0`: the quorum-state file and the metadata log. */
  dir: string
  electionTimeoutMs: number
  heartbeatIntervalMs: number
  clock: () => number
  logger: Logger
}

export class QuorumNode {
  readonly #options: QuorumOptions
  readonly #node: RaftNode
  readonly #storage: RaftStorage
  readonly #logger: Logger
  readonly #connections = new Map<NodeId, Connection>()
  /** Tail of the persist-then-send chain. */
  #chain: Promise<unknown> = Promise.resolve()
  #timer: NodeJS.Timeout | null = null
  #closed = false
  /** Last role and term logged, so changes are logged once. */
  #reported = ''
  /** Brokers, topics and partitions as of the last committed record (rebuilt by replay on start). */
  readonly image = new MetadataImage()
  /** Proposals of this leader awaiting commit, by Raft index. */
  readonly #pending = new Map<number, { term: number; resolve: (index: number) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>()
  /** Entries in the log at startup: the image is caught up once it has applied them all. */
  #lastIndexAtStart = 0
  #caughtUpWaiters: Array<() => void> = []
  readonly #committedListeners = new Set<(index: number, records: readonly MetadataRecord[]) => void>()

  private constructor(options: QuorumOptions, node: RaftNode, storage: RaftStorage) {
    this.#options = options
    this.#node = node
    this.#storage = storage
    this.#logger = options.logger.child({ subsystem: 'raft' })
  }

  static async start(options: QuorumOptions): Promise<QuorumNode> {
    const ids = options.voters.map((v) => v.nodeId)
    if (!ids.includes(options.nodeId)) throw new Error(`node.id ${options.nodeId} is not among controller.quorum.voters (${ids.join(', ')}).`)
    const hardState = await readQuorumState(options.dir)
    const storage = await RaftStorage.open(options.dir, { clock: options.clock, logger: options.logger })
    const log = await storage.loadEntries()
    const node = new RaftNode(
      {
        id: options.nodeId,
        voters: ids,
        electionTimeoutMsMin: options.electionTimeoutMs,
        electionTimeoutMsMax: options.electionTimeoutMs * 2,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        appendEntriesMax: APPEND_ENTRIES_MAX,
        random: Math.random,
      },
      { hardState, log },
      options.clock(),
    )
    const quorum = new QuorumNode(options, node, storage)
    quorum.#lastIndexAtStart = log.length
    quorum.#logger.info({ nodeId: options.nodeId, term: hardState.term, votedFor: hardState.votedFor, entries: log.length, voters: ids }, 'quorum voter started')
    quorum.#timer = setInterval(() => quorum.#tick(), TICK_INTERVAL_MS)
    quorum.#timer.unref()
    return quorum
  }

  #tick(): void {
    if (this.#closed) return
    this.#node.tick(this.#options.clock())
    void this.#drain()
  }

  /**
   * Queues the core's output: persist the vote and the log, then send. Resolves once this output
   * is durable (and its messages handed to the network).
   */
  #drain(): Promise<Output> {
    const out = this.#node.drain()
    this.#reportRole()
    const step = this.#chain.then(async () => {
      if (out.hardState !== null) await writeQuorumState(this.#options.dir, out.hardState)
      if (out.log.truncateFrom !== null) await this.#storage.truncateFrom(out.log.truncateFrom)
      await this.#storage.append(out.log.append)
      for (const { to, message } of out.messages) this.#send(to, message)
      for (const { index, entry } of out.committed) this.#applyCommitted(index, entry.term, entry.data)
      return out
    })
    this.#chain = step.catch((err: unknown) => this.#logger.error({ err }, 'quorum persistence failed'))
    return step
  }

  /**
   * Applies a committed entry to the image and settles the proposal at its index: committed with
   * the proposal's term means it is the proposal; another term means it was overwritten.
   */
  #applyCommitted(index: number, term: number, data: Buffer): void {
    this.#applyEntry(index, term, data)
    if (index >= this.#lastIndexAtStart && this.#caughtUpWaiters.length > 0) {
      for (const w of this.#caughtUpWaiters.splice(0)) w()
    }
  }

  /**
   * Resolves once the image has applied every entry this voter had on disk when it started (at
   * once for a new voter): until then it would describe an older cluster.
   */
  caughtUp(): Promise<void> {
    if (this.image.appliedIndex >= this.#lastIndexAtStart) return Promise.resolve()
    return new Promise((resolve) => this.#caughtUpWaiters.push(resolve))
  }

  #applyEntry(index: number, term: number, data: Buffer): void {
    const pending = this.#pending.get(index)
    if (pending !== undefined) {
      this.#pending.delete(index)
      clearTimeout(pending.timer)
      if (pending.term === term) pending.resolve(index)
      else pending.reject(new StrandProtocolError('NOT_CONTROLLER', `Leadership moved before entry ${index} committed; retry against the new controller.`))
    }
    if (data.length === 0) {
      this.image.appliedIndex = index // a leader's no-op
      return
    }
    let records: MetadataRecord[]
    try {
      records = decodeMetadataEntry(data)
    } catch (err) {
      if (!(err instanceof MetadataRecordError)) throw err
      this.image.appliedIndex = index
      this.#logger.warn({ index, err: err.message }, 'committed metadata entry does not decode; skipped')
      return
    }
    for (const refused of this.image.applyEntry(index, records)) this.#logger.warn({ index, err: refused.message }, 'committed metadata record refused by the image')
    for (const l of this.#committedListeners) l(index, records)
  }

  /** Calls `listener` for every committed entry applied to the image from now on. */
  onCommitted(listener: (index: number, records: readonly MetadataRecord[]) => void): () => void {
    this.#committedListeners.add(listener)
    return () => this.#committedListeners.delete(listener)
  }

  /**
   * Proposes records as one entry (applied together); resolves with its Raft index once committed
   * and applied. Only the leader
   * (the active controller) may propose: elsewhere NOT_CONTROLLER, which the caller retries
   * against the leader. Rejects with NOT_CONTROLLER if leadership moves before the commit, and
   * REQUEST_TIMED_OUT after `timeoutMs` (the record may still commit later).
   */
  propose(records: MetadataRecord | readonly MetadataRecord[], timeoutMs: number): Promise<number> {
    if (this.#closed || this.#node.role !== 'leader') {
      return Promise.reject(new StrandProtocolError('NOT_CONTROLLER', `Node ${this.#options.nodeId} is not the active controller (leader: ${this.#node.leaderId ?? 'unknown'}).`))
    }
    const term = this.#node.term
    const index = this.#node.propose(encodeMetadataEntry(Array.isArray(records) ? records : [records as MetadataRecord]), this.#options.clock())
    if (index === null) return Promise.reject(new StrandProtocolError('NOT_CONTROLLER', 'Leadership was lost.'))
    const committed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(index)
        reject(new StrandProtocolError('REQUEST_TIMED_OUT', `Metadata record ${index} did not commit within ${timeoutMs} ms.`))
      }, timeoutMs)
      this.#pending.set(index, { term, resolve, reject, timer })
    })
    void this.#drain()
    return committed
  }

  #reportRole(): void {
    const now = `${this.#node.role}/${this.#node.term}/${this.#node.leaderId}`
    if (now === this.#reported) return
    this.#reported = now
    this.#logger.info({ role: this.#node.role, term: this.#node.term, leaderId: this.#node.leaderId }, 'quorum role changed')
  }

  #connection(to: NodeId): Connection | null {
    let c = this.#connections.get(to)
    if (c !== undefined) return c
    const voter = this.#options.voters.find((v) => v.nodeId === to)
    if (voter === undefined) return null
    c = new Connection({
      host: voter.host,
      port: voter.port,
      clientId: `raft-${this.#options.nodeId}`,
      connectTimeoutMs: this.#options.electionTimeoutMs,
      requestTimeoutMs: this.#options.electionTimeoutMs,
      inflightRequestsMax: 16,
      frameBytesMax: VOTER_FRAME_BYTES_MAX,
    })
    this.#connections.set(to, c)
    return c
  }

  /** Sends a request message; its response is fed back into the core. Failures are dropped (Raft retries). */
  #send(to: NodeId, message: RaftMessage): void {
    const conn = this.#connection(to)
    if (conn === null || this.#closed) return
    if (message.type === 'vote') {
      const body: VoteRequest = { term: message.term, candidateId: this.#options.nodeId, lastLogIndex: BigInt(message.lastLogIndex), lastLogTerm: message.lastLogTerm }
      conn.request(ApiKey.Vote, body).then(
        (res) => this.#onResponse(to, { type: 'voteResponse', term: res.term, granted: res.granted }),
        (err: unknown) => this.#logger.debug({ to, err: (err as Error).message }, 'vote request failed'),
      )
    } else if (message.type === 'append') {
      const body: AppendEntriesRequest = {
        term: message.term,
        leaderId: this.#options.nodeId,
        prevLogIndex: BigInt(message.prevLogIndex),
        prevLogTerm: message.prevLogTerm,
        leaderCommit: BigInt(message.leaderCommit),
        entries: message.entries,
      }
      conn.request(ApiKey.AppendEntries, body).then(
        (res) => this.#onResponse(to, { type: 'appendResponse', term: res.term, success: res.success, matchIndex: Number(res.matchIndex) }),
        (err: unknown) => this.#logger.debug({ to, err: (err as Error).message }, 'append request failed'),
      )
    }
    // voteResponse / appendResponse travel as RPC responses (see #answer), never as requests.
  }

  #onResponse(from: NodeId, message: RaftMessage): void {
    if (this.#closed) return
    this.#node.receive(from, message, this.#options.clock())
    void this.#drain()
  }

  /** Feeds an inbound request to the core and returns the response it produced, once durable. */
  async #answer(from: NodeId, message: RaftMessage): Promise<RaftMessage | null> {
    this.#node.receive(from, message, this.#options.clock())
    const out = await this.#drain()
    const reply = out.messages.find((m) => m.to === from && (m.message.type === 'voteResponse' || m.message.type === 'appendResponse'))
    return reply?.message ?? null
  }

  #isVoter(id: number): boolean {
    return id !== this.#options.nodeId && this.#options.voters.some((v) => v.nodeId === id)
  }

  async handleVote(req: VoteRequest): Promise<VoteResponse> {
    if (!this.#isVoter(req.candidateId)) return { errorCode: errorCodeOf('INCONSISTENT_VOTER_SET'), term: this.#node.term, granted: false }
    const stale = req.term < this.#node.term
    const reply = await this.#answer(req.candidateId, { type: 'vote', term: req.term, lastLogIndex: Number(req.lastLogIndex), lastLogTerm: req.lastLogTerm })
    const granted = reply?.type === 'voteResponse' && reply.granted
    return { errorCode: stale ? errorCodeOf('FENCED_LEADER_EPOCH') : 0, term: this.#node.term, granted }
  }

  async handleAppendEntries(req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
    if (!this.#isVoter(req.leaderId)) return { errorCode: errorCodeOf('INCONSISTENT_VOTER_SET'), term: this.#node.term, success: false, matchIndex: 0n }
    const stale = req.term < this.#node.term
    const reply = await this.#answer(req.leaderId, {
      type: 'append',
      term: req.term,
      prevLogIndex: Number(req.prevLogIndex),
      prevLogTerm: req.prevLogTerm,
      entries: req.entries,
      leaderCommit: Number(req.leaderCommit),
    })
    const ok = reply?.type === 'appendResponse' ? reply : { success: false, matchIndex: 0 }
    return { errorCode: stale ? errorCodeOf('FENCED_LEADER_EPOCH') : 0, term: this.#node.term, success: ok.success, matchIndex: BigInt(ok.matchIndex) }
  }

  describe(): DescribeQuorumResponse {
    return {
      errorCode: 0,
      nodeId: this.#options.nodeId,
      role: this.#node.role,
      term: this.#node.term,
      leaderId: this.#node.leaderId ?? -1,
      commitIndex: BigInt(this.#node.commitIndex),
      lastIndex: BigInt(this.#node.lastIndex),
      voters: this.#options.voters.map((v) => ({ nodeId: v.nodeId, host: v.host, port: v.port })),
    }
  }

  get leaderId(): NodeId | null {
    return this.#node.leaderId
  }

  /** The listener address of a voter (voters are brokers: the same host and port). */
  voterAddress(id: NodeId): Voter | undefined {
    return this.#options.voters.find((v) => v.nodeId === id)
  }

  get isLeader(): boolean {
    return this.#node.role === 'leader'
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    for (const c of this.#connections.values()) c.close()
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer)
      p.reject(new StrandProtocolError('NOT_CONTROLLER', 'The broker is shutting down.'))
    }
    this.#pending.clear()
    await this.#chain
    await this.#storage.close()
  }
}
