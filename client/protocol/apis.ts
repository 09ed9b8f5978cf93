// The API registry: every API key, its versions, and their compiled request / response codecs.
// An API key never changes meaning once released, and a released version's schema is frozen:
// to change a message, add a version (golden-bytes tests in test/client/protocol enforce this).
//
// Keys follow Kafka's numbering. Reserved for later issues: BeginQuorumEpoch 53,
// EndQuorumEpoch 54. Keys from 1000 up are Strand's own (AppendEntries, InstallSnapshot,
// DescribeMetrics, PreVote), clear of Kafka's numbering.

import type avro from 'avsc'
import { AvroBoundsError, compileGuarded, encodeSpliced, SPLICE_BYTES_MIN, type RecordSchema, type Schema } from './avro.js'
import { StrandProtocolError, type WireErrorName } from './errors.js'
import { readRequestHeader, readResponseHeader, requestHeaderBytes, RESPONSE_HEADER_BYTES, SIZE_PREFIX_BYTES, writeRequestHeader, writeResponseHeader, type RequestHeader } from './frame.js'
import {
  brokerHeartbeatVersions,
  controlledShutdownVersions,
  brokerRegistrationVersions,
  describeClusterVersions,
  type BrokerHeartbeatRequest,
  type BrokerHeartbeatResponse,
  type ControlledShutdownRequest,
  type ControlledShutdownResponse,
  type BrokerRegistrationRequest,
  type BrokerRegistrationResponse,
  type DescribeClusterRequest,
  type DescribeClusterResponse,
} from './messages/brokers.js'
import { apiVersionsVersions, type ApiVersionsRequest, type ApiVersionsResponse } from './messages/api-versions.js'
import { describeConfigsVersions, type DescribeConfigsRequest, type DescribeConfigsResponse } from './messages/configs.js'
import { createTopicsVersions, type CreateTopicsRequest, type CreateTopicsResponse } from './messages/create-topics.js'
import { deleteTopicsVersions, type DeleteTopicsRequest, type DeleteTopicsResponse } from './messages/delete-topics.js'
import { fetchVersions, type FetchRequest, type FetchResponse } from './messages/fetch.js'
import {
  offsetCommitVersions,
  offsetFetchVersions,
  findCoordinatorVersions,
  joinGroupVersions,
  heartbeatVersions,
  leaveGroupVersions,
  syncGroupVersions,
  describeGroupsVersions,
  listGroupsVersions,
  type OffsetCommitRequest,
  type OffsetCommitResponse,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type LeaveGroupRequest,
  type LeaveGroupResponse,
  type SyncGroupRequest,
  type SyncGroupResponse,
  type DescribeGroupsRequest,
  type DescribeGroupsResponse,
  type ListGroupsRequest,
  type ListGroupsResponse,
} from './messages/groups.js'
import {
  initProducerIdVersions,
  allocateProducerIdsVersions,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
  type AllocateProducerIdsRequest,
  type AllocateProducerIdsResponse,
} from './messages/producer-ids.js'
import { listOffsetsVersions, type ListOffsetsRequest, type ListOffsetsResponse } from './messages/list-offsets.js'
import { metadataVersions, type MetadataRequest, type MetadataResponse } from './messages/metadata.js'
import { describeMetricsVersions, type DescribeMetricsRequest, type DescribeMetricsResponse } from './messages/metrics.js'
import { produceVersions, type ProduceRequest, type ProduceResponse } from './messages/produce.js'
import {
  appendEntriesVersions,
  describeQuorumVersions,
  installSnapshotVersions,
  preVoteVersions,
  voteVersions,
  type AppendEntriesRequest,
  type AppendEntriesResponse,
  type DescribeQuorumRequest,
  type DescribeQuorumResponse,
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type PreVoteRequest,
  type PreVoteResponse,
  type VoteRequest,
  type VoteResponse,
} from './messages/quorum.js'
import {
  alterUserScramCredentialsVersions,
  createAclsVersions,
  deleteAclsVersions,
  describeAclsVersions,
  describeUserScramCredentialsVersions,
  saslAuthenticateVersions,
  saslHandshakeVersions,
  type AlterUserScramCredentialsRequest,
  type AlterUserScramCredentialsResponse,
  type CreateAclsRequest,
  type CreateAclsResponse,
  type DeleteAclsRequest,
  type DeleteAclsResponse,
  type DescribeAclsRequest,
  type DescribeAclsResponse,
  type DescribeUserScramCredentialsRequest,
  type DescribeUserScramCredentialsResponse,
  type SaslAuthenticateRequest,
  type SaslAuthenticateResponse,
  type SaslHandshakeRequest,
  type SaslHandshakeResponse,
} from './messages/security.js'
import {
  alterPartitionVersions,
  offsetsForLeaderEpochVersions,
  type AlterPartitionRequest,
  type AlterPartitionResponse,
  type OffsetsForLeaderEpochRequest,
  type OffsetsForLeaderEpochResponse,
} from './messages/replication.js'
import { writeTxnMarkersVersions, type WriteTxnMarkersRequest, type WriteTxnMarkersResponse } from './messages/txn-markers.js'
import {
  addOffsetsToTxnVersions,
  addPartitionsToTxnVersions,
  endTxnVersions,
  txnOffsetCommitVersions,
  type AddOffsetsToTxnRequest,
  type AddOffsetsToTxnResponse,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
  type AddPartitionsToTxnRequest,
  type AddPartitionsToTxnResponse,
  type EndTxnRequest,
  type EndTxnResponse,
} from './messages/transactions.js'
import {
  describeTransactionsVersions,
  listTransactionsVersions,
  type DescribeTransactionsRequest,
  type DescribeTransactionsResponse,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
} from './messages/transaction-admin.js'

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  ControlledShutdown: 7,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  OffsetsForLeaderEpoch: 23,
  AddPartitionsToTxn: 24,
  AddOffsetsToTxn: 25,
  EndTxn: 26,
  WriteTxnMarkers: 27,
  TxnOffsetCommit: 28,
  DescribeAcls: 29,
  CreateAcls: 30,
  DeleteAcls: 31,
  DescribeConfigs: 32,
  SaslAuthenticate: 36,
  DescribeUserScramCredentials: 50,
  AlterUserScramCredentials: 51,
  Vote: 52,
  DescribeQuorum: 55,
  AlterPartition: 56,
  DescribeCluster: 60,
  BrokerRegistration: 62,
  BrokerHeartbeat: 63,
  DescribeTransactions: 65,
  ListTransactions: 66,
  AllocateProducerIds: 67,
  AppendEntries: 1000,
  InstallSnapshot: 1001,
  DescribeMetrics: 1002,
  PreVote: 1003,
} as const

/**
 * Request and response body types per API key: the latest version's shape, which is what clients
 * build and what encodes at every version (an older version's codec leaves out the fields added
 * since). A body decoded from an older version lacks those fields: a handler that reads one takes
 * the union of its versions' shapes (see messages/produce.ts).
 */
export interface ApiTypes {
  0: { request: ProduceRequest; response: ProduceResponse }
  1: { request: FetchRequest; response: FetchResponse }
  2: { request: ListOffsetsRequest; response: ListOffsetsResponse }
  3: { request: MetadataRequest; response: MetadataResponse }
  7: { request: ControlledShutdownRequest; response: ControlledShutdownResponse }
  8: { request: OffsetCommitRequest; response: OffsetCommitResponse }
  9: { request: OffsetFetchRequest; response: OffsetFetchResponse }
  10: { request: FindCoordinatorRequest; response: FindCoordinatorResponse }
  11: { request: JoinGroupRequest; response: JoinGroupResponse }
  12: { request: HeartbeatRequest; response: HeartbeatResponse }
  13: { request: LeaveGroupRequest; response: LeaveGroupResponse }
  14: { request: SyncGroupRequest; response: SyncGroupResponse }
  15: { request: DescribeGroupsRequest; response: DescribeGroupsResponse }
  16: { request: ListGroupsRequest; response: ListGroupsResponse }
  17: { request: SaslHandshakeRequest; response: SaslHandshakeResponse }
  18: { request: ApiVersionsRequest; response: ApiVersionsResponse }
  19: { request: CreateTopicsRequest; response: CreateTopicsResponse }
  20: { request: DeleteTopicsRequest; response: DeleteTopicsResponse }
  22: { request: InitProducerIdRequest; response: InitProducerIdResponse }
  23: { request: OffsetsForLeaderEpochRequest; response: OffsetsForLeaderEpochResponse }
  24: { request: AddPartitionsToTxnRequest; response: AddPartitionsToTxnResponse }
  25: { request: AddOffsetsToTxnRequest; response: AddOffsetsToTxnResponse }
  26: { request: EndTxnRequest; response: EndTxnResponse }
  27: { request: WriteTxnMarkersRequest; response: WriteTxnMarkersResponse }
  28: { request: TxnOffsetCommitRequest; response: TxnOffsetCommitResponse }
  29: { request: DescribeAclsRequest; response: DescribeAclsResponse }
  30: { request: CreateAclsRequest; response: CreateAclsResponse }
  31: { request: DeleteAclsRequest; response: DeleteAclsResponse }
  32: { request: DescribeConfigsRequest; response: DescribeConfigsResponse }
  36: { request: SaslAuthenticateRequest; response: SaslAuthenticateResponse }
  50: { request: DescribeUserScramCredentialsRequest; response: DescribeUserScramCredentialsResponse }
  51: { request: AlterUserScramCredentialsRequest; response: AlterUserScramCredentialsResponse }
  52: { request: VoteRequest; response: VoteResponse }
  55: { request: DescribeQuorumRequest; response: DescribeQuorumResponse }
  56: { request: AlterPartitionRequest; response: AlterPartitionResponse }
  60: { request: DescribeClusterRequest; response: DescribeClusterResponse }
  62: { request: BrokerRegistrationRequest; response: BrokerRegistrationResponse }
  63: { request: BrokerHeartbeatRequest; response: BrokerHeartbeatResponse }
  65: { request: DescribeTransactionsRequest; response: DescribeTransactionsResponse }
  66: { request: ListTransactionsRequest; response: ListTransactionsResponse }
  67: { request: AllocateProducerIdsRequest; response: AllocateProducerIdsResponse }
  1000: { request: AppendEntriesRequest; response: AppendEntriesResponse }
  1001: { request: InstallSnapshotRequest; response: InstallSnapshotResponse }
  1002: { request: DescribeMetricsRequest; response: DescribeMetricsResponse }
  1003: { request: PreVoteRequest; response: PreVoteResponse }
}
export type ApiKeyValue = keyof ApiTypes

type VersionTable = Readonly<Record<number, { readonly request: RecordSchema<Record<string, Schema>>; readonly response: RecordSchema<Record<string, Schema>> }>>

const DEFINITIONS: Readonly<Record<ApiKeyValue, { name: string; versions: VersionTable }>> = {
  0: { name: 'Produce', versions: produceVersions },
  1: { name: 'Fetch', versions: fetchVersions },
  2: { name: 'ListOffsets', versions: listOffsetsVersions },
  3: { name: 'Metadata', versions: metadataVersions },
  7: { name: 'ControlledShutdown', versions: controlledShutdownVersions },
  8: { name: 'OffsetCommit', versions: offsetCommitVersions },
  9: { name: 'OffsetFetch', versions: offsetFetchVersions },
  10: { name: 'FindCoordinator', versions: findCoordinatorVersions },
  11: { name: 'JoinGroup', versions: joinGroupVersions },
  12: { name: 'Heartbeat', versions: heartbeatVersions },
  13: { name: 'LeaveGroup', versions: leaveGroupVersions },
  14: { name: 'SyncGroup', versions: syncGroupVersions },
  15: { name: 'DescribeGroups', versions: describeGroupsVersions },
  16: { name: 'ListGroups', versions: listGroupsVersions },
  17: { name: 'SaslHandshake', versions: saslHandshakeVersions },
  18: { name: 'ApiVersions', versions: apiVersionsVersions },
  19: { name: 'CreateTopics', versions: createTopicsVersions },
  20: { name: 'DeleteTopics', versions: deleteTopicsVersions },
  22: { name: 'InitProducerId', versions: initProducerIdVersions },
  23: { name: 'OffsetsForLeaderEpoch', versions: offsetsForLeaderEpochVersions },
  24: { name: 'AddPartitionsToTxn', versions: addPartitionsToTxnVersions },
  25: { name: 'AddOffsetsToTxn', versions: addOffsetsToTxnVersions },
  26: { name: 'EndTxn', versions: endTxnVersions },
  27: { name: 'WriteTxnMarkers', versions: writeTxnMarkersVersions },
  28: { name: 'TxnOffsetCommit', versions: txnOffsetCommitVersions },
  29: { name: 'DescribeAcls', versions: describeAclsVersions },
  30: { name: 'CreateAcls', versions: createAclsVersions },
  31: { name: 'DeleteAcls', versions: deleteAclsVersions },
  32: { name: 'DescribeConfigs', versions: describeConfigsVersions },
  36: { name: 'SaslAuthenticate', versions: saslAuthenticateVersions },
  50: { name: 'DescribeUserScramCredentials', versions: describeUserScramCredentialsVersions },
  51: { name: 'AlterUserScramCredentials', versions: alterUserScramCredentialsVersions },
  52: { name: 'Vote', versions: voteVersions },
  55: { name: 'DescribeQuorum', versions: describeQuorumVersions },
  56: { name: 'AlterPartition', versions: alterPartitionVersions },
  60: { name: 'DescribeCluster', versions: describeClusterVersions },
  62: { name: 'BrokerRegistration', versions: brokerRegistrationVersions },
  63: { name: 'BrokerHeartbeat', versions: brokerHeartbeatVersions },
  65: { name: 'DescribeTransactions', versions: describeTransactionsVersions },
  66: { name: 'ListTransactions', versions: listTransactionsVersions },
  67: { name: 'AllocateProducerIds', versions: allocateProducerIdsVersions },
  1000: { name: 'AppendEntries', versions: appendEntriesVersions },
  1001: { name: 'InstallSnapshot', versions: installSnapshotVersions },
  1002: { name: 'DescribeMetrics', versions: describeMetricsVersions },
  1003: { name: 'PreVote', versions: preVoteVersions },
}

interface Compiled {
  request: avro.Type
  response: avro.Type
}

/** Compiled once at load: `COMPILED.get(apiKey)?.get(version)`. */
const COMPILED = new Map<number, Map<number, Compiled>>()
for (const [key, def] of Object.entries(DEFINITIONS)) {
  const versions = new Map<number, Compiled>()
  for (const [v, s] of Object.entries(def.versions)) versions.set(Number(v), { request: compileGuarded(s.request), response: compileGuarded(s.response) })
  COMPILED.set(Number(key), versions)
}

export function apiName(apiKey: number): string {
  return (DEFINITIONS as Record<number, { name: string } | undefined>)[apiKey]?.name ?? `Unknown(${apiKey})`
}

export interface ApiVersionRange {
  apiKey: number
  minVersion: number
  maxVersion: number
}

/** Each API's version range, computed once: a connection looks its API's up on every request. */
const RANGES = new Map<number, Readonly<ApiVersionRange>>()
for (const [apiKey, versions] of COMPILED) {
  RANGES.set(apiKey, Object.freeze({ apiKey, minVersion: Math.min(...versions.keys()), maxVersion: Math.max(...versions.keys()) }))
}

/** What this build speaks: the ApiVersions answer. */
export function supportedApis(): ApiVersionRange[] {
  return [...RANGES.values()].map((r) => ({ ...r }))
}

/** The versions this build speaks of `apiKey`; undefined for an API it does not know. */
export function versionRange(apiKey: number): Readonly<ApiVersionRange> | undefined {
  return RANGES.get(apiKey)
}

function codecs(apiKey: number, apiVersion: number): Compiled {
  const c = COMPILED.get(apiKey)?.get(apiVersion)
  if (c === undefined) throw new StrandProtocolError('UNSUPPORTED_VERSION', `${apiName(apiKey)} v${apiVersion} is not supported.`)
  return c
}

/**
 * Encodes `value` after `headerBytes` reserved bytes, growing once if the guess was short: avsc
 * reports how many bytes it lacked, so no more than two attempts are ever needed.
 */
function encodeWithHeader(type: avro.Type, value: unknown, headerBytes: number, sizeHint: number): Buffer {
  let buf = Buffer.allocUnsafe(headerBytes + sizeHint)
  let end = type.encode(value, buf, headerBytes)
  if (end < 0) {
    buf = Buffer.allocUnsafe(buf.length - end)
    end = type.encode(value, buf, headerBytes)
  }
  return end === buf.length ? buf : buf.subarray(0, end)
}

/**
 * Bytes worth reserving for a body: the opaque record payloads dominate Produce and Fetch. With
 * `spliced`, payloads that encodeSpliced leaves out of the body are not counted.
 */
function sizeHint(value: unknown, spliced = false): number {
  let payload = 0
  const topics = (value as { topics?: Array<{ partitions?: Array<{ records?: Buffer }> }> }).topics
  if (Array.isArray(topics)) {
    for (const t of topics) {
      for (const p of t.partitions ?? []) {
        const n = p.records?.length ?? 0
        if (!spliced || n < SPLICE_BYTES_MIN) payload += n
      }
    }
  }
  return payload + 1024
}

/**
 * A frame as the chunks to write for it, in order (see encodeSpliced): record batches are not
 * copied into it, and a connection writes all of a frame's chunks (and any other frames ready
 * then) with one writev.
 */
export type FrameChunks = Buffer[]

/** The whole request frame, size prefix included. */
export function encodeRequest<K extends ApiKeyValue>(apiKey: K, apiVersion: number, correlationId: number, clientId: string | null, body: ApiTypes[K]['request']): Buffer {
  const type = codecs(apiKey, apiVersion).request
  const headerBytes = SIZE_PREFIX_BYTES + requestHeaderBytes(clientId)
  const buf = encodeWithHeader(type, body, headerBytes, sizeHint(body))
  writeRequestHeader(buf, { apiKey, apiVersion, correlationId, clientId })
  return buf
}

/** encodeRequest, as chunks that share the records' buffers instead of copying them. */
export function encodeRequestChunks<K extends ApiKeyValue>(apiKey: K, apiVersion: number, correlationId: number, clientId: string | null, body: ApiTypes[K]['request']): FrameChunks {
  const type = codecs(apiKey, apiVersion).request
  const headerBytes = SIZE_PREFIX_BYTES + requestHeaderBytes(clientId)
  const { chunks, bytes } = encodeSpliced(type, body, headerBytes, sizeHint(body, true))
  writeRequestHeader(chunks[0] as Buffer, { apiKey, apiVersion, correlationId, clientId }, bytes)
  return chunks
}

/** encodeResponse, as chunks that share the records' buffers instead of copying them. */
export function encodeResponseChunks<K extends ApiKeyValue>(apiKey: K, apiVersion: number, correlationId: number, body: ApiTypes[K]['response']): FrameChunks {
  const type = codecs(apiKey, apiVersion).response
  const { chunks, bytes } = encodeSpliced(type, body, SIZE_PREFIX_BYTES + RESPONSE_HEADER_BYTES, sizeHint(body, true))
  writeResponseHeader(chunks[0] as Buffer, correlationId, bytes)
  return chunks
}

/** The whole response frame, size prefix included. */
export function encodeResponse<K extends ApiKeyValue>(apiKey: K, apiVersion: number, correlationId: number, body: ApiTypes[K]['response']): Buffer {
  const type = codecs(apiKey, apiVersion).response
  const buf = encodeWithHeader(type, body, SIZE_PREFIX_BYTES + RESPONSE_HEADER_BYTES, sizeHint(body))
  writeResponseHeader(buf, correlationId)
  return buf
}

export function decodeRequestHeader(frame: Buffer): RequestHeader {
  return readRequestHeader(frame)
}

/**
 * Decodes a body that must fill the rest of the frame. Truncation, trailing bytes or any value
 * avsc cannot read become `errorName` (INVALID_REQUEST on the broker, CORRUPT_MESSAGE on the client).
 */
function decodeBody(type: avro.Type, buf: Buffer, offset: number, errorName: WireErrorName, what: string): unknown {
  let result: { value: unknown; offset: number }
  try {
    result = type.decode(buf, offset)
  } catch (err) {
    const detail = err instanceof AvroBoundsError ? err.message : `${(err as Error).name}: ${(err as Error).message}`
    throw new StrandProtocolError(errorName, `Malformed ${what}: ${detail}`, err)
  }
  if (result.offset < 0) throw new StrandProtocolError(errorName, `Truncated ${what}.`)
  if (result.offset !== buf.length) throw new StrandProtocolError(errorName, `${buf.length - result.offset} trailing bytes after ${what}.`)
  return result.value
}

/** Throws UNSUPPORTED_VERSION for an unknown API or version, INVALID_REQUEST for a bad body. */
export function decodeRequestBody(apiKey: number, apiVersion: number, frame: Buffer, bodyOffset: number): unknown {
  const type = codecs(apiKey, apiVersion).request
  return decodeBody(type, frame, bodyOffset, 'INVALID_REQUEST', `${apiName(apiKey)} v${apiVersion} request`)
}

/** Typed decode of a request (tests and tools); the broker uses decodeRequestBody. */
export function decodeRequest<K extends ApiKeyValue>(apiKey: K, frame: Buffer): { header: RequestHeader; body: ApiTypes[K]['request'] } {
  const header = readRequestHeader(frame)
  if (header.apiKey !== apiKey) throw new StrandProtocolError('INVALID_REQUEST', `Expected ${apiName(apiKey)}, got ${apiName(header.apiKey)}.`)
  return { header, body: decodeRequestBody(apiKey, header.apiVersion, frame, header.bodyOffset) as ApiTypes[K]['request'] }
}

export function decodeResponse<K extends ApiKeyValue>(apiKey: K, apiVersion: number, frame: Buffer): { correlationId: number; body: ApiTypes[K]['response'] } {
  const { correlationId, bodyOffset } = readResponseHeader(frame)
  const type = codecs(apiKey, apiVersion).response
  const body = decodeBody(type, frame, bodyOffset, 'CORRUPT_MESSAGE', `${apiName(apiKey)} v${apiVersion} response`)
  return { correlationId, body: body as ApiTypes[K]['response'] }
}
