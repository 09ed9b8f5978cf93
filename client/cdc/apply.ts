// The rule a sink applies changes by: a change replaces what the store holds for its key only if
// its version is newer (equal versions: only if its timestamp is later). Every store state is then
// the result of the newest change seen for each key, whatever order changes arrive in and however
// often: replays after a restart, duplicates from a capture retry, and events older than a
// deletion (the store keeps deletion markers, store.ts) all leave it unchanged. Pure but for the
// store calls.

import type { RecordHeader } from '../protocol/records.js'
import { ChangeEventError } from './errors.js'
import { decodeChangeRecord, type ChangeOperation } from './event.js'
import type { RowDecoder } from './schemas.js'
import type { ChangeMeta, StoredVersion, TargetStore } from './store.js'

export type ApplyOutcome = 'applied' | 'stale'

/** A decoded change for one store (its table's). */
export interface ApplicableChange<Row = unknown> {
  operation: ChangeOperation
  table: string
  key: string
  /** The new row; null for delete. */
  after: Row | null
  version: bigint
  timestamp: number
}

/** Where a change was read, passed on to the store in its meta. */
export interface ChangePosition {
  topic: string
  partition: number
  offset: bigint
}

/** True when a change of version `incoming` replaces what the store holds (`stored`, if anything). */
export function supersedes(incoming: StoredVersion, stored: StoredVersion | undefined): boolean {
  if (stored === undefined) return true
  if (incoming.version !== stored.version) return incoming.version > stored.version
  return incoming.timestamp > stored.timestamp
}

/** Applies the change if it is newer than what the store holds for its key. */
export async function applyChange<Row>(store: TargetStore<Row>, change: ApplicableChange<Row>, position?: ChangePosition): Promise<ApplyOutcome> {
  if (change.operation !== 'delete' && change.after === null) {
    throw new ChangeEventError(`A ${change.operation} of ${change.table}:${change.key} (version ${change.version}) has no row after it.`)
  }
  const stored = await store.get(change.key)
  if (!supersedes(change, stored)) return 'stale'
  const meta: ChangeMeta = { table: change.table, operation: change.operation, version: change.version, timestamp: change.timestamp, ...position }
  if (change.operation === 'delete') await store.delete(change.key, meta)
  else await store.put(change.key, change.after as Row, meta)
  return 'applied'
}

/**
 * A tombstone deletes its key. With a version (capture writes one) it is a delete of that
 * version, which is stale when its DELETE event came first. Without one (another writer's), it
 * deletes whatever row the store holds now, keeping that row's version on the marker: in offset
 * order nothing older than it can follow, and something newer still can.
 */
export async function applyTombstone<Row>(
  store: TargetStore<Row>,
  tombstone: { table: string; key: string; version: bigint | null; timestamp: number | null },
  position?: ChangePosition,
): Promise<ApplyOutcome> {
  const { table, key } = tombstone
  if (tombstone.version !== null && tombstone.timestamp !== null) {
    return applyChange(store, { operation: 'delete', table, key, after: null, version: tombstone.version, timestamp: tombstone.timestamp }, position)
  }
  const stored = await store.get(key)
  if (stored === undefined || stored.value === null) return 'stale'
  await store.delete(key, { table, operation: 'delete', version: stored.version, timestamp: stored.timestamp, ...position })
  return 'applied'
}

/**
 * Applies one record of a CDC topic (an event or a tombstone) to its table's store: what a sink
 * does with every record it reads. Null when `stores` has no store for the record's table.
 * Throws ChangeEventError (naming the position) for a record that is not a change event.
 */
export async function applyRecord(
  m: { key: Buffer | null; value: Buffer | null; headers: readonly RecordHeader[] },
  context: { stores: ReadonlyMap<string, TargetStore>; rows: RowDecoder },
  position: ChangePosition,
): Promise<ApplyOutcome | null> {
  try {
    const record = decodeChangeRecord(m)
    const table = record.kind === 'event' ? record.event.table : record.table
    const store = context.stores.get(table)
    if (store === undefined) return null
    if (record.kind === 'tombstone') return await applyTombstone(store, record, position)
    const e = record.event
    const after = e.after === null ? null : await context.rows.decode(table, e.schemaFingerprint, e.after)
    return await applyChange(store, { operation: e.operation, table, key: e.key, after, version: e.version, timestamp: e.timestamp }, position)
  } catch (err) {
    if (err instanceof ChangeEventError) throw new ChangeEventError(`${position.topic}-${position.partition} at offset ${position.offset}: ${err.message}`, { cause: err })
    throw err
  }
}
