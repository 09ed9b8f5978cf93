// The Kafka listener's admin handlers (broker/kafka/handlers/admin.ts): each Kafka body becomes
// the right Strand request, and Strand's answer the right Kafka response at the request's
// version. The context is a fake whose `serve` records each Strand request and answers with a
// canned Strand response, so these tests pin the translation and nothing behind it.

import t, { type Test } from 'tap'
import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { createTopicsResponse } from '../../../client/protocol/kafka/messages/create-topics.js'
import { deleteTopicsResponse } from '../../../client/protocol/kafka/messages/delete-topics.js'
import { describeConfigsResponse } from '../../../client/protocol/kafka/messages/describe-configs.js'
import { initProducerIdResponse } from '../../../client/protocol/kafka/messages/init-producer-id.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../client/protocol/kafka/schema.js'
import { kafkaCreateTopics, kafkaDeleteTopics, kafkaDescribeConfigs, kafkaInitProducerId, kafkaListOffsets, kafkaMetadata } from '../../../broker/kafka/handlers/admin.js'
import type { KafkaHandler, KafkaRequestContext } from '../../../broker/kafka/context.js'
import { DEFAULT_BROKER_CONFIG } from '../../../broker/config.js'
import type { Operation, Resource } from '../../../broker/security/authorizer.js'
import type { Session } from '../../../broker/security/session.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'
import { describeTopicConfig } from '../../../broker/topic-config.js'

const ZERO_UUID = Buffer.alloc(16)
const NOT_REQUESTED = -2147483648
const code = errorCodeOf

interface Served {
  apiKey: number
  body: unknown
}

interface FakeOptions {
  version: number
  /** Strand's answer per API key, given the Strand request. */
  answers?: Partial<Record<number, (body: never) => unknown>>
  autoCreateTopics?: boolean
  /** Whether the principal may do `op` on `resource`; everything by default. */
  allow?: (op: Operation, resource: Resource) => boolean
}

function fake(options: FakeOptions): { req: KafkaRequestContext; served: Served[] } {
  const served: Served[] = []
  const allow = options.allow ?? (() => true)
  const ctx = {
    config: { ...DEFAULT_BROKER_CONFIG, autoCreateTopics: options.autoCreateTopics ?? false },
    authorizer: { authorize: (_principal: string, _host: string, op: Operation, resource: Resource) => allow(op, resource) },
  } as unknown as HandlerContext
  const serve = async (apiKey: number, body: unknown): Promise<unknown> => {
    served.push({ apiKey, body })
    const answer = options.answers?.[apiKey]
    if (answer === undefined) throw new Error(`No canned answer for API ${apiKey}.`)
    return answer(body as never)
  }
  const req: KafkaRequestContext = {
    ctx,
    version: options.version,
    info: { clientId: 'kcat', clientHost: '/127.0.0.1' },
    session: { principal: 'User:alice', host: '127.0.0.1' } as unknown as Session,
    serve: serve as KafkaRequestContext['serve'],
    // Broker 3 has no Kafka listener.
    kafkaAddress: (nodeId) => (nodeId === 3 ? null : { host: `kafka-${nodeId}.local`, port: 9092 + nodeId }),
  }
  return { req, served }
}

async function run(handler: KafkaHandler, req: KafkaRequestContext, body: KafkaStruct): Promise<KafkaStruct> {
  const response = await handler(req, body)
  if (response === null) throw new Error('The handler gave no response.')
  return response
}

/** The response encodes with the API's spec at `version` (the shape is what the codec expects). */
function encodes(t: Test, spec: MessageSpec, version: number, response: KafkaStruct): void {
  t.doesNotThrow(() => messageCodec(spec, version).encode(new KafkaWriter(), response), `${spec.name} v${version} encodes`)
}

// ---------------------------------------------------------------------------------------------
// Metadata

const STRAND_METADATA = {
  brokers: [
    { nodeId: 1, host: 'strand-1', port: 7001 },
    { nodeId: 2, host: 'strand-2', port: 7002 },
    { nodeId: 3, host: 'strand-3', port: 7003 },
  ],
  clusterId: 'c-1',
  controllerId: 2,
  topics: [
    {
      errorCode: 0,
      name: 'orders',
      internal: false,
      partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 3, leaderEpoch: 4, replicaNodes: [3, 1], isrNodes: [3], offlineReplicas: [1] }],
    },
    { errorCode: 0, name: '__consumer_offsets', internal: true, partitions: [] },
  ],
}

const KAFKA_BROKERS = [
  { nodeId: 1, host: 'kafka-1.local', port: 9093, rack: null },
  { nodeId: 2, host: 'kafka-2.local', port: 9094, rack: null },
]

const KAFKA_ORDERS = {
  errorCode: 0,
  name: 'orders',
  topicId: ZERO_UUID,
  isInternal: false,
  // Leader and replica ids are kept, even of a broker not advertised here.
  partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 3, leaderEpoch: 4, replicaNodes: [3, 1], isrNodes: [3], offlineReplicas: [1] }],
  topicAuthorizedOperations: NOT_REQUESTED,
}

const missing = (errorCode: number, name: string | null, topicId = ZERO_UUID) => ({ errorCode, name, topicId, isInternal: false, partitions: [], topicAuthorizedOperations: NOT_REQUESTED })

t.test('Metadata v1: all topics, brokers at their Kafka listeners', async (t) => {
  const { req, served } = fake({ version: 1, answers: { [ApiKey.Metadata]: () => STRAND_METADATA } })
  const res = await run(kafkaMetadata, req, { topics: null, allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false })
  t.strictSame(served, [{ apiKey: ApiKey.Metadata, body: { topics: null } }])
  t.strictSame(res, {
    throttleTimeMs: 0,
    brokers: KAFKA_BROKERS,
    clusterId: 'c-1',
    controllerId: 2,
    topics: [KAFKA_ORDERS, { ...missing(0, '__consumer_offsets'), isInternal: true }],
    clusterAuthorizedOperations: NOT_REQUESTED,
  })
})

t.test('Metadata v9: named topics in the order asked, each once; an empty list asks for none', async (t) => {
  const reversed = { ...STRAND_METADATA, topics: [...STRAND_METADATA.topics].reverse() }
  const { req, served } = fake({ version: 9, answers: { [ApiKey.Metadata]: () => reversed } })
  const named = (name: string) => ({ topicId: ZERO_UUID, name })
  const res = await run(kafkaMetadata, req, {
    topics: [named('orders'), named('__consumer_offsets'), named('orders'), named('ghost')],
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  })
  t.strictSame(served[0], { apiKey: ApiKey.Metadata, body: { topics: ['orders', '__consumer_offsets', 'ghost'] } }, 'Strand asked by name: it may auto-create')
  const topics = res.topics as Array<{ name: string; errorCode: number }>
  t.strictSame(topics.map((x) => [x.name, x.errorCode]), [['orders', 0], ['__consumer_offsets', 0], ['ghost', code('UNKNOWN_TOPIC_OR_PARTITION')]])

  const none = await run(kafkaMetadata, req, { topics: [], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false })
  t.strictSame(served[1], { apiKey: ApiKey.Metadata, body: { topics: [] } })
  t.strictSame(none.topics, [])
})

t.test('Metadata v12: no auto-creation when forbidden, ids, authorized operations', async (t) => {
  const { req, served } = fake({
    version: 12,
    autoCreateTopics: true,
    answers: { [ApiKey.Metadata]: () => STRAND_METADATA },
    allow: (op, r) => !(r.type === 'topic' && r.name === 'secret') && !(r.type === 'topic' && op === 'delete'),
  })
  const someId = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
  const res = await run(kafkaMetadata, req, {
    topics: [
      { topicId: ZERO_UUID, name: 'orders' },
      { topicId: someId, name: null },
      { topicId: ZERO_UUID, name: 'secret' },
      { topicId: ZERO_UUID, name: 'bad name!' },
      { topicId: ZERO_UUID, name: 'ghost' },
    ],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: true,
  })
  t.strictSame(served, [{ apiKey: ApiKey.Metadata, body: { topics: null } }], 'asked for all topics, so nothing is auto-created')
  // read 3, write 4, create 5, alter 7, describe 8, describe_configs 10, alter_configs 11 (not delete 6)
  const allButDelete = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11)
  t.strictSame(res.topics, [
    { ...KAFKA_ORDERS, topicAuthorizedOperations: allButDelete },
    missing(code('UNKNOWN_TOPIC_ID'), null, someId),
    missing(code('TOPIC_AUTHORIZATION_FAILED'), 'secret'),
    { ...missing(code('INVALID_TOPIC'), 'bad name!'), topicAuthorizedOperations: allButDelete },
    { ...missing(code('UNKNOWN_TOPIC_OR_PARTITION'), 'ghost'), topicAuthorizedOperations: allButDelete },
  ])
  t.equal(res.clusterAuthorizedOperations, NOT_REQUESTED)
})

t.test('Metadata v10: cluster authorized operations when asked', async (t) => {
  const { req } = fake({ version: 10, answers: { [ApiKey.Metadata]: () => STRAND_METADATA }, allow: (op) => op === 'describe' || op === 'create' })
  const res = await run(kafkaMetadata, req, { topics: [], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: false })
  t.equal(res.clusterAuthorizedOperations, (1 << 5) | (1 << 8))
})

// ---------------------------------------------------------------------------------------------
// ListOffsets

t.test('ListOffsets v1: latest, earliest and a timestamp go to Strand as they are', async (t) => {
  const { req, served } = fake({
    version: 1,
    answers: {
      [ApiKey.ListOffsets]: () => ({
        topics: [
          {
            name: 'orders',
            partitions: [
              { partitionIndex: 0, errorCode: 0, timestamp: -1n, offset: 120n, leaderEpoch: 3 },
              { partitionIndex: 1, errorCode: 0, timestamp: -1n, offset: 7n, leaderEpoch: 3 },
              { partitionIndex: 2, errorCode: 0, timestamp: 1700000000123n, offset: 55n, leaderEpoch: 3 },
            ],
          },
        ],
      }),
    },
  })
  const res = await run(kafkaListOffsets, req, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n },
          { partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -2n },
          { partitionIndex: 2, currentLeaderEpoch: -1, timestamp: 1700000000000n },
        ],
      },
    ],
  })
  t.strictSame(served, [
    {
      apiKey: ApiKey.ListOffsets,
      body: {
        replicaId: -1,
        isolationLevel: 0,
        topics: [
          {
            name: 'orders',
            partitions: [
              { partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n },
              { partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -2n },
              { partitionIndex: 2, currentLeaderEpoch: -1, timestamp: 1700000000000n },
            ],
          },
        ],
      },
    },
  ])
  t.strictSame(res, {
    throttleTimeMs: 0,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, errorCode: 0, timestamp: -1n, offset: 120n, leaderEpoch: 3 },
          { partitionIndex: 1, errorCode: 0, timestamp: -1n, offset: 7n, leaderEpoch: 3 },
          { partitionIndex: 2, errorCode: 0, timestamp: 1700000000123n, offset: 55n, leaderEpoch: 3 },
        ],
      },
    ],
  })
})

t.test('ListOffsets v6: duplicates and max timestamp are answered here; order is the request\'s', async (t) => {
  const { req, served } = fake({
    version: 6,
    answers: {
      // The gate appends refused topics: Strand's order is not the request's.
      [ApiKey.ListOffsets]: () => ({
        topics: [
          { name: 'audit', partitions: [{ partitionIndex: 0, errorCode: code('TOPIC_AUTHORIZATION_FAILED'), timestamp: -1n, offset: -1n, leaderEpoch: -1 }] },
          { name: 'orders', partitions: [{ partitionIndex: 1, errorCode: 0, timestamp: -1n, offset: 9n, leaderEpoch: 2 }] },
        ],
      }),
    },
  })
  const res = await run(kafkaListOffsets, req, {
    replicaId: -1,
    isolationLevel: 1,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, currentLeaderEpoch: 2, timestamp: -1n },
          { partitionIndex: 1, currentLeaderEpoch: 2, timestamp: -1n },
          { partitionIndex: 0, currentLeaderEpoch: 2, timestamp: -2n },
          { partitionIndex: 2, currentLeaderEpoch: 2, timestamp: -3n },
        ],
      },
      { name: 'audit', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] },
    ],
  })
  t.strictSame(served[0]?.body, {
    replicaId: -1,
    isolationLevel: 1,
    topics: [
      { name: 'orders', partitions: [{ partitionIndex: 1, currentLeaderEpoch: 2, timestamp: -1n }] },
      { name: 'audit', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] },
    ],
  })
  const refused = (partitionIndex: number, errorCode: number) => ({ partitionIndex, errorCode, timestamp: -1n, offset: -1n, leaderEpoch: -1 })
  t.strictSame(res.topics, [
    {
      name: 'orders',
      partitions: [
        refused(0, code('INVALID_REQUEST')),
        { partitionIndex: 1, errorCode: 0, timestamp: -1n, offset: 9n, leaderEpoch: 2 },
        refused(0, code('INVALID_REQUEST')),
        refused(2, code('UNSUPPORTED_VERSION')),
      ],
    },
    { name: 'audit', partitions: [refused(0, code('TOPIC_AUTHORIZATION_FAILED'))] },
  ])
})

t.test('ListOffsets v7: a request Strand cannot serve at all is answered without it', async (t) => {
  const { req, served } = fake({ version: 7 })
  const res = await run(kafkaListOffsets, req, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -3n }] }] })
  t.strictSame(served, [])
  t.strictSame(res.topics, [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: code('UNSUPPORTED_VERSION'), timestamp: -1n, offset: -1n, leaderEpoch: -1 }] }])
})

// ---------------------------------------------------------------------------------------------
// CreateTopics

const creatable = (name: string, extra: Partial<{ numPartitions: number; replicationFactor: number; assignments: unknown[]; configs: unknown[] }> = {}) => ({
  name,
  numPartitions: -1,
  replicationFactor: -1,
  assignments: [],
  configs: [],
  ...extra,
})

t.test('CreateTopics v0: defaults (-1) go to Strand, which resolves them', async (t) => {
  const { req, served } = fake({
    version: 0,
    answers: { [ApiKey.CreateTopics]: () => ({ topics: [{ name: 'orders', errorCode: 0, errorMessage: null, numPartitions: 1, replicationFactor: 1 }] }) },
  })
  const res = await run(kafkaCreateTopics, req, { topics: [creatable('orders', { configs: [{ name: 'retention.ms', value: '1000' }] })], timeoutMs: 5000, validateOnly: false })
  t.strictSame(served, [
    {
      apiKey: ApiKey.CreateTopics,
      body: { topics: [{ name: 'orders', numPartitions: -1, replicationFactor: -1, configs: [{ name: 'retention.ms', value: '1000' }] }], timeoutMs: 5000, validateOnly: false },
    },
  ], 'no DescribeConfigs below v5')
  t.strictSame(res, {
    throttleTimeMs: 0,
    topics: [{ name: 'orders', topicId: ZERO_UUID, errorCode: 0, errorMessage: null, topicConfigErrorCode: 0, numPartitions: 1, replicationFactor: 1, configs: [] }],
  })
  encodes(t, createTopicsResponse, 0, res)
})

t.test('CreateTopics v5: assignments and duplicates refused here; configs of created topics', async (t) => {
  const { req, served } = fake({
    version: 5,
    answers: {
      [ApiKey.CreateTopics]: () => ({
        topics: [
          { name: 'taken', errorCode: code('TOPIC_ALREADY_EXISTS'), errorMessage: 'Topic "taken" already exists.', numPartitions: -1, replicationFactor: -1 },
          { name: 'orders', errorCode: 0, errorMessage: null, numPartitions: 6, replicationFactor: 3 },
        ],
      }),
      [ApiKey.DescribeConfigs]: () => ({
        throttleTimeMs: 0,
        results: [
          {
            errorCode: 0,
            errorMessage: null,
            resourceType: 2,
            resourceName: 'orders',
            configs: [
              { name: 'retention.ms', value: '1000', isDefault: false },
              { name: 'cleanup.policy', value: 'delete', isDefault: true },
            ],
          },
        ],
      }),
    },
  })
  const res = await run(kafkaCreateTopics, req, {
    topics: [
      creatable('orders', { numPartitions: 6, replicationFactor: 3, configs: [{ name: 'retention.ms', value: '1000' }] }),
      creatable('manual', { assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }] }),
      creatable('twice'),
      creatable('taken', { numPartitions: 1, replicationFactor: 1 }),
      creatable('twice'),
    ],
    timeoutMs: 60000,
    validateOnly: false,
  })
  t.strictSame(
    (served[0]?.body as { topics: Array<{ name: string }> }).topics.map((x) => x.name),
    ['orders', 'taken'],
    'only the creatable topics reach Strand',
  )
  t.strictSame(served[1], { apiKey: ApiKey.DescribeConfigs, body: { resources: [{ resourceType: 2, resourceName: 'orders' }] } }, 'configs of the created topic only')
  const topics = res.topics as KafkaStruct[]
  t.strictSame(topics.map((x) => [x.name, x.errorCode]), [
    ['orders', 0],
    ['manual', code('INVALID_REQUEST')],
    ['twice', code('INVALID_REQUEST')],
    ['taken', code('TOPIC_ALREADY_EXISTS')],
  ])
  t.strictSame(topics[0], {
    name: 'orders',
    topicId: ZERO_UUID,
    errorCode: 0,
    errorMessage: null,
    topicConfigErrorCode: 0,
    numPartitions: 6,
    replicationFactor: 3,
    configs: [
      { name: 'retention.ms', value: '1000', readOnly: true, configSource: 1, isSensitive: false },
      { name: 'cleanup.policy', value: 'delete', readOnly: true, configSource: 5, isSensitive: false },
    ],
  })
  t.match(topics[1]?.errorMessage, /Manual replica assignment is not supported/)
  encodes(t, createTopicsResponse, 5, res)
})

t.test('CreateTopics v7: validate-only topics are described from the defaults; denied configs say so', async (t) => {
  const { req, served } = fake({
    version: 7,
    answers: {
      [ApiKey.CreateTopics]: () => ({
        topics: [
          { name: 'orders', errorCode: 0, errorMessage: null, numPartitions: 1, replicationFactor: 1 },
          { name: 'hidden', errorCode: 0, errorMessage: null, numPartitions: 1, replicationFactor: 1 },
        ],
      }),
      [ApiKey.DescribeConfigs]: () => ({
        throttleTimeMs: 0,
        results: [
          { errorCode: code('UNKNOWN_TOPIC_OR_PARTITION'), errorMessage: 'Topic "orders" does not exist.', resourceType: 2, resourceName: 'orders', configs: [] },
          { errorCode: code('TOPIC_AUTHORIZATION_FAILED'), errorMessage: null, resourceType: 2, resourceName: 'hidden', configs: [] },
        ],
      }),
    },
  })
  const res = await run(kafkaCreateTopics, req, {
    topics: [creatable('orders', { configs: [{ name: 'retention.ms', value: '86400000' }] }), creatable('hidden')],
    timeoutMs: 60000,
    validateOnly: true,
  })
  t.equal((served[0]?.body as { validateOnly: boolean }).validateOnly, true)
  const [orders, hidden] = res.topics as Array<{ topicConfigErrorCode: number; configs: Array<{ name: string; value: string; configSource: number }> }>
  t.equal(orders?.topicConfigErrorCode, 0)
  t.equal(orders?.configs.length, describeTopicConfig(DEFAULT_BROKER_CONFIG, {}).length, 'every topic key')
  t.strictSame(orders?.configs.find((c) => c.name === 'retention.ms'), { name: 'retention.ms', value: '86400000', readOnly: true, configSource: 1, isSensitive: false })
  t.equal(orders?.configs.find((c) => c.name === 'cleanup.policy')?.configSource, 5)
  t.equal(hidden?.topicConfigErrorCode, code('TOPIC_AUTHORIZATION_FAILED'))
  t.strictSame(hidden?.configs, [])
  encodes(t, createTopicsResponse, 7, res)
})

// ---------------------------------------------------------------------------------------------
// DeleteTopics

t.test('DeleteTopics v0: names to Strand, results in the request\'s order, duplicates refused', async (t) => {
  const { req, served } = fake({
    version: 0,
    answers: {
      [ApiKey.DeleteTopics]: () => ({
        responses: [
          { name: 'audit', errorCode: code('TOPIC_AUTHORIZATION_FAILED'), errorMessage: 'User:alice may not delete topic "audit".' },
          { name: 'orders', errorCode: 0, errorMessage: null },
        ],
      }),
    },
  })
  const res = await run(kafkaDeleteTopics, req, { topics: [], topicNames: ['orders', 'twice', 'audit', 'twice'], timeoutMs: 3000 })
  t.strictSame(served, [{ apiKey: ApiKey.DeleteTopics, body: { topicNames: ['orders', 'audit'], timeoutMs: 3000 } }])
  t.strictSame(res, {
    throttleTimeMs: 0,
    responses: [
      { name: 'orders', topicId: ZERO_UUID, errorCode: 0, errorMessage: null },
      { name: 'twice', topicId: ZERO_UUID, errorCode: code('INVALID_REQUEST'), errorMessage: 'Duplicate topic name.' },
      { name: 'audit', topicId: ZERO_UUID, errorCode: code('TOPIC_AUTHORIZATION_FAILED'), errorMessage: 'User:alice may not delete topic "audit".' },
    ],
  })
  encodes(t, deleteTopicsResponse, 0, res)
})

t.test('DeleteTopics v4: the first flexible version reads topicNames too', async (t) => {
  const { req, served } = fake({ version: 4, answers: { [ApiKey.DeleteTopics]: () => ({ responses: [{ name: 'orders', errorCode: 0, errorMessage: null }] }) } })
  const res = await run(kafkaDeleteTopics, req, { topics: [], topicNames: ['orders'], timeoutMs: 3000 })
  t.strictSame(served[0]?.body, { topicNames: ['orders'], timeoutMs: 3000 })
  encodes(t, deleteTopicsResponse, 4, res)
})

t.test('DeleteTopics v6: by name only; ids are UNKNOWN_TOPIC_ID', async (t) => {
  const { req, served } = fake({ version: 6, answers: { [ApiKey.DeleteTopics]: () => ({ responses: [{ name: 'orders', errorCode: 0, errorMessage: null }] }) } })
  const id = Buffer.from('0f0e0d0c0b0a09080706050403020100', 'hex')
  const res = await run(kafkaDeleteTopics, req, {
    topics: [
      { name: 'orders', topicId: ZERO_UUID },
      { name: null, topicId: id },
      { name: 'both', topicId: id },
      { name: null, topicId: ZERO_UUID },
    ],
    topicNames: [],
    timeoutMs: 3000,
  })
  t.strictSame(served[0]?.body, { topicNames: ['orders'], timeoutMs: 3000 })
  const responses = res.responses as Array<{ name: string | null; topicId: Buffer; errorCode: number }>
  t.strictSame(responses.map((r) => [r.name, r.topicId.toString('hex'), r.errorCode]), [
    ['orders', ZERO_UUID.toString('hex'), 0],
    [null, id.toString('hex'), code('UNKNOWN_TOPIC_ID')],
    ['both', id.toString('hex'), code('INVALID_REQUEST')],
    [null, ZERO_UUID.toString('hex'), code('INVALID_REQUEST')],
  ])
  encodes(t, deleteTopicsResponse, 6, res)
})

// ---------------------------------------------------------------------------------------------
// DescribeConfigs

const STRAND_CONFIGS = {
  throttleTimeMs: 0,
  results: [
    {
      errorCode: 0,
      errorMessage: null,
      resourceType: 2,
      resourceName: 'orders',
      configs: [
        { name: 'retention.ms', value: '1000', isDefault: false },
        { name: 'cleanup.policy', value: 'delete', isDefault: true },
        { name: 'segment.bytes', value: '1073741824', isDefault: true },
      ],
    },
    {
      errorCode: 0,
      errorMessage: null,
      resourceType: 4,
      resourceName: '1',
      configs: [
        { name: 'num.partitions', value: '3', isDefault: false },
        { name: 'auto.create.topics.enable', value: 'false', isDefault: true },
      ],
    },
  ],
}

t.test('DescribeConfigs v0: keys filtered here, isDefault kept', async (t) => {
  const { req, served } = fake({ version: 0, answers: { [ApiKey.DescribeConfigs]: () => STRAND_CONFIGS } })
  const res = await run(kafkaDescribeConfigs, req, {
    resources: [
      { resourceType: 2, resourceName: 'orders', configurationKeys: ['retention.ms', 'cleanup.policy', 'no.such.key'] },
      { resourceType: 4, resourceName: '1', configurationKeys: null },
    ],
    includeSynonyms: false,
    includeDocumentation: false,
  })
  t.strictSame(served, [{ apiKey: ApiKey.DescribeConfigs, body: { resources: [{ resourceType: 2, resourceName: 'orders' }, { resourceType: 4, resourceName: '1' }] } }])
  const entry = (name: string, value: string, isDefault: boolean, configSource: number) => ({ name, value, readOnly: true, isDefault, configSource, isSensitive: false, synonyms: [], configType: 0, documentation: null })
  t.strictSame(res, {
    throttleTimeMs: 0,
    results: [
      { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: 'orders', configs: [entry('retention.ms', '1000', false, 1), entry('cleanup.policy', 'delete', true, 5)] },
      { errorCode: 0, errorMessage: null, resourceType: 4, resourceName: '1', configs: [entry('num.partitions', '3', false, 4), entry('auto.create.topics.enable', 'false', true, 5)] },
    ],
  })
  encodes(t, describeConfigsResponse, 0, res)
})

t.test('DescribeConfigs v1: config sources and synonyms', async (t) => {
  const { req } = fake({ version: 1, answers: { [ApiKey.DescribeConfigs]: () => STRAND_CONFIGS } })
  const res = await run(kafkaDescribeConfigs, req, {
    resources: [
      { resourceType: 2, resourceName: 'orders', configurationKeys: ['retention.ms'] },
      { resourceType: 4, resourceName: '1', configurationKeys: ['num.partitions'] },
    ],
    includeSynonyms: true,
    includeDocumentation: false,
  })
  const results = res.results as Array<{ configs: Array<{ configSource: number; synonyms: unknown[] }> }>
  t.strictSame(results[0]?.configs[0]?.synonyms, [{ name: 'retention.ms', value: '1000', source: 1 }])
  t.strictSame(results[1]?.configs[0]?.synonyms, [{ name: 'num.partitions', value: '3', source: 4 }])
  encodes(t, describeConfigsResponse, 1, res)
})

t.test('DescribeConfigs v4: results in the order asked, a refused one included', async (t) => {
  const { req } = fake({
    version: 4,
    answers: {
      [ApiKey.DescribeConfigs]: () => ({
        throttleTimeMs: 0,
        results: [
          { errorCode: 0, errorMessage: null, resourceType: 2, resourceName: 'orders', configs: [{ name: 'retention.ms', value: '1000', isDefault: false }] },
          // The gate appends the refused resource after the handler's answers.
          { errorCode: code('TOPIC_AUTHORIZATION_FAILED'), errorMessage: null, resourceType: 2, resourceName: 'secret', configs: [] },
        ],
      }),
    },
  })
  const res = await run(kafkaDescribeConfigs, req, {
    resources: [
      { resourceType: 2, resourceName: 'secret', configurationKeys: null },
      { resourceType: 2, resourceName: 'orders', configurationKeys: null },
    ],
    includeSynonyms: false,
    includeDocumentation: true,
  })
  const results = res.results as Array<{ resourceName: string; errorCode: number; configs: Array<{ configType: number; documentation: string | null }> }>
  t.strictSame(results.map((r) => [r.resourceName, r.errorCode]), [['secret', code('TOPIC_AUTHORIZATION_FAILED')], ['orders', 0]])
  t.strictSame(results[1]?.configs.map((c) => [c.configType, c.documentation]), [[0, null]], 'no type or documentation from Strand')
  encodes(t, describeConfigsResponse, 4, res)
})

// ---------------------------------------------------------------------------------------------
// InitProducerId

t.test('InitProducerId v0: a transactional producer; PRODUCER_FENCED reads INVALID_PRODUCER_EPOCH before v4', async (t) => {
  let errorCode = 0
  const { req, served } = fake({ version: 0, answers: { [ApiKey.InitProducerId]: () => ({ throttleTimeMs: 0, errorCode, producerId: 4242n, producerEpoch: 3 }) } })
  const body = { transactionalId: 'orders-tx', transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 }
  const res = await run(kafkaInitProducerId, req, body)
  t.strictSame(served, [{ apiKey: ApiKey.InitProducerId, body: { transactionalId: 'orders-tx', transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 } }])
  t.strictSame(res, { throttleTimeMs: 0, errorCode: 0, producerId: 4242n, producerEpoch: 3 })
  encodes(t, initProducerIdResponse, 0, res)
  errorCode = code('PRODUCER_FENCED')
  t.equal((await run(kafkaInitProducerId, req, body)).errorCode, code('INVALID_PRODUCER_EPOCH'))
})

t.test('InitProducerId v2-v3: the current id and epoch go to Strand; one without the other is refused', async (t) => {
  const { req, served } = fake({ version: 3, answers: { [ApiKey.InitProducerId]: () => ({ throttleTimeMs: 0, errorCode: 0, producerId: 4242n, producerEpoch: 8 }) } })
  const res = await run(kafkaInitProducerId, req, { transactionalId: null, transactionTimeoutMs: 0, producerId: 4242n, producerEpoch: 7 })
  t.strictSame(served[0]?.body, { transactionalId: null, transactionTimeoutMs: 0, producerId: 4242n, producerEpoch: 7 })
  t.equal(res.producerEpoch, 8)
  encodes(t, initProducerIdResponse, 2, res)
  for (const [producerId, producerEpoch] of [[4242n, -1], [-1n, 7]] as const) {
    const refused = await run(kafkaInitProducerId, req, { transactionalId: null, transactionTimeoutMs: 0, producerId, producerEpoch })
    t.strictSame(refused, { throttleTimeMs: 0, errorCode: code('INVALID_REQUEST'), producerId: -1n, producerEpoch: -1 })
  }
  t.equal(served.length, 1, 'refused without asking Strand')
})

t.test('InitProducerId v4: PRODUCER_FENCED is passed on', async (t) => {
  const { req } = fake({ version: 4, answers: { [ApiKey.InitProducerId]: () => ({ throttleTimeMs: 0, errorCode: code('PRODUCER_FENCED'), producerId: -1n, producerEpoch: -1 }) } })
  const res = await run(kafkaInitProducerId, req, { transactionalId: 'orders-tx', transactionTimeoutMs: 60000, producerId: 4242n, producerEpoch: 3 })
  t.equal(res.errorCode, code('PRODUCER_FENCED'))
  encodes(t, initProducerIdResponse, 4, res)
})

t.test('ListOffsets: a new leader not ready yet (OFFSET_NOT_AVAILABLE) is LEADER_NOT_AVAILABLE below v5, as Kafka answers', async (t) => {
  for (const version of [1, 4, 5, 7]) {
    const { req } = fake({
      version,
      answers: { [ApiKey.ListOffsets]: () => ({ topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: code('OFFSET_NOT_AVAILABLE'), timestamp: -1n, offset: -1n, leaderEpoch: -1 }] }] }) },
    })
    const res = await run(kafkaListOffsets, req, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] })
    const answer = res as { topics: Array<{ partitions: Array<{ errorCode: number }> }> }
    t.equal(answer.topics[0]!.partitions[0]!.errorCode, version < 5 ? code('LEADER_NOT_AVAILABLE') : code('OFFSET_NOT_AVAILABLE'), `v${version}`)
  }
})
