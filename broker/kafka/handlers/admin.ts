// Metadata, ListOffsets, CreateTopics, DeleteTopics, DescribeConfigs and InitProducerId on the
// Kafka listener: Kafka's bodies to Strand's and back. Each is served by the Strand handler
// through the Strand listener's gate (`req.serve`), so permissions, validation and errors are the
// Strand listener's; what is done here is only what the Kafka protocol says that Strand's does not:
//
// - Results keep the request's order (the gate appends refused entries at the end), and a
//   topic or partition named twice is refused INVALID_REQUEST here, as Kafka's broker does.
// - Metadata advertises each broker at its Kafka listener and leaves out brokers without one. A
//   client that forbids auto-creation (allowAutoTopicCreation false, v4+) on a broker that
//   auto-creates is answered from a list of all topics, since Strand's Metadata auto-creates any
//   topic it is asked for by name. Strand's Metadata carries no topic ids: topicId is zero, which
//   Kafka clients read as "unknown" (they then use names, e.g. Fetch below v13). The authorized
//   operations (v8+, when asked) and the error of a topic missing from Strand's answer come from
//   the authorizer directly, as the gate computes neither.
// - ListOffsets: Strand has latest (-1), earliest (-2) and timestamps; max timestamp (-3, KIP-734)
//   and any other negative value is UNSUPPORTED_VERSION for that partition, Kafka's answer to a
//   special timestamp it does not support. OFFSET_NOT_AVAILABLE is LEADER_NOT_AVAILABLE below v5.
// - CreateTopics: manual replica assignment is refused (INVALID_REQUEST): Strand places replicas
//   itself. From v5 each created topic's effective configs come from Strand's DescribeConfigs.
// - DeleteTopics v6: by name only; a topic given by id only is UNKNOWN_TOPIC_ID.
// - DescribeConfigs: Strand has no AlterConfigs, so every entry is read-only; a value is either
//   a default (DEFAULT_CONFIG) or set (a topic's override, or the broker's static config). No
//   types or documentation (Strand's answer carries neither); the only synonym is the key itself.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { KafkaStruct } from '../../../client/protocol/kafka/schema.js'
import { ConfigResourceType, type DescribeConfigsResponse } from '../../../client/protocol/messages/configs.js'
import type { CreateTopicsRequest } from '../../../client/protocol/messages/create-topics.js'
import type { ListOffsetsRequest, ListOffsetsResponse } from '../../../client/protocol/messages/list-offsets.js'
import type { MetadataResponse } from '../../../client/protocol/messages/metadata.js'
import { CLUSTER_RESOURCE, type Operation } from '../../security/authorizer.js'
import { describeTopicConfig, topicNameProblem } from '../../topic-config.js'
import type { KafkaHandler, KafkaRequestContext } from '../context.js'

const ZERO_UUID = Buffer.alloc(16)
const NONE = 0
const INVALID_REQUEST = errorCodeOf('INVALID_REQUEST')
const UNKNOWN_TOPIC_OR_PARTITION = errorCodeOf('UNKNOWN_TOPIC_OR_PARTITION')
/** Kafka's "authorized operations were not requested" (Integer.MIN_VALUE). */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648
/** Kafka's DescribeConfigsResponse.ConfigSource codes. */
const CONFIG_SOURCE = { topic: 1, staticBroker: 4, default: 5 } as const
/** Kafka's ConfigType UNKNOWN: Strand's DescribeConfigs does not say a key's type. */
const CONFIG_TYPE_UNKNOWN = 0
const OFFSET_NOT_AVAILABLE = errorCodeOf('OFFSET_NOT_AVAILABLE')
const LEADER_NOT_AVAILABLE = errorCodeOf('LEADER_NOT_AVAILABLE')
/** The first ListOffsets version whose clients know OFFSET_NOT_AVAILABLE (KIP-207). */
const OFFSET_NOT_AVAILABLE_FROM_VERSION = 5
/** ListOffsets: timestamps below this are special values; Strand knows -1 (latest) and -2 (earliest). */
const EARLIEST_TIMESTAMP = -2n
/** Kafka's AclOperation codes of the operations Metadata reports, per resource (AclEntry.supportedOperations). */
const TOPIC_OPERATIONS: ReadonlyArray<readonly [Operation, number]> = [
  ['read', 3], ['write', 4], ['create', 5], ['delete', 6], ['alter', 7], ['describe', 8], ['describe_configs', 10], ['alter_configs', 11],
]
const CLUSTER_OPERATIONS: ReadonlyArray<readonly [Operation, number]> = [
  ['create', 5], ['alter', 7], ['describe', 8], ['cluster_action', 9], ['describe_configs', 10], ['alter_configs', 11], ['idempotent_write', 12],
]

/** How often each key occurs: entries named more than once are refused. */
function occurrences(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1)
  return counts
}

function operationsBitfield(req: KafkaRequestContext, ops: ReadonlyArray<readonly [Operation, number]>, type: 'topic' | 'cluster', name: string): number {
  let bits = 0
  for (const [op, code] of ops) if (req.ctx.authorizer.authorize(req.session.principal, req.session.host, op, { type, name })) bits |= 1 << code
  return bits
}

// ---------------------------------------------------------------------------------------------
// Metadata (3), v1-12.

type KafkaMetadataRequest = {
  topics: Array<{ topicId: Buffer; name: string | null }> | null
  allowAutoTopicCreation: boolean
  includeClusterAuthorizedOperations: boolean
  includeTopicAuthorizedOperations: boolean
}

type StrandMetadataTopic = MetadataResponse['topics'][number]

type KafkaMetadataTopic = {
  errorCode: number
  name: string | null
  topicId: Buffer
  isInternal: boolean
  partitions: Array<{ errorCode: number; partitionIndex: number; leaderId: number; leaderEpoch: number; replicaNodes: number[]; isrNodes: number[]; offlineReplicas: number[] }>
  topicAuthorizedOperations: number
}

function kafkaMetadataTopic(t: StrandMetadataTopic): KafkaMetadataTopic {
  return {
    errorCode: t.errorCode,
    name: t.name,
    topicId: ZERO_UUID,
    isInternal: t.internal,
    partitions: t.partitions.map((p) => ({
      errorCode: p.errorCode,
      partitionIndex: p.partitionIndex,
      leaderId: p.leaderId,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: p.replicaNodes,
      isrNodes: p.isrNodes,
      offlineReplicas: p.offlineReplicas,
    })),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  }
}

function emptyMetadataTopic(errorCode: number, name: string | null, topicId: Buffer): KafkaMetadataTopic {
  return { errorCode, name, topicId, isInternal: false, partitions: [], topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED }
}

/**
 * A requested topic missing from Strand's answer: one the all-topics list left out (it does not
 * exist, or the principal may not describe it: the gate filters the list), or any topic while
 * the broker is still starting (Strand then lists none).
 */
function missingMetadataTopic(req: KafkaRequestContext, name: string): KafkaMetadataTopic {
  let code = UNKNOWN_TOPIC_OR_PARTITION
  if (!req.ctx.authorizer.authorize(req.session.principal, req.session.host, 'describe', { type: 'topic', name })) code = errorCodeOf('TOPIC_AUTHORIZATION_FAILED')
  else if (topicNameProblem(name) !== null) code = errorCodeOf('INVALID_TOPIC')
  return emptyMetadataTopic(code, name, ZERO_UUID)
}

export const kafkaMetadata: KafkaHandler = async (req, body) => {
  // The codec decoded the body at req.version: every field is there, absent ones at defaults.
  const request = body as unknown as KafkaMetadataRequest
  // Kafka answers a topic named twice once; v12 may name a topic by id only (name null).
  const seen = new Set<string>()
  const requested =
    request.topics === null
      ? null
      : request.topics.filter((t) => {
          if (t.name === null) return true
          if (seen.has(t.name)) return false
          seen.add(t.name)
          return true
        })
  const names = requested === null ? null : requested.flatMap((t) => (t.name === null ? [] : [t.name]))
  const forbidCreation = names !== null && names.length > 0 && !request.allowAutoTopicCreation && req.ctx.config.autoCreateTopics
  const strand = await req.serve(ApiKey.Metadata, { topics: forbidCreation ? null : names })
  const byName = new Map(strand.topics.map((t) => [t.name, t]))
  const topics =
    requested === null
      ? strand.topics.map(kafkaMetadataTopic)
      : requested.map((t) => {
          if (t.name === null) return emptyMetadataTopic(errorCodeOf('UNKNOWN_TOPIC_ID'), null, t.topicId)
          const found = byName.get(t.name)
          return found === undefined ? missingMetadataTopic(req, t.name) : kafkaMetadataTopic(found)
        })
  if (request.includeTopicAuthorizedOperations) {
    for (const t of topics) {
      if (t.name !== null && t.errorCode !== errorCodeOf('TOPIC_AUTHORIZATION_FAILED')) t.topicAuthorizedOperations = operationsBitfield(req, TOPIC_OPERATIONS, 'topic', t.name)
    }
  }
  const brokers = strand.brokers.flatMap((b) => {
    const address = req.kafkaAddress(b.nodeId)
    return address === null ? [] : [{ nodeId: b.nodeId, host: address.host, port: address.port, rack: null }]
  })
  return {
    throttleTimeMs: 0,
    brokers,
    clusterId: strand.clusterId,
    controllerId: strand.controllerId,
    topics,
    clusterAuthorizedOperations: request.includeClusterAuthorizedOperations ? operationsBitfield(req, CLUSTER_OPERATIONS, 'cluster', CLUSTER_RESOURCE) : AUTHORIZED_OPERATIONS_OMITTED,
  }
}

// ---------------------------------------------------------------------------------------------
// ListOffsets (2), v1-7.

type KafkaListOffsetsRequest = {
  replicaId: number
  isolationLevel: number
  topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; currentLeaderEpoch: number; timestamp: bigint }> }>
}

type ListOffsetsPartitionResult = ListOffsetsResponse['topics'][number]['partitions'][number]

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function listOffsetsRefusal(partitionIndex: number, name: 'INVALID_REQUEST' | 'UNSUPPORTED_VERSION'): ListOffsetsPartitionResult {
  return { partitionIndex, errorCode: errorCodeOf(name), timestamp: -1n, offset: -1n, leaderEpoch: -1 }
}

export const kafkaListOffsets: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaListOffsetsRequest
  const counts = occurrences(request.topics.flatMap((t) => t.partitions.map((p) => partitionKey(t.name, p.partitionIndex))))
  const refused = new Map<string, ListOffsetsPartitionResult>()
  const forwarded: ListOffsetsRequest['topics'] = []
  for (const t of request.topics) {
    const partitions: ListOffsetsRequest['topics'][number]['partitions'] = []
    for (const p of t.partitions) {
      const key = partitionKey(t.name, p.partitionIndex)
      if ((counts.get(key) ?? 0) > 1) refused.set(key, listOffsetsRefusal(p.partitionIndex, 'INVALID_REQUEST'))
      else if (p.timestamp < EARLIEST_TIMESTAMP) refused.set(key, listOffsetsRefusal(p.partitionIndex, 'UNSUPPORTED_VERSION'))
      else partitions.push({ partitionIndex: p.partitionIndex, currentLeaderEpoch: p.currentLeaderEpoch, timestamp: p.timestamp })
    }
    if (partitions.length > 0) forwarded.push({ name: t.name, partitions })
  }
  const answered = new Map<string, ListOffsetsPartitionResult>()
  if (forwarded.length > 0) {
    const strand = await req.serve(ApiKey.ListOffsets, { replicaId: request.replicaId, isolationLevel: request.isolationLevel, topics: forwarded })
    for (const t of strand.topics) for (const p of t.partitions) answered.set(partitionKey(t.name, p.partitionIndex), p)
  }
  const topics = request.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => {
      const key = partitionKey(t.name, p.partitionIndex)
      const result = refused.get(key) ?? answered.get(key)
      // The Strand handler and its gate answer every partition they are given.
      if (result === undefined) throw new Error(`ListOffsets: no answer for ${t.name}-${p.partitionIndex}.`)
      // OFFSET_NOT_AVAILABLE (a new leader's high watermark behind its epoch start, KIP-207) is
      // known from v5; before, Kafka answers LEADER_NOT_AVAILABLE, which clients retry too.
      const errorCode = result.errorCode === OFFSET_NOT_AVAILABLE && req.version < OFFSET_NOT_AVAILABLE_FROM_VERSION ? LEADER_NOT_AVAILABLE : result.errorCode
      return { partitionIndex: p.partitionIndex, errorCode, timestamp: result.timestamp, offset: result.offset, leaderEpoch: result.leaderEpoch }
    }),
  }))
  return { throttleTimeMs: 0, topics }
}

// ---------------------------------------------------------------------------------------------
// CreateTopics (19), v0-7.

type KafkaCreatableTopic = {
  name: string
  numPartitions: number
  replicationFactor: number
  assignments: Array<{ partitionIndex: number; brokerIds: number[] }>
  configs: Array<{ name: string; value: string | null }>
}

type KafkaCreateTopicsRequest = { topics: KafkaCreatableTopic[]; timeoutMs: number; validateOnly: boolean }

type KafkaTopicConfig = { name: string; value: string | null; readOnly: boolean; configSource: number; isSensitive: boolean }

type KafkaCreatableTopicResult = {
  name: string
  topicId: Buffer
  errorCode: number
  errorMessage: string | null
  topicConfigErrorCode: number
  numPartitions: number
  replicationFactor: number
  configs: KafkaTopicConfig[] | null
}

function createRefusal(name: string, errorMessage: string): KafkaCreatableTopicResult {
  return { name, topicId: ZERO_UUID, errorCode: INVALID_REQUEST, errorMessage, topicConfigErrorCode: NONE, numPartitions: -1, replicationFactor: -1, configs: [] }
}

function topicConfig(entry: { name: string; value: string | null; isDefault: boolean }): KafkaTopicConfig {
  return { name: entry.name, value: entry.value, readOnly: true, configSource: entry.isDefault ? CONFIG_SOURCE.default : CONFIG_SOURCE.topic, isSensitive: false }
}

/**
 * The effective configs of created (or, validate-only, creatable) topics, for v5+ responses:
 * Strand's DescribeConfigs through its gate, so a principal without describe_configs gets
 * topicConfigErrorCode TOPIC_AUTHORIZATION_FAILED, as from Kafka. A topic this broker's image
 * does not hold yet (validate-only, or not yet applied) is described from the broker defaults
 * and its overrides, which is what it gets.
 */
async function createdTopicConfigs(req: KafkaRequestContext, created: readonly CreateTopicsRequest['topics'][number][]): Promise<Map<string, { errorCode: number; configs: KafkaTopicConfig[] }>> {
  const out = new Map<string, { errorCode: number; configs: KafkaTopicConfig[] }>()
  if (created.length === 0) return out
  const described = await req.serve(ApiKey.DescribeConfigs, { resources: created.map((t) => ({ resourceType: ConfigResourceType.Topic, resourceName: t.name })) })
  for (const r of described.results) out.set(r.resourceName, { errorCode: r.errorCode, configs: r.configs.map(topicConfig) })
  for (const t of created) {
    if (out.get(t.name)?.errorCode !== UNKNOWN_TOPIC_OR_PARTITION) continue
    const overrides: Record<string, string> = {}
    for (const c of t.configs) overrides[c.name] = c.value ?? ''
    try {
      out.set(t.name, { errorCode: NONE, configs: describeTopicConfig(req.ctx.config, overrides).map(topicConfig) })
    } catch {
      // Leaves UNKNOWN_TOPIC_OR_PARTITION: the overrides were accepted, so this should not happen.
    }
  }
  return out
}

export const kafkaCreateTopics: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaCreateTopicsRequest
  const counts = occurrences(request.topics.map((t) => t.name))
  const refused = new Map<string, KafkaCreatableTopicResult>()
  const forwarded: CreateTopicsRequest['topics'] = []
  for (const t of request.topics) {
    if ((counts.get(t.name) ?? 0) > 1) refused.set(t.name, createRefusal(t.name, 'Duplicate topic name.'))
    else if (t.assignments.length > 0) refused.set(t.name, createRefusal(t.name, 'Manual replica assignment is not supported: give numPartitions and replicationFactor (-1 for the broker defaults).'))
    else forwarded.push({ name: t.name, numPartitions: t.numPartitions, replicationFactor: t.replicationFactor, configs: t.configs.map((c) => ({ name: c.name, value: c.value })) })
  }
  const strand = forwarded.length === 0 ? { topics: [] } : await req.serve(ApiKey.CreateTopics, { topics: forwarded, timeoutMs: request.timeoutMs, validateOnly: request.validateOnly })
  const answered = new Map(strand.topics.map((t) => [t.name, t]))
  const succeeded = new Set(strand.topics.filter((t) => t.errorCode === NONE).map((t) => t.name))
  const configs = req.version >= 5 ? await createdTopicConfigs(req, forwarded.filter((t) => succeeded.has(t.name))) : new Map<string, { errorCode: number; configs: KafkaTopicConfig[] }>()
  // One result per name (a duplicate's refusal once), in the order first asked.
  const topics = [...new Set(request.topics.map((t) => t.name))].map((name): KafkaCreatableTopicResult => {
    const refusal = refused.get(name)
    if (refusal !== undefined) return refusal
    const result = answered.get(name)
    if (result === undefined) throw new Error(`CreateTopics: no answer for ${name}.`)
    const described = configs.get(name)
    return {
      name,
      // Strand's CreateTopics does not return the new topic's id.
      topicId: ZERO_UUID,
      errorCode: result.errorCode,
      errorMessage: result.errorMessage,
      topicConfigErrorCode: described?.errorCode ?? NONE,
      numPartitions: result.numPartitions,
      replicationFactor: result.replicationFactor,
      configs: described?.configs ?? [],
    }
  })
  return { throttleTimeMs: 0, topics }
}

// ---------------------------------------------------------------------------------------------
// DeleteTopics (20), v0-6.

type KafkaDeleteTopicsRequest = { topics: Array<{ name: string | null; topicId: Buffer }>; topicNames: string[]; timeoutMs: number }

type KafkaDeletableTopicResult = { name: string | null; topicId: Buffer; errorCode: number; errorMessage: string | null }

/** What a v6 entry (name and/or id) asks for: a name to delete, or an answer given here. */
function deleteTarget(entry: { name: string | null; topicId: Buffer }): { name: string } | { refused: KafkaDeletableTopicResult } {
  const hasId = !entry.topicId.equals(ZERO_UUID)
  const refuse = (code: number, errorMessage: string) => ({ refused: { name: entry.name, topicId: entry.topicId, errorCode: code, errorMessage } })
  if (entry.name === null && !hasId) return refuse(INVALID_REQUEST, 'Neither topic name nor id was given.')
  if (entry.name === null) return refuse(errorCodeOf('UNKNOWN_TOPIC_ID'), 'This broker deletes topics by name only; it does not look up topic ids.')
  if (hasId) return refuse(INVALID_REQUEST, 'You may not give both a topic name and a topic id.')
  return { name: entry.name }
}

export const kafkaDeleteTopics: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaDeleteTopicsRequest
  const entries = req.version >= 6 ? request.topics : request.topicNames.map((name) => ({ name, topicId: ZERO_UUID }))
  const keyOf = (e: { name: string | null; topicId: Buffer }): string => e.name ?? `id:${e.topicId.toString('hex')}`
  const counts = occurrences(entries.map(keyOf))
  const results = new Map<string, KafkaDeletableTopicResult>()
  const names: string[] = []
  for (const e of entries) {
    const key = keyOf(e)
    if ((counts.get(key) ?? 0) > 1) {
      results.set(key, { name: e.name, topicId: e.topicId, errorCode: INVALID_REQUEST, errorMessage: e.name === null ? 'Duplicate topic id.' : 'Duplicate topic name.' })
      continue
    }
    const target = deleteTarget(e)
    if ('refused' in target) results.set(key, target.refused)
    else names.push(target.name)
  }
  if (names.length > 0) {
    const strand = await req.serve(ApiKey.DeleteTopics, { topicNames: names, timeoutMs: request.timeoutMs })
    for (const r of strand.responses) results.set(r.name, { name: r.name, topicId: ZERO_UUID, errorCode: r.errorCode, errorMessage: r.errorMessage })
  }
  const responses = [...new Set(entries.map(keyOf))].map((key) => {
    const result = results.get(key)
    if (result === undefined) throw new Error(`DeleteTopics: no answer for ${key}.`)
    return result
  })
  return { throttleTimeMs: 0, responses }
}

// ---------------------------------------------------------------------------------------------
// DescribeConfigs (32), v0-4.

type KafkaDescribeConfigsRequest = {
  resources: Array<{ resourceType: number; resourceName: string; configurationKeys: string[] | null }>
  includeSynonyms: boolean
  includeDocumentation: boolean
}

type StrandConfigsResult = DescribeConfigsResponse['results'][number]

function kafkaConfigEntry(resourceType: number, entry: StrandConfigsResult['configs'][number], includeSynonyms: boolean): KafkaStruct {
  const source = entry.isDefault ? CONFIG_SOURCE.default : resourceType === ConfigResourceType.Topic ? CONFIG_SOURCE.topic : CONFIG_SOURCE.staticBroker
  return {
    name: entry.name,
    value: entry.value,
    readOnly: true,
    isDefault: entry.isDefault,
    configSource: source,
    // Strand leaves secrets out of its answer altogether rather than listing them masked.
    isSensitive: false,
    synonyms: includeSynonyms ? [{ name: entry.name, value: entry.value, source }] : [],
    configType: CONFIG_TYPE_UNKNOWN,
    documentation: null,
  }
}

export const kafkaDescribeConfigs: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaDescribeConfigsRequest
  const keyOf = (type: number, name: string): string => `${type}\u0000${name}`
  const strand = await req.serve(ApiKey.DescribeConfigs, { resources: request.resources.map((r) => ({ resourceType: r.resourceType, resourceName: r.resourceName })) })
  // One answer per resource asked, in the order asked (a resource may be asked twice).
  const answers = new Map<string, StrandConfigsResult[]>()
  for (const r of strand.results) {
    const key = keyOf(r.resourceType, r.resourceName)
    const queue = answers.get(key)
    if (queue === undefined) answers.set(key, [r])
    else queue.push(r)
  }
  const results = request.resources.map((asked) => {
    const r = answers.get(keyOf(asked.resourceType, asked.resourceName))?.shift()
    if (r === undefined) throw new Error(`DescribeConfigs: no answer for resource ${asked.resourceType} "${asked.resourceName}".`)
    const keys = asked.configurationKeys === null ? null : new Set(asked.configurationKeys)
    const configs = r.configs.filter((c) => keys === null || keys.has(c.name)).map((c) => kafkaConfigEntry(asked.resourceType, c, request.includeSynonyms))
    return { errorCode: r.errorCode, errorMessage: r.errorMessage, resourceType: asked.resourceType, resourceName: asked.resourceName, configs }
  })
  return { throttleTimeMs: strand.throttleTimeMs, results }
}

// ---------------------------------------------------------------------------------------------
// InitProducerId (22), v0-4.

type KafkaInitProducerIdRequest = { transactionalId: string | null; transactionTimeoutMs: number; producerId: bigint; producerEpoch: number }

/** PRODUCER_FENCED is v4+; older clients know it as INVALID_PRODUCER_EPOCH (Kafka's mapping). */
const PRODUCER_FENCED_FROM_VERSION = 4

export const kafkaInitProducerId: KafkaHandler = async (req, body) => {
  const request = body as unknown as KafkaInitProducerIdRequest
  // An id without an epoch, or an epoch without an id, is malformed (Kafka's check, KIP-360).
  if ((request.producerId === -1n) !== (request.producerEpoch === -1)) return { throttleTimeMs: 0, errorCode: INVALID_REQUEST, producerId: -1n, producerEpoch: -1 }
  const strand = await req.serve(ApiKey.InitProducerId, {
    transactionalId: request.transactionalId,
    transactionTimeoutMs: request.transactionTimeoutMs,
    producerId: request.producerId,
    producerEpoch: request.producerEpoch,
  })
  const fenced = strand.errorCode === errorCodeOf('PRODUCER_FENCED') && req.version < PRODUCER_FENCED_FROM_VERSION
  return { throttleTimeMs: strand.throttleTimeMs, errorCode: fenced ? errorCodeOf('INVALID_PRODUCER_EPOCH') : strand.errorCode, producerId: strand.producerId, producerEpoch: strand.producerEpoch }
}
