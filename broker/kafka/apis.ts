// The Kafka listener's API table: for each API key, its request and response schemas
// (client/protocol/kafka/messages/) and its handler. The versions advertised by ApiVersions are
// the request schemas' validVersions: a version is listed only once its codec and handler exist.

import { apiVersionsRequest, apiVersionsResponse } from '../../client/protocol/kafka/messages/api-versions.js'
import { createTopicsRequest, createTopicsResponse } from '../../client/protocol/kafka/messages/create-topics.js'
import { deleteTopicsRequest, deleteTopicsResponse } from '../../client/protocol/kafka/messages/delete-topics.js'
import { describeConfigsRequest, describeConfigsResponse } from '../../client/protocol/kafka/messages/describe-configs.js'
import { fetchRequest, fetchResponse } from '../../client/protocol/kafka/messages/fetch.js'
import { findCoordinatorRequest, findCoordinatorResponse } from '../../client/protocol/kafka/messages/find-coordinator.js'
import {
  describeGroupsRequest,
  describeGroupsResponse,
  heartbeatRequest,
  heartbeatResponse,
  joinGroupRequest,
  joinGroupResponse,
  leaveGroupRequest,
  leaveGroupResponse,
  listGroupsRequest,
  listGroupsResponse,
  syncGroupRequest,
  syncGroupResponse,
} from '../../client/protocol/kafka/messages/groups.js'
import { initProducerIdRequest, initProducerIdResponse } from '../../client/protocol/kafka/messages/init-producer-id.js'
import { listOffsetsRequest, listOffsetsResponse } from '../../client/protocol/kafka/messages/list-offsets.js'
import { metadataRequest, metadataResponse } from '../../client/protocol/kafka/messages/metadata.js'
import { offsetsForLeaderEpochRequest, offsetsForLeaderEpochResponse } from '../../client/protocol/kafka/messages/offsets-for-leader-epoch.js'
import { offsetCommitRequest, offsetCommitResponse, offsetFetchRequest, offsetFetchResponse } from '../../client/protocol/kafka/messages/offsets.js'
import { produceRequest, produceResponse } from '../../client/protocol/kafka/messages/produce.js'
import { saslAuthenticateRequest, saslAuthenticateResponse, saslHandshakeRequest, saslHandshakeResponse } from '../../client/protocol/kafka/messages/sasl.js'
import {
  addOffsetsToTxnRequest,
  addOffsetsToTxnResponse,
  addPartitionsToTxnRequest,
  addPartitionsToTxnResponse,
  endTxnRequest,
  endTxnResponse,
  txnOffsetCommitRequest,
  txnOffsetCommitResponse,
} from '../../client/protocol/kafka/messages/transactions.js'
import type { KafkaHandler } from './context.js'
import { kafkaVersionRanges, type KafkaApi } from './dispatch.js'
import { kafkaCreateTopics, kafkaDeleteTopics, kafkaDescribeConfigs, kafkaInitProducerId, kafkaListOffsets, kafkaMetadata } from './handlers/admin.js'
import {
  kafkaDescribeGroups,
  kafkaFindCoordinator,
  kafkaHeartbeat,
  kafkaJoinGroup,
  kafkaLeaveGroup,
  kafkaListGroups,
  kafkaOffsetCommit,
  kafkaOffsetFetch,
  kafkaSyncGroup,
} from './handlers/groups.js'
import { kafkaOffsetsForLeaderEpoch } from './handlers/leader-epoch.js'
import { kafkaFetch, kafkaProduce } from './handlers/produce-fetch.js'
import { kafkaSaslAuthenticate, kafkaSaslHandshake } from './handlers/sasl.js'
import { kafkaAddOffsetsToTxn, kafkaAddPartitionsToTxn, kafkaEndTxn, kafkaTxnOffsetCommit } from './handlers/transactions.js'

const kafkaApiVersions: KafkaHandler = async () => ({ errorCode: 0, apiKeys: kafkaVersionRanges(KAFKA_APIS), throttleTimeMs: 0 })

const api = (request: KafkaApi['request'], response: KafkaApi['response'], handler: KafkaHandler): [number, KafkaApi] => {
  if (request.apiKey !== response.apiKey || request.validVersions !== response.validVersions) throw new Error(`${request.name} and ${response.name} disagree on key or versions.`)
  return [request.apiKey, { request, response, handler }]
}

export const KAFKA_APIS: ReadonlyMap<number, KafkaApi> = new Map<number, KafkaApi>([
  api(produceRequest, produceResponse, kafkaProduce),
  api(fetchRequest, fetchResponse, kafkaFetch),
  api(listOffsetsRequest, listOffsetsResponse, kafkaListOffsets),
  api(metadataRequest, metadataResponse, kafkaMetadata),
  api(offsetCommitRequest, offsetCommitResponse, kafkaOffsetCommit),
  api(offsetFetchRequest, offsetFetchResponse, kafkaOffsetFetch),
  api(findCoordinatorRequest, findCoordinatorResponse, kafkaFindCoordinator),
  api(joinGroupRequest, joinGroupResponse, kafkaJoinGroup),
  api(heartbeatRequest, heartbeatResponse, kafkaHeartbeat),
  api(leaveGroupRequest, leaveGroupResponse, kafkaLeaveGroup),
  api(syncGroupRequest, syncGroupResponse, kafkaSyncGroup),
  api(describeGroupsRequest, describeGroupsResponse, kafkaDescribeGroups),
  api(listGroupsRequest, listGroupsResponse, kafkaListGroups),
  api(saslHandshakeRequest, saslHandshakeResponse, kafkaSaslHandshake),
  api(apiVersionsRequest, apiVersionsResponse, kafkaApiVersions),
  api(createTopicsRequest, createTopicsResponse, kafkaCreateTopics),
  api(deleteTopicsRequest, deleteTopicsResponse, kafkaDeleteTopics),
  api(initProducerIdRequest, initProducerIdResponse, kafkaInitProducerId),
  api(offsetsForLeaderEpochRequest, offsetsForLeaderEpochResponse, kafkaOffsetsForLeaderEpoch),
  api(addPartitionsToTxnRequest, addPartitionsToTxnResponse, kafkaAddPartitionsToTxn),
  api(addOffsetsToTxnRequest, addOffsetsToTxnResponse, kafkaAddOffsetsToTxn),
  api(endTxnRequest, endTxnResponse, kafkaEndTxn),
  api(txnOffsetCommitRequest, txnOffsetCommitResponse, kafkaTxnOffsetCommit),
  api(describeConfigsRequest, describeConfigsResponse, kafkaDescribeConfigs),
  api(saslAuthenticateRequest, saslAuthenticateResponse, kafkaSaslAuthenticate),
])
