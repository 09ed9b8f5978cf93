// What the transaction coordinator writes to `__transaction_state`: one record per transactional
// id, its whole state, keyed so that compaction keeps the latest (Kafka's layout):
//
//   key   = kind uint8 (0) | Avro {transactionalId}
//   value = version uint8 (0) | Avro TxnValueV0   (null value: a tombstone, the id is gone)
//
// A state change is written (and replicated) BEFORE the coordinator acts on it, so a coordinator
// that takes over the partition replays these records and carries on where its predecessor was:
// a PrepareCommit / PrepareAbort it finds has its markers (re)sent.

import { array, compileGuarded, int, long, record, string, type Value } from '../../client/protocol/avro.js'
import { prefixed } from '../internal-partition.js'

export const TXN_STATES = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead'] as const
export type TxnState = (typeof TXN_STATES)[number]

const TxnKeyV0 = record('TxnKeyV0', { transactionalId: string })
const TxnValueV0 = record('TxnValueV0', {
  producerId: long,
  producerEpoch: int,
  timeoutMs: int,
  /** One of TXN_STATES. */
  state: string,
  partitions: array(record('TxnTopicPartitions', { topic: string, partitions: array(int) })),
  /** When this state was written, clock ms. */
  lastUpdateMs: long,
  /** When the current transaction started (its first AddPartitionsToTxn), clock ms; -1 when none. */
  startMs: long,
})

export type TxnValue = Value<typeof TxnValueV0>

const TYPES = { key: compileGuarded(TxnKeyV0), value: compileGuarded(TxnValueV0) }
const TXN_KIND = 0
const VERSION = 0

export function txnRecord(transactionalId: string, value: TxnValue | null): { key: Buffer; value: Buffer | null } {
  return { key: prefixed(TXN_KIND, TYPES.key, { transactionalId }), value: value === null ? null : prefixed(VERSION, TYPES.value, value) }
}

/** Decodes one stored record; null for one this version does not know (skipped on replay). */
export function decodeTxnRecord(key: Buffer | null, value: Buffer | null): { transactionalId: string; value: TxnValue | null } | null {
  if (key === null || key.length < 1 || key.readUInt8(0) !== TXN_KIND) return null
  if (value !== null && (value.length < 1 || value.readUInt8(0) !== VERSION)) return null
  const { transactionalId } = TYPES.key.fromBuffer(key.subarray(1)) as { transactionalId: string }
  if (value === null) return { transactionalId, value: null }
  const v = TYPES.value.fromBuffer(value.subarray(1)) as TxnValue
  if (!(TXN_STATES as readonly string[]).includes(v.state)) return null
  return { transactionalId, value: v }
}
