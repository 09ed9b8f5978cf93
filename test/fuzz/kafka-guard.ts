// What the fuzzer must not send to a Kafka listener (guard.ts says why for the Strand listener):
// each frame is judged as broker/kafka/dispatch.ts would read it, with the listener's own API
// table and codecs, so the fuzzer knows which frames the broker answers and which close the
// connection. Fewer rules than Strand's: the Kafka listener has no broker-to-broker APIs, no ACL
// or user changes, and its Fetch is always a consumer's (replica id -1), so what is left is the
// cluster state that well-formed requests may legitimately change:
//
// - CreateTopics that would create many partitions or topics: the budget of guard.ts (a count of
//   -1 is the broker's num.partitions, 1 in the fuzzed cluster); validateOnly creates nothing.
// - DeleteTopics of the healthy client's topic or a protected one (the verifier's), by name (v0-5)
//   or in v6's topics list.
//
// Only a listener without SASL is fuzzed this way (the session is 'open').

import { KAFKA_APIS } from '../../broker/kafka/apis.js'
import { KAFKA_API_VERSIONS_KEY, readKafkaRequestHeader, readKafkaRequestPrefix } from '../../client/protocol/kafka/frame.js'
import { inVersions, messageCodec, type KafkaStruct } from '../../client/protocol/kafka/schema.js'
import { CREATE_PARTITIONS_PER_TOPIC_MAX, CREATE_TOPICS_PER_REQUEST_MAX, CREATE_TOPICS_PER_RUN_MAX, type GuardContext, type Judgement } from './guard.js'

const CREATE_TOPICS_KEY = 19
const DELETE_TOPICS_KEY = 20
/** The fuzzed cluster's num.partitions (the default): what a count of -1 creates. */
const DEFAULT_PARTITIONS = 1

/** The request a frame body is, as the Kafka dispatcher decodes it; null when it closes the connection instead. */
export function decodeKafkaFrame(body: Buffer): { apiKey: number; apiVersion: number; correlationId: number; value: KafkaStruct | null } | null {
  if (body.length < 8) return null
  const prefix = readKafkaRequestPrefix(body)
  const api = KAFKA_APIS.get(prefix.apiKey)
  if (api === undefined || !inVersions(api.request.validVersions, prefix.apiVersion)) {
    // ApiVersions at any version is answered (in v0, UNSUPPORTED_VERSION); anything else unserved closes.
    return prefix.apiKey === KAFKA_API_VERSIONS_KEY ? { ...prefix, value: null } : null
  }
  try {
    const codec = messageCodec(api.request, prefix.apiVersion)
    const { bodyOffset } = readKafkaRequestHeader(body, codec.flexible)
    return { ...prefix, value: codec.decode(body, bodyOffset) }
  } catch {
    return null
  }
}

function createsTopics(value: KafkaStruct, ctx: GuardContext): Judgement {
  if (value.validateOnly === true) return { kind: 'answered', creates: 0 }
  const topics = value.topics as Array<{ numPartitions: number }>
  if (topics.length > CREATE_TOPICS_PER_REQUEST_MAX) return { kind: 'forbidden', reason: `CreateTopics of more than ${CREATE_TOPICS_PER_REQUEST_MAX} topics` }
  if (topics.some((t) => (t.numPartitions === -1 ? DEFAULT_PARTITIONS : t.numPartitions) > CREATE_PARTITIONS_PER_TOPIC_MAX)) {
    return { kind: 'forbidden', reason: `CreateTopics of more than ${CREATE_PARTITIONS_PER_TOPIC_MAX} partitions` }
  }
  if (topics.length > ctx.topicsLeft) return { kind: 'forbidden', reason: `CreateTopics past the run's ${CREATE_TOPICS_PER_RUN_MAX} topics` }
  return { kind: 'answered', creates: topics.length }
}

/** How a Kafka listener without SASL would take this frame body. */
export function judgeKafka(body: Buffer, ctx: GuardContext): Judgement {
  const decoded = decodeKafkaFrame(body)
  if (decoded === null) return { kind: 'undecodable' }
  const { apiKey, value } = decoded
  if (value === null) return { kind: 'answered', creates: 0 }
  if (apiKey === DELETE_TOPICS_KEY) {
    const names = [...((value.topicNames as string[] | undefined) ?? []), ...((value.topics as Array<{ name: string | null }> | undefined) ?? []).map((t) => t.name)]
    if (names.includes(ctx.healthyTopic)) return { kind: 'forbidden', reason: 'DeleteTopics of the healthy topic' }
    if (names.some((n) => n !== null && (ctx.protectedTopics ?? []).includes(n))) return { kind: 'forbidden', reason: "DeleteTopics of the verifier's topic" }
  }
  if (apiKey === CREATE_TOPICS_KEY) return createsTopics(value, ctx)
  return { kind: 'answered', creates: 0 }
}
