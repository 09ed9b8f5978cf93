// Produce and Fetch on the Kafka listener: Kafka's bodies to Strand's and back, with the record
// batches converted at the edge (../records.ts: CRC-32C <-> CRC-32, compression codes).
//
// Produce: a partition whose batches fail the edge check (CRC-32C, magic, a codec Strand does not
// read) gets its error code and is not sent on; the others go to the Strand Produce handler in
// one request, so acks, idempotence, transactions, quotas of size and the purgatory are exactly
// the Strand listener's. Responses keep the request's order.
//
// Fetch: always a consumer fetch (replica id -1: a Kafka client cannot pose as a follower and
// move a high watermark). No fetch sessions (KIP-227): a request that opens one gets session id 0,
// which tells the client to keep sending full fetches; one naming a session id gets
// FETCH_SESSION_ID_NOT_FOUND, as from a Kafka broker that evicted it.

import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf, StrandProtocolError } from '../../../client/protocol/errors.js'
import type { KafkaStruct } from '../../../client/protocol/kafka/schema.js'
import type { ProduceRequest, ProduceResponse } from '../../../client/protocol/messages/produce.js'
import type { FetchRequest } from '../../../client/protocol/messages/fetch.js'
import type { KafkaHandler } from '../context.js'
import { kafkaToStrandBatches, strandToKafkaBatches } from '../records.js'

interface KafkaProducePartition {
  index: number
  records: Buffer | null
}
interface KafkaProduceTopic {
  name: string
  partitionData: KafkaProducePartition[]
}

type StrandProducePartitionResponse = ProduceResponse['topics'][number]['partitions'][number]

function edgeFailure(index: number, err: unknown): StrandProducePartitionResponse {
  const name = err instanceof StrandProtocolError ? err.code : 'CORRUPT_MESSAGE'
  return { index, errorCode: errorCodeOf(name), errorMessage: (err as Error).message, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n }
}

export const kafkaProduce: KafkaHandler = async (req, body) => {
  const topics = body.topicData as KafkaProduceTopic[]
  const failed = new Map<string, StrandProducePartitionResponse>()
  const strandTopics: ProduceRequest['topics'] = []
  for (const t of topics) {
    const partitions: ProduceRequest['topics'][number]['partitions'] = []
    for (const p of t.partitionData) {
      try {
        if (p.records === null) throw new StrandProtocolError('CORRUPT_MESSAGE', 'Null records.')
        kafkaToStrandBatches(p.records)
        partitions.push({ index: p.index, currentLeaderEpoch: -1, records: p.records })
      } catch (err) {
        failed.set(`${t.name}\u0000${p.index}`, edgeFailure(p.index, err))
      }
    }
    if (partitions.length > 0) strandTopics.push({ name: t.name, partitions })
  }
  const acks = body.acks as number
  let served: ProduceResponse | null = null
  if (strandTopics.length > 0) {
    served = await req.serve(ApiKey.Produce, { transactionalId: body.transactionalId as string | null, acks, timeoutMs: body.timeoutMs as number, topics: strandTopics })
  }
  if (acks === 0) return null
  const results = new Map<string, StrandProducePartitionResponse>(failed)
  for (const t of served?.topics ?? []) for (const p of t.partitions) results.set(`${t.name}\u0000${p.index}`, p)
  return {
    throttleTimeMs: served?.throttleTimeMs ?? 0,
    responses: topics.map((t) => ({
      name: t.name,
      partitionResponses: t.partitionData.map((p) => {
        const r = results.get(`${t.name}\u0000${p.index}`) ?? edgeFailure(p.index, new StrandProtocolError('UNKNOWN_SERVER_ERROR', 'No result for the partition.'))
        return { index: p.index, errorCode: r.errorCode, baseOffset: r.baseOffset, logAppendTimeMs: r.logAppendTimeMs, logStartOffset: r.logStartOffset, recordErrors: [], errorMessage: r.errorCode === 0 ? null : r.errorMessage }
      }),
    })),
  }
}

interface KafkaFetchPartition {
  partition: number
  currentLeaderEpoch: number
  fetchOffset: bigint
  logStartOffset: bigint
  partitionMaxBytes: number
}
interface KafkaFetchTopic {
  topic: string
  partitions: KafkaFetchPartition[]
}

export const kafkaFetch: KafkaHandler = async (req, body) => {
  if ((body.sessionId as number) !== 0) {
    return { throttleTimeMs: 0, errorCode: errorCodeOf('FETCH_SESSION_ID_NOT_FOUND'), sessionId: 0, responses: [] }
  }
  const request: FetchRequest = {
    replicaId: -1,
    maxWaitMs: body.maxWaitMs as number,
    minBytes: body.minBytes as number,
    maxBytes: body.maxBytes as number,
    isolationLevel: body.isolationLevel as number,
    topics: (body.topics as KafkaFetchTopic[]).map((t) => ({
      name: t.topic,
      partitions: t.partitions.map((p) => ({ partition: p.partition, currentLeaderEpoch: p.currentLeaderEpoch, fetchOffset: p.fetchOffset, logStartOffset: p.logStartOffset, partitionMaxBytes: p.partitionMaxBytes })),
    })),
  }
  const served = await req.serve(ApiKey.Fetch, request)
  const responses: KafkaStruct[] = []
  for (const t of served.topics) {
    const partitions: KafkaStruct[] = []
    for (const p of t.partitions) {
      partitions.push({
        partitionIndex: p.partitionIndex,
        errorCode: p.errorCode,
        highWatermark: p.highWatermark,
        lastStableOffset: p.lastStableOffset,
        logStartOffset: p.logStartOffset,
        abortedTransactions: p.abortedTransactions ?? null,
        preferredReadReplica: -1,
        records: await strandToKafkaBatches(p.records),
      })
    }
    responses.push({ topic: t.name, partitions })
  }
  return { throttleTimeMs: served.throttleTimeMs, errorCode: served.errorCode, sessionId: 0, responses }
}
