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

import { ApiKey, apiName, decodeRequestBody, decodeRequestHeader, encodeResponse, encodeResponseChunks, supportedApis, type ApiKeyValue, type ApiTypes, type FrameChunks } from '../../client/protocol/apis.js'
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

/** What serves one API: its decoded request, typed by the API's definition, to its response (null: none, acks=0). */
type Handler<K extends ApiKeyValue> = (ctx: HandlerContext, body: ApiTypes[K]['request'], info: RequestInfo, session: Session) => ApiTypes[K]['response'] | null | Promise<ApiTypes[K]['response'] | null>

/** The handler of every API the broker defines (client/protocol/apis.ts): one missing, or of the wrong request type, does not compile. */
export type HandlerTable = { readonly [K in ApiKeyValue]: Handler<K> }

export const HANDLERS: HandlerTable = {
  [ApiKey.ApiVersions]: () => ({ errorCode: 0, apiKeys: supportedApis() }),
  [ApiKey.SaslHandshake]: (ctx, body, _info, session) => ctx.sasl.handshake(session, body),
  [ApiKey.SaslAuthenticate]: (ctx, body, _info, session) => ctx.sasl.authenticate(session, body),
  [ApiKey.DescribeAcls]: (ctx, body) => handleDescribeAcls(ctx, body),
  [ApiKey.CreateAcls]: (ctx, body) => handleCreateAcls(ctx, body),
  [ApiKey.DeleteAcls]: (ctx, body) => handleDeleteAcls(ctx, body),
  [ApiKey.DescribeUserScramCredentials]: (ctx, body) => handleDescribeUserScramCredentials(ctx, body),
  [ApiKey.AlterUserScramCredentials]: (ctx, body) => handleAlterUserScramCredentials(ctx, body),
  [ApiKey.Metadata]: (ctx, body) => handleMetadata(ctx, body),
  [ApiKey.CreateTopics]: (ctx, body) => handleCreateTopics(ctx, body),
  [ApiKey.DeleteTopics]: (ctx, body) => handleDeleteTopics(ctx, body),
  [ApiKey.Produce]: (ctx, body, _info, session) => handleProduce(ctx, body, session),
  [ApiKey.Fetch]: (ctx, body) => handleFetch(ctx, body),
  [ApiKey.ListOffsets]: (ctx, body) => handleListOffsets(ctx, body),
  [ApiKey.Vote]: (ctx, body) => handleVote(ctx, body),
  [ApiKey.PreVote]: (ctx, body) => handlePreVote(ctx, body),
  [ApiKey.AppendEntries]: (ctx, body) => handleAppendEntries(ctx, body),
  [ApiKey.InstallSnapshot]: (ctx, body) => handleInstallSnapshot(ctx, body),
  [ApiKey.DescribeQuorum]: (ctx) => handleDescribeQuorum(ctx),
  [ApiKey.DescribeCluster]: (ctx) => handleDescribeCluster(ctx),
  [ApiKey.BrokerRegistration]: (ctx, body) => handleBrokerRegistration(ctx, body),
  [ApiKey.BrokerHeartbeat]: (ctx, body) => handleBrokerHeartbeat(ctx, body),
  [ApiKey.InitProducerId]: (ctx, body) => handleInitProducerId(ctx, body),
  [ApiKey.AddPartitionsToTxn]: (ctx, body) => handleAddPartitionsToTxn(ctx, body),
  [ApiKey.EndTxn]: (ctx, body) => handleEndTxn(ctx, body),
  [ApiKey.AddOffsetsToTxn]: (ctx, body) => handleAddOffsetsToTxn(ctx, body),
  [ApiKey.TxnOffsetCommit]: (ctx, body) => handleTxnOffsetCommit(ctx, body),
  [ApiKey.ListTransactions]: (ctx, body) => handleListTransactions(ctx, body),
  [ApiKey.DescribeTransactions]: (ctx, body) => handleDescribeTransactions(ctx, body),
  [ApiKey.AllocateProducerIds]: (ctx, body) => handleAllocateProducerIds(ctx, body),
  [ApiKey.FindCoordinator]: (ctx, body) => handleFindCoordinator(ctx, body),
  [ApiKey.JoinGroup]: (ctx, body, info) => handleJoinGroup(ctx, body, info),
  [ApiKey.SyncGroup]: (ctx, body) => handleSyncGroup(ctx, body),
  [ApiKey.Heartbeat]: (ctx, body) => handleHeartbeat(ctx, body),
  [ApiKey.LeaveGroup]: (ctx, body) => handleLeaveGroup(ctx, body),
  [ApiKey.OffsetCommit]: (ctx, body) => handleOffsetCommit(ctx, body),
  [ApiKey.OffsetFetch]: (ctx, body) => handleOffsetFetch(ctx, body),
  [ApiKey.DescribeGroups]: (ctx, body) => handleDescribeGroups(ctx, body),
  [ApiKey.ListGroups]: (ctx, body) => handleListGroups(ctx, body),
  [ApiKey.ControlledShutdown]: (ctx, body) => handleControlledShutdown(ctx, body),
  [ApiKey.OffsetsForLeaderEpoch]: (ctx, body) => handleOffsetsForLeaderEpoch(ctx, body),
  [ApiKey.AlterPartition]: (ctx, body) => handleAlterPartition(ctx, body),
  [ApiKey.DescribeConfigs]: (ctx, body) => handleDescribeConfigs(ctx, body),
  [ApiKey.DescribeMetrics]: (ctx) => handleDescribeMetrics(ctx),
  [ApiKey.WriteTxnMarkers]: (ctx, body) => handleWriteTxnMarkers(ctx, body),
}

function route(ctx: HandlerContext, apiKey: number, body: unknown, info: RequestInfo, session: Session): unknown {
  if (!Object.hasOwn(HANDLERS, apiKey)) throw new StrandProtocolError('UNSUPPORTED_VERSION', `API key ${apiKey} has no handler.`)
  // The one narrowing: `body` was decoded by the codec of this same key (decodeRequestBody).
  const handler = HANDLERS[apiKey as ApiKeyValue] as Handler<ApiKeyValue>
  return handler(ctx, body as ApiTypes[ApiKeyValue]['request'], info, session)
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
