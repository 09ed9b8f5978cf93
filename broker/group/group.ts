// One consumer group as its coordinator holds it in memory: members, generation, the chosen
// protocol, committed offsets and the transactional offsets still waiting for their producer's
// marker. Plain state and pure leaf helpers over it; the state machine that moves a group between
// states is membership.ts, the routing, loading and offset storage are coordinator.ts.
//
// Only broker/group calls this. What of a group is durable is what `groupValue` and the offset
// records (records.ts) say: a coordinator taking over rebuilds the rest (timers, waiting requests)
// from nothing.

import { errorCodeOf, type WireErrorName } from '../../client/protocol/errors.js'
import type { JoinGroupRequest, JoinGroupResponse, SyncGroupResponse } from '../../client/protocol/messages/groups.js'
import { unpinned } from '../../client/protocol/primitives.js'
import type { GroupValue } from './records.js'

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead'

/** setTimeout and clearTimeout as the group timers use them; Node's own unless a test drives time itself. */
export interface GroupTimers {
  /** `unref`: the timer does not keep the process alive (a session timer, which nothing awaits). */
  setTimeout(fn: () => void, ms: number, options?: { unref?: boolean }): unknown
  clearTimeout(handle: unknown): void
}

export const NODE_TIMERS: GroupTimers = {
  setTimeout: (fn, ms, options) => {
    const timer = setTimeout(fn, ms)
    if (options?.unref === true) timer.unref()
    return timer
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
}

export interface Member {
  memberId: string
  groupInstanceId: string | null
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocolType: string
  protocols: { name: string; metadata: Buffer }[]
  assignment: Buffer
  /** The JoinGroup answer this member waits for during a rebalance. */
  awaitingJoin: ((res: JoinGroupResponse) => void) | null
  /** The SyncGroup answer this member waits for until the leader's assignment is written. */
  awaitingSync: ((res: SyncGroupResponse) => void) | null
  /** The session timer's handle (GroupTimers), null while none runs (the member waits in a join). */
  sessionTimer: unknown
}

export interface CommittedOffset {
  offset: bigint
  leaderEpoch: number
  metadata: string | null
}

export class Group {
  readonly id: string
  /** The offsets partition the group's records go to (groupPartition). */
  readonly partition: number
  state: GroupState = 'Empty'
  generation = 0
  protocolType: string | null = null
  protocolName: string | null = null
  /** The member that computes the assignment (the first to join a generation, kept while it stays). */
  leader: string | null = null
  readonly members = new Map<string, Member>()
  /** By `topic\0partition`. */
  readonly offsets = new Map<string, CommittedOffset>()
  /** Transactional offsets not decided yet: producer id -> `topic\0partition` -> offset. */
  readonly pendingTxnOffsets = new Map<bigint, Map<string, CommittedOffset>>()
  /** The rebalance timer's handle (GroupTimers), null while none runs. */
  rebalanceTimer: unknown = null
  /** An empty group's first rebalance waits its whole initial delay, so members starting together land in one generation. */
  initialDelay = false

  constructor(id: string, partition: number) {
    this.id = id
    this.partition = partition
  }
}

export function offsetKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

/**
 * The producer's marker reached the group's partition: its pending offsets commit or are dropped.
 * A plain OffsetCommit of the same partition between the transactional one and its marker is
 * overwritten by a commit marker (Kafka orders the two by log offset; a group committing one
 * partition both ways at once is misusing them).
 */
export function applyMarker(g: Group, producerId: bigint, commit: boolean): void {
  const pending = g.pendingTxnOffsets.get(producerId)
  if (pending === undefined) return
  g.pendingTxnOffsets.delete(producerId)
  if (commit) for (const [k, c] of pending) g.offsets.set(k, c)
}

export function hasPendingTxnOffset(g: Group, key: string): boolean {
  for (const pending of g.pendingTxnOffsets.values()) if (pending.has(key)) return true
  return false
}

export function joinError(code: WireErrorName, memberId = ''): JoinGroupResponse {
  return { throttleTimeMs: 0, errorCode: errorCodeOf(code), generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] }
}

export function syncError(code: WireErrorName | number): SyncGroupResponse {
  return { throttleTimeMs: 0, errorCode: typeof code === 'number' ? code : errorCodeOf(code), protocolType: null, protocolName: null, assignment: Buffer.alloc(0) }
}

/** A member's protocols as kept for the membership: their metadata not pinning the request it came in. */
export function ownProtocols(protocols: JoinGroupRequest['protocols']): JoinGroupRequest['protocols'] {
  return protocols.map((p) => ({ name: p.name, metadata: unpinned(p.metadata) }))
}

/** The group's generation and assignment as its record stores them (records.ts). */
export function groupValue(g: Group): GroupValue {
  return {
    protocolType: g.protocolType ?? '',
    generation: g.generation,
    protocolName: g.protocolName,
    leader: g.leader,
    members: [...g.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      subscription: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? Buffer.alloc(0),
      assignment: m.assignment,
    })),
  }
}

/**
 * Restores the generation a group record stored: Stable with its members (who get a session from
 * now, once the caller starts their timers), or Empty.
 */
export function restoreGeneration(g: Group, value: GroupValue): void {
  g.generation = value.generation
  g.protocolType = value.protocolType
  g.protocolName = value.protocolName
  g.leader = value.leader
  for (const m of value.members) {
    g.members.set(m.memberId, { ...m, assignment: unpinned(m.assignment), protocolType: value.protocolType, protocols: [{ name: value.protocolName ?? '', metadata: unpinned(m.subscription) }], awaitingJoin: null, awaitingSync: null, sessionTimer: null })
  }
  g.state = g.members.size > 0 ? 'Stable' : 'Empty'
}
