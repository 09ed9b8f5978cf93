// One transactional id's state at its coordinator (coordinator.ts): what its last record in
// `__transaction_state` says (records.ts), plus what only the running coordinator knows (a write
// or the owed markers in flight, the transaction whose markers were written last).

import { txnRecord, type TxnState, type TxnValue } from './records.js'

/** One transactional id's state, as last written to its partition. */
export class TxnMeta {
  readonly transactionalId: string
  /** Its `__transaction_state` partition. */
  readonly partition: number
  producerId = -1n
  producerEpoch = 0
  timeoutMs = 0
  state: TxnState = 'Empty'
  /** The current transaction's partitions: topic -> partition numbers. */
  partitions = new Map<string, Set<number>>()
  lastUpdateMs = 0
  /** When the current transaction started; -1 when none is open. */
  startMs = -1
  /** A state write is in flight: the id's other state changes wait (CONCURRENT_TRANSACTIONS). */
  pending = false
  /** Settles once the owed markers are written (or the delayed Complete* record is). */
  completion: Promise<void> | null = null
  /** The markers of a decided transaction not all written yet (the prepared one, or the one before the current). */
  owed: Owed | null = null
  /** The producer id and epoch of the transaction whose markers were written last, and how it ended (a lost EndTxn answer retried). */
  ended: Ended | null = null
  /** State records this coordinator has appended for the id: a delayed Complete* record is not written after a later one. */
  writes = 0

  constructor(transactionalId: string, partition: number) {
    this.transactionalId = transactionalId
    this.partition = partition
  }

  /** Takes on `c`, written at `nowMs`. */
  apply(c: Change, nowMs: number): void {
    if (c.producerId !== undefined) this.producerId = c.producerId
    if (c.producerEpoch !== undefined) this.producerEpoch = c.producerEpoch
    if (c.timeoutMs !== undefined) this.timeoutMs = c.timeoutMs
    if (c.partitions !== undefined) this.partitions = c.partitions
    if (c.startMs !== undefined) this.startMs = c.startMs
    if (c.owed !== undefined) this.owed = c.owed
    if (c.ended !== undefined) this.ended = c.ended
    this.state = c.state
    this.lastUpdateMs = nowMs
  }

  /** The id's state record after `c`. */
  record(c: Change, nowMs: number): { key: Buffer; value: Buffer | null } {
    const partitions = c.partitions ?? this.partitions
    const owed = c.owed !== undefined ? c.owed : this.owed
    const value: TxnValue = {
      producerId: c.producerId ?? this.producerId,
      producerEpoch: c.producerEpoch ?? this.producerEpoch,
      timeoutMs: c.timeoutMs ?? this.timeoutMs,
      state: c.state,
      partitions: toTopicList(partitions),
      lastUpdateMs: BigInt(nowMs),
      startMs: BigInt(c.startMs ?? this.startMs),
      owed: owed === null ? null : { producerId: owed.producerId, producerEpoch: owed.producerEpoch, markerEpoch: owed.markerEpoch, fenced: owed.fenced, commit: owed.commit, partitions: toTopicList(owed.partitions) },
      ended: c.ended !== undefined ? c.ended : this.ended,
    }
    return txnRecord(this.transactionalId, value)
  }

  /** The state a stored record gives (a coordinator loading the partition). */
  static fromValue(transactionalId: string, partition: number, v: TxnValue): TxnMeta {
    const m = new TxnMeta(transactionalId, partition)
    const owed = v.owed === null ? null : { producerId: v.owed.producerId, producerEpoch: v.owed.producerEpoch, markerEpoch: v.owed.markerEpoch, fenced: v.owed.fenced, commit: v.owed.commit, partitions: fromTopicList(v.owed.partitions) }
    m.apply({ producerId: v.producerId, producerEpoch: v.producerEpoch, timeoutMs: v.timeoutMs, state: v.state as TxnState, partitions: fromTopicList(v.partitions), startMs: Number(v.startMs), owed }, Number(v.lastUpdateMs))
    m.ended = v.ended === null ? null : { producerId: v.ended.producerId, producerEpoch: v.ended.producerEpoch, commit: v.ended.commit }
    return m
  }
}

/** A decided transaction's markers that may not all be written yet. */
export interface Owed {
  producerId: bigint
  /** The epoch of the transaction the markers close. */
  producerEpoch: number
  /** The epoch the markers are written at: the producer's next (an epoch per transaction, or a fencing bump), else the transaction's. */
  markerEpoch: number
  /** Decided by the coordinator (a timeout, a new instance), not by the producer's EndTxn: its retries are not answered. */
  fenced: boolean
  commit: boolean
  partitions: Map<string, Set<number>>
}

export interface Change {
  producerId?: bigint
  producerEpoch?: number
  timeoutMs?: number
  state: TxnState
  partitions?: Map<string, Set<number>>
  startMs?: number
  /** Replaces the owed markers; absent: the record names those owed when it is built, and applying it leaves them. */
  owed?: Owed | null
  /** Replaces the last ended transaction (null: a new instance of the producer, whose retries it is not). */
  ended?: Ended | null
}

/** The last transaction whose markers are all written: its producer id and epoch, and how it ended. */
export interface Ended {
  producerId: bigint
  producerEpoch: number
  commit: boolean
}

export const toTopicList = (m: ReadonlyMap<string, ReadonlySet<number>>): { topic: string; partitions: number[] }[] =>
  [...m].map(([topic, ps]) => ({ topic, partitions: [...ps].sort((a, b) => a - b) }))
export const fromTopicList = (l: readonly { topic: string; partitions: readonly number[] }[]): Map<string, Set<number>> => new Map(l.map((t) => [t.topic, new Set(t.partitions)]))
export const sameProducer = (a: { producerId: bigint; producerEpoch: number }, b: { producerId: bigint; producerEpoch: number }): boolean => a.producerId === b.producerId && a.producerEpoch === b.producerEpoch

export function partitionCount(m: Map<string, Set<number>>): number {
  let n = 0
  for (const s of m.values()) n += s.size
  return n
}
