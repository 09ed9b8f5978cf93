// The metadata quorum's RPCs: Vote, AppendEntries and InstallSnapshot from other voters, DescribeQuorum from tools;
// broker registration, heartbeats and controlled shutdown for the controller; DescribeCluster from the metadata image.
// Until this broker's quorum seat has started, voters are told BROKER_NOT_AVAILABLE (retriable).

import { errorCodeOf } from '../../../client/protocol/errors.js'
import type {
  BrokerHeartbeatRequest,
  BrokerHeartbeatResponse,
  BrokerRegistrationRequestAnyVersion,
  BrokerRegistrationResponse,
  ControlledShutdownRequest,
  ControlledShutdownResponse,
  DescribeClusterResponse,
} from '../../../client/protocol/messages/brokers.js'
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
} from '../../../client/protocol/messages/quorum.js'
import type { HandlerContext } from './context.js'

export async function handleVote(ctx: HandlerContext, req: VoteRequest): Promise<VoteResponse> {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), term: -1, granted: false }
  return quorum.handleVote(req)
}

export async function handlePreVote(ctx: HandlerContext, req: PreVoteRequest): Promise<PreVoteResponse> {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), term: -1, granted: false }
  return quorum.handlePreVote(req)
}

export async function handleAppendEntries(ctx: HandlerContext, req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), term: -1, success: false, matchIndex: 0n }
  return quorum.handleAppendEntries(req)
}

export async function handleInstallSnapshot(ctx: HandlerContext, req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), term: -1, success: false, matchIndex: 0n }
  return quorum.handleInstallSnapshot(req)
}

export function handleDescribeQuorum(ctx: HandlerContext): DescribeQuorumResponse {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), nodeId: ctx.nodeId, role: 'unknown', term: -1, leaderId: -1, commitIndex: 0n, lastIndex: 0n, voters: [] }
  return quorum.describe()
}

export async function handleBrokerRegistration(ctx: HandlerContext, req: BrokerRegistrationRequestAnyVersion): Promise<BrokerRegistrationResponse> {
  const controller = ctx.controller()
  if (controller === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE') }
  return controller.handleRegistration(req)
}

export async function handleBrokerHeartbeat(ctx: HandlerContext, req: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
  const controller = ctx.controller()
  if (controller === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), isFenced: true }
  return controller.handleHeartbeat(req)
}

export async function handleControlledShutdown(ctx: HandlerContext, req: ControlledShutdownRequest): Promise<ControlledShutdownResponse> {
  const controller = ctx.controller()
  if (controller === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), remainingLeaderships: -1 }
  return controller.controlledShutdown(req)
}

export function handleDescribeCluster(ctx: HandlerContext): DescribeClusterResponse {
  const quorum = ctx.quorum()
  if (quorum === null) return { errorCode: errorCodeOf('BROKER_NOT_AVAILABLE'), controllerId: -1, brokers: [] }
  const brokers = [...quorum.image.brokers.values()].sort((a, b) => a.brokerId - b.brokerId)
  return { errorCode: 0, controllerId: quorum.leaderId ?? -1, brokers: brokers.map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, fenced: b.fenced, kafkaPort: b.kafkaPort })) }
}
