// The consumer group APIs. FindCoordinator is answered by any broker from its metadata image (the
// leader of the group's `__consumer_offsets` partition, or of a transactional id's
// `__transaction_state` partition), and makes sure that internal topic exists (asking the active
// controller to create it the first time); the others go to this broker's
// group coordinator (broker/group), which answers NOT_COORDINATOR for groups it does not own.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf, toWireCode } from '../../../client/protocol/errors.js'
import type {
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from '../../../client/protocol/messages/groups.js'
import { groupPartition } from '../../group/coordinator.js'
import { OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC } from '../../topic-config.js'
import type { RequestInfo } from '../dispatch.js'
import type { HandlerContext } from './context.js'

const GROUP_KEY_TYPE = 0
const TRANSACTION_KEY_TYPE = 1

/** One creation request in flight per internal topic per broker, however many clients ask at once. */
const creating = new Map<string, Promise<void>>()

/** Asks the active controller to create an internal topic (it applies the cluster's settings for it). */
export function ensureInternalTopic(ctx: HandlerContext, name: string): void {
  if (creating.has(name)) return
  const attempt = (async () => {
    const internal = { name, partitions: 1, replicationFactor: 1, configs: {} }
    if (ctx.quorum.isLeader) {
      await ctx.controller.createTopic(internal, { validateOnly: false })
      return
    }
    const current = ctx.controllerChannel.current()
    if (current === null) return
    await current.connection.request(ApiKey.CreateTopics, { topics: [{ name, numPartitions: -1, replicationFactor: -1, configs: [] }], timeoutMs: 10_000, validateOnly: false })
  })()
    .catch((err: unknown) => ctx.logger.debug({ err: (err as Error).message }, `creating ${name} failed; the next coordinator request retries`))
    .finally(() => creating.delete(name))
  creating.set(name, attempt)
}

/**
 * FindCoordinator: key type 0 (a group: the leader of its `__consumer_offsets` partition) or 1 (a
 * transactional id: the leader of its `__transaction_state` partition), both placed by the same
 * hash, as in Kafka.
 */
export function handleFindCoordinator(ctx: HandlerContext, req: FindCoordinatorRequest): FindCoordinatorResponse {
  const none = { throttleTimeMs: 0, nodeId: -1, host: '', port: -1 }
  const what = req.keyType === GROUP_KEY_TYPE ? 'group' : 'transactional id'
  if (req.keyType !== GROUP_KEY_TYPE && req.keyType !== TRANSACTION_KEY_TYPE) return { ...none, errorCode: errorCodeOf('INVALID_REQUEST'), errorMessage: `Key type ${req.keyType} is not supported; 0 (group) and 1 (transaction) are.` }
  if (req.key.length === 0) return { ...none, errorCode: errorCodeOf(req.keyType === GROUP_KEY_TYPE ? 'INVALID_GROUP_ID' : 'INVALID_REQUEST'), errorMessage: `The ${what} is empty.` }
  const internalTopic = req.keyType === GROUP_KEY_TYPE ? OFFSETS_TOPIC : TRANSACTION_STATE_TOPIC
  const image = ctx.quorum.image
  const topic = image.topics.get(internalTopic)
  if (topic === undefined || topic.partitions.length === 0) {
    ensureInternalTopic(ctx, internalTopic)
    return { ...none, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), errorMessage: `${internalTopic} is being created.` }
  }
  const p = topic.partitions[groupPartition(req.key, topic.partitions.length)]
  const broker = p === undefined ? undefined : image.brokers.get(p.leader)
  if (broker === undefined || broker.fenced) return { ...none, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), errorMessage: `The ${what}'s ${internalTopic} partition has no live leader right now.` }
  return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: broker.brokerId, host: broker.host, port: broker.port }
}

export async function handleJoinGroup(ctx: HandlerContext, req: JoinGroupRequest, info: RequestInfo): Promise<JoinGroupResponse> {
  return ctx.groups.join(req, info)
}

export async function handleSyncGroup(ctx: HandlerContext, req: SyncGroupRequest): Promise<SyncGroupResponse> {
  return ctx.groups.sync(req)
}

export function handleHeartbeat(ctx: HandlerContext, req: HeartbeatRequest): HeartbeatResponse {
  return { throttleTimeMs: 0, errorCode: ctx.groups.heartbeat(req) }
}

export function handleLeaveGroup(ctx: HandlerContext, req: LeaveGroupRequest): LeaveGroupResponse {
  return ctx.groups.leave(req)
}

export async function handleOffsetCommit(ctx: HandlerContext, req: OffsetCommitRequest): Promise<OffsetCommitResponse> {
  try {
    return await ctx.groups.commitOffsets(req)
  } catch (err) {
    ctx.logger.error({ err, group: req.groupId }, 'offset commit failed')
    const code = toWireCode(err)
    return { throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) }
  }
}

export function handleOffsetFetch(ctx: HandlerContext, req: OffsetFetchRequest): OffsetFetchResponse {
  return ctx.groups.fetchOffsets(req)
}

export function handleDescribeGroups(ctx: HandlerContext, req: DescribeGroupsRequest): DescribeGroupsResponse {
  return ctx.groups.describe(req.groups)
}

export function handleListGroups(ctx: HandlerContext, req: ListGroupsRequest): ListGroupsResponse {
  return ctx.groups.list(req.statesFilter)
}
