// The consumer's group session: subscribe() and the membership glue (client/group/membership.ts
// runs the JoinGroup / SyncGroup / Heartbeat protocol; this installs and revokes what it assigns),
// commits (commit(), auto-commit, transactionOffsets()) and lag(). Kafka's ConsumerCoordinator.
// Callers: consumer.ts (the facade) for the public group calls and close(); the membership's hooks
// for revoke, lost, assigned and failed; the hand-out (hand-out.ts), through the facade, when a
// batch is processed (auto-commit).
//
// Decisions (at-least-once by default):
// - Auto-commit (on by default with a groupId) commits processed offsets every
//   autoCommitIntervalMs, before a rebalance takes partitions away, and at close(); commit()
//   commits on demand. Commits run one at a time, in order, so an older offset never lands after a
//   newer one.
// - A rebalance revokes every partition (the eager protocol): no batch is handed out, the batch
//   in hand is waited for (up to the rebalance timeout), processed offsets are committed, and only
//   then does the member rejoin. So a partition is never read by two members of one generation,
//   and its new owner starts right after what the old one processed.
// - A newly assigned partition starts at the group's committed offset; without one, at the log
//   start (subscribe's fromBeginning) or the log end (the default, as kafkajs).

import type { Cluster } from '../cluster.js'
import { ClosedError, IllegalStateError, InvalidArgumentError, StrandProtocolError } from '../errors.js'
import type { AssignedPartition, Assignor } from '../group/assignors.js'
import { GroupCoordinator, type CoordinatorConnectionOptions } from '../group/coordinator.js'
import { CommitFailedError, type PartitionCommitResult } from '../group/errors.js'
import { Membership } from '../group/membership.js'
import { commitOffsets, fetchCommitted, highWatermarks, NO_GENERATION, offsetKey as offsetKeyOf, type GroupGeneration, type OffsetRequestOptions } from '../group/offsets.js'
import type { HandOut } from './hand-out.js'
import { tpKey, type SubscriptionState } from './subscription-state.js'
import type { CommitOffset, ConsumerBatch, PartitionLag, SubscribeOptions, TopicPartitionOffset } from './types.js'

/** Kafka's limit on a group id's length is the topic name's; ours is a sanity bound on a string sent in every group request. */
const GROUP_ID_LENGTH_MAX = 255

/** Throws for a group id that is not a string of 1 to GROUP_ID_LENGTH_MAX characters. */
export function checkGroupId(groupId: string | undefined): string | undefined {
  if (groupId === undefined) return undefined
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > GROUP_ID_LENGTH_MAX) {
    throw new InvalidArgumentError(`groupId must be a string of 1 to ${GROUP_ID_LENGTH_MAX} characters, got ${JSON.stringify(groupId)}.`)
  }
  return groupId
}

function checkTopics(topics: unknown): string[] {
  if (!Array.isArray(topics) || topics.length === 0 || !topics.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new InvalidArgumentError('subscribe() needs { topics: [...] } with at least one topic name.')
  }
  return [...new Set(topics as string[])]
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000')
}

export interface GroupSessionOptions {
  cluster: Cluster
  clock: () => number
  requestTimeoutMs: number
  /** Settings of the coordinator's own connection. */
  connection: CoordinatorConnectionOptions
  /** From consumer({ groupId }), checked (checkGroupId); subscribe() may give it instead. */
  groupId: string | undefined
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  rebalanceTimeoutMs: number
  autoCommit: boolean
  autoCommitIntervalMs: number
  assignors: Assignor[]
  subscriptions: SubscriptionState
  handOut: HandOut
  /** Replaces the assignment: the fetcher drops what it fetched for the old one and starts on the new. */
  assign: (partitions: readonly TopicPartitionOffset[], committed: ReadonlyMap<string, bigint | null>) => void
}

export class GroupSession {
  readonly #cluster: Cluster
  readonly #clock: () => number
  readonly #requestTimeoutMs: number
  readonly #connectionOptions: CoordinatorConnectionOptions
  readonly #sessionTimeoutMs: number
  readonly #heartbeatIntervalMs: number
  readonly #rebalanceTimeoutMs: number
  readonly #autoCommit: boolean
  readonly #autoCommitIntervalMs: number
  readonly #assignors: Assignor[]
  readonly #subscriptions: SubscriptionState
  readonly #handOut: HandOut
  readonly #assign: GroupSessionOptions['assign']
  /** The consumer group, from the options or subscribe(). */
  #groupId: string | undefined
  /** The way to the group's coordinator; created with the first group request. */
  #coordinator: GroupCoordinator | null = null
  /** Group membership, from the first subscribe(). */
  #membership: Membership | null = null
  /** subscribe()'s fromBeginning: where partitions without a committed offset start. */
  #fromBeginning = false
  /** subscribe()'s rebalance callbacks. */
  #listener: Pick<SubscribeOptions, 'onAssigned' | 'onRevoked'> = {}
  /** Bumped by every revoke, loss and assignment: a slower install of an older one is dropped. */
  #assignmentToken = 0
  /** subscribe() calls waiting for the next assignment to be installed. */
  #assignedWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = []
  /** Commits run one at a time, in order, so an older offset never lands after a newer one. */
  #commitQueue: Promise<unknown> = Promise.resolve()
  #autoCommitTimer: NodeJS.Timeout | null = null
  #closed = false

  constructor(options: GroupSessionOptions) {
    this.#cluster = options.cluster
    this.#clock = options.clock
    this.#requestTimeoutMs = options.requestTimeoutMs
    this.#connectionOptions = options.connection
    this.#groupId = options.groupId
    this.#sessionTimeoutMs = options.sessionTimeoutMs
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs
    this.#rebalanceTimeoutMs = options.rebalanceTimeoutMs
    this.#autoCommit = options.autoCommit
    this.#autoCommitIntervalMs = options.autoCommitIntervalMs
    this.#assignors = options.assignors
    this.#subscriptions = options.subscriptions
    this.#handOut = options.handOut
    this.#assign = options.assign
  }

  /** The consumer group (from the options or subscribe()), if any. */
  get groupId(): string | undefined {
    return this.#groupId
  }

  /** subscribe() was called: the group, not assign(), gives this consumer its partitions. */
  get subscribed(): boolean {
    return this.#membership !== null
  }

  /** Consumer.subscribe(): joins the group (or changes the topics) and resolves once the assignment is installed. */
  async subscribe(options: SubscribeOptions): Promise<void> {
    if (this.#closed) throw new ClosedError('consumer')
    const topics = checkTopics(options?.topics)
    this.#useGroupId(options.groupId)
    if (this.#groupId === undefined) throw new InvalidArgumentError('subscribe() needs a groupId: consumer({ groupId }) or subscribe({ groupId }).')
    if (this.#membership === null && this.#subscriptions.size > 0) {
      throw new IllegalStateError('This consumer has partitions from assign(); a consumer either assigns its partitions or subscribes.')
    }
    this.#fromBeginning = options.fromBeginning === true
    this.#listener = { onAssigned: options.onAssigned, onRevoked: options.onRevoked }
    const current = this.#membership
    const unchanged = current !== null && current.state !== 'failed' && sameTopics(current.topics, topics)
    // The same subscription again changes nothing: no rebalance for it.
    if (unchanged && current.generation() !== null && current.state === 'stable') return
    const assigned = new Promise<void>((resolve, reject) => this.#assignedWaiters.push({ resolve, reject }))
    // Unchanged but mid-rebalance: that rebalance ends with an assignment for this subscription.
    if (!unchanged) {
      if (current === null || current.state === 'failed') {
        this.#membership = this.#newMembership(topics)
        this.#membership.start()
      } else {
        current.setTopics(topics)
      }
    }
    await assigned
  }

  /** Consumer.commit(): commits as the current generation, after the commits before it. */
  async commit(offsets?: ConsumerBatch | readonly CommitOffset[]): Promise<void> {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#groupId === undefined) throw new IllegalStateError('commit() needs a groupId: consumer({ groupId }).')
    const { list, refused } = this.#offsetsToCommit(offsets)
    const generation = this.#currentGeneration()
    if (generation === null) {
      const err = new StrandProtocolError('REBALANCE_IN_PROGRESS', 'The consumer is between generations: its partitions are being reassigned.')
      throw new CommitFailedError([...refused, ...list.map((o) => ({ ...o, error: err }))])
    }
    const results = list.length === 0 ? [] : await this.#commitInOrder(generation, () => list)
    if (refused.length > 0 || results.some((r) => r.error !== null)) throw new CommitFailedError([...refused, ...results])
  }

  /** Consumer.transactionOffsets(): the group, member and generation a transaction commits the offsets as (KIP-447). */
  transactionOffsets(offsets?: ConsumerBatch | readonly CommitOffset[]): { groupId: string; generationId: number; memberId: string; offsets: CommitOffset[] } {
    if (this.#closed) throw new ClosedError('consumer')
    if (this.#groupId === undefined) throw new IllegalStateError('Sending offsets to a transaction needs a consumer with a groupId.')
    const { list, refused } = this.#offsetsToCommit(offsets)
    if (refused.length > 0) throw refused[0]!.error
    const generation = this.#currentGeneration()
    if (generation === null) throw new StrandProtocolError('REBALANCE_IN_PROGRESS', 'The consumer is between generations: its partitions are being reassigned.')
    return { groupId: this.#groupId, generationId: generation.generationId, memberId: generation.memberId, offsets: list }
  }

  /** Consumer.lag(): high watermarks against the group's committed offsets. */
  async lag(): Promise<PartitionLag[]> {
    if (this.#closed) throw new ClosedError('consumer')
    const partitions = this.#subscriptions.assignment()
    if (partitions.length === 0) return []
    const options = this.#offsetOptions()
    const [hws, committed] = await Promise.all([
      highWatermarks(this.#cluster, partitions, options),
      this.#groupId === undefined ? Promise.resolve([]) : fetchCommitted(this.#groupCoordinator(), partitions, options),
    ])
    const committedByKey = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c.offset]))
    return partitions.map(({ topic, partition }) => {
      const highWatermark = hws.get(offsetKeyOf(topic, partition)) ?? 0n
      const c = committedByKey.get(tpKey(topic, partition)) ?? null
      const position = this.#subscriptions.find(topic, partition)?.offset ?? null
      return { topic, partition, highWatermark, committed: c, position, lag: c === null ? null : highWatermark > c ? highWatermark - c : 0n }
    })
  }

  #useGroupId(groupId: string | undefined): void {
    const g = checkGroupId(groupId)
    if (g === undefined) return
    if (this.#groupId !== undefined && this.#groupId !== g) throw new InvalidArgumentError(`This consumer is in group "${this.#groupId}"; subscribe() named "${g}".`)
    this.#groupId = g
  }

  #groupCoordinator(): GroupCoordinator {
    this.#coordinator ??= new GroupCoordinator({ cluster: this.#cluster, groupId: this.#groupId as string, connection: this.#connectionOptions })
    return this.#coordinator
  }

  #offsetOptions(): OffsetRequestOptions {
    return { retry: this.#cluster.retryOptions, requestTimeoutMs: this.#requestTimeoutMs }
  }

  /** The generation to commit as: a member's current one, NO_GENERATION for assign(), null mid-rebalance. */
  #currentGeneration(): GroupGeneration | null {
    return this.#membership === null ? NO_GENERATION : this.#membership.generation()
  }

  #newMembership(topics: string[]): Membership {
    return new Membership({
      coordinator: this.#groupCoordinator(),
      topics,
      assignors: this.#assignors,
      sessionTimeoutMs: this.#sessionTimeoutMs,
      rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
      heartbeatIntervalMs: this.#heartbeatIntervalMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      retry: this.#cluster.retryOptions,
      clock: this.#clock,
      partitionCounts: (t) => this.#partitionCounts(t),
      hooks: {
        revoke: (generation) => this.#revoke(generation),
        lost: () => {
          const partitions = this.#subscriptions.assignment()
          this.#dropAssignment()
          void this.#callListener(() => this.#listener.onRevoked?.(partitions, { lost: true }))
        },
        assigned: (partitions) => void this.#install(partitions, ++this.#assignmentToken),
        failed: (err) => {
          this.#dropAssignment()
          this.#handOut.surface(err)
          for (const w of this.#assignedWaiters.splice(0)) w.reject(err)
        },
      },
    })
  }

  async #partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    await this.#cluster.refresh(topics)
    return new Map(topics.map((t) => [t, this.#cluster.cachedTopic(t)?.partitions.length ?? 0]))
  }

  /**
   * The membership gives every partition up before rejoining: stop handing out, wait for the
   * batch in hand, commit what was processed, drop the assignment.
   */
  async #revoke(generation: GroupGeneration): Promise<void> {
    this.#subscriptions.beginRevoke()
    this.#assignmentToken++
    try {
      this.#handOut.clear()
      // The coordinator started its rebalance timeout up to a heartbeat interval before this
      // member heard of it, and the commit and JoinGroup need time too: keep a margin.
      await this.#handOut.waitForInHand(Math.max(0, this.#rebalanceTimeoutMs - 2 * this.#heartbeatIntervalMs))
      // A failed commit (the generation already gone) only means some records are read again
      // by the partition's next owner: at-least-once still holds, so it does not stop the rejoin.
      if (this.#autoCommit) await this.#commitProcessed(generation).catch(() => undefined)
      const partitions = this.#subscriptions.assignment()
      if (partitions.length > 0) await this.#callListener(() => this.#listener.onRevoked?.(partitions, { lost: false }))
    } finally {
      this.#dropAssignment()
      this.#subscriptions.endRevoke()
    }
  }

  #dropAssignment(): void {
    this.#assignmentToken++
    this.#assign([], new Map())
  }

  /** A new generation's partitions: look up their committed offsets, then start reading. */
  async #install(partitions: AssignedPartition[], token: number): Promise<void> {
    const stale = (): boolean => token !== this.#assignmentToken || this.#closed
    let committed: Map<string, bigint | null>
    try {
      // Retried until it works or stops mattering: the partitions sit idle meanwhile.
      const found = partitions.length === 0 ? [] : await fetchCommitted(this.#groupCoordinator(), partitions, { ...this.#offsetOptions(), retriesMax: Number.POSITIVE_INFINITY, cancelled: stale })
      committed = new Map(found.map((c) => [tpKey(c.topic, c.partition), c.offset]))
    } catch (err) {
      if (stale()) return
      this.#handOut.surface(err as Error)
      for (const w of this.#assignedWaiters.splice(0)) w.reject(err as Error)
      return
    }
    if (stale()) return
    const reset = this.#fromBeginning ? 'earliest' : 'latest'
    this.#assign(partitions.map((tp) => ({ ...tp, offset: committed.get(tpKey(tp.topic, tp.partition)) ?? reset })), committed)
    this.#handOut.wake()
    await this.#callListener(() => this.#listener.onAssigned?.(this.#subscriptions.assignment()))
    for (const w of this.#assignedWaiters.splice(0)) w.resolve()
  }

  /** Runs a rebalance callback; what it throws is thrown from the consuming loop. */
  async #callListener(call: () => void | Promise<void>): Promise<void> {
    try {
      await call()
    } catch (err) {
      this.#handOut.surface(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** What commit() was asked to commit; batches of partitions no longer this consumer's are refused. */
  #offsetsToCommit(offsets: ConsumerBatch | readonly CommitOffset[] | undefined): { list: CommitOffset[]; refused: PartitionCommitResult[] } {
    if (offsets === undefined) {
      return { list: this.#subscriptions.positions(), refused: [] }
    }
    if (Array.isArray(offsets)) {
      for (const o of offsets) {
        if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || typeof o.offset !== 'bigint' || o.offset < 0n) {
          throw new InvalidArgumentError(`Not an offset to commit: ${JSON.stringify({ topic: o?.topic, partition: o?.partition, offset: String(o?.offset) })}.`)
        }
      }
      return { list: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })), refused: [] }
    }
    const r = this.#handOut.batchEnd(offsets as ConsumerBatch)
    if (r === undefined) throw new InvalidArgumentError('commit(batch) takes a batch this consumer handed out.')
    const offset = { topic: r.state.topic, partition: r.state.partition, offset: r.nextOffset }
    if (this.#subscriptions.isAssigned(r.state)) return { list: [offset], refused: [] }
    const error = new IllegalStateError(`${r.state.topic}-${r.state.partition} was reassigned after this batch was handed out; its new owner commits it now.`)
    return { list: [], refused: [{ ...offset, error }] }
  }

  /** Commits processed offsets not committed yet (auto-commit, revoke, close). */
  #commitProcessed(generation: GroupGeneration): Promise<PartitionCommitResult[]> {
    return this.#commitInOrder(generation, () => this.#subscriptions.uncommitted())
  }

  /**
   * Runs a commit after those before it. `offsets` is evaluated when its turn comes, so an
   * auto-commit sends the latest processed offsets. Successes update each partition's committed
   * offset; group errors go to the membership (which rejoins).
   */
  #commitInOrder(generation: GroupGeneration, offsets: () => CommitOffset[]): Promise<PartitionCommitResult[]> {
    const run = async (): Promise<PartitionCommitResult[]> => {
      const list = offsets()
      if (list.length === 0) return []
      const results = await commitOffsets(this.#groupCoordinator(), generation, list, this.#offsetOptions())
      for (const r of results) {
        if (r.error === null) this.#subscriptions.committed(r.topic, r.partition, r.offset)
        else this.#membership?.reportError(r.error, generation)
      }
      return results
    }
    const next = this.#commitQueue.then(run, run)
    this.#commitQueue = next.catch(() => undefined)
    return next
  }

  /** A batch was processed: commit it within autoCommitIntervalMs (one timer for all of them). */
  scheduleAutoCommit(): void {
    if (!this.#autoCommit || this.#groupId === undefined || this.#autoCommitTimer !== null || this.#closed) return
    this.#autoCommitTimer = setTimeout(() => {
      this.#autoCommitTimer = null
      const generation = this.#currentGeneration()
      // Mid-rebalance there is nothing to do: the revoke commits.
      if (generation !== null) void this.#commitProcessed(generation).catch(() => undefined)
    }, this.#autoCommitIntervalMs)
  }

  /**
   * Ends the session: no more auto-commits, subscribe() calls still waiting are refused, processed
   * offsets are committed (auto-commit), and the member leaves its group (so it rebalances at once
   * rather than after the session timeout) before the coordinator's connection closes.
   */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#autoCommitTimer !== null) clearTimeout(this.#autoCommitTimer)
    this.#autoCommitTimer = null
    for (const w of this.#assignedWaiters.splice(0)) w.reject(new ClosedError('consumer'))
    try {
      const generation = this.#currentGeneration()
      if (this.#autoCommit && this.#groupId !== undefined && generation !== null) await this.#commitProcessed(generation).catch(() => undefined)
      await this.#membership?.close()
    } finally {
      this.#coordinator?.close()
    }
  }
}
