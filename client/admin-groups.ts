// The admin client's consumer groups (Admin delegates here): every group of the cluster, one
// group's members with their subscriptions and assignments, its committed offsets with their lag,
// and committing offsets for a group from outside it (`strand groups reset-offsets`). Each call
// on one group opens a connection to its coordinator and closes it afterwards.

import { isolationCodeOf, type AdminScope } from './admin-scope.js'
import type { IsolationLevel } from './consumer/consumer.js'
import { errorFromCode, InvalidArgumentError, StrandProtocolError } from './errors.js'
import { GroupCoordinator, isCoordinatorError } from './group/coordinator.js'
import { CommitFailedError } from './group/errors.js'
import { commitOffsets, fetchCommitted, highWatermarks, NO_GENERATION, offsetKey } from './group/offsets.js'
import { CONSUMER_PROTOCOL_TYPE, decodeAssignment, decodeSubscription } from './group/protocol.js'
import { ApiKey } from './protocol/apis.js'

export interface GroupListing {
  groupId: string
  /** 'consumer' for Strand and Kafka consumers. */
  protocolType: string
  /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead. */
  state: string
}

export interface GroupMemberDescription {
  memberId: string
  clientId: string
  clientHost: string
  /** The topics the member subscribed to; null when its subscription is not the consumer protocol's. */
  topics: string[] | null
  /** The partitions the leader gave it in the current generation (empty while rebalancing). */
  assignment: Array<{ topic: string; partition: number }>
}

export interface GroupDescription {
  groupId: string
  /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead (an unknown group is Dead). */
  state: string
  protocolType: string
  /** The assignor the group uses ('range', 'roundrobin'...); empty while none is chosen. */
  protocol: string
  generationId: number
  /** The broker coordinating the group. */
  coordinatorId: number
  members: GroupMemberDescription[]
}

export interface GroupPartitionOffset {
  topic: string
  partition: number
  /** The group's committed offset: the next record it will read. */
  committed: bigint
  /** The offset after the last record consumers can read. */
  highWatermark: bigint
  /** highWatermark - committed (never below 0): records the group has yet to process. */
  lag: bigint
}

/** How groupOffsets measures a group's lag. */
export interface GroupOffsetsOptions {
  /**
   * 'read_uncommitted' (the default): against each partition's high watermark. 'read_committed':
   * against its last stable offset, what a read_committed consumer can reach (the records of an
   * open transaction are past it); `highWatermark` then holds the last stable offset.
   */
  isolationLevel?: IsolationLevel
}

/** An offset to commit for a group: the offset of the NEXT record its consumers will read. */
export interface GroupOffsetToCommit {
  topic: string
  partition: number
  offset: bigint
}

/**
 * Every consumer group of the cluster, sorted by id. Each broker knows the groups it
 * coordinates, so every live broker is asked; one that cannot answer fails the call rather than
 * leave its groups out silently.
 */
export async function listGroups(scope: AdminScope): Promise<GroupListing[]> {
  scope.checkOpen()
  await scope.cluster.retry(() => scope.cluster.refresh())
  const md = await scope.metadata([])
  const perBroker = await Promise.all(
    md.brokers.map((b) =>
      scope.cluster.retry(async () => {
        const res = await scope.cluster.connectionTo(b.nodeId).request(ApiKey.ListGroups, { statesFilter: [] })
        const err = errorFromCode(res.errorCode, `Broker ${b.nodeId}.`)
        if (err !== null) throw err
        return res.groups
      }),
    ),
  )
  const groups = new Map<string, GroupListing>()
  for (const g of perBroker.flat()) groups.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: g.groupState })
  return [...groups.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
}

/**
 * A group's state, assignor and members, with each member's subscription and assigned
 * partitions. A group the coordinator does not know rejects with GROUP_ID_NOT_FOUND.
 */
export async function describeGroup(scope: AdminScope, groupId: string): Promise<GroupDescription> {
  return withCoordinator(scope, groupId, async (coordinator) => {
    const group = await scope.cluster.retry(async () => {
      const res = await coordinator.request(ApiKey.DescribeGroups, { groups: [groupId] })
      const g = res.groups.find((x) => x.groupId === groupId)
      if (g === undefined) throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The DescribeGroups response has no result for group "${groupId}".`)
      const err = errorFromCode(g.errorCode, `Group "${groupId}".`)
      if (err !== null) {
        if (isCoordinatorError(err)) coordinator.reset()
        throw err
      }
      return g
    })
    return {
      groupId: group.groupId,
      state: group.groupState,
      protocolType: group.protocolType,
      protocol: group.protocolData,
      generationId: group.generationId,
      coordinatorId: coordinator.nodeId,
      members: group.members.map((m) => describeMember(group.protocolType, m)),
    }
  })
}

/**
 * The group's committed offsets, each with its partition's high watermark (read_committed: last
 * stable offset) and the lag between them, sorted by topic and partition. Partitions the group
 * never committed are left out.
 */
export async function groupOffsets(scope: AdminScope, groupId: string, groupOptions: GroupOffsetsOptions = {}): Promise<GroupPartitionOffset[]> {
  const isolationLevel = isolationCodeOf(groupOptions.isolationLevel)
  return withCoordinator(scope, groupId, async (coordinator) => {
    const options = { retry: scope.cluster.retryOptions, requestTimeoutMs: scope.requestTimeoutMs }
    const committed = (await fetchCommitted(coordinator, null, options)).filter((c): c is { topic: string; partition: number; offset: bigint } => c.offset !== null)
    const hws = await highWatermarks(scope.cluster, committed, options, isolationLevel)
    return committed
      .map((c) => {
        const highWatermark = hws.get(offsetKey(c.topic, c.partition)) ?? 0n
        return { topic: c.topic, partition: c.partition, committed: c.offset, highWatermark, lag: highWatermark > c.offset ? highWatermark - c.offset : 0n }
      })
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  })
}

/**
 * Commits offsets for a group from outside it, as `strand groups reset-offsets` does: with no
 * generation (generationId -1, memberId ''), which the coordinator accepts only while the group
 * has no members, so a tool cannot move a running consumer's position under it (Kafka's rule).
 * Rejects with CommitFailedError listing every partition's outcome when some failed
 * (UNKNOWN_MEMBER_ID for each: the group has members); the others are committed.
 */
export async function commitGroupOffsets(scope: AdminScope, groupId: string, offsets: readonly GroupOffsetToCommit[]): Promise<void> {
  for (const o of offsets) {
    if (typeof o?.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || typeof o.offset !== 'bigint' || o.offset < 0n) {
      throw new InvalidArgumentError(`Not an offset to commit: ${JSON.stringify({ topic: o?.topic, partition: o?.partition, offset: String(o?.offset) })}.`)
    }
  }
  if (offsets.length === 0) return
  const results = await withCoordinator(scope, groupId, (coordinator) =>
    commitOffsets(coordinator, NO_GENERATION, offsets, { retry: scope.cluster.retryOptions, requestTimeoutMs: scope.requestTimeoutMs }),
  )
  if (results.some((r) => r.error !== null)) throw new CommitFailedError(results)
}

/** Runs `fn` with a connection to the group's coordinator, closed afterwards. */
async function withCoordinator<T>(scope: AdminScope, groupId: string, fn: (coordinator: GroupCoordinator) => Promise<T>): Promise<T> {
  scope.checkOpen()
  if (typeof groupId !== 'string' || groupId.length === 0) throw new InvalidArgumentError('A group id is a non-empty string.')
  const coordinator = new GroupCoordinator({ cluster: scope.cluster, groupId, connection: scope.connection })
  try {
    return await fn(coordinator)
  } finally {
    coordinator.close()
  }
}

/** A DescribeGroups member, its consumer-protocol bytes decoded (when they are that protocol's). */
function describeMember(protocolType: string, m: { memberId: string; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer }): GroupMemberDescription {
  let topics: string[] | null = null
  let assignment: Array<{ topic: string; partition: number }> = []
  if (protocolType === CONSUMER_PROTOCOL_TYPE) {
    try {
      if (m.memberMetadata.length > 0) topics = decodeSubscription(m.memberMetadata).topics
      assignment = decodeAssignment(m.memberAssignment).partitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })))
    } catch {
      // Bytes from another client's version of the protocol: show the member without them.
    }
  }
  return { memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, topics, assignment }
}
