// Produce: append each partition's batches as leader. Every partition gets its own outcome; one
// failing partition does not fail the others. acks=0 gets no response at all (Kafka semantics).
// acks=all is refused up front (NOT_ENOUGH_REPLICAS, nothing appended) when the ISR is smaller
// than min.insync.replicas; otherwise its answer waits until the high watermark passes the
// appended batches, that is until every ISR member has them, bounded by the request's timeoutMs.
// From v1 a partition carries the producer's leader epoch for it: a leader at another epoch
// refuses it (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, leader-epoch.ts) and appends nothing;
// -1, and every v0 partition, is not checked.

import { StrandProtocolError, toWireCode, WIRE_ERRORS } from '../../../client/protocol/errors.js'
import { produceLeaderEpochOf, type ProduceRequestAnyVersion, type ProduceResponse } from '../../../client/protocol/messages/produce.js'
import type { HandlerContext } from './context.js'
import { checkClientLeaderEpoch } from './leader-epoch.js'

type PartitionResponse = ProduceResponse['topics'][number]['partitions'][number]

const VALID_ACKS = new Set([-1, 0, 1])

function failed(index: number, err: unknown): PartitionResponse {
  return {
    index,
    errorCode: toWireCode(err),
    errorMessage: err instanceof Error ? err.message : String(err),
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
  }
}

async function appendOne(ctx: HandlerContext, acks: number, timeoutMs: number, topic: string, index: number, leaderEpoch: number, records: Buffer, transactionalId: string | null, orderKey: object | undefined): Promise<PartitionResponse> {
  try {
    const partition = ctx.replicas.partition(topic, index)
    // Checked here, before anything is appended or an acks=all is refused for a small ISR, and
    // again by the append itself after its awaits (the epoch may move while the batch validates).
    checkClientLeaderEpoch(partition, leaderEpoch)
    const isr = partition.state.isr.length
    if (acks === -1 && isr < partition.config.minInsyncReplicas) {
      throw new StrandProtocolError('NOT_ENOUGH_REPLICAS', `${topic}-${index} has ${isr} in-sync replicas; min.insync.replicas is ${partition.config.minInsyncReplicas}.`)
    }
    const bytes = records.length
    const r = await ctx.replicas.appendAsLeader(topic, index, records, leaderEpoch, transactionalId, orderKey)
    // A retry of a batch already appended (idempotence) appended nothing: counting it made a
    // produce retried under load read 210 records in for 200 sent.
    if (!r.duplicate) {
      ctx.metrics.inc('strand_messages_in_total', 'Records appended as leader, by topic.', { topic }, Number(r.lastOffset - r.baseOffset + 1n))
      ctx.metrics.inc('strand_bytes_in_total', 'Record batch bytes appended as leader, by topic.', { topic }, bytes)
    }
    if (acks === -1) await partition.waitForCommit(r.lastOffset + 1n, timeoutMs)
    return { index, errorCode: 0, errorMessage: null, baseOffset: r.baseOffset, logAppendTimeMs: r.logAppendTimeMs, logStartOffset: r.logStartOffset }
  } catch (err) {
    if (!(err instanceof StrandProtocolError)) ctx.logger.error({ err, topic, partition: index }, 'append failed')
    return failed(index, err)
  }
}

/** `orderKey`: the connection the request came on (its session), which orders its batches without a producer id. */
export async function handleProduce(ctx: HandlerContext, req: ProduceRequestAnyVersion, orderKey?: object): Promise<ProduceResponse | null> {
  const acks = req.acks
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map((p) =>
          t.name.startsWith(INTERNAL_TOPIC_PREFIX)
            ? Promise.resolve(failed(p.index, new StrandProtocolError('INVALID_TOPIC', `"${t.name}" is internal: only the broker writes it (its records would forge committed offsets).`)))
            : VALID_ACKS.has(acks)
            ? appendOne(ctx, acks, Math.max(0, req.timeoutMs), t.name, p.index, produceLeaderEpochOf(p), p.records, req.transactionalId, orderKey)
            : Promise.resolve(failed(p.index, new StrandProtocolError('INVALID_REQUIRED_ACKS', `acks was ${acks}.`))),
        ),
      ),
    })),
  )
  if (acks === 0) {
    // No response to carry the error: close the connection (after what is pending), as Kafka does,
    // so the producer notices, refreshes its metadata and stops sending into the void.
    const failedPartition = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p }))).find((p) => p.errorCode !== 0)
    if (failedPartition !== undefined) {
      throw new StrandProtocolError('UNKNOWN_SERVER_ERROR', `acks=0 produce to ${failedPartition.topic}-${failedPartition.index} failed (${failedPartition.errorMessage ?? failedPartition.errorCode}); closing the connection to tell the producer.`)
    }
    return null
  }
  return { topics, throttleTimeMs: 0 }
}

export const NO_ERROR = WIRE_ERRORS.NONE.code

/** Topics the brokers keep for themselves (__consumer_offsets); clients may read but not write them. */
const INTERNAL_TOPIC_PREFIX = '__'
