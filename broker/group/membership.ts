// The group membership state machine (Kafka's GroupCoordinator membership half): JoinGroup,
// SyncGroup, Heartbeat and LeaveGroup on a group the coordinator has already routed to this
// broker, with the rebalance and session timers that move a group on when members do not.
//
//   Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
//     ^                    ^   |                                     | leader's SyncGroup
//     |                    |   +--------- member leaves / dies ------+ (assignment written)
//     +--- last member ----+                                         v
//          leaves                                                 Stable
//
// Only the GroupCoordinator calls it (coordinator.ts), after routing (NOT_COORDINATOR and the
// like are its answers, never this module's). Writes go through `writeGroup`, which resolves once
// the offsets partition's ISR has the record; the group becomes Stable only after the leader's
// assignment is written, so a coordinator taking over never hands out a generation it lacks.
//
// Invariants: a member waits in at most one JoinGroup and one SyncGroup (a retry replaces the
// earlier one, which is answered); a member waiting in a join has no session timer running, and
// every other member of a live group has one.

import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { errorCodeOf, toWireCode } from '../../client/protocol/errors.js'
import type { HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse } from '../../client/protocol/messages/groups.js'
import { unpinned } from '../../client/protocol/primitives.js'
import { joinError, ownProtocols, syncError, type Group, type GroupTimers, type Member } from './group.js'

export interface MembershipOptions {
  initialRebalanceDelayMs: number
  minSessionTimeoutMs: number
  maxSessionTimeoutMs: number
  groupMaxSize: number
  timers: GroupTimers
  /** Appends the group's generation and assignment to its offsets partition, resolving once committed. */
  writeGroup: (g: Group) => Promise<void>
  logger: Logger
}

export class GroupMembership {
  readonly #o: MembershipOptions
  readonly #timers: GroupTimers
  readonly #logger: Logger

  constructor(options: MembershipOptions) {
    this.#o = options
    this.#timers = options.timers
    this.#logger = options.logger
  }

  join(g: Group, req: JoinGroupRequest, client: { clientId: string; clientHost: string }): Promise<JoinGroupResponse> {
    const { minSessionTimeoutMs, maxSessionTimeoutMs } = this.#o
    if (req.sessionTimeoutMs < minSessionTimeoutMs || req.sessionTimeoutMs > maxSessionTimeoutMs) return Promise.resolve(joinError('INVALID_SESSION_TIMEOUT', req.memberId))
    if (req.rebalanceTimeoutMs < 0) return Promise.resolve(joinError('INVALID_REQUEST', req.memberId))
    if (req.protocolType.length === 0 || req.protocols.length === 0) return Promise.resolve(joinError('INCONSISTENT_GROUP_PROTOCOL', req.memberId))
    if (g.members.size > 0 && g.protocolType !== null && g.protocolType !== req.protocolType) return Promise.resolve(joinError('INCONSISTENT_GROUP_PROTOCOL', req.memberId))
    if (g.members.size > 0 && !sharesProtocol(g, req.protocols.map((p) => p.name))) return Promise.resolve(joinError('INCONSISTENT_GROUP_PROTOCOL', req.memberId))
    let member: Member | undefined
    if (req.memberId === '') {
      if (g.members.size >= this.#o.groupMaxSize) return Promise.resolve(joinError('GROUP_MAX_SIZE_REACHED'))
      member = newMember(req, client)
      g.members.set(member.memberId, member)
      this.#logger.info({ group: g.id, memberId: member.memberId, members: g.members.size }, 'member joined')
    } else {
      member = g.members.get(req.memberId)
      if (member === undefined) return Promise.resolve(joinError('UNKNOWN_MEMBER_ID', req.memberId))
      member.protocols = ownProtocols(req.protocols)
      member.sessionTimeoutMs = req.sessionTimeoutMs
      member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    }
    const m = member
    // A rejoin replaces a join still waiting (a client retry).
    m.awaitingJoin?.(joinError('UNKNOWN_MEMBER_ID', m.memberId))
    const answer = new Promise<JoinGroupResponse>((resolve) => (m.awaitingJoin = resolve))
    if (m.sessionTimer !== null) this.#timers.clearTimeout(m.sessionTimer)
    m.sessionTimer = null
    if (g.state !== 'PreparingRebalance') this.#prepareRebalance(g, `member ${m.memberId} joined`)
    else this.#maybeCompleteJoin(g)
    return answer
  }

  #prepareRebalance(g: Group, reason: string): void {
    for (const m of g.members.values()) {
      m.awaitingSync?.(syncError('REBALANCE_IN_PROGRESS'))
      m.awaitingSync = null
    }
    const initial = g.state === 'Empty'
    g.state = 'PreparingRebalance'
    if (g.rebalanceTimer !== null) this.#timers.clearTimeout(g.rebalanceTimer)
    const rebalanceTimeoutMs = Math.max(0, ...[...g.members.values()].map((m) => m.rebalanceTimeoutMs))
    const waitMs = initial ? Math.min(this.#o.initialRebalanceDelayMs, rebalanceTimeoutMs) : rebalanceTimeoutMs
    g.initialDelay = initial
    g.rebalanceTimer = this.#timers.setTimeout(() => {
      g.initialDelay = false
      this.#completeJoin(g)
    }, waitMs)
    this.#logger.info({ group: g.id, generation: g.generation, reason }, 'preparing rebalance')
    if (!initial) this.#maybeCompleteJoin(g)
  }

  /** Completes the join phase once every member has rejoined (not before the initial delay of an empty group). */
  #maybeCompleteJoin(g: Group): void {
    if (g.state !== 'PreparingRebalance' || g.initialDelay) return
    if ([...g.members.values()].every((m) => m.awaitingJoin !== null)) this.#completeJoin(g)
  }

  #completeJoin(g: Group): void {
    if (g.state !== 'PreparingRebalance') return
    if (g.rebalanceTimer !== null) this.#timers.clearTimeout(g.rebalanceTimer)
    g.rebalanceTimer = null
    for (const m of [...g.members.values()]) {
      if (m.awaitingJoin !== null) continue
      this.#removeMember(g, m, 'it did not rejoin within the rebalance timeout')
    }
    g.generation++
    if (g.members.size === 0) {
      g.state = 'Empty'
      g.protocolName = null
      g.leader = null
      void this.#o.writeGroup(g).catch(() => undefined)
      return
    }
    const members = [...g.members.values()]
    if (g.leader === null || !g.members.has(g.leader)) g.leader = members[0]!.memberId
    const leader = g.members.get(g.leader)!
    g.protocolType = leader.protocolType
    g.protocolName = leader.protocols.find((p) => members.every((m) => m.protocols.some((q) => q.name === p.name)))?.name ?? leader.protocols[0]!.name
    g.state = 'CompletingRebalance'
    this.#logger.info({ group: g.id, generation: g.generation, members: members.length, protocol: g.protocolName, leader: g.leader }, 'rebalance: generation formed')
    for (const m of members) {
      const isLeader = m.memberId === g.leader
      const answer: JoinGroupResponse = {
        throttleTimeMs: 0,
        errorCode: 0,
        generationId: g.generation,
        protocolType: g.protocolType,
        protocolName: g.protocolName,
        leader: g.leader,
        memberId: m.memberId,
        members: isLeader ? members.map((x) => ({ memberId: x.memberId, groupInstanceId: x.groupInstanceId, metadata: x.protocols.find((p) => p.name === g.protocolName)?.metadata ?? Buffer.alloc(0) })) : [],
      }
      const resolve = m.awaitingJoin!
      m.awaitingJoin = null
      this.touch(g, m)
      resolve(answer)
    }
  }

  #removeMember(g: Group, m: Member, why: string): void {
    if (m.sessionTimer !== null) this.#timers.clearTimeout(m.sessionTimer)
    m.sessionTimer = null
    g.members.delete(m.memberId)
    m.awaitingJoin?.(joinError('UNKNOWN_MEMBER_ID', m.memberId))
    m.awaitingSync?.(syncError('UNKNOWN_MEMBER_ID'))
    this.#logger.info({ group: g.id, memberId: m.memberId, why }, 'member removed')
  }

  /** Restarts a member's session timer: it is removed if nothing is heard of it within its session timeout. */
  touch(g: Group, m: Member): void {
    if (m.sessionTimer !== null) this.#timers.clearTimeout(m.sessionTimer)
    m.sessionTimer = this.#timers.setTimeout(
      () => {
        m.sessionTimer = null
        if (g.state === 'Dead' || g.members.get(m.memberId) !== m || m.awaitingJoin !== null) return
        this.#removeMember(g, m, `no heartbeat within its session timeout (${m.sessionTimeoutMs} ms)`)
        this.#afterDeparture(g)
      },
      m.sessionTimeoutMs,
      { unref: true },
    )
  }

  #afterDeparture(g: Group): void {
    if (g.state === 'PreparingRebalance') this.#maybeCompleteJoin(g)
    else if (g.state === 'Stable' || g.state === 'CompletingRebalance') this.#prepareRebalance(g, 'a member left')
    if (g.members.size === 0 && g.state !== 'PreparingRebalance') g.state = 'Empty'
  }

  /** SyncGroup on `g` (undefined: not known here). The leader's assignment is written before anyone is answered with it. */
  async sync(g: Group | undefined, req: SyncGroupRequest): Promise<SyncGroupResponse> {
    const m = g?.members.get(req.memberId)
    if (g === undefined || m === undefined) return syncError('UNKNOWN_MEMBER_ID')
    if (req.generationId !== g.generation) return syncError('ILLEGAL_GENERATION')
    if (g.state === 'PreparingRebalance') return syncError('REBALANCE_IN_PROGRESS')
    this.touch(g, m)
    if (g.state === 'Stable') return syncAnswer(g, m)
    // CompletingRebalance: wait for the leader's assignment.
    m.awaitingSync?.(syncError('REBALANCE_IN_PROGRESS'))
    const answer = new Promise<SyncGroupResponse>((resolve) => (m.awaitingSync = resolve))
    if (req.memberId === g.leader) this.#installAssignment(g, req.assignments)
    return answer
  }

  /** The leader's assignment: written, then every waiting member is answered (Stable), or, if the write fails, the group rebalances again. */
  #installAssignment(group: Group, given: SyncGroupRequest['assignments']): void {
    const assignments = new Map(given.map((a) => [a.memberId, unpinned(a.assignment)]))
    const generation = group.generation
    for (const member of group.members.values()) member.assignment = assignments.get(member.memberId) ?? Buffer.alloc(0)
    this.#o.writeGroup(group).then(
      () => {
        if (group.state !== 'CompletingRebalance' || group.generation !== generation) return
        group.state = 'Stable'
        this.#logger.info({ group: group.id, generation }, 'group stable')
        for (const member of group.members.values()) {
          const resolve = member.awaitingSync
          member.awaitingSync = null
          resolve?.(syncAnswer(group, member))
        }
      },
      (err: unknown) => {
        if (group.state !== 'CompletingRebalance' || group.generation !== generation) return
        this.#logger.warn({ group: group.id, err: (err as Error).message }, 'writing the group assignment failed; rebalancing again')
        for (const member of group.members.values()) {
          member.awaitingSync?.(syncError(toWireCode(err)))
          member.awaitingSync = null
        }
        this.#prepareRebalance(group, 'the assignment could not be written')
      },
    )
  }

  /** Heartbeat on `g` (undefined: not known here): the wire error code, 0 when the member is in the current, settled generation. */
  heartbeat(g: Group | undefined, req: HeartbeatRequest): number {
    const m = g?.members.get(req.memberId)
    if (g === undefined || m === undefined) return errorCodeOf('UNKNOWN_MEMBER_ID')
    if (req.generationId !== g.generation) return errorCodeOf('ILLEGAL_GENERATION')
    this.touch(g, m)
    if (g.state === 'PreparingRebalance') return errorCodeOf('REBALANCE_IN_PROGRESS')
    return 0
  }

  /** LeaveGroup on `g` (undefined: not known here): each named member's outcome; the group rebalances if any left. */
  leave(g: Group | undefined, req: LeaveGroupRequest): LeaveGroupResponse {
    const members = req.members.map((x) => {
      const m = g?.members.get(x.memberId)
      if (g === undefined || m === undefined) return { memberId: x.memberId, groupInstanceId: x.groupInstanceId, errorCode: errorCodeOf('UNKNOWN_MEMBER_ID') }
      this.#removeMember(g, m, 'it left the group')
      return { memberId: x.memberId, groupInstanceId: x.groupInstanceId, errorCode: 0 }
    })
    if (g !== undefined && members.some((m) => m.errorCode === 0)) this.#afterDeparture(g)
    return { throttleTimeMs: 0, errorCode: 0, members }
  }

  /** The group is no longer coordinated here: its timers stop and whoever waits is told NOT_COORDINATOR. */
  drop(g: Group): void {
    g.state = 'Dead'
    if (g.rebalanceTimer !== null) this.#timers.clearTimeout(g.rebalanceTimer)
    for (const m of g.members.values()) {
      if (m.sessionTimer !== null) this.#timers.clearTimeout(m.sessionTimer)
      m.awaitingJoin?.(joinError('NOT_COORDINATOR', m.memberId))
      m.awaitingSync?.(syncError('NOT_COORDINATOR'))
    }
  }
}

function sharesProtocol(g: Group, names: readonly string[]): boolean {
  return [...g.members.values()].every((m) => m.protocols.some((p) => names.includes(p.name)))
}

function syncAnswer(g: Group, m: Member): SyncGroupResponse {
  return { throttleTimeMs: 0, errorCode: 0, protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment }
}

/** A member joining with no id: its id is minted here, unique across coordinators (a UUID). */
function newMember(req: JoinGroupRequest, client: { clientId: string; clientHost: string }): Member {
  return {
    memberId: `${client.clientId || 'member'}-${randomUUID()}`,
    groupInstanceId: req.groupInstanceId,
    clientId: client.clientId,
    clientHost: client.clientHost,
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    protocolType: req.protocolType,
    protocols: ownProtocols(req.protocols),
    assignment: Buffer.alloc(0),
    awaitingJoin: null,
    awaitingSync: null,
    sessionTimer: null,
  }
}
