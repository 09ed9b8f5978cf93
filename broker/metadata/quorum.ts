// A broker's seat in the metadata quorum: drives the Raft core (raft.ts) with a clock, persists
// what it decides (quorum-state file, metadata log) BEFORE sending the messages that depend on it,
// and carries its messages to the other voters over the wire (Vote and AppendEntries requests,
// whose responses are fed back in).
//
// Every call into the core is followed by `#drain`, which queues the output on one promise chain:
// outputs are persisted and sent strictly in the order the core produced them.
//
// Snapshots: once `metadata.snapshot.entries` entries have been applied since the last snapshot,
// the image is written as a snapshot file (snapshot.ts), the core forgets the entries it covers,
// and whole log segments below the older of the two kept snapshots are deleted. A voter that
// needs entries the leader no longer holds gets the leader's newest snapshot (InstallSnapshot),
// persists it, and replaces its image with it before answering. At startup the newest snapshot
// loads into the image and the entries after it are replayed as they commit.

import type { Logger } from 'pino'
import { Connection } from '../../client/net/connection.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, StrandProtocolError } from '../../client/protocol/errors.js'
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  DescribeQuorumResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  PreVoteRequest,
  PreVoteResponse,
  VoteRequest,
  VoteResponse,
} from '../../client/protocol/messages/quorum.js'
import { readQuorumState, writeQuorumState } from './quorum-state.js'
import { RaftNode, type NodeId, type Output, type RaftMessage, type SnapshotPoint } from './raft.js'
import { RaftStorage } from './raft-storage.js'
import { MetadataImage, MetadataImageError } from './image.js'
import { decodeMetadataEntry, encodeMetadataEntry, MetadataRecordError, type MetadataRecord } from './records.js'
import { loadNewestSnapshot, pruneSnapshots, SNAPSHOTS_KEPT, SnapshotError, writeSnapshot, type Snapshot } from './snapshot.js'

/** How often the core's timers are checked; well below the heartbeat interval. */
const TICK_INTERVAL_MS = 10
/** Entries per AppendEntries request, so catching up a lagging voter takes bounded steps. */
const APPEND_ENTRIES_MAX = 256
/** A voter's connection: frames bounded by what APPEND_ENTRIES_MAX entries can hold. */
const VOTER_FRAME_BYTES_MAX = 64 * 1024 * 1024
/**
 * Largest snapshot sent in one InstallSnapshot request: within the voter frame bound and the
 * default max.request.bytes. A metadata image this large would need chunked transfer, which is
 * not built; a larger one is not sent (and says so in the log).
 */
const SNAPSHOT_BYTES_MAX = 32 * 1024 * 1024
/** An InstallSnapshot request writes and fsyncs a file before it is answered: more patience than a heartbeat. */
const SNAPSHOT_REQUEST_TIMEOUT_MS = 30_000

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
  /** Snapshot the image after this many applied entries (metadata.snapshot.entries). */
  snapshotEntries: number
  /** metadata.log.segment.bytes */
  logSegmentBytes: number
  /** TLS and SASL of the connections to the other voters. */
  security: SecurityOptions
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
  readonly #snapshotListeners = new Set<(index: number) => void>()
  /** The newest snapshot persisted (taken here or installed from the leader): what a lagging voter is sent. */
  #snapshot: Snapshot | null = null
  /** Term of the entry at `image.appliedIndex`: a snapshot taken now ends with it. */
  #appliedTerm = 0
  /** Voters with an InstallSnapshot request outstanding: one at a time each, not one per heartbeat. */
  readonly #snapshotsInFlight = new Set<NodeId>()
  /** Last snapshot index reported as too large to send, so it is logged once. */
  #oversizeReported = 0

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
    const storage = await RaftStorage.open(options.dir, { clock: options.clock, logger: options.logger, segmentBytes: options.logSegmentBytes })
    let loaded: Awaited<ReturnType<typeof QuorumNode.loadSnapshot>>
    let log: Awaited<ReturnType<RaftStorage['loadAfter']>>
    try {
      loaded = await QuorumNode.loadSnapshot(options, storage)
      log = await storage.loadAfter(loaded.point)
    } catch (err) {
      await storage.close()
      throw err
    }
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
      { hardState, log, snapshot: loaded.point },
      options.clock(),
    )
    const quorum = new QuorumNode(options, node, storage)
    quorum.image.replaceWith(loaded.image)
    quorum.#snapshot = loaded.snapshot
    quorum.#appliedTerm = loaded.point.lastTerm
    quorum.#lastIndexAtStart = node.lastIndex
    quorum.#logger.info(
      { nodeId: options.nodeId, term: hardState.term, votedFor: hardState.votedFor, snapshotIndex: loaded.point.lastIndex, entries: log.length, voters: ids },
      'quorum voter started',
    )
    quorum.#timer = setInterval(() => quorum.#tick(), TICK_INTERVAL_MS)
    quorum.#timer.unref()
    return quorum
  }

  /**
   * The newest snapshot on disk and the image it holds (an empty image without one). A damaged
   * snapshot is passed over only when the log still covers it (snapshot.ts), and said loudly.
   */
  private static async loadSnapshot(options: QuorumOptions, storage: RaftStorage): Promise<{ point: SnapshotPoint; snapshot: Snapshot | null; image: MetadataImage }> {
    const { snapshot, skipped } = await loadNewestSnapshot(options.dir, storage.range())
    const logger = options.logger.child({ subsystem: 'raft' })
    for (const s of skipped) logger.error({ file: s.file, reason: s.reason }, 'damaged metadata snapshot passed over; the metadata log still holds everything it held')
    if (snapshot === null) return { point: { lastIndex: 0, lastTerm: 0 }, snapshot: null, image: new MetadataImage() }
    let image: MetadataImage
    try {
      image = MetadataImage.fromRecords(decodeMetadataEntry(snapshot.data), snapshot.lastIndex)
    } catch (err) {
      if (!(err instanceof MetadataRecordError || err instanceof MetadataImageError)) throw err
      throw new SnapshotError(`The metadata snapshot at ${snapshot.lastIndex} passes its CRC but does not load: ${err.message}`)
    }
    logger.info({ lastIndex: snapshot.lastIndex, lastTerm: snapshot.lastTerm, bytes: snapshot.data.length }, 'loaded metadata snapshot')
    return { point: { lastIndex: snapshot.lastIndex, lastTerm: snapshot.lastTerm }, snapshot, image }
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
      if (out.installSnapshot !== null) await this.#installSnapshot(out.installSnapshot)
      if (out.log.truncateFrom !== null) await this.#storage.truncateFrom(out.log.truncateFrom)
      await this.#storage.append(out.log.append)
      for (const { to, message } of out.messages) this.#send(to, message)
      for (const { index, entry } of out.committed) this.#applyCommitted(index, entry.term, entry.data)
      await this.#maybeSnapshot()
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
    this.#appliedTerm = term
    this.#wakeCaughtUpWaiters()
  }

  #wakeCaughtUpWaiters(): void {
    if (this.image.appliedIndex >= this.#lastIndexAtStart && this.#caughtUpWaiters.length > 0) {
      for (const w of this.#caughtUpWaiters.splice(0)) w()
    }
  }

  /**
   * Once `snapshotEntries` entries have been applied since the newest snapshot: writes the image
   * as of now, lets the core forget the entries it covers, and prunes old snapshots and segments.
   */
  async #maybeSnapshot(): Promise<void> {
    const lastIndex = this.image.appliedIndex
    if (lastIndex - (this.#snapshot?.lastIndex ?? 0) < this.#options.snapshotEntries || this.#closed) return
    const snapshot: Snapshot = { lastIndex, lastTerm: this.#appliedTerm, data: encodeMetadataEntry(this.image.toRecords()) }
    await writeSnapshot(this.#options.dir, snapshot)
    this.#snapshot = snapshot
    this.#node.compact(lastIndex)
    const deletedSegments = await this.#retainSnapshots()
    this.#logger.info({ lastIndex, lastTerm: snapshot.lastTerm, bytes: snapshot.data.length, deletedSegments }, 'wrote metadata snapshot')
  }

  /**
   * Keeps the newest snapshots and the log from the older kept one on, so a damaged newest
   * snapshot can still be rebuilt from the one before it. Returns how many segments went.
   */
  async #retainSnapshots(): Promise<number> {
    const kept = await pruneSnapshots(this.#options.dir)
    const oldest = kept[SNAPSHOTS_KEPT - 1]
    return oldest === undefined ? 0 : this.#storage.deleteBelow(oldest.lastIndex)
  }

  /**
   * The leader's snapshot replaces this voter's state: persisted first, the log made to continue
   * after it, then loaded into the image in place, and everyone following the image told.
   * Checked before the core saw it (handleInstallSnapshot), so it loads.
   */
  async #installSnapshot(s: SnapshotPoint & { data: Buffer | null }): Promise<void> {
    if (s.data === null) throw new Error(`The core installed snapshot ${s.lastIndex} without its data.`)
    const image = MetadataImage.fromRecords(decodeMetadataEntry(s.data), s.lastIndex)
    const snapshot: Snapshot = { lastIndex: s.lastIndex, lastTerm: s.lastTerm, data: s.data }
    await writeSnapshot(this.#options.dir, snapshot)
    await this.#storage.startAfter(s)
    this.#snapshot = snapshot
    this.#appliedTerm = s.lastTerm
    this.image.replaceWith(image)
    for (const [index, pending] of this.#pending) {
      if (index > s.lastIndex) continue
      this.#pending.delete(index)
      clearTimeout(pending.timer)
      pending.reject(new StrandProtocolError('REQUEST_TIMED_OUT', `Entry ${index} was covered by a snapshot from the leader before it applied here; it may have committed.`))
    }
    this.#logger.info({ lastIndex: s.lastIndex, lastTerm: s.lastTerm, bytes: s.data.length, leaderId: this.#node.leaderId }, 'installed metadata snapshot from the leader')
    for (const l of this.#snapshotListeners) l(s.lastIndex)
    this.#wakeCaughtUpWaiters()
    await this.#retainSnapshots()
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

  /**
   * Calls `listener` whenever a snapshot from the leader replaces the image (committed entries are
   * then not seen one by one: read the image).
   */
  onSnapshot(listener: (index: number) => void): () => void {
    this.#snapshotListeners.add(listener)
    return () => this.#snapshotListeners.delete(listener)
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
    const data = encodeMetadataEntry(Array.isArray(records) ? records : [records as MetadataRecord])
    if (data.length > this.#storage.entryBytesMax) {
      return Promise.reject(new StrandProtocolError('RECORD_LIST_TOO_LARGE', `The metadata change is ${data.length} bytes; a metadata log entry holds at most ${this.#storage.entryBytesMax} (metadata.log.segment.bytes).`))
    }
    const index = this.#node.propose(data, this.#options.clock())
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
      security: this.#options.security,
    })
    this.#connections.set(to, c)
    return c
  }

  /** Sends a request message; its response is fed back into the core. Failures are dropped (Raft retries). */
  #send(to: NodeId, message: RaftMessage): void {
    const conn = this.#connection(to)
    if (conn === null || this.#closed) return
    if (message.type === 'preVote') {
      const body: PreVoteRequest = { term: message.term, candidateId: this.#options.nodeId, lastLogIndex: BigInt(message.lastLogIndex), lastLogTerm: message.lastLogTerm }
      conn.request(ApiKey.PreVote, body).then(
        (res) => {
          // A voter that refused at the wire (not a voter, not started) says nothing about its term.
          if (res.errorCode === 0) this.#onResponse(to, { type: 'preVoteResponse', term: res.term, granted: res.granted })
        },
        (err: unknown) => this.#logger.debug({ to, err: (err as Error).message }, 'pre-vote request failed'),
      )
    } else if (message.type === 'vote') {
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
    } else if (message.type === 'snapshot') {
      this.#sendSnapshot(to, conn, message)
    }
    // voteResponse / appendResponse travel as RPC responses (see #answer), never as requests.
  }

  /** The core asked for the snapshot it compacted to: ours on disk, one request per voter at a time. */
  #sendSnapshot(to: NodeId, conn: Connection, message: Extract<RaftMessage, { type: 'snapshot' }>): void {
    const s = this.#snapshot
    // A newer snapshot was written since the core asked: its next heartbeat asks for that one.
    if (s === null || s.lastIndex !== message.lastIndex || s.lastTerm !== message.lastTerm || this.#snapshotsInFlight.has(to)) return
    if (s.data.length > SNAPSHOT_BYTES_MAX) {
      if (this.#oversizeReported !== s.lastIndex) this.#logger.error({ to, lastIndex: s.lastIndex, bytes: s.data.length, max: SNAPSHOT_BYTES_MAX }, 'metadata snapshot too large to send; the voter cannot catch up')
      this.#oversizeReported = s.lastIndex
      return
    }
    this.#snapshotsInFlight.add(to)
    this.#logger.info({ to, lastIndex: s.lastIndex, lastTerm: s.lastTerm, bytes: s.data.length }, 'sending metadata snapshot to a voter behind the log start')
    const body: InstallSnapshotRequest = { term: message.term, leaderId: this.#options.nodeId, lastIndex: BigInt(s.lastIndex), lastTerm: s.lastTerm, data: s.data }
    conn.request(ApiKey.InstallSnapshot, body, { timeoutMs: SNAPSHOT_REQUEST_TIMEOUT_MS }).then(
      (res) => {
        this.#snapshotsInFlight.delete(to)
        this.#onResponse(to, { type: 'appendResponse', term: res.term, success: res.success, matchIndex: Number(res.matchIndex) })
      },
      (err: unknown) => {
        this.#snapshotsInFlight.delete(to)
        this.#logger.debug({ to, err: (err as Error).message }, 'install snapshot request failed')
      },
    )
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
    const reply = out.messages.find((m) => m.to === from && (m.message.type === 'voteResponse' || m.message.type === 'preVoteResponse' || m.message.type === 'appendResponse'))
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

  async handlePreVote(req: PreVoteRequest): Promise<PreVoteResponse> {
    if (!this.#isVoter(req.candidateId)) return { errorCode: errorCodeOf('INCONSISTENT_VOTER_SET'), term: this.#node.term, granted: false }
    const reply = await this.#answer(req.candidateId, { type: 'preVote', term: req.term, lastLogIndex: Number(req.lastLogIndex), lastLogTerm: req.lastLogTerm })
    return { errorCode: 0, term: this.#node.term, granted: reply?.type === 'preVoteResponse' && reply.granted }
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

  /**
   * The leader's snapshot, checked to decode and load before the core sees it: the core gives up
   * its log for a snapshot, so one that cannot load is refused here (CORRUPT_MESSAGE, retriable).
   */
  async handleInstallSnapshot(req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
    const refuse = (code: 'INCONSISTENT_VOTER_SET' | 'INVALID_REQUEST' | 'CORRUPT_MESSAGE'): InstallSnapshotResponse => ({ errorCode: errorCodeOf(code), term: this.#node.term, success: false, matchIndex: 0n })
    if (!this.#isVoter(req.leaderId)) return refuse('INCONSISTENT_VOTER_SET')
    const lastIndex = Number(req.lastIndex)
    if (!Number.isSafeInteger(lastIndex) || lastIndex < 1 || req.lastTerm < 1 || req.lastTerm > req.term) return refuse('INVALID_REQUEST')
    const stale = req.term < this.#node.term
    if (!stale) {
      try {
        MetadataImage.fromRecords(decodeMetadataEntry(req.data), lastIndex)
      } catch (err) {
        if (!(err instanceof MetadataRecordError || err instanceof MetadataImageError)) throw err
        this.#logger.warn({ leaderId: req.leaderId, lastIndex, err: err.message }, 'snapshot from the leader does not load; refused')
        return refuse('CORRUPT_MESSAGE')
      }
    }
    const reply = await this.#answer(req.leaderId, { type: 'snapshot', term: req.term, lastIndex, lastTerm: req.lastTerm, data: req.data })
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

  /**
   * The leader, once an entry of its own term is committed and applied to the image (its no-op):
   * only then does the image hold every entry an earlier leader committed (Raft 5.4.2, and the
   * read-only queries of section 8). A leader elected a moment ago may not have applied the
   * fencing of a broker its predecessor committed, and must not answer that broker's heartbeat
   * from the older image as if it were unfenced.
   */
  get isReadyLeader(): boolean {
    if (this.#node.role !== 'leader') return false
    // Its own no-op, not the commit index of the moment: under a stream of metadata changes the
    // image trails the commit index by an entry or two most of the time, and a check against it
    // refused heartbeats until leases lapsed (a 20 s stall of a CI run).
    const start = this.#node.termStartIndex
    return this.#node.commitIndex >= start && this.image.appliedIndex >= start
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
