// Fetch: read from each requested partition up to its high watermark, and long-poll when there is
// less than minBytes: the request waits (bounded by maxWaitMs and FETCH_WAIT_MS_MAX) until an
// append to one of its partitions, then reads again.
//
// Size limits follow Kafka (KIP-74): partitionMaxBytes per partition and maxBytes per response,
// except that the first non-empty partition always returns at least one whole batch, so a
// consumer is never stuck behind a batch larger than its limits.

import { StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import type { FetchRequest, FetchResponse } from '../../../client/protocol/messages/fetch.js'
import { partitionKey } from '../../replication/append-waiters.js'
import type { HandlerContext } from './context.js'

/** Longest a fetch may wait, whatever the client asks: bounds how long a request holds memory. */
export const FETCH_WAIT_MS_MAX = 30_000
/** Largest response a fetch may ask for. */
export const FETCH_RESPONSE_BYTES_MAX = 64 * 1024 * 1024

type TopicResponse = FetchResponse['topics'][number]
type PartitionResponse = TopicResponse['partitions'][number]

interface ReadOutcome {
  topics: TopicResponse[]
  bytes: number
  errors: number
}

async function readAll(ctx: HandlerContext, req: FetchRequest): Promise<ReadOutcome> {
  let remaining = Math.min(Math.max(req.maxBytes, 0), FETCH_RESPONSE_BYTES_MAX)
  let bytes = 0
  let errors = 0
  const topics: TopicResponse[] = []
  for (const t of req.topics) {
    const partitions: PartitionResponse[] = []
    for (const p of t.partitions) {
      const out = await readOne(ctx, t.name, p, bytes === 0 ? Math.max(remaining, 1) : remaining)
      if (out.errorCode !== 0) errors++
      if (bytes > 0 && out.records.length > remaining) out.records = Buffer.alloc(0)
      bytes += out.records.length
      remaining -= out.records.length
      partitions.push(out)
    }
    topics.push({ name: t.name, partitions })
  }
  return { topics, bytes, errors }
}

async function readOne(
  ctx: HandlerContext,
  topic: string,
  p: FetchRequest['topics'][number]['partitions'][number],
  responseBytesLeft: number,
): Promise<PartitionResponse> {
  try {
    if (p.partitionMaxBytes < 0) throw new StrandProtocolError('INVALID_FETCH_SIZE', `partitionMaxBytes was ${p.partitionMaxBytes}.`)
    const partition = ctx.replicas.partition(topic, p.partition)
    const maxBytes = Math.max(1, Math.min(p.partitionMaxBytes, responseBytesLeft))
    if (responseBytesLeft <= 0 || p.partitionMaxBytes === 0) {
      return { partitionIndex: p.partition, errorCode: 0, highWatermark: partition.highWatermark, lastStableOffset: partition.highWatermark, logStartOffset: partition.logStartOffset, records: Buffer.alloc(0) }
    }
    const r = await partition.read(p.fetchOffset, maxBytes)
    return { partitionIndex: p.partition, errorCode: 0, highWatermark: r.highWatermark, lastStableOffset: r.highWatermark, logStartOffset: r.logStartOffset, records: r.records }
  } catch (err) {
    if (!(err instanceof StrandProtocolError)) ctx.logger.error({ err, topic, partition: p.partition }, 'read failed')
    return { partitionIndex: p.partition, errorCode: toWireCode(err), highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, records: Buffer.alloc(0) }
  }
}

function respond(outcome: ReadOutcome): FetchResponse {
  return { throttleTimeMs: 0, errorCode: 0, topics: outcome.topics }
}

export async function handleFetch(ctx: HandlerContext, req: FetchRequest): Promise<FetchResponse> {
  const waitMs = Math.min(Math.max(req.maxWaitMs, 0), FETCH_WAIT_MS_MAX)
  if (waitMs === 0 || ctx.stopping()) return respond(await readAll(ctx, req))
  const deadline = ctx.clock() + waitMs
  for (;;) {
    // Register before reading: an append that lands between the read and the wait still wakes us.
    const keys = req.topics.flatMap((t) => t.partitions.map((p) => partitionKey(t.name, p.partition)))
    const waiter = ctx.replicas.waiters.wait(keys, Math.max(0, deadline - ctx.clock()))
    const outcome = await readAll(ctx, req)
    // minBytes 0 answers at once, even with nothing to return (Kafka semantics).
    const satisfied = outcome.bytes >= req.minBytes || outcome.errors > 0
    if (waiter === null || satisfied || ctx.stopping() || ctx.clock() >= deadline) {
      waiter?.cancel()
      return respond(outcome)
    }
    const woken = await waiter.done
    if (!woken) return respond(await readAll(ctx, req))
  }
}
