// What the group coordinator (broker/group) and the transaction coordinator (broker/txn) share:
// each keeps its state in a compacted, replicated internal topic (`__consumer_offsets`,
// `__transaction_state`), one partition per slice of its keys. The leader of a partition
// coordinates its keys: it replays the partition when it becomes leader, and appends each state
// change as its leader, answering only once the ISR has it (the high watermark passed it).
//
// Record layout, for both: key = kind uint8 | Avro key, value = version uint8 | Avro value (a
// null value is a tombstone), so compaction keeps the latest record of each key.
//
// Only the coordinators call this, for partitions of their own internal topic.

import type avro from 'avsc'
import { CONTROL_TYPE, decodeBatches, encodeBatch, isControlBatch, isTransactionalBatch } from '../client/protocol/records.js'
import type { Partition } from './replication/partition.js'
import type { ReplicaManager } from './replication/replica-manager.js'

/** Bytes read per step when replaying an internal partition. */
const REPLAY_CHUNK_BYTES = 1024 * 1024

/** `prefix` as one byte, then the Avro encoding of `value`. */
export function prefixed(prefix: number, type: avro.Type, value: unknown): Buffer {
  const body = type.toBuffer(value)
  const out = Buffer.allocUnsafe(1 + body.length)
  out.writeUInt8(prefix, 0)
  body.copy(out, 1)
  return out
}

/** What replay tells a visitor about the batch a record came in. */
export interface ReplayedBatch {
  /** -1n for a coordinator's own (non-transactional) batch. */
  producerId: bigint
  /** A transactional batch (TxnOffsetCommit's): its records count once their producer's commit marker follows. */
  transactional: boolean
}

export interface ReplayOptions {
  /** Called, in log order with the records, for each transaction marker (control batch) in the partition. */
  onMarker?: (marker: { producerId: bigint; commit: boolean }) => void
}

/**
 * Visits every record of the partition from its log start to its log end as of the call, in
 * offset order. Control batches (transaction markers) are not records: they go to
 * `options.onMarker` when given, else they are skipped.
 */
export async function replayPartition(partition: Partition, visit: (key: Buffer | null, value: Buffer | null, batch: ReplayedBatch) => void, options: ReplayOptions = {}): Promise<bigint> {
  let offset = partition.logStartOffset
  const end = partition.logEndOffset
  while (offset < end) {
    const { records, nextOffset } = await partition.log.read(offset, REPLAY_CHUNK_BYTES, { maxOffset: end })
    for (const batch of decodeBatches(records).batches) {
      const { producerId } = batch.header
      if (isControlBatch(batch.header)) {
        // The control record's key: version int16, then type int16 (0 abort, 1 commit).
        const key = batch.records[0]?.key
        const type = key !== null && key !== undefined && key.length >= 4 ? key.readInt16BE(2) : -1
        if (type === CONTROL_TYPE.commit || type === CONTROL_TYPE.abort) options.onMarker?.({ producerId, commit: type === CONTROL_TYPE.commit })
        continue
      }
      const info: ReplayedBatch = { producerId, transactional: isTransactionalBatch(batch.header) }
      for (const r of batch.records) visit(r.key, r.value, info)
    }
    if (nextOffset <= offset) break
    offset = nextOffset
  }
  return end
}

/** The transactional producer an internal append is written for (TxnOffsetCommit). */
export interface AppendProducer {
  producerId: bigint
  producerEpoch: number
}

/**
 * Appends records to an internal partition as its leader and waits until the ISR has them. With
 * `producer`, the batch is a transactional batch of that producer (no sequence number: the
 * coordinator, not the producer, writes it, as Kafka's coordinator does), refused with
 * INVALID_PRODUCER_EPOCH when the partition knows a newer epoch of it.
 */
export async function appendCommitted(replicas: ReplicaManager, topic: string, index: number, records: { key: Buffer; value: Buffer | null }[], options: { timestamp: number; commitTimeoutMs: number; producer?: AppendProducer }): Promise<void> {
  const p = options.producer
  const batch = encodeBatch(records, p === undefined ? { timestamp: options.timestamp } : { timestamp: options.timestamp, producerId: p.producerId, producerEpoch: p.producerEpoch, baseSequence: NO_SEQUENCE, transactional: true })
  const partition = replicas.partition(topic, index)
  const appended = await partition.appendAsLeader(batch, -1, { origin: p === undefined ? 'client' : 'coordinator' })
  replicas.waiters.notify(`${topic}/${index}`)
  await partition.waitForCommit(appended.lastOffset + 1n, options.commitTimeoutMs)
}

/** Kafka's RecordBatch.NO_SEQUENCE. */
const NO_SEQUENCE = -1
