// The consumer group APIs on the Kafka listener: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups and ListGroups, each a translation of the
// Kafka body at its version (client/protocol/kafka/messages/) into Strand's request, served
// through the Strand listener's gate and handler (`req.serve`), and back. Error codes are the same
// numbers on both sides. The group coordinator (broker/group/) sees one kind of client.
//
// Where Kafka batches (FindCoordinator v4 keys, OffsetFetch v8 groups) and Strand does not, a
// request fans out to one Strand request per key or group, one at a time: a batch holds at most
// one serve call in flight, and the frame size already bounds how many it names.
//
// What Strand does not have, answered with Kafka's defaults (see each handler): JoinGroup's
// `reason` and LeaveGroup's (logged only, as Kafka does), SkipAssignment (false: the leader always
// assigns), DescribeGroups' authorized operations (INT32_MIN, "not provided"), OffsetCommit v1's
// commit timestamp and v2-4's retention time (the broker's retention applies), OffsetFetch's
// requireStable (Strand always answers as if it were set). The coordinator assigns a member id in
// one step, so JoinGroup v4+ never answers MEMBER_ID_REQUIRED (KIP-394); clients accept a
// successful first join, as they did before v4.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { KafkaStruct } from '../../../client/protocol/kafka/schema.js'
import type { DescribeGroupsResponse, FindCoordinatorResponse, OffsetFetchRequest, OffsetFetchResponse } from '../../../client/protocol/messages/groups.js'
import type { KafkaHandler, KafkaRequestContext } from '../context.js'

/** DescribeGroups' "authorized operations not provided" (Kafka's Integer.MIN_VALUE). */
const AUTHORIZED_OPERATIONS_UNKNOWN = -2147483648
/** Kafka answers "" for a partition without metadata (OffsetAndMetadata.NO_METADATA), never null. */
const NO_METADATA = ''
/** The group states ListGroups filters on, as Strand's coordinator names them. */
const GROUP_STATES = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'] as const

// ---------------------------------------------------------------------------------------------
// The decoded Kafka bodies (every field of the spec; those absent at the version at defaults).
// The casts below are the decoder's boundary: the codec built these objects from the spec.

type KafkaFindCoordinatorRequest = { key: string; keyType: number; coordinatorKeys: string[] }
type KafkaJoinGroupRequest = {
  groupId: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  memberId: string
  groupInstanceId: string | null
  protocolType: string
  protocols: { name: string; metadata: Buffer }[]
  reason: string | null
}
type KafkaSyncGroupRequest = {
  groupId: string
  generationId: number
  memberId: string
  groupInstanceId: string | null
  protocolType: string | null
  protocolName: string | null
  assignments: { memberId: string; assignment: Buffer }[]
}
type KafkaHeartbeatRequest = { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }
type KafkaLeaveGroupRequest = { groupId: string; memberId: string; members: { memberId: string; groupInstanceId: string | null; reason: string | null }[] }
type KafkaOffsetCommitRequest = {
  groupId: string
  generationIdOrMemberEpoch: number
  memberId: string
  groupInstanceId: string | null
  retentionTimeMs: bigint
  topics: { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; commitTimestamp: bigint; committedMetadata: string | null }[] }[]
}
type KafkaFetchTopics = { name: string; partitionIndexes: number[] }[] | null
type KafkaOffsetFetchRequest = { groupId: string; topics: KafkaFetchTopics; groups: { groupId: string; topics: KafkaFetchTopics }[]; requireStable: boolean }
type KafkaDescribeGroupsRequest = { groups: string[]; includeAuthorizedOperations: boolean }
type KafkaListGroupsRequest = { statesFilter: string[] }

/** A nullable field of a version that may not have it: null where it is absent. */
function since<T>(version: number, first: number, value: T | null): T | null {
  return version >= first ? value : null
}

// ---------------------------------------------------------------------------------------------
// FindCoordinator

interface FoundCoordinator {
  throttleTimeMs: number
  errorCode: number
  errorMessage: string | null
  nodeId: number
  host: string
  port: number
}

/**
 * One key's coordinator, at its Kafka listener: Strand answers with the coordinator's Strand
 * listener, which a Kafka client cannot speak to. A coordinator without a Kafka listener is
 * COORDINATOR_NOT_AVAILABLE (retriable: it may be restarting with one).
 */
async function findOne(req: KafkaRequestContext, key: string, keyType: number): Promise<FoundCoordinator> {
  const res: FindCoordinatorResponse = await req.serve(ApiKey.FindCoordinator, { key, keyType })
  const none = { nodeId: -1, host: '', port: -1 }
  if (res.errorCode !== 0) return { ...none, throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode, errorMessage: res.errorMessage }
  const address = req.kafkaAddress(res.nodeId)
  if (address === null) {
    return { ...none, throttleTimeMs: res.throttleTimeMs, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), errorMessage: `The coordinator, broker ${res.nodeId}, has no Kafka listener.` }
  }
  return { throttleTimeMs: res.throttleTimeMs, errorCode: 0, errorMessage: null, nodeId: res.nodeId, host: address.host, port: address.port }
}

/** v0-3 name one key (v0: always a group); v4 (KIP-699) names several of one key type. */
export const kafkaFindCoordinator: KafkaHandler = async (req, body) => {
  const b = body as KafkaFindCoordinatorRequest
  const keyType = req.version >= 1 ? b.keyType : 0
  if (req.version <= 3) return { ...(await findOne(req, b.key, keyType)) }
  let throttleTimeMs = 0
  const coordinators: KafkaStruct[] = []
  for (const key of b.coordinatorKeys) {
    const found = await findOne(req, key, keyType)
    throttleTimeMs = Math.max(throttleTimeMs, found.throttleTimeMs)
    coordinators.push({ key, nodeId: found.nodeId, host: found.host, port: found.port, errorCode: found.errorCode, errorMessage: found.errorMessage })
  }
  return { throttleTimeMs, coordinators }
}

// ---------------------------------------------------------------------------------------------
// Membership

function logReason(req: KafkaRequestContext, api: string, groupId: string, memberId: string, reason: string | null): void {
  if (reason !== null) req.ctx.logger.debug({ subsystem: 'kafka', api, group: groupId, memberId, reason }, 'member gave a reason')
}

/**
 * v0 has no rebalance timeout: the session timeout is both (Kafka's semantics). `metadata` (a
 * Kafka client's ConsumerProtocolSubscription) passes through as the opaque bytes it is.
 */
export const kafkaJoinGroup: KafkaHandler = async (req, body) => {
  const b = body as KafkaJoinGroupRequest
  const v = req.version
  logReason(req, 'JoinGroup', b.groupId, b.memberId, since(v, 8, b.reason))
  const res = await req.serve(ApiKey.JoinGroup, {
    groupId: b.groupId,
    sessionTimeoutMs: b.sessionTimeoutMs,
    rebalanceTimeoutMs: v >= 1 ? b.rebalanceTimeoutMs : b.sessionTimeoutMs,
    memberId: b.memberId,
    groupInstanceId: since(v, 5, b.groupInstanceId),
    protocolType: b.protocolType,
    protocols: b.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
  })
  // Before v7 the protocol name is not nullable: "" for none; from v7, null for none (as Kafka).
  const protocolName = v >= 7 ? (res.protocolName === '' ? null : res.protocolName) : (res.protocolName ?? '')
  return {
    throttleTimeMs: res.throttleTimeMs,
    errorCode: res.errorCode,
    generationId: res.generationId,
    protocolType: res.protocolType,
    protocolName,
    leader: res.leader,
    skipAssignment: false,
    memberId: res.memberId,
    members: res.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
  }
}

/**
 * v5's protocol type and name (KIP-559) are passed on; Strand's coordinator does not check them
 * against the group's (Kafka answers INCONSISTENT_GROUP_PROTOCOL on a mismatch).
 */
export const kafkaSyncGroup: KafkaHandler = async (req, body) => {
  const b = body as KafkaSyncGroupRequest
  const v = req.version
  const res = await req.serve(ApiKey.SyncGroup, {
    groupId: b.groupId,
    generationId: b.generationId,
    memberId: b.memberId,
    groupInstanceId: since(v, 3, b.groupInstanceId),
    protocolType: since(v, 5, b.protocolType),
    protocolName: since(v, 5, b.protocolName),
    assignments: b.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
  })
  return { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode, protocolType: res.protocolType, protocolName: res.protocolName, assignment: res.assignment }
}

export const kafkaHeartbeat: KafkaHandler = async (req, body) => {
  const b = body as KafkaHeartbeatRequest
  const res = await req.serve(ApiKey.Heartbeat, { groupId: b.groupId, generationId: b.generationId, memberId: b.memberId, groupInstanceId: since(req.version, 3, b.groupInstanceId) })
  return { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode }
}

/**
 * v0-2 name one member and answer one error code: the group's, else that member's (as Kafka's
 * LeaveGroupResponse folds them). v3+ (KIP-345) batch members; Strand's coordinator finds a
 * member by its member id only, so a member named by group instance id alone is UNKNOWN_MEMBER_ID.
 */
export const kafkaLeaveGroup: KafkaHandler = async (req, body) => {
  const b = body as KafkaLeaveGroupRequest
  const v = req.version
  const members = v <= 2 ? [{ memberId: b.memberId, groupInstanceId: null }] : b.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
  if (v >= 5) for (const m of b.members) logReason(req, 'LeaveGroup', b.groupId, m.memberId, m.reason)
  const res = await req.serve(ApiKey.LeaveGroup, { groupId: b.groupId, members })
  if (v <= 2) return { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode !== 0 ? res.errorCode : (res.members[0]?.errorCode ?? 0) }
  return { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode, members: res.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: m.errorCode })) }
}

// ---------------------------------------------------------------------------------------------
// Offsets

/**
 * v0 commits from outside the group protocol: generation -1 and no member, which Strand (as
 * Kafka) accepts only into a group without members. v1's per-partition commit timestamp and
 * v2-4's retention time have no Strand counterpart: the broker's clock and retention apply (what
 * Kafka does for -1, and for every commit from v5 on). Leader epochs before v6 are unknown (-1).
 */
export const kafkaOffsetCommit: KafkaHandler = async (req, body) => {
  const b = body as KafkaOffsetCommitRequest
  const v = req.version
  const res = await req.serve(ApiKey.OffsetCommit, {
    groupId: b.groupId,
    generationId: v >= 1 ? b.generationIdOrMemberEpoch : -1,
    memberId: v >= 1 ? b.memberId : '',
    groupInstanceId: since(v, 7, b.groupInstanceId),
    topics: b.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        committedOffset: p.committedOffset,
        committedLeaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1,
        committedMetadata: p.committedMetadata,
      })),
    })),
  })
  return { throttleTimeMs: res.throttleTimeMs, topics: res.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: p.errorCode })) })) }
}

type FetchedTopics = OffsetFetchResponse['topics']

function kafkaFetchedTopics(topics: FetchedTopics): KafkaStruct[] {
  return topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, committedOffset: p.committedOffset, committedLeaderEpoch: p.committedLeaderEpoch, metadata: p.metadata ?? NO_METADATA, errorCode: p.errorCode })),
  }))
}

async function fetchGroup(req: KafkaRequestContext, groupId: string, topics: KafkaFetchTopics): Promise<OffsetFetchResponse> {
  const strandTopics: OffsetFetchRequest['topics'] = topics === null ? null : topics.map((t) => ({ name: t.name, partitionIndexes: t.partitionIndexes }))
  return req.serve(ApiKey.OffsetFetch, { groupId, topics: strandTopics })
}

/**
 * v0-1 have no group-level error code: a group error goes on every requested partition, as
 * Kafka's OffsetFetchResponse does. v2+ may ask for every committed partition (`topics: null`).
 * v8 (KIP-709) asks for several groups: one Strand request each. Strand answers pending
 * transactional offsets UNSTABLE_OFFSET_COMMIT whatever `requireStable` says (Kafka does only when
 * it is set, which v0-6 cannot do; a client without it gets the error where Kafka would give the
 * last committed offset).
 */
export const kafkaOffsetFetch: KafkaHandler = async (req, body) => {
  const b = body as KafkaOffsetFetchRequest
  const v = req.version
  if (v >= 8) {
    let throttleTimeMs = 0
    const groups: KafkaStruct[] = []
    for (const g of b.groups) {
      const res = await fetchGroup(req, g.groupId, g.topics)
      throttleTimeMs = Math.max(throttleTimeMs, res.throttleTimeMs)
      groups.push({ groupId: g.groupId, topics: kafkaFetchedTopics(res.topics), errorCode: res.errorCode })
    }
    return { throttleTimeMs, groups }
  }
  const res = await fetchGroup(req, b.groupId, b.topics)
  if (v <= 1 && res.errorCode !== 0) {
    const requested = b.topics ?? []
    const failed = requested.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1n, committedLeaderEpoch: -1, metadata: NO_METADATA, errorCode: res.errorCode })),
    }))
    return { throttleTimeMs: res.throttleTimeMs, topics: failed }
  }
  return { throttleTimeMs: res.throttleTimeMs, topics: kafkaFetchedTopics(res.topics), errorCode: res.errorCode }
}

// ---------------------------------------------------------------------------------------------
// Tools

type DescribedGroup = DescribeGroupsResponse['groups'][number]

/**
 * A group as Kafka's classic coordinator describes it: an unknown group is Dead without an error
 * (GROUP_ID_NOT_FOUND is not in DescribeGroups v0-5), and only a Stable group shows its protocol
 * and its members' metadata and assignments (Kafka's describeNoMetadata otherwise).
 */
function kafkaDescribedGroup(g: DescribedGroup): KafkaStruct {
  if (g.errorCode === errorCodeOf('GROUP_ID_NOT_FOUND')) {
    return { errorCode: 0, groupId: g.groupId, groupState: 'Dead', protocolType: '', protocolData: '', members: [], authorizedOperations: AUTHORIZED_OPERATIONS_UNKNOWN }
  }
  const stable = g.groupState === 'Stable'
  const empty = Buffer.alloc(0)
  return {
    errorCode: g.errorCode,
    groupId: g.groupId,
    groupState: g.groupState,
    protocolType: g.protocolType,
    protocolData: stable ? g.protocolData : '',
    members: g.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: stable ? m.memberMetadata : empty,
      memberAssignment: stable ? m.memberAssignment : empty,
    })),
    authorizedOperations: AUTHORIZED_OPERATIONS_UNKNOWN,
  }
}

/** v3's includeAuthorizedOperations is answered "not provided": Strand does not compute them. */
export const kafkaDescribeGroups: KafkaHandler = async (req, body) => {
  const b = body as KafkaDescribeGroupsRequest
  const res = await req.serve(ApiKey.DescribeGroups, { groups: b.groups })
  return { throttleTimeMs: res.throttleTimeMs, groups: res.groups.map(kafkaDescribedGroup) }
}

/** v4's states filter matches case-insensitively, as Kafka's coordinator does. */
export const kafkaListGroups: KafkaHandler = async (req, body) => {
  const b = body as KafkaListGroupsRequest
  const statesFilter = req.version >= 4 ? b.statesFilter.map((s) => GROUP_STATES.find((known) => known.toLowerCase() === s.toLowerCase()) ?? s) : []
  const res = await req.serve(ApiKey.ListGroups, { statesFilter })
  return { throttleTimeMs: res.throttleTimeMs, errorCode: res.errorCode, groups: res.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.groupState })) }
}
