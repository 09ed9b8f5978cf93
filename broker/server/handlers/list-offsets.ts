// ListOffsets: -1 is the latest committed offset (the high watermark; for isolationLevel 1,
// read_committed, the last stable offset), -2 the log start offset,
// anything else a timestamp: the first offset whose record timestamp is at or after it (-1 when
// no record is that recent).
//
// As in Kafka, a request from other than a consumer (replicaId -2, Kafka's debugging replica id,
// or a broker id) reads up to the log end instead: -1 answers the leader's log end offset, which
// is past the high watermark while followers catch up. `strand topics describe` shows both.
//
// A consumer's 'latest' or timestamp lookup on a new leader whose high watermark has not yet
// reached the start of its epoch is answered OFFSET_NOT_AVAILABLE (retriable; KIP-207): that
// high watermark may be behind records its predecessor acknowledged.
//
// A partition's `currentLeaderEpoch`, when not -1, must be the leader's (KIP-320, leader-epoch.ts):
// an offset looked up on a broker the client takes for another epoch's leader could be one that
// broker's log is about to lose.

import { StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import type { ListOffsetsRequest, ListOffsetsResponse } from '../../../client/protocol/messages/list-offsets.js'
import type { HandlerContext } from './context.js'
import { checkClientLeaderEpoch } from './leader-epoch.js'

export const LATEST_TIMESTAMP = -1n
export const EARLIEST_TIMESTAMP = -2n
/** The replicaId of an ordinary consumer, bounded by the high watermark. */
const CONSUMER_REPLICA_ID = -1
/** isolationLevel of a read_committed consumer: answers are bounded by the last stable offset. */
const READ_COMMITTED = 1

type PartitionRequest = ListOffsetsRequest['topics'][number]['partitions'][number]
type PartitionResponse = ListOffsetsResponse['topics'][number]['partitions'][number]

async function lookup(ctx: HandlerContext, topic: string, request: PartitionRequest, toLogEnd: boolean, committed: boolean): Promise<PartitionResponse> {
  const { partitionIndex: index, timestamp } = request
  try {
    // A consumer's request is refused while this leader's lease has lapsed (it may no longer lead).
    const p = ctx.replicas.partition(topic, index, { consumer: !toLogEnd })
    checkClientLeaderEpoch(p, request.currentLeaderEpoch)
    const base = { partitionIndex: index, errorCode: 0, leaderEpoch: p.leaderEpoch, timestamp: -1n }
    // read_committed (KIP-98): the latest offset is the last stable one, known once the open
    // transactions are (a leader replays them on taking over).
    if (committed && !toLogEnd) await p.producerStateLoaded()
    if (!toLogEnd && timestamp !== EARLIEST_TIMESTAMP) p.checkHighWatermarkKnown()
    const end = toLogEnd ? p.logEndOffset : committed ? p.lastStableOffset : p.highWatermark
    if (timestamp === LATEST_TIMESTAMP) return { ...base, offset: end }
    if (timestamp === EARLIEST_TIMESTAMP) return { ...base, offset: p.logStartOffset }
    if (timestamp < 0n) throw new StrandProtocolError('INVALID_REQUEST', `Timestamp ${timestamp} is neither -1, -2 nor a time.`)
    const found = await p.log.offsetForTimestamp(Number(timestamp))
    if (found === null || found.offset >= end) return { ...base, offset: -1n }
    return { ...base, offset: found.offset, timestamp: BigInt(found.timestamp) }
  } catch (err) {
    return { partitionIndex: index, errorCode: toWireCode(err), leaderEpoch: -1, timestamp: -1n, offset: -1n }
  }
}

export async function handleListOffsets(ctx: HandlerContext, req: ListOffsetsRequest): Promise<ListOffsetsResponse> {
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(t.partitions.map((p) => lookup(ctx, t.name, p, req.replicaId !== CONSUMER_REPLICA_ID, req.isolationLevel === READ_COMMITTED))),
    })),
  )
  return { topics }
}
