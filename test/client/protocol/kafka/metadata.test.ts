import t from 'tap'
import { metadataRequest, metadataResponse } from '../../../../client/protocol/kafka/messages/metadata.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, UNKNOWN_TAG, uuid, ZERO_UUID, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for Metadata v1-12, built field by field from Kafka's MetadataRequest.json and
// MetadataResponse.json (flexible from v9). Metadata has no tagged fields in any version.
const VERSIONS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
const FLEXIBLE_FROM = 9
const ORDERS_ID = uuid('5b9f1c2e-8d4a-4f6b-9c3d-2e1f0a7b6c5d')
const INVOICES_ID = uuid('0d3c9e7a-1b2f-4a6c-8e5d-7f9a0b1c2d3e')

interface RequestTopic {
  topicId: Buffer
  name: string | null
}

function requestTopics(v: number): RequestTopic[] {
  const topics: RequestTopic[] = [
    { topicId: v >= 10 ? ORDERS_ID : ZERO_UUID, name: 'orders' },
    { topicId: ZERO_UUID, name: 'payments' },
  ]
  // From v12 a topic may be asked for by id alone.
  if (v >= 12) topics.push({ topicId: INVOICES_ID, name: null })
  return topics
}

function request(v: number, topics: RequestTopic[] | null = requestTopics(v)): KafkaStruct {
  return {
    topics,
    allowAutoTopicCreation: v >= 4 ? false : true,
    includeClusterAuthorizedOperations: v >= 8 && v <= 10,
    includeTopicAuthorizedOperations: v >= 8,
  }
}

function requestBytes(v: number, options: { topics?: RequestTopic[] | null; topTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  const topics = options.topics === undefined ? requestTopics(v) : options.topics
  b.array(topics, (b, topic) => {
    if (v >= 10) b.uuid(topic.topicId)
    b.string(topic.name).tags()
  })
  if (v >= 4) b.bool(false)
  if (v >= 8 && v <= 10) b.bool(true)
  if (v >= 8) b.bool(true)
  return b.tags(options.topTags).build()
}

interface Partition {
  errorCode: number
  partitionIndex: number
  leaderId: number
  leaderEpoch: number
  replicaNodes: number[]
  isrNodes: number[]
  offlineReplicas: number[]
}

interface Topic {
  errorCode: number
  name: string | null
  topicId: Buffer
  isInternal: boolean
  partitions: Partition[]
  topicAuthorizedOperations: number
}

const BROKERS = [
  { nodeId: 1, host: 'broker-1.strand.local', port: 9092, rack: 'rack-a' },
  { nodeId: 2, host: 'broker-2.strand.local', port: 9093, rack: null },
]
/** READ, WRITE, DESCRIBE, ... as Kafka's AclOperation bits. */
const TOPIC_OPERATIONS = 0x0df8
const NO_OPERATIONS = -2147483648

function responseTopics(v: number): Topic[] {
  const partition = (index: number, leaderId: number, isr: number[], offline: number[]): Partition => ({
    errorCode: 0,
    partitionIndex: index,
    leaderId,
    leaderEpoch: v >= 7 ? 5 + index : -1,
    replicaNodes: [1, 2],
    isrNodes: isr,
    offlineReplicas: v >= 5 ? offline : [],
  })
  return [
    {
      errorCode: 0,
      name: 'orders',
      topicId: v >= 10 ? ORDERS_ID : ZERO_UUID,
      isInternal: false,
      partitions: [partition(0, 1, [1, 2], []), partition(1, 1, [1], [2])],
      topicAuthorizedOperations: v >= 8 ? TOPIC_OPERATIONS : NO_OPERATIONS,
    },
    {
      errorCode: 0,
      name: '__consumer_offsets',
      topicId: ZERO_UUID,
      isInternal: true,
      partitions: [partition(0, 2, [2, 1], [])],
      topicAuthorizedOperations: NO_OPERATIONS,
    },
    {
      // UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for a lookup by id, which has no name from v12).
      errorCode: v >= 12 ? 100 : 3,
      name: v >= 12 ? null : 'missing',
      topicId: v >= 12 ? INVOICES_ID : ZERO_UUID,
      isInternal: false,
      partitions: [],
      topicAuthorizedOperations: NO_OPERATIONS,
    },
  ]
}

function response(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 3 ? 40 : 0,
    brokers: BROKERS,
    clusterId: v >= 2 ? 'strand-cluster-7' : null,
    controllerId: 2,
    topics: responseTopics(v),
    clusterAuthorizedOperations: v >= 8 && v <= 10 ? 0x0980 : NO_OPERATIONS,
  }
}

function responseBytes(v: number, options: { topTags?: readonly TaggedBytes[]; partitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  if (v >= 3) b.int32(40)
  b.array(BROKERS, (b, broker) => {
    b.int32(broker.nodeId).string(broker.host).int32(broker.port)
    b.string(broker.rack).tags()
  })
  if (v >= 2) b.string('strand-cluster-7')
  b.int32(2)
  b.array(responseTopics(v), (b, topic) => {
    b.int16(topic.errorCode).string(topic.name)
    if (v >= 10) b.uuid(topic.topicId)
    b.bool(topic.isInternal)
    b.array(topic.partitions, (b, p) => {
      b.int16(p.errorCode).int32(p.partitionIndex).int32(p.leaderId)
      if (v >= 7) b.int32(p.leaderEpoch)
      b.int32Array(p.replicaNodes).int32Array(p.isrNodes)
      if (v >= 5) b.int32Array(p.offlineReplicas)
      b.tags(options.partitionTags)
    })
    if (v >= 8) b.int32(topic.topicAuthorizedOperations)
    b.tags()
  })
  if (v >= 8 && v <= 10) b.int32(0x0980)
  return b.tags(options.topTags).build()
}

for (const v of VERSIONS) {
  t.test(`Metadata v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(metadataRequest, v), request(v), requestBytes(v))
    checkGolden(t, codecOf(metadataResponse, v), response(v), responseBytes(v))
    checkTruncations(t, codecOf(metadataRequest, v), requestBytes(v))
    checkTruncations(t, codecOf(metadataResponse, v), responseBytes(v))
  })
}

t.test('Metadata: a null topic list (all topics) and an empty one (none) are different on the wire', async (t) => {
  for (const v of [1, 9]) {
    checkGolden(t, codecOf(metadataRequest, v), request(v, null), requestBytes(v, { topics: null }))
    checkGolden(t, codecOf(metadataRequest, v), request(v, []), requestBytes(v, { topics: [] }))
  }
  t.equal(codecOf(metadataRequest, 1).encode(request(1, null)).toString('hex'), 'ffffffff', 'v1: int32 -1')
  t.equal(codecOf(metadataRequest, 9).encode(request(9, null)).toString('hex'), '0000010100', 'v9: uvarint 0, then the three bools and the tag section')
})

t.test('Metadata v1: a one-broker response with no rack, spelled out', async (t) => {
  // v1: no throttleTimeMs (v3+) or clusterId (v2+); brokers are nodeId, host, port, rack (null = int16 -1).
  const one = { ...response(1), brokers: [{ nodeId: 7, host: 'h', port: 9092, rack: null }], topics: [] }
  checkGolden(t, codecOf(metadataResponse, 1), one, Buffer.from('00000001' + '00000007' + '000168' + '00002384' + 'ffff' + '00000002' + '00000000', 'hex'))
})

t.test('Metadata v9-12: an unknown tagged field is skipped at the top and in a partition', async (t) => {
  for (const v of [9, 10, 11, 12]) {
    t.strictSame(codecOf(metadataRequest, v).decode(requestBytes(v, { topTags: [UNKNOWN_TAG] })), request(v), `v${v} request`)
    t.strictSame(codecOf(metadataResponse, v).decode(responseBytes(v, { topTags: [UNKNOWN_TAG] })), response(v), `v${v} response`)
    t.strictSame(codecOf(metadataResponse, v).decode(responseBytes(v, { partitionTags: [UNKNOWN_TAG] })), response(v), `v${v} response, in each partition`)
  }
})

t.test('Metadata: absurd counts and lengths are refused as INVALID_REQUEST', async (t) => {
  const classic = new Bytes({ flexible: false }).classicCount(ABSURD_COUNT).classicString('orders').build()
  checkInvalid(t, () => codecOf(metadataRequest, 4).decode(classic), 'v4 topics count')
  const flexible = new Bytes({ flexible: true }).compactCount(ABSURD_COUNT).uuid(ORDERS_ID).compactString('orders').build()
  checkInvalid(t, () => codecOf(metadataRequest, 10).decode(flexible), 'v10 topics count')
  const replicas = new Bytes({ flexible: false }).int32(0).classicCount(1).int32(1).classicString('h').int32(9092).classicString(null)
    .classicString('c').int32(1).classicCount(1).int16(0).classicString('orders').bool(false)
    .classicCount(1).int16(0).int32(0).int32(1).int32(0).classicCount(ABSURD_COUNT).int32(1).build()
  checkInvalid(t, () => codecOf(metadataResponse, 7).decode(replicas), 'v7 replicaNodes count, deep in a partition')
  const host = new Bytes({ flexible: false }).classicCount(1).int32(1).int16(0x7fff).raw(Buffer.from('broker')).build()
  checkInvalid(t, () => codecOf(metadataResponse, 1).decode(host), 'v1 host length')
  const nullName = new Bytes({ flexible: true }).compactCount(1).uuid(ORDERS_ID).compactString(null).tags().bool(true).bool(false).bool(false).tags().build()
  checkInvalid(t, () => codecOf(metadataRequest, 9).decode(nullName), 'v9 null topic name (nullable only from v10)')
})
