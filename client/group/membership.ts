// A consumer's membership of its group: the JoinGroup / SyncGroup / Heartbeat / LeaveGroup state
// machine, with its own heartbeat timer. It knows nothing of fetching: it tells its owner, through
// hooks, when to give partitions up (revoke, lost) and which to take (assigned).
//
//            requestRejoin              JoinGroup sent           JoinGroup answered
//   unjoined ────────────▶ [revoking] ───────────────▶ joining ───────────────────▶ syncing
//                              ▲          (only when                                   │
//                              │        holding partitions)             SyncGroup answered
//                              └──── stable ◀──────────────────────────────────────────┘
//   (any) ─ fatal error ─▶ failed      (any) ─ close() ─▶ closed
//
// Decisions:
// - Eager protocol, as Kafka's range and round-robin assignors use: every partition is revoked
//   (revoke hook: the owner finishes the batch in hand and commits) before JoinGroup is sent, so
//   no partition is ever read by two members of one generation.
// - Heartbeats run on their own timer in 'stable' and 'revoking', whatever the application's
//   handler is doing, so a slow handler does not get the member evicted. While revoking they keep
//   the session alive (the coordinator answers REBALANCE_IN_PROGRESS, which counts as alive) for
//   up to the rebalance timeout the coordinator waits for this member. They stop while JoinGroup
//   or SyncGroup is in flight: the coordinator holds those answers and does not expire the member
//   meanwhile. A handler that blocks the event loop (synchronous CPU work) stops heartbeats too;
//   nothing in one JS thread can prevent that.
// - UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION (from a heartbeat, a commit or a sync) mean the
//   group went on without this member: its partitions are lost (no commit, they may already be
//   someone else's), and it rejoins with member id ''. So does a member that got no heartbeat
//   answer for a whole session timeout: the coordinator has evicted it by then.
// - The first member to join is the leader only for that generation; the leader checks the
//   subscribed topics' partition counts every TOPIC_CHECK_INTERVAL_MS and starts a rebalance
//   when one changed (a topic created, partitions added).

import { ApiKey } from '../protocol/apis.js'
import type { JoinGroupResponse, SyncGroupRequest } from '../protocol/messages/groups.js'
import { backoffMs, type RetryOptions } from '../cluster.js'
import { ClosedError, errorFromCode, StrandError, StrandProtocolError } from '../errors.js'
import { runAssignor, type AssignedPartition, type Assignor } from './assignors.js'
import { isCoordinatorError, type GroupCoordinator } from './coordinator.js'
import type { GroupGeneration } from './offsets.js'
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from './protocol.js'

/**
 * How often the leader compares the subscribed topics' partition counts with those it assigned.
 * Kafka waits for a metadata refresh (metadata.max.age.ms, 5 minutes); a topic created after its
 * consumers start should be picked up sooner than that, and one Metadata request per group
 * leader every 5 s costs little.
 */
export const TOPIC_CHECK_INTERVAL_MS = 5_000

export type MembershipState = 'unjoined' | 'revoking' | 'joining' | 'syncing' | 'stable' | 'failed' | 'closed'

export interface MembershipHooks {
  /**
   * Give up every partition before rejoining: finish the work in hand and commit (as
   * `generation`, still valid while this runs). Heartbeats continue meanwhile.
   */
  revoke(generation: GroupGeneration): Promise<void>
  /** The member was evicted: drop every partition at once, without committing. */
  lost(): void
  /** The partitions of a new generation. */
  assigned(partitions: AssignedPartition[], generation: GroupGeneration): void
  /** A permanent error (INVALID_GROUP_ID, INCONSISTENT_GROUP_PROTOCOL...): the membership stopped. */
  failed(err: StrandError): void
}

export interface MembershipOptions {
  coordinator: GroupCoordinator
  topics: readonly string[]
  /** In order of preference; the coordinator picks the first every member supports. */
  assignors: readonly Assignor[]
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  heartbeatIntervalMs: number
  requestTimeoutMs: number
  retry: RetryOptions
  clock: () => number
  /** How often the leader checks partition counts; default TOPIC_CHECK_INTERVAL_MS. */
  topicCheckIntervalMs?: number
  /** Partition counts of topics (0 or absent: the topic does not exist), for the leader's assignment. */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>
  hooks: MembershipHooks
}

/** Thrown inside the rebalance flow to go straight back to JoinGroup, without a backoff. */
class RejoinNow extends Error {}

/** Join errors after which retrying cannot help: the membership stops and the owner is told. */
function isFatal(err: StrandError): boolean {
  return !err.retriable && !(err instanceof ClosedError)
}

interface Waiter {
  resolve: () => void
  reject: (err: Error) => void
}

export class Membership {
  readonly #o: MembershipOptions
  /** Topics subscribed to. */
  #topics: readonly string[]
  /** Given by the coordinator at the first join; '' before it and after an eviction. */
  #memberId = ''
  /** The generation joined; -1 when none. */
  #generationId = -1
  #state: MembershipState = 'unjoined'
  /** The owner holds this generation's partitions: they must be revoked before rejoining. */
  #owned = false
  /** A JoinGroup is wanted; cleared when one is sent, so requests before that share it. */
  #rejoinNeeded = false
  /** The rebalance flow in progress (revoke, join, sync), if any. */
  #flow: Promise<void> | null = null
  /** Wakes the flow out of its backoff (close). */
  #wake: (() => void) | null = null
  /** Failed attempts in a row, for the backoff. */
  #failures = 0
  #heartbeatTimer: NodeJS.Timeout | null = null
  #heartbeatInFlight = false
  /** When the last heartbeat that proved the session alive was sent (clock ms). */
  #aliveAtMs = 0
  /** As leader: the topics and partition counts assigned, and when they were last checked. */
  #leaderView: { topics: string[]; counts: Map<string, number>; checkedAtMs: number } | null = null
  #checkingTopics = false
  /** Callers of joined() waiting for the next stable generation. */
  #waiters: Waiter[] = []
  #fatal: StrandError | null = null

  constructor(options: MembershipOptions) {
    this.#o = options
    this.#topics = [...options.topics]
  }

  get state(): MembershipState {
    return this.#state
  }

  /** The topics subscribed to. */
  get topics(): readonly string[] {
    return this.#topics
  }

  get memberId(): string {
    return this.#memberId
  }

  /** The generation whose partitions the owner holds (stable or revoking), else null. */
  generation(): GroupGeneration | null {
    if ((this.#state !== 'stable' && this.#state !== 'revoking') || this.#generationId < 0) return null
    return { generationId: this.#generationId, memberId: this.#memberId }
  }

  /** Joins the group (in the background; see joined()). */
  start(): void {
    this.requestRejoin()
  }

  /** Resolves when the member next reaches a stable generation; rejects on a fatal error or close. */
  joined(): Promise<void> {
    if (this.#fatal !== null) return Promise.reject(this.#fatal)
    if (this.#state === 'closed') return Promise.reject(new ClosedError('group membership'))
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  setTopics(topics: readonly string[]): void {
    this.#topics = [...topics]
    this.requestRejoin()
  }

  /** Starts a rebalance (revoke, join, sync) unless one is about to send its JoinGroup anyway. */
  requestRejoin(): void {
    if (this.#state === 'closed' || this.#state === 'failed') return
    this.#rejoinNeeded = true
    this.#flow ??= this.#runFlow().finally(() => {
      this.#flow = null
    })
  }

  /**
   * A group error seen outside the membership (a commit's ILLEGAL_GENERATION...), for
   * `generation`: acted on only if that generation is still the current one.
   */
  reportError(err: StrandError, generation: GroupGeneration): void {
    if (this.generation() === null || generation.generationId !== this.#generationId || generation.memberId !== this.#memberId) return
    if (err.code === 'UNKNOWN_MEMBER_ID' || err.code === 'ILLEGAL_GENERATION') this.#lose()
    else if (err.code === 'REBALANCE_IN_PROGRESS' && this.#state === 'stable') this.requestRejoin()
  }

  /** Leaves the group (LeaveGroup, so it rebalances at once) and stops. Errors are ignored. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return
    const inJoin = this.#state === 'joining' || this.#state === 'syncing'
    this.#state = 'closed'
    this.#stopHeartbeats()
    this.#wake?.()
    for (const w of this.#waiters.splice(0)) w.reject(new ClosedError('group membership'))
    // A JoinGroup or SyncGroup may be held by the coordinator for the whole rebalance timeout:
    // drop its connection rather than queue the LeaveGroup behind it.
    if (inJoin) this.#o.coordinator.reset()
    const memberId = this.#memberId
    this.#memberId = ''
    this.#generationId = -1
    if (memberId !== '') {
      await this.#o.coordinator
        .request(ApiKey.LeaveGroup, { groupId: this.#o.coordinator.groupId, members: [{ memberId, groupInstanceId: null }] }, { timeoutMs: this.#o.requestTimeoutMs })
        .catch(() => undefined)
    }
    await this.#flow?.catch(() => undefined)
  }

  // -------------------------------------------------------------------------------------------
  // The rebalance flow

  get #active(): boolean {
    return this.#state !== 'closed' && this.#state !== 'failed'
  }

  async #runFlow(): Promise<void> {
    while (this.#rejoinNeeded && this.#active) {
      try {
        await this.#rebalanceOnce()
        this.#failures = 0
      } catch (e) {
        if (!this.#active) return
        this.#rejoinNeeded = true
        if (e instanceof RejoinNow) continue
        const err = e instanceof StrandError ? e : new StrandProtocolError('UNKNOWN_SERVER_ERROR', (e as Error).message, e)
        if (isCoordinatorError(err)) this.#o.coordinator.reset()
        if (isFatal(err)) {
          this.#fail(err)
          return
        }
        this.#failures++
        await this.#pause(backoffMs(this.#o.retry, this.#failures))
      }
    }
  }

  async #rebalanceOnce(): Promise<void> {
    if (this.#owned) {
      this.#state = 'revoking'
      await this.#o.hooks.revoke({ generationId: this.#generationId, memberId: this.#memberId })
      this.#owned = false
      if (!this.#active) return
    }
    this.#state = 'joining'
    this.#stopHeartbeats()
    this.#rejoinNeeded = false
    const joined = await this.#join()
    if (!this.#active) return
    this.#state = 'syncing'
    const partitions = await this.#sync(joined)
    if (!this.#active) return
    this.#state = 'stable'
    this.#owned = true
    this.#aliveAtMs = this.#o.clock()
    this.#scheduleHeartbeat(this.#o.heartbeatIntervalMs)
    this.#o.hooks.assigned(partitions, { generationId: this.#generationId, memberId: this.#memberId })
    for (const w of this.#waiters.splice(0)) w.resolve()
  }

  async #join(): Promise<JoinGroupResponse> {
    const metadata = encodeSubscription({ topics: [...this.#topics], ownedPartitions: [], userData: null })
    const res = await this.#o.coordinator.request(
      ApiKey.JoinGroup,
      {
        groupId: this.#o.coordinator.groupId,
        sessionTimeoutMs: this.#o.sessionTimeoutMs,
        rebalanceTimeoutMs: this.#o.rebalanceTimeoutMs,
        memberId: this.#memberId,
        groupInstanceId: null,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocols: this.#o.assignors.map((a) => ({ name: a.name, metadata })),
      },
      // The coordinator answers when the rebalance completes, up to the rebalance timeout.
      { timeoutMs: this.#o.rebalanceTimeoutMs + this.#o.requestTimeoutMs },
    )
    const err = errorFromCode(res.errorCode)
    if (err !== null) {
      if (err.code === 'MEMBER_ID_REQUIRED') {
        // Kafka's two-step join (KIP-394): rejoin with the id given. Our coordinator assigns it in
        // one step, but a client should not depend on that.
        this.#memberId = res.memberId
        throw new RejoinNow()
      }
      this.#onGenerationError(err)
      throw err
    }
    this.#memberId = res.memberId
    this.#generationId = res.generationId
    return res
  }

  async #sync(joined: JoinGroupResponse): Promise<AssignedPartition[]> {
    const assignments = joined.leader === joined.memberId ? await this.#assign(joined) : []
    if (joined.leader !== joined.memberId) this.#leaderView = null
    const body: SyncGroupRequest = {
      groupId: this.#o.coordinator.groupId,
      generationId: joined.generationId,
      memberId: joined.memberId,
      groupInstanceId: null,
      protocolType: CONSUMER_PROTOCOL_TYPE,
      protocolName: joined.protocolName,
      assignments,
    }
    // Members wait here for the leader's SyncGroup, which may take the leader's assignment time.
    const res = await this.#o.coordinator.request(ApiKey.SyncGroup, body, { timeoutMs: this.#o.rebalanceTimeoutMs + this.#o.requestTimeoutMs })
    const err = errorFromCode(res.errorCode)
    if (err !== null) {
      this.#onGenerationError(err)
      throw err
    }
    return decodeAssignment(res.assignment).partitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
  }

  /** JoinGroup or SyncGroup failed: errors that only need a new JoinGroup become RejoinNow. */
  #onGenerationError(err: StrandProtocolError): void {
    if (err.code === 'UNKNOWN_MEMBER_ID' || err.code === 'ILLEGAL_GENERATION') {
      this.#memberId = ''
      this.#generationId = -1
      throw new RejoinNow()
    }
    if (err.code === 'REBALANCE_IN_PROGRESS') throw new RejoinNow()
  }

  /** The leader's part: run the chosen assignor over every member's subscription. */
  async #assign(joined: JoinGroupResponse): Promise<SyncGroupRequest['assignments']> {
    const assignor = this.#o.assignors.find((a) => a.name === joined.protocolName)
    if (assignor === undefined) {
      throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `The coordinator chose assignor "${joined.protocolName}", which this member does not have.`)
    }
    const members = joined.members.map((m) => ({ memberId: m.memberId, topics: decodeSubscription(m.metadata).topics }))
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    const counts = await this.#o.partitionCounts(topics)
    const result = runAssignor(assignor, members, counts)
    this.#leaderView = { topics, counts, checkedAtMs: this.#o.clock() }
    return members.map((m) => ({ memberId: m.memberId, assignment: encodeAssignment({ partitions: groupByTopic(result.get(m.memberId) ?? []), userData: null }) }))
  }

  #fail(err: StrandError): void {
    this.#state = 'failed'
    this.#fatal = err
    this.#stopHeartbeats()
    if (this.#owned) {
      this.#owned = false
      this.#o.hooks.lost()
    }
    for (const w of this.#waiters.splice(0)) w.reject(err)
    this.#o.hooks.failed(err)
  }

  /** The group went on without this member: drop everything and join afresh. */
  #lose(): void {
    this.#memberId = ''
    this.#generationId = -1
    this.#stopHeartbeats()
    if (this.#owned && this.#state === 'stable') {
      this.#owned = false
      this.#o.hooks.lost()
    }
    // While revoking, the revoke hook is running: its commit fails and the flow goes on to join.
    this.requestRejoin()
  }

  /** Waits `ms`, or less if close() wakes it. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = done
    })
  }

  // -------------------------------------------------------------------------------------------
  // Heartbeats

  #scheduleHeartbeat(delayMs: number): void {
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer)
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeatTimer = null
      void this.#heartbeat()
    }, Math.max(0, delayMs))
  }

  #stopHeartbeats(): void {
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer)
    this.#heartbeatTimer = null
  }

  async #heartbeat(): Promise<void> {
    if ((this.#state !== 'stable' && this.#state !== 'revoking') || this.#generationId < 0 || this.#heartbeatInFlight) return
    const sentAtMs = this.#o.clock()
    const generationId = this.#generationId
    const memberId = this.#memberId
    let err: StrandError | null
    this.#heartbeatInFlight = true
    try {
      const res = await this.#o.coordinator.request(
        ApiKey.Heartbeat,
        { groupId: this.#o.coordinator.groupId, generationId, memberId, groupInstanceId: null },
        // Longer than a session is pointless: the coordinator has evicted the member by then.
        { timeoutMs: Math.min(this.#o.requestTimeoutMs, this.#o.sessionTimeoutMs) },
      )
      err = errorFromCode(res.errorCode)
    } catch (e) {
      err = e instanceof StrandError ? e : new StrandProtocolError('UNKNOWN_SERVER_ERROR', (e as Error).message, e)
    } finally {
      this.#heartbeatInFlight = false
    }
    const current = (this.#state === 'stable' || this.#state === 'revoking') && generationId === this.#generationId && memberId === this.#memberId
    if (!current) return
    const retryAtMs = this.#onHeartbeat(err, sentAtMs)
    if (this.#state === 'stable' || this.#state === 'revoking') this.#scheduleHeartbeat(retryAtMs - this.#o.clock())
  }

  /** Acts on a heartbeat's outcome; returns when to send the next one (clock ms). */
  #onHeartbeat(err: StrandError | null, sentAtMs: number): number {
    const nextAtMs = sentAtMs + this.#o.heartbeatIntervalMs
    if (err === null || err.code === 'REBALANCE_IN_PROGRESS') {
      this.#aliveAtMs = sentAtMs
      if (err !== null && this.#state === 'stable') this.requestRejoin()
      if (err === null) this.#checkTopics()
      return nextAtMs
    }
    if (err.code === 'UNKNOWN_MEMBER_ID' || err.code === 'ILLEGAL_GENERATION') {
      this.#lose()
      return nextAtMs
    }
    if (this.#o.clock() - this.#aliveAtMs >= this.#o.sessionTimeoutMs) {
      // No answer for a whole session: the coordinator has evicted this member by now.
      this.#lose()
      return nextAtMs
    }
    if (isCoordinatorError(err)) this.#o.coordinator.reset()
    // Find the coordinator again soon, but no more often than the retry backoff allows.
    return Math.min(nextAtMs, this.#o.clock() + this.#o.retry.retryBackoffMs)
  }

  /** As leader, start a rebalance when a subscribed topic's partition count changed. */
  #checkTopics(): void {
    const view = this.#leaderView
    if (view === null || this.#checkingTopics || this.#o.clock() - view.checkedAtMs < (this.#o.topicCheckIntervalMs ?? TOPIC_CHECK_INTERVAL_MS)) return
    this.#checkingTopics = true
    view.checkedAtMs = this.#o.clock()
    void this.#o
      .partitionCounts(view.topics)
      .then((counts) => {
        const changed = view.topics.some((t) => (counts.get(t) ?? 0) !== (view.counts.get(t) ?? 0))
        if (changed && this.#leaderView === view && this.#state === 'stable') this.requestRejoin()
      })
      .catch(() => undefined)
      .finally(() => {
        this.#checkingTopics = false
      })
  }
}

function groupByTopic(partitions: readonly AssignedPartition[]): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>()
  for (const tp of partitions) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition])
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list.sort((a, b) => a - b) }))
}
