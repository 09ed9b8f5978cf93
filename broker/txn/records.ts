// What the transaction coordinator writes to `__transaction_state`: one record per transactional
// id, its whole state, keyed so that compaction keeps the latest (Kafka's layout):
//
//   key   = kind uint8 (0) | Avro {transactionalId}
//   value = version uint8 (1) | Avro TxnValueV1   (null value: a tombstone, the id is gone)
//
// Version 1 adds `owed`: a decided transaction whose markers may not all be written yet (the
// prepared one, or, once the producer's next transaction has begun beside them, the one before
// it: KIP-890's epoch per transaction lets the next begin while the markers are still being
// written), and `ended`: the last transaction whose markers are all in. Version 0 records
// (written before) are read as version 1 with `owed` derived (a PrepareCommit / PrepareAbort owes
// its own markers at its own producer id and epoch) and no `ended`.
//
// A state change is written (and replicated) BEFORE the coordinator acts on it, so a coordinator
// that takes over the partition replays these records and carries on where its predecessor was:
// the markers a record owes are (re)sent.

import { array, boolean, compileGuarded, int, long, nullable, record, string, type Value } from '../../client/protocol/avro.js'
import { prefixed } from '../internal-partition.js'

export const TXN_STATES = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead'] as const
export type TxnState = (typeof TXN_STATES)[number]

const TxnKeyV0 = record('TxnKeyV0', { transactionalId: string })
const TopicPartitions = record('TxnTopicPartitions', { topic: string, partitions: array(int) })
const V0_FIELDS = {
  /** The producer's current id and epoch: what its requests must carry. */
  producerId: long,
  producerEpoch: int,
  timeoutMs: int,
  /** One of TXN_STATES. */
  state: string,
  /** The current (or, when prepared, the decided) transaction's partitions. */
  partitions: array(TopicPartitions),
  /** When this state was written, clock ms. */
  lastUpdateMs: long,
  /** When the current transaction started (its first AddPartitionsToTxn), clock ms; -1 when none. */
  startMs: long,
}
const TxnValueV0 = record('TxnValueV0', V0_FIELDS)
const TxnValueV1 = record('TxnValueV1', {
  ...V0_FIELDS,
  /**
   * The markers still owed: the decision, the producer id and the epoch of the transaction they
   * close, the epoch they are written at (the next one: it fences that transaction's late batches),
   * whether the coordinator decided it (a timeout or a new instance: fenced) rather than the
   * producer's EndTxn, and their partitions.
   */
  owed: nullable(record('TxnOwedMarkers', { producerId: long, producerEpoch: int, markerEpoch: int, fenced: boolean, commit: boolean, partitions: array(record('TxnOwedTopicPartitions', { topic: string, partitions: array(int) })) })),
  /** The producer id and epoch of the last transaction whose markers are all written, and how it ended: an EndTxn retried after its answer was lost is answered as the first was. */
  ended: nullable(record('TxnEnded', { producerId: long, producerEpoch: int, commit: boolean })),
})

export type TxnValue = Value<typeof TxnValueV1>
export type TxnOwed = NonNullable<TxnValue['owed']>

const TYPES = { key: compileGuarded(TxnKeyV0), v0: compileGuarded(TxnValueV0), v1: compileGuarded(TxnValueV1) }
const TXN_KIND = 0
const VERSION = 1

export function txnRecord(transactionalId: string, value: TxnValue | null): { key: Buffer; value: Buffer | null } {
  return { key: prefixed(TXN_KIND, TYPES.key, { transactionalId }), value: value === null ? null : prefixed(VERSION, TYPES.v1, value) }
}

/** A version 0 value as version 1: a prepared transaction owes its own markers. */
function fromV0(v: Value<typeof TxnValueV0>): TxnValue {
  const prepared = v.state === 'PrepareCommit' || v.state === 'PrepareAbort'
  return { ...v, owed: prepared ? { producerId: v.producerId, producerEpoch: v.producerEpoch, markerEpoch: v.producerEpoch, fenced: false, commit: v.state === 'PrepareCommit', partitions: v.partitions } : null, ended: null }
}

/** Decodes one stored record; null for one this version does not know (skipped on replay). */
export function decodeTxnRecord(key: Buffer | null, value: Buffer | null): { transactionalId: string; value: TxnValue | null } | null {
  if (key === null || key.length < 1 || key.readUInt8(0) !== TXN_KIND) return null
  const version = value === null || value.length < 1 ? -1 : value.readUInt8(0)
  if (value !== null && version !== 0 && version !== 1) return null
  const { transactionalId } = TYPES.key.fromBuffer(key.subarray(1)) as { transactionalId: string }
  if (value === null) return { transactionalId, value: null }
  const v = version === 0 ? fromV0(TYPES.v0.fromBuffer(value.subarray(1)) as Value<typeof TxnValueV0>) : (TYPES.v1.fromBuffer(value.subarray(1)) as TxnValue)
  if (!(TXN_STATES as readonly string[]).includes(v.state)) return null
  return { transactionalId, value: v }
}

/** A version 0 value's bytes (tests: records an earlier broker wrote must still load). */
export function txnRecordV0(transactionalId: string, value: Omit<TxnValue, 'owed' | 'ended'>): { key: Buffer; value: Buffer } {
  return { key: prefixed(TXN_KIND, TYPES.key, { transactionalId }), value: prefixed(0, TYPES.v0, value) }
}
