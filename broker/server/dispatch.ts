// From a frame to a response frame: decode the header, route to the API's handler, encode the
// answer. An unknown API or version is answered with UNSUPPORTED_VERSION in an ApiVersions v0
// body (as Kafka does), which also tells the client what this broker speaks.
//
// A frame whose header cannot be read, or a known API whose body is malformed, cannot be answered
// in a shape the client would understand, so the handler rejects and the connection closes: the
// client sees a closed connection (retriable), the broker carries on.
//
// Security comes first: on a listener that requires SASL, a session that has not authenticated
// may send only ApiVersions, SaslHandshake and SaslAuthenticate; anything else closes the
// connection (as Kafka does: the client is not speaking the protocol it was told to). Then every
// request passes its API's authorization gate (security/request-auth.ts) before its handler.

import { ApiKey, apiName, decodeRequestBody, decodeRequestHeader, encodeResponse, encodeResponseChunks, supportedApis, type FrameChunks } from '../../client/protocol/apis.js'
import { errorCodeOf, StrandProtocolError } from '../../client/protocol/errors.js'
import { gateRequest } from '../security/request-auth.js'
import type { Session } from '../security/session.js'
import type { HandlerContext } from './handlers/context.js'
import {
  handleAlterUserScramCredentials,
  handleCreateAcls,
  handleDeleteAcls,
  handleDescribeAcls,
  handleDescribeUserScramCredentials,
} from './handlers/security.js'
import { handleDescribeConfigs } from './handlers/configs.js'
import { handleFetch } from './handlers/fetch.js'
import { handleListOffsets } from './handlers/list-offsets.js'
import { handleMetadata } from './handlers/metadata.js'
import { handleDescribeMetrics } from './handlers/metrics.js'
import { handleProduce } from './handlers/produce.js'
import {
  handleAppendEntries,
  handleBrokerHeartbeat,
  handleBrokerRegistration,
  handleControlledShutdown,
  handleDescribeCluster,
  handleDescribeQuorum,
  handleInstallSnapshot,
  handlePreVote,
  handleVote,
} from './handlers/quorum.js'
import {
  handleDescribeGroups,
  handleFindCoordinator,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleListGroups,
  handleOffsetCommit,
  handleOffsetFetch,
  handleSyncGroup,
} from './handlers/groups.js'
import { handleAllocateProducerIds, handleInitProducerId } from './handlers/producer-ids.js'
import { handleAlterPartition, handleOffsetsForLeaderEpoch } from './handlers/replication.js'
import { handleCreateTopics, handleDeleteTopics } from './handlers/topics.js'
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn, handleDescribeTransactions, handleEndTxn, handleListTransactions, handleTxnOffsetCommit } from './handlers/transactions.js'
import { handleWriteTxnMarkers } from './handlers/txn-markers.js'

export interface RequestMetrics {
  observe(apiKey: number, latencyMs: number): void
}

function unsupported(correlationId: number): Buffer {
  return encodeResponse(ApiKey.ApiVersions, 0, correlationId, { errorCode: errorCodeOf('UNSUPPORTED_VERSION'), apiKeys: supportedApis() })
}

/** Who sent a request: the group coordinator records it for DescribeGroups. */
export interface RequestInfo {
  clientId: string
  clientHost: string
}

/** APIs a session may send before it has authenticated. */
const PRE_AUTH_APIS: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate])

async function route(ctx: HandlerContext, apiKey: number, body: unknown, info: RequestInfo, session: Session): Promise<unknown> {
  switch (apiKey) {
    case ApiKey.ApiVersions:
      return { errorCode: 0, apiKeys: supportedApis() }
    case ApiKey.SaslHandshake:
      return ctx.sasl.handshake(session, body as Parameters<SaslServerOf<typeof ctx>['handshake']>[1])
    case ApiKey.SaslAuthenticate:
      return ctx.sasl.authenticate(session, body as Parameters<SaslServerOf<typeof ctx>['authenticate']>[1])
    case ApiKey.DescribeAcls:
      return handleDescribeAcls(ctx, body as Parameters<typeof handleDescribeAcls>[1])
    case ApiKey.CreateAcls:
      return handleCreateAcls(ctx, body as Parameters<typeof handleCreateAcls>[1])
    case ApiKey.DeleteAcls:
      return handleDeleteAcls(ctx, body as Parameters<typeof handleDeleteAcls>[1])
    case ApiKey.DescribeUserScramCredentials:
      return handleDescribeUserScramCredentials(ctx, body as Parameters<typeof handleDescribeUserScramCredentials>[1])
    case ApiKey.AlterUserScramCredentials:
      return handleAlterUserScramCredentials(ctx, body as Parameters<typeof handleAlterUserScramCredentials>[1])
    case ApiKey.Metadata:
      return handleMetadata(ctx, body as Parameters<typeof handleMetadata>[1])
    case ApiKey.CreateTopics:
      return handleCreateTopics(ctx, body as Parameters<typeof handleCreateTopics>[1])
    case ApiKey.DeleteTopics:
      return handleDeleteTopics(ctx, body as Parameters<typeof handleDeleteTopics>[1])
    case ApiKey.Produce:
      return handleProduce(ctx, body as Parameters<typeof handleProduce>[1], session)
    case ApiKey.Fetch:
      return handleFetch(ctx, body as Parameters<typeof handleFetch>[1])
    case ApiKey.ListOffsets:
      return handleListOffsets(ctx, body as Parameters<typeof handleListOffsets>[1])
    case ApiKey.Vote:
      return handleVote(ctx, body as Parameters<typeof handleVote>[1])
    case ApiKey.PreVote:
      return handlePreVote(ctx, body as Parameters<typeof handlePreVote>[1])
    case ApiKey.AppendEntries:
      return handleAppendEntries(ctx, body as Parameters<typeof handleAppendEntries>[1])
    case ApiKey.InstallSnapshot:
      return handleInstallSnapshot(ctx, body as Parameters<typeof handleInstallSnapshot>[1])
    case ApiKey.DescribeQuorum:
      return handleDescribeQuorum(ctx)
    case ApiKey.DescribeCluster:
      return handleDescribeCluster(ctx)
    case ApiKey.BrokerRegistration:
      return handleBrokerRegistration(ctx, body as Parameters<typeof handleBrokerRegistration>[1])
    case ApiKey.BrokerHeartbeat:
      return handleBrokerHeartbeat(ctx, body as Parameters<typeof handleBrokerHeartbeat>[1])
    case ApiKey.InitProducerId:
      return handleInitProducerId(ctx, body as Parameters<typeof handleInitProducerId>[1])
    case ApiKey.AddPartitionsToTxn:
      return handleAddPartitionsToTxn(ctx, body as Parameters<typeof handleAddPartitionsToTxn>[1])
    case ApiKey.EndTxn:
      return handleEndTxn(ctx, body as Parameters<typeof handleEndTxn>[1])
    case ApiKey.AddOffsetsToTxn:
      return handleAddOffsetsToTxn(ctx, body as Parameters<typeof handleAddOffsetsToTxn>[1])
    case ApiKey.TxnOffsetCommit:
      return handleTxnOffsetCommit(ctx, body as Parameters<typeof handleTxnOffsetCommit>[1])
    case ApiKey.ListTransactions:
      return handleListTransactions(ctx, body as Parameters<typeof handleListTransactions>[1])
    case ApiKey.DescribeTransactions:
      return handleDescribeTransactions(ctx, body as Parameters<typeof handleDescribeTransactions>[1])
    case ApiKey.AllocateProducerIds:
      return handleAllocateProducerIds(ctx, body as Parameters<typeof handleAllocateProducerIds>[1])
    case ApiKey.FindCoordinator:
      return handleFindCoordinator(ctx, body as Parameters<typeof handleFindCoordinator>[1])
    case ApiKey.JoinGroup:
      return handleJoinGroup(ctx, body as Parameters<typeof handleJoinGroup>[1], info)
    case ApiKey.SyncGroup:
      return handleSyncGroup(ctx, body as Parameters<typeof handleSyncGroup>[1])
    case ApiKey.Heartbeat:
      return handleHeartbeat(ctx, body as Parameters<typeof handleHeartbeat>[1])
    case ApiKey.LeaveGroup:
      return handleLeaveGroup(ctx, body as Parameters<typeof handleLeaveGroup>[1])
    case ApiKey.OffsetCommit:
      return handleOffsetCommit(ctx, body as Parameters<typeof handleOffsetCommit>[1])
    case ApiKey.OffsetFetch:
      return handleOffsetFetch(ctx, body as Parameters<typeof handleOffsetFetch>[1])
    case ApiKey.DescribeGroups:
      return handleDescribeGroups(ctx, body as Parameters<typeof handleDescribeGroups>[1])
    case ApiKey.ListGroups:
      return handleListGroups(ctx, body as Parameters<typeof handleListGroups>[1])
    case ApiKey.ControlledShutdown:
      return handleControlledShutdown(ctx, body as Parameters<typeof handleControlledShutdown>[1])
    case ApiKey.OffsetsForLeaderEpoch:
      return handleOffsetsForLeaderEpoch(ctx, body as Parameters<typeof handleOffsetsForLeaderEpoch>[1])
    case ApiKey.AlterPartition:
      return handleAlterPartition(ctx, body as Parameters<typeof handleAlterPartition>[1])
    case ApiKey.DescribeConfigs:
      return handleDescribeConfigs(ctx, body as Parameters<typeof handleDescribeConfigs>[1])
    case ApiKey.DescribeMetrics:
      return handleDescribeMetrics(ctx)
    case ApiKey.WriteTxnMarkers:
      return handleWriteTxnMarkers(ctx, body as Parameters<typeof handleWriteTxnMarkers>[1])
    default:
      throw new StrandProtocolError('UNSUPPORTED_VERSION', `API key ${apiKey} has no handler.`)
  }
}

/**
 * A decoded request through its authorization gate and its handler: the response body (or null
 * for none). The Kafka listener (broker/kafka/) serves the requests it translates through here
 * too, so both listeners share one set of permission checks and handlers.
 */
export async function serveRequest(ctx: HandlerContext, apiKey: number, body: unknown, info: RequestInfo, session: Session): Promise<unknown> {
  const gated = gateRequest(ctx.authorizer, session, apiKey as never, body as never) as { body: unknown; finish?: (r: unknown) => unknown } | { denied: unknown }
  if ('denied' in gated) return gated.denied
  const response = await route(ctx, apiKey, gated.body, info, session)
  return gated.finish !== undefined ? gated.finish(response) : response
}

type SaslServerOf<C extends HandlerContext> = C['sasl']

export function createDispatcher(ctx: HandlerContext, metrics?: RequestMetrics): (frame: Buffer, session: Session) => Promise<Buffer | FrameChunks | null> {
  return async (frame, session) => {
    const started = performance.now()
    // A connection whose answer so far is to be its last (a failed authentication) takes no more
    // requests: frames pipelined behind a wrong password must not be more guesses.
    // They get no answer (null) rather than an error each: the connection closes anyway, and one
    // log line per pipelined frame would let a client flood the log.
    if (session.closeAfterResponse) return null
    const header = decodeRequestHeader(frame)
    if (!session.authenticated && !PRE_AUTH_APIS.has(header.apiKey)) {
      throw new StrandProtocolError('ILLEGAL_SASL_STATE', `${apiName(header.apiKey)} from ${session.peer} before SASL authentication; only ApiVersions, SaslHandshake and SaslAuthenticate are allowed until then.`)
    }
    let body: unknown
    try {
      body = decodeRequestBody(header.apiKey, header.apiVersion, frame, header.bodyOffset)
    } catch (err) {
      if (err instanceof StrandProtocolError && err.code === 'UNSUPPORTED_VERSION') return unsupported(header.correlationId)
      throw err
    }
    // Fetch v0 has no aborted-transactions list, so a read_committed reader could not drop aborted
    // records: refused rather than answered as if it were read_uncommitted.
    if (header.apiKey === ApiKey.Fetch && header.apiVersion === 0 && (body as { isolationLevel?: number }).isolationLevel !== 0) {
      return encodeResponseChunks(ApiKey.Fetch, 0, header.correlationId, { throttleTimeMs: 0, errorCode: errorCodeOf('UNSUPPORTED_VERSION'), topics: [] })
    }
    const info = { clientId: header.clientId ?? '', clientHost: session.peer }
    const response = await serveRequest(ctx, header.apiKey, body, info, session)
    metrics?.observe(header.apiKey, performance.now() - started)
    if (response === null) return null
    return encodeResponseChunks(header.apiKey as never, header.apiVersion, header.correlationId, response as never)
  }
}
