// ListOffsets: -1 is the latest committed offset (the high watermark), -2 the log start offset,
// anything else a timestamp: the first offset whose record timestamp is at or after it (-1 when
// no record is that recent).

import { StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import type { ListOffsetsRequest, ListOffsetsResponse } from '../../../client/protocol/messages/list-offsets.js'
import type { HandlerContext } from './context.js'

export const LATEST_TIMESTAMP = -1n
export const EARLIEST_TIMESTAMP = -2n

type PartitionResponse = ListOffsetsResponse['topics'][number]['partitions'][number]

async function lookup(ctx: HandlerContext, topic: string, index: number, timestamp: bigint): Promise<PartitionResponse> {
  try {
    const p = ctx.replicas.partition(topic, index)
    const base = { partitionIndex: index, errorCode: 0, leaderEpoch: p.leaderEpoch, timestamp: -1n }
    if (timestamp === LATEST_TIMESTAMP) return { ...base, offset: p.highWatermark }
    if (timestamp === EARLIEST_TIMESTAMP) return { ...base, offset: p.logStartOffset }
    if (timestamp < 0n) throw new StrandProtocolError('INVALID_REQUEST', `Timestamp ${timestamp} is neither -1, -2 nor a time.`)
    const found = await p.log.offsetForTimestamp(Number(timestamp))
    if (found === null || found.offset >= p.highWatermark) return { ...base, offset: -1n }
    return { ...base, offset: found.offset, timestamp: BigInt(found.timestamp) }
  } catch (err) {
    return { partitionIndex: index, errorCode: toWireCode(err), leaderEpoch: -1, timestamp: -1n, offset: -1n }
  }
}

export async function handleListOffsets(ctx: HandlerContext, req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(t.partitions.map((p) => lookup(ctx, t.name, p.partitionIndex, p.timestamp))),
    })),
  )
  return { topics }
}
