// The Kafka listener's transactional handlers (broker/kafka/handlers/transactions.ts): each Kafka
// body becomes the right Strand request, and Strand's answer the right Kafka response at the
// request's version. The context is a fake whose `serve` records each Strand request and answers
// with a canned Strand response, so these tests pin the translation and nothing behind it.

import t, { type Test } from 'tap'
import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { addOffsetsToTxnResponse, addPartitionsToTxnResponse, endTxnResponse, txnOffsetCommitResponse } from '../../../client/protocol/kafka/messages/transactions.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../client/protocol/kafka/schema.js'
import type { KafkaHandler, KafkaRequestContext } from '../../../broker/kafka/context.js'
import { kafkaAddOffsetsToTxn, kafkaAddPartitionsToTxn, kafkaEndTxn, kafkaTxnOffsetCommit } from '../../../broker/kafka/handlers/transactions.js'
import type { Session } from '../../../broker/security/session.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'

const code = errorCodeOf
const VERSIONS = [0, 1, 2, 3]
const PRODUCER_ID = 4242n

interface Served {
  apiKey: number
  body: unknown
}

/** A context at `version` whose `serve` answers API `apiKey` with `answer(body)` and records the call. */
function fake(version: number, answers: Partial<Record<number, (body: never) => unknown>>): { req: KafkaRequestContext; served: Served[] } {
  const served: Served[] = []
  const serve = async (apiKey: number, body: unknown): Promise<unknown> => {
    served.push({ apiKey, body })
    const answer = answers[apiKey]
    if (answer === undefined) throw new Error(`No canned answer for API ${apiKey}.`)
    return answer(body as never)
  }
  const req: KafkaRequestContext = {
    ctx: {} as unknown as HandlerContext,
    version,
    info: { clientId: 'librdkafka', clientHost: '/127.0.0.1' },
    session: { principal: 'User:alice', host: '127.0.0.1' } as unknown as Session,
    serve: serve as KafkaRequestContext['serve'],
    kafkaAddress: () => null,
  }
  return { req, served }
}

async function run(handler: KafkaHandler, req: KafkaRequestContext, body: KafkaStruct): Promise<KafkaStruct> {
  const response = await handler(req, body)
  if (response === null) throw new Error('The handler gave no response.')
  return response
}

/** The response encodes with the API's spec at `version` (its shape is what the codec expects). */
function encodes(t: Test, spec: MessageSpec, version: number, response: KafkaStruct): void {
  t.doesNotThrow(() => messageCodec(spec, version).encode(new KafkaWriter(), response), `${spec.name} v${version} encodes`)
}

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn

function addPartitionsBody(topics: Array<{ name: string; partitions: number[] }>, transactionalId = 'orders-tx'): KafkaStruct {
  return { v3AndBelowTransactionalId: transactionalId, v3AndBelowProducerId: PRODUCER_ID, v3AndBelowProducerEpoch: 3, v3AndBelowTopics: topics }
}

type StrandAddPartitionsRequest = { topics: Array<{ name: string; partitions: number[] }> }

/** Strand's answer, topics in reverse (as the gate puts refused ones last), `errorCode` everywhere. */
function strandAddPartitions(errorCode: number) {
  return (body: StrandAddPartitionsRequest) => ({
    throttleTimeMs: 4,
    results: [...body.topics].reverse().map((t) => ({ name: t.name, results: t.partitions.map((partitionIndex) => ({ partitionIndex, errorCode })) })),
  })
}

t.test('AddPartitionsToTxn: each partition once, in the order first asked; the answer in that order', async (t) => {
  for (const v of VERSIONS) {
    const { req, served } = fake(v, { [ApiKey.AddPartitionsToTxn]: strandAddPartitions(0) })
    const res = await run(kafkaAddPartitionsToTxn, req, addPartitionsBody([
      { name: 'orders', partitions: [2, 0, 2] },
      { name: 'payments', partitions: [1] },
      { name: 'orders', partitions: [0, 5] },
    ]))
    t.strictSame(served, [{
      apiKey: ApiKey.AddPartitionsToTxn,
      body: { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 3, topics: [{ name: 'orders', partitions: [2, 0, 5] }, { name: 'payments', partitions: [1] }] },
    }], `v${v}: Strand is asked once per partition`)
    const ok = (partitionIndex: number) => ({ partitionIndex, partitionErrorCode: 0 })
    t.strictSame(res, {
      throttleTimeMs: 4,
      resultsByTopicV3AndBelow: [
        { name: 'orders', resultsByPartition: [ok(2), ok(0), ok(5)] },
        { name: 'payments', resultsByPartition: [ok(1)] },
      ],
    }, `v${v}`)
    encodes(t, addPartitionsToTxnResponse, v, res)
  }
})

t.test('AddPartitionsToTxn: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2, other errors pass', async (t) => {
  for (const v of VERSIONS) {
    const fenced = fake(v, { [ApiKey.AddPartitionsToTxn]: strandAddPartitions(code('PRODUCER_FENCED')) })
    const res = await run(kafkaAddPartitionsToTxn, fenced.req, addPartitionsBody([{ name: 'orders', partitions: [0] }]))
    const codes = (res.resultsByTopicV3AndBelow as Array<{ resultsByPartition: Array<{ partitionErrorCode: number }> }>).flatMap((x) => x.resultsByPartition.map((p) => p.partitionErrorCode))
    t.strictSame(codes, [v < 2 ? code('INVALID_PRODUCER_EPOCH') : code('PRODUCER_FENCED')], `v${v}`)
    const busy = fake(v, { [ApiKey.AddPartitionsToTxn]: strandAddPartitions(code('CONCURRENT_TRANSACTIONS')) })
    const again = await run(kafkaAddPartitionsToTxn, busy.req, addPartitionsBody([{ name: 'orders', partitions: [0] }]))
    t.strictSame(again.resultsByTopicV3AndBelow, [{ name: 'orders', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: code('CONCURRENT_TRANSACTIONS') }] }], `v${v}: CONCURRENT_TRANSACTIONS`)
  }
})

t.test('AddPartitionsToTxn: an empty transactional id is INVALID_REQUEST, Strand not asked', async (t) => {
  const { req, served } = fake(3, {})
  const res = await run(kafkaAddPartitionsToTxn, req, addPartitionsBody([{ name: 'orders', partitions: [0, 1] }], ''))
  t.strictSame(res, {
    throttleTimeMs: 0,
    resultsByTopicV3AndBelow: [{ name: 'orders', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: code('INVALID_REQUEST') }, { partitionIndex: 1, partitionErrorCode: code('INVALID_REQUEST') }] }],
  })
  t.equal(served.length, 0)
})

t.test('AddPartitionsToTxn: a partition Strand leaves unanswered is a bug, not an answer', async (t) => {
  const { req } = fake(0, { [ApiKey.AddPartitionsToTxn]: () => ({ throttleTimeMs: 0, results: [] }) })
  await t.rejects(run(kafkaAddPartitionsToTxn, req, addPartitionsBody([{ name: 'orders', partitions: [0] }])), /no answer for orders-0/)
})

// ---------------------------------------------------------------------------------------------
// AddOffsetsToTxn and EndTxn

t.test('AddOffsetsToTxn: forwarded as is; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2', async (t) => {
  for (const v of VERSIONS) {
    let errorCode = 0
    const { req, served } = fake(v, { [ApiKey.AddOffsetsToTxn]: () => ({ throttleTimeMs: 2, errorCode }) })
    const body = { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 3, groupId: 'billing' }
    const res = await run(kafkaAddOffsetsToTxn, req, body)
    t.strictSame(served, [{ apiKey: ApiKey.AddOffsetsToTxn, body }])
    t.strictSame(res, { throttleTimeMs: 2, errorCode: 0 })
    encodes(t, addOffsetsToTxnResponse, v, res)
    errorCode = code('PRODUCER_FENCED')
    t.equal((await run(kafkaAddOffsetsToTxn, req, body)).errorCode, v < 2 ? code('INVALID_PRODUCER_EPOCH') : code('PRODUCER_FENCED'), `v${v}`)
    errorCode = code('GROUP_AUTHORIZATION_FAILED')
    t.equal((await run(kafkaAddOffsetsToTxn, req, body)).errorCode, code('GROUP_AUTHORIZATION_FAILED'), `v${v}: other errors pass`)
  }
})

t.test('EndTxn: commit and abort forwarded, keeping the epoch; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2', async (t) => {
  for (const v of VERSIONS) {
    let errorCode = 0
    const { req, served } = fake(v, { [ApiKey.EndTxn]: () => ({ throttleTimeMs: 0, errorCode }) })
    for (const committed of [true, false]) {
      const body = { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 3, committed }
      const res = await run(kafkaEndTxn, req, body)
      // Kafka's EndTxn up to v3 keeps the producer's epoch: no epoch per transaction.
      t.strictSame(served.at(-1), { apiKey: ApiKey.EndTxn, body: { ...body, bumpEpoch: false } }, `v${v} committed=${committed}`)
      t.strictSame(res, { throttleTimeMs: 0, errorCode: 0 })
      encodes(t, endTxnResponse, v, res)
    }
    errorCode = code('PRODUCER_FENCED')
    const fenced = await run(kafkaEndTxn, req, { transactionalId: 'orders-tx', producerId: PRODUCER_ID, producerEpoch: 2, committed: true })
    t.equal(fenced.errorCode, v < 2 ? code('INVALID_PRODUCER_EPOCH') : code('PRODUCER_FENCED'), `v${v}`)
  }
})

t.test('AddOffsetsToTxn and EndTxn: an empty transactional id is INVALID_REQUEST, Strand not asked', async (t) => {
  const { req, served } = fake(1, {})
  t.strictSame(await run(kafkaAddOffsetsToTxn, req, { transactionalId: '', producerId: PRODUCER_ID, producerEpoch: 3, groupId: 'billing' }), { throttleTimeMs: 0, errorCode: code('INVALID_REQUEST') })
  t.strictSame(await run(kafkaEndTxn, req, { transactionalId: '', producerId: PRODUCER_ID, producerEpoch: 3, committed: false }), { throttleTimeMs: 0, errorCode: code('INVALID_REQUEST') })
  t.equal(served.length, 0)
})

// ---------------------------------------------------------------------------------------------
// TxnOffsetCommit

function txnCommitBody(member: { generationId: number; memberId: string; groupInstanceId: string | null }, committedLeaderEpoch: number): KafkaStruct {
  return {
    transactionalId: 'orders-tx',
    groupId: 'billing',
    producerId: PRODUCER_ID,
    producerEpoch: 3,
    ...member,
    topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 120n, committedLeaderEpoch, committedMetadata: null }] }],
  }
}

type StrandTxnCommitRequest = { topics: Array<{ name: string; partitions: Array<{ partitionIndex: number }> }> }

function strandTxnCommit(errorCode: number) {
  return (body: StrandTxnCommitRequest) => ({ throttleTimeMs: 0, topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })) })
}

t.test('TxnOffsetCommit v3: generation and member id go to Strand; the group instance id is dropped', async (t) => {
  const { req, served } = fake(3, { [ApiKey.TxnOffsetCommit]: strandTxnCommit(0) })
  const res = await run(kafkaTxnOffsetCommit, req, txnCommitBody({ generationId: 7, memberId: 'consumer-1-ab', groupInstanceId: 'pod-3' }, 4))
  t.strictSame(served, [{
    apiKey: ApiKey.TxnOffsetCommit,
    body: {
      transactionalId: 'orders-tx',
      groupId: 'billing',
      producerId: PRODUCER_ID,
      producerEpoch: 3,
      generationId: 7,
      memberId: 'consumer-1-ab',
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 120n, committedLeaderEpoch: 4, committedMetadata: null }] }],
    },
  }])
  t.strictSame(res, { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] })
  encodes(t, txnOffsetCommitResponse, 3, res)
})

t.test('TxnOffsetCommit v0-2: no member (generation -1, member ""), so Strand checks none', async (t) => {
  for (const v of [0, 1, 2]) {
    const { req, served } = fake(v, { [ApiKey.TxnOffsetCommit]: strandTxnCommit(0) })
    // What the codec decodes a v0-2 body to: the v3 fields at their defaults.
    const res = await run(kafkaTxnOffsetCommit, req, txnCommitBody({ generationId: -1, memberId: '', groupInstanceId: null }, v >= 2 ? 4 : -1))
    const body = served[0]?.body as { generationId: number; memberId: string; topics: Array<{ partitions: Array<{ committedLeaderEpoch: number }> }> }
    t.equal(body.generationId, -1, `v${v}`)
    t.equal(body.memberId, '', `v${v}`)
    t.equal(body.topics[0]?.partitions[0]?.committedLeaderEpoch, v >= 2 ? 4 : -1, `v${v}: leader epoch`)
    encodes(t, txnOffsetCommitResponse, v, res)
  }
})

t.test('TxnOffsetCommit: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH at every version; member errors pass', async (t) => {
  for (const v of VERSIONS) {
    const fenced = fake(v, { [ApiKey.TxnOffsetCommit]: strandTxnCommit(code('PRODUCER_FENCED')) })
    const res = await run(kafkaTxnOffsetCommit, fenced.req, txnCommitBody({ generationId: -1, memberId: '', groupInstanceId: null }, -1))
    t.strictSame(res.topics, [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: code('INVALID_PRODUCER_EPOCH') }] }], `v${v}`)
  }
  const stale = fake(3, { [ApiKey.TxnOffsetCommit]: strandTxnCommit(code('ILLEGAL_GENERATION')) })
  const res = await run(kafkaTxnOffsetCommit, stale.req, txnCommitBody({ generationId: 6, memberId: 'consumer-1-ab', groupInstanceId: null }, 4))
  t.strictSame(res.topics, [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: code('ILLEGAL_GENERATION') }] }])
})
