// WriteTxnMarkers (KIP-98): the transaction coordinator's commit or abort of a producer's
// transaction, written as a control batch into each named partition this broker leads
// (Partition.appendTxnMarker), at the partition's current leader epoch. A partition's answer
// waits until its marker is replicated (the high watermark is past it), as acks=all does: the
// coordinator completes the transaction only once every marker is committed, so a leader change
// cannot lose one. Every partition gets its own outcome; one failing does not fail the others.

import { StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse } from '../../../client/protocol/messages/txn-markers.js'
import { OFFSETS_TOPIC } from '../../topic-config.js'
import { MARKER_REPLICATION_TIMEOUT_MS } from '../../txn/markers.js'
import type { HandlerContext } from './context.js'

type Marker = WriteTxnMarkersRequest['markers'][number]
type MarkerResult = WriteTxnMarkersResponse['markers'][number]

async function writeOne(ctx: HandlerContext, m: Marker, topic: string, index: number): Promise<{ partitionIndex: number; errorCode: number }> {
  try {
    const partition = ctx.replicas.partition(topic, index)
    const isr = partition.state.isr.length
    if (isr < partition.config.minInsyncReplicas) {
      throw new StrandProtocolError('NOT_ENOUGH_REPLICAS', `${topic}-${index} has ${isr} in-sync replicas; min.insync.replicas is ${partition.config.minInsyncReplicas}.`)
    }
    const highWatermark = partition.highWatermark
    // A version 0 request decodes without transactionEpoch; -1 says the same.
    const transactionEpoch = m.transactionEpoch === undefined || m.transactionEpoch < 0 ? m.producerEpoch : m.transactionEpoch
    const r = await partition.appendTxnMarker({ producerId: m.producerId, producerEpoch: m.producerEpoch, transactionEpoch, commit: m.transactionResult, coordinatorEpoch: m.coordinatorEpoch, timestampMs: ctx.clock() })
    if (partition.highWatermark > highWatermark) ctx.replicas.waiters.notify(partition.key)
    else ctx.replicas.waiters.notifyFollowers(partition.key)
    await partition.waitForCommit(r.lastOffset + 1n, MARKER_REPLICATION_TIMEOUT_MS)
    // The group coordinator commits (or drops) the producer's pending transactional offsets once
    // the marker is committed on the offsets partition; a coordinator loading the partition later
    // finds the marker in its replay.
    if (topic === OFFSETS_TOPIC) ctx.groups.onTxnMarker(index, m.producerId, m.transactionResult)
    return { partitionIndex: index, errorCode: 0 }
  } catch (err) {
    if (!(err instanceof StrandProtocolError)) ctx.logger.error({ err, topic, partition: index, producerId: m.producerId }, 'transaction marker append failed')
    return { partitionIndex: index, errorCode: toWireCode(err) }
  }
}

export async function handleWriteTxnMarkers(ctx: HandlerContext, req: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
  const markers: MarkerResult[] = await Promise.all(
    req.markers.map(async (m) => ({
      producerId: m.producerId,
      topics: await Promise.all(m.topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitionIndexes.map((i) => writeOne(ctx, m, t.name, i))) }))),
    })),
  )
  return { markers }
}
