// The idempotent producer's reactions to the leader's answers, against a scripted cluster (no
// sockets): a batch refused as out of order while an earlier one is unsettled is re-sent after
// it; a refusal with nothing pending before it fails the batch, saying its records may or may not
// be in the log, and the producer takes a new producer id; a retry after a lost answer carries
// the very same bytes.

import t from 'tap'
import type { Cluster, RetryOptions, TopicInfo } from '../../client/cluster.js'
import { ConnectionError, StrandProtocolError } from '../../client/errors.js'
import { Producer } from '../../client/producer.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, type WireErrorName } from '../../client/protocol/errors.js'
import type { ProduceRequest, ProduceResponse } from '../../client/protocol/messages/produce.js'
import { readBatchHeader } from '../../client/protocol/records.js'
import type { Teardown } from '../helpers/broker-process.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 't'

/** One batch of a Produce request as the leader would see it. */
interface SentBatch {
  partition: number
  producerId: bigint
  baseSequence: number
  recordCount: number
  bytes: Buffer
}

/** A Produce request the test answers when it likes. */
interface PendingProduce {
  batches: SentBatch[]
  answer: (outcomes: Array<{ error?: WireErrorName; baseOffset?: bigint }>) => void
  fail: (err: Error) => void
}

/** The part of Cluster the producer uses, with Produce requests held for the test to answer. */
class ScriptedCluster {
  readonly retryOptions: RetryOptions = { retriesMax: 5, retryBackoffMs: 1, retryBackoffMsMax: 2 }
  readonly stale = false
  readonly produces: PendingProduce[] = []
  /** Every batch sent, in send order. */
  readonly sent: SentBatch[] = []
  initProducerIds = 0
  /** What InitProducerId answers with while set. */
  initError: StrandProtocolError | null = null
  #nextProducerId = 100n
  readonly #topic: TopicInfo = {
    name: TOPIC,
    internal: false,
    partitions: [0, 1].map((partition) => ({ partition, leaderId: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] })),
  }

  async topic(): Promise<TopicInfo> {
    return this.#topic
  }

  cachedTopic(): TopicInfo {
    return this.#topic
  }

  cachedLeader(): number {
    return 1
  }

  invalidate(): void {}

  async refresh(): Promise<void> {}

  retry<T>(attempt: (retry: number) => Promise<T>): Promise<T> {
    return attempt(0)
  }

  async requestAny(apiKey: number): Promise<unknown> {
    if (apiKey !== ApiKey.InitProducerId) throw new Error(`unexpected request ${apiKey}`)
    this.initProducerIds++
    if (this.initError !== null) throw this.initError
    return { throttleTimeMs: 0, errorCode: 0, producerId: this.#nextProducerId++, producerEpoch: 0 }
  }

  connectionTo(): { request: (apiKey: number, body: ProduceRequest) => Promise<ProduceResponse> } {
    return {
      request: (apiKey, body) => {
        if (apiKey !== ApiKey.Produce) throw new Error(`unexpected request ${apiKey}`)
        const batches = body.topics.flatMap((tp) =>
          tp.partitions.map((p) => {
            const h = readBatchHeader(p.records)
            return { partition: p.index, producerId: h.producerId, baseSequence: h.baseSequence, recordCount: h.recordCount, bytes: Buffer.from(p.records) }
          }),
        )
        this.sent.push(...batches)
        return new Promise<ProduceResponse>((resolve, reject) => {
          this.produces.push({
            batches,
            answer: (outcomes) =>
              resolve({
                throttleTimeMs: 0,
                topics: [
                  {
                    name: TOPIC,
                    partitions: batches.map((b, i) => ({
                      index: b.partition,
                      errorCode: outcomes[i]?.error === undefined ? 0 : errorCodeOf(outcomes[i]!.error!),
                      errorMessage: null,
                      baseOffset: outcomes[i]?.baseOffset ?? -1n,
                      logAppendTimeMs: -1n,
                      logStartOffset: 0n,
                    })),
                  },
                ],
              }),
            fail: reject,
          })
        })
      },
    }
  }

  close(): void {}

  /** Waits for the next Produce request and takes it. */
  async nextProduce(): Promise<PendingProduce> {
    await waitFor(() => this.produces.length > 0, { what: 'a Produce request' })
    return this.produces.shift()!
  }
}

function setup(t: Teardown): { cluster: ScriptedCluster; producer: Producer } {
  const cluster = new ScriptedCluster()
  const producer = new Producer({ cluster: cluster as unknown as Cluster, clock: Date.now, requestTimeoutMs: 1000 }, { acks: 'all', lingerMs: 0, batchBytes: 200 })
  t.teardown(() => producer.close())
  return { cluster, producer }
}

/** Records of ~150 bytes: each fills a batch of its own (batchBytes 200). */
function big(i: number): { partition: number; value: string } {
  return { partition: 0, value: `${i}`.padEnd(150, '.') }
}

t.test('an out-of-order refusal while an earlier batch is unsettled: re-sent after it, in order', async (t) => {
  const { cluster, producer } = setup(t)
  const send = producer.send({ topic: TOPIC, messages: [big(0), big(1)] })
  const first = await cluster.nextProduce()
  const second = await cluster.nextProduce()
  t.same([first.batches[0]!.baseSequence, second.batches[0]!.baseSequence], [0, 1], 'two batches of the partition in flight, sequences 0 and 1')
  // The second reaches a new leader first and is refused; the first fails at the old leader.
  second.answer([{ error: 'OUT_OF_ORDER_SEQUENCE_NUMBER' }])
  first.answer([{ error: 'NOT_LEADER_OR_FOLLOWER' }])
  const retryFirst = await cluster.nextProduce()
  t.same(retryFirst.batches.map((b) => b.baseSequence), [0], 'the first is re-sent alone')
  t.equal(cluster.produces.length, 0, 'and the second waits for its answer')
  retryFirst.answer([{ baseOffset: 10n }])
  const retrySecond = await cluster.nextProduce()
  t.same(retrySecond.batches.map((b) => b.baseSequence), [1], 'then the second, same sequence')
  retrySecond.answer([{ baseOffset: 11n }])
  t.same((await send).map((a) => a.offset), [10n, 11n], 'each record gets the offset the leader answered')
  t.equal(cluster.initProducerIds, 1, 'one producer id for it all')
})

t.test('a refusal with nothing pending before it fails the batch and takes a new producer id', async (t) => {
  const { cluster, producer } = setup(t)
  const sent = producer.send({ topic: TOPIC, messages: [big(0)] })
  ;(await cluster.nextProduce()).answer([{ baseOffset: 0n }])
  await sent
  const refused = producer.send({ topic: TOPIC, messages: [big(1)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [100n, 1])
  p.answer([{ error: 'UNKNOWN_PRODUCER_ID' }])
  await t.rejects(refused, { code: 'UNKNOWN_PRODUCER_ID', message: /may or may not be in the log/ }, 'the batch fails, saying its fate is unknown')
  const next = producer.send({ topic: TOPIC, messages: [big(2)] })
  const again = await cluster.nextProduce()
  t.equal(cluster.initProducerIds, 2, 'a new producer id was fetched')
  t.same([again.batches[0]!.producerId, again.batches[0]!.baseSequence], [101n, 0], 'and the partition starts again at sequence 0')
  again.answer([{ baseOffset: 2n }])
  t.same((await next).map((a) => a.offset), [2n])
})

t.test('a retry after a lost answer carries the same bytes, and settles once with the answered offset', async (t) => {
  const { cluster, producer } = setup(t)
  const send = producer.send({ topic: TOPIC, messages: [big(0), { partition: 1, value: 'x' }] })
  const first = await cluster.nextProduce()
  t.equal(first.batches.length, 2, 'both partitions in one request')
  first.fail(new ConnectionError('127.0.0.1:1', 'connection closed by the broker'))
  const retry = await cluster.nextProduce()
  t.same(retry.batches.map((b) => b.bytes), first.batches.map((b) => b.bytes), 'the very same bytes: same producer id and sequences')
  retry.answer([{ baseOffset: 5n }, { baseOffset: 7n }])
  t.same((await send).map((a) => a.offset), [5n, 7n])
  t.equal(cluster.sent.length, 4)
})

t.test('a sent batch that fails for good resets the producer id, since its sequence may leave a hole', async (t) => {
  const { cluster, producer } = setup(t)
  const failed = producer.send({ topic: TOPIC, messages: [big(0)] })
  ;(await cluster.nextProduce()).answer([{ error: 'INVALID_RECORD' }])
  await t.rejects(failed, { code: 'INVALID_RECORD' })
  const next = producer.send({ topic: TOPIC, messages: [big(1)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [101n, 0], 'the next batch has a new id, at sequence 0')
  p.answer([{ baseOffset: 1n }])
  await next
})

t.test('without a producer id, the batches waiting for one fail with the reason; a later send tries again', async (t) => {
  const { cluster, producer } = setup(t)
  cluster.initError = new StrandProtocolError('UNSUPPORTED_VERSION', 'InitProducerId:')
  await t.rejects(producer.send({ topic: TOPIC, messages: [big(0), big(1)] }), { code: 'UNSUPPORTED_VERSION' })
  t.equal(cluster.sent.length, 0, 'nothing was sent without an id')
  cluster.initError = null
  const next = producer.send({ topic: TOPIC, messages: [big(2)] })
  const p = await cluster.nextProduce()
  t.same([p.batches[0]!.producerId, p.batches[0]!.baseSequence], [100n, 0])
  p.answer([{ baseOffset: 0n }])
  t.same((await next).map((a) => a.offset), [0n])
})
