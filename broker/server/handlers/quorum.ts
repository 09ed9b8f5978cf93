// The metadata quorum's RPCs: Vote, AppendEntries and InstallSnapshot from other voters, DescribeQuorum from tools;
// broker registration, heartbeats and controlled shutdown for the controller; DescribeCluster from the metadata image.

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
  return ctx.quorum.handleVote(req)
}

export async function handlePreVote(ctx: HandlerContext, req: PreVoteRequest): Promise<PreVoteResponse> {
  return ctx.quorum.handlePreVote(req)
}

export async function handleAppendEntries(ctx: HandlerContext, req: AppendEntriesRequest): Promise<AppendEntriesResponse> {
  return ctx.quorum.handleAppendEntries(req)
}

export async function handleInstallSnapshot(ctx: HandlerContext, req: InstallSnapshotRequest): Promise<InstallSnapshotResponse> {
  return ctx.quorum.handleInstallSnapshot(req)
}

export function handleDescribeQuorum(ctx: HandlerContext): DescribeQuorumResponse {
  return ctx.quorum.describe()
}

export async function handleBrokerRegistration(ctx: HandlerContext, req: BrokerRegistrationRequestAnyVersion): Promise<BrokerRegistrationResponse> {
  return ctx.controller.handleRegistration(req)
}

export async function handleBrokerHeartbeat(ctx: HandlerContext, req: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
  return ctx.controller.handleHeartbeat(req)
}

export async function handleControlledShutdown(ctx: HandlerContext, req: ControlledShutdownRequest): Promise<ControlledShutdownResponse> {
  return ctx.controller.controlledShutdown(req)
}

export function handleDescribeCluster(ctx: HandlerContext): DescribeClusterResponse {
  const quorum = ctx.quorum
  const brokers = [...quorum.image.brokers.values()].sort((a, b) => a.brokerId - b.brokerId)
  return { errorCode: 0, controllerId: quorum.leaderId ?? -1, brokers: brokers.map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, fenced: b.fenced, kafkaPort: b.kafkaPort })) }
}
