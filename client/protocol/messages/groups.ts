// Consumer groups, with Kafka's keys and shapes: FindCoordinator (10) names the broker that
// coordinates a group (the leader of the group's `__consumer_offsets` partition); JoinGroup (11),
// SyncGroup (14), Heartbeat (12) and LeaveGroup (13) run the group membership protocol with
// generations; OffsetCommit (8) and OffsetFetch (9) store and read committed offsets;
// DescribeGroups (15) and ListGroups (16) are for tools.
//
// Membership: a consumer joins with an empty member id and gets one assigned. When every member
// has (re)joined, the coordinator answers each JoinGroup with the new generation, and the leader's
// answer also lists every member with its subscription (`metadata`). The leader computes the
// assignment with the protocol (assignor) all members support and sends it in its SyncGroup; every
// member's SyncGroup answer carries its own `assignment`. A Heartbeat answered with
// REBALANCE_IN_PROGRESS tells a member to join again. `metadata` and `assignment` are opaque bytes
// here: the consumer protocol (client/group/protocol.ts) gives them their shape.
//
// An OffsetCommit with generationId -1 and an empty member id comes from a consumer that manages
// its partitions itself (assign()), and is accepted only while the group has no members.

import { array, bytes, int, long, nullable, record, string, type Value } from '../avro.js'

export const FindCoordinatorRequestV0 = record('FindCoordinatorRequestV0', {
  key: string,
  /** 0: a consumer group. */
  keyType: int,
})
export const FindCoordinatorResponseV0 = record('FindCoordinatorResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  errorMessage: nullable(string),
  nodeId: int,
  host: string,
  port: int,
})

export const JoinGroupRequestV0 = record('JoinGroupRequestV0', {
  groupId: string,
  sessionTimeoutMs: int,
  rebalanceTimeoutMs: int,
  /** Empty on the first join. */
  memberId: string,
  groupInstanceId: nullable(string),
  protocolType: string,
  protocols: array(record('JoinGroupProtocol', { name: string, metadata: bytes })),
})
export const JoinGroupResponseV0 = record('JoinGroupResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  generationId: int,
  protocolType: nullable(string),
  protocolName: nullable(string),
  leader: string,
  memberId: string,
  /** Filled in the leader's answer only. */
  members: array(record('JoinGroupMember', { memberId: string, groupInstanceId: nullable(string), metadata: bytes })),
})

export const SyncGroupRequestV0 = record('SyncGroupRequestV0', {
  groupId: string,
  generationId: int,
  memberId: string,
  groupInstanceId: nullable(string),
  protocolType: nullable(string),
  protocolName: nullable(string),
  /** The leader's computed assignment; empty from the other members. */
  assignments: array(record('SyncGroupAssignment', { memberId: string, assignment: bytes })),
})
export const SyncGroupResponseV0 = record('SyncGroupResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  protocolType: nullable(string),
  protocolName: nullable(string),
  assignment: bytes,
})

export const HeartbeatRequestV0 = record('HeartbeatRequestV0', { groupId: string, generationId: int, memberId: string, groupInstanceId: nullable(string) })
export const HeartbeatResponseV0 = record('HeartbeatResponseV0', { throttleTimeMs: int, errorCode: int })

export const LeaveGroupRequestV0 = record('LeaveGroupRequestV0', {
  groupId: string,
  members: array(record('LeaveGroupMember', { memberId: string, groupInstanceId: nullable(string) })),
})
export const LeaveGroupResponseV0 = record('LeaveGroupResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  members: array(record('LeaveGroupMemberResponse', { memberId: string, groupInstanceId: nullable(string), errorCode: int })),
})

export const OffsetCommitRequestV0 = record('OffsetCommitRequestV0', {
  groupId: string,
  /** -1 with an empty memberId: a commit from outside the group protocol. */
  generationId: int,
  memberId: string,
  groupInstanceId: nullable(string),
  topics: array(
    record('OffsetCommitTopic', {
      name: string,
      partitions: array(record('OffsetCommitPartition', { partitionIndex: int, committedOffset: long, committedLeaderEpoch: int, committedMetadata: nullable(string) })),
    }),
  ),
})
export const OffsetCommitResponseV0 = record('OffsetCommitResponseV0', {
  throttleTimeMs: int,
  topics: array(record('OffsetCommitTopicResponse', { name: string, partitions: array(record('OffsetCommitPartitionResponse', { partitionIndex: int, errorCode: int })) })),
})

export const OffsetFetchRequestV0 = record('OffsetFetchRequestV0', {
  groupId: string,
  /** null: every partition the group has committed. */
  topics: nullable(array(record('OffsetFetchTopic', { name: string, partitionIndexes: array(int) }))),
})
export const OffsetFetchResponseV0 = record('OffsetFetchResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  topics: array(
    record('OffsetFetchTopicResponse', {
      name: string,
      partitions: array(
        record('OffsetFetchPartitionResponse', {
          partitionIndex: int,
          /** -1: nothing committed. */
          committedOffset: long,
          committedLeaderEpoch: int,
          metadata: nullable(string),
          errorCode: int,
        }),
      ),
    }),
  ),
})

export const DescribeGroupsRequestV0 = record('DescribeGroupsRequestV0', { groups: array(string) })
export const DescribeGroupsResponseV0 = record('DescribeGroupsResponseV0', {
  throttleTimeMs: int,
  groups: array(
    record('DescribedGroup', {
      errorCode: int,
      groupId: string,
      /** Empty, PreparingRebalance, CompletingRebalance, Stable or Dead. */
      groupState: string,
      protocolType: string,
      protocolData: string,
      generationId: int,
      members: array(
        record('DescribedGroupMember', {
          memberId: string,
          groupInstanceId: nullable(string),
          clientId: string,
          clientHost: string,
          memberMetadata: bytes,
          memberAssignment: bytes,
        }),
      ),
    }),
  ),
})

export const ListGroupsRequestV0 = record('ListGroupsRequestV0', { statesFilter: array(string) })
export const ListGroupsResponseV0 = record('ListGroupsResponseV0', {
  throttleTimeMs: int,
  errorCode: int,
  groups: array(record('ListedGroup', { groupId: string, protocolType: string, groupState: string })),
})

export type FindCoordinatorRequest = Value<typeof FindCoordinatorRequestV0>
export type FindCoordinatorResponse = Value<typeof FindCoordinatorResponseV0>
export type JoinGroupRequest = Value<typeof JoinGroupRequestV0>
export type JoinGroupResponse = Value<typeof JoinGroupResponseV0>
export type SyncGroupRequest = Value<typeof SyncGroupRequestV0>
export type SyncGroupResponse = Value<typeof SyncGroupResponseV0>
export type HeartbeatRequest = Value<typeof HeartbeatRequestV0>
export type HeartbeatResponse = Value<typeof HeartbeatResponseV0>
export type LeaveGroupRequest = Value<typeof LeaveGroupRequestV0>
export type LeaveGroupResponse = Value<typeof LeaveGroupResponseV0>
export type OffsetCommitRequest = Value<typeof OffsetCommitRequestV0>
export type OffsetCommitResponse = Value<typeof OffsetCommitResponseV0>
export type OffsetFetchRequest = Value<typeof OffsetFetchRequestV0>
export type OffsetFetchResponse = Value<typeof OffsetFetchResponseV0>
export type DescribeGroupsRequest = Value<typeof DescribeGroupsRequestV0>
export type DescribeGroupsResponse = Value<typeof DescribeGroupsResponseV0>
export type ListGroupsRequest = Value<typeof ListGroupsRequestV0>
export type ListGroupsResponse = Value<typeof ListGroupsResponseV0>

export const findCoordinatorVersions = { 0: { request: FindCoordinatorRequestV0, response: FindCoordinatorResponseV0 } } as const
export const joinGroupVersions = { 0: { request: JoinGroupRequestV0, response: JoinGroupResponseV0 } } as const
export const syncGroupVersions = { 0: { request: SyncGroupRequestV0, response: SyncGroupResponseV0 } } as const
export const heartbeatVersions = { 0: { request: HeartbeatRequestV0, response: HeartbeatResponseV0 } } as const
export const leaveGroupVersions = { 0: { request: LeaveGroupRequestV0, response: LeaveGroupResponseV0 } } as const
export const offsetCommitVersions = { 0: { request: OffsetCommitRequestV0, response: OffsetCommitResponseV0 } } as const
export const offsetFetchVersions = { 0: { request: OffsetFetchRequestV0, response: OffsetFetchResponseV0 } } as const
export const describeGroupsVersions = { 0: { request: DescribeGroupsRequestV0, response: DescribeGroupsResponseV0 } } as const
export const listGroupsVersions = { 0: { request: ListGroupsRequestV0, response: ListGroupsResponseV0 } } as const
