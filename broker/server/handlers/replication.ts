// OffsetsForLeaderEpoch (a follower asks the leader where an epoch ends, to truncate its log to
// where the two agree; a consumer asks where the epoch of the last records it read ends, to find
// whether the log was truncated under its position, KIP-320) and AlterPartition (a leader asks the
// active controller to change an ISR).

import { toWireCode } from '../../../client/protocol/errors.js'
import type { AlterPartitionRequest, AlterPartitionResponse, OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse } from '../../../client/protocol/messages/replication.js'
import type { HandlerContext } from './context.js'
import { checkClientLeaderEpoch } from './leader-epoch.js'

type EpochAnswer = OffsetsForLeaderEpochResponse['topics'][number]['partitions'][number]

function endOfEpoch(ctx: HandlerContext, topic: string, p: OffsetsForLeaderEpochRequest['topics'][number]['partitions'][number]): EpochAnswer {
  try {
    const partition = ctx.replicas.partition(topic, p.partition)
    // A follower and a consumer validating its position (KIP-320) alike; -1 is not checked.
    checkClientLeaderEpoch(partition, p.currentLeaderEpoch)
    const end = partition.epochs.endOffsetFor(p.leaderEpoch, partition.logEndOffset)
    return { errorCode: 0, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset }
  } catch (err) {
    return { errorCode: toWireCode(err), partition: p.partition, leaderEpoch: -1, endOffset: -1n }
  }
}

export function handleOffsetsForLeaderEpoch(ctx: HandlerContext, req: OffsetsForLeaderEpochRequest): OffsetsForLeaderEpochResponse {
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => endOfEpoch(ctx, t.name, p)) })),
  }
}

export async function handleAlterPartition(ctx: HandlerContext, req: AlterPartitionRequest): Promise<AlterPartitionResponse> {
  return ctx.controller.alterPartition(req)
}
