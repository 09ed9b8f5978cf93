// What the group coordinator writes to `__consumer_offsets`: one record per committed offset and
// one per group generation, keyed so that compaction keeps the latest of each (Kafka's layout):
//
//   key   = kind uint8 | Avro key       kind 0: offset {group, topic, partition}
//                                       kind 1: group  {group}
//   value = version uint8 | Avro value  (null value: a tombstone, the key's state is gone)
//
// A coordinator that takes over a partition replays these records to rebuild its state.

import { array, bytes, compileGuarded, int, long, nullable, record, string, type Value } from '../../client/protocol/avro.js'
import { prefixed } from '../internal-partition.js'

const OffsetKeyV0 = record('OffsetKeyV0', { group: string, topic: string, partition: int })
const GroupKeyV0 = record('GroupKeyV0', { group: string })
const OffsetValueV0 = record('OffsetValueV0', { offset: long, leaderEpoch: int, metadata: nullable(string), commitTimestamp: long })
const GroupValueV0 = record('GroupValueV0', {
  protocolType: string,
  generation: int,
  protocolName: nullable(string),
  leader: nullable(string),
  members: array(
    record('GroupMemberValue', {
      memberId: string,
      groupInstanceId: nullable(string),
      clientId: string,
      clientHost: string,
      sessionTimeoutMs: int,
      rebalanceTimeoutMs: int,
      subscription: bytes,
      assignment: bytes,
    }),
  ),
})

export type OffsetKey = Value<typeof OffsetKeyV0>
export type OffsetValue = Value<typeof OffsetValueV0>
export type GroupValue = Value<typeof GroupValueV0>

const TYPES = {
  offsetKey: compileGuarded(OffsetKeyV0),
  groupKey: compileGuarded(GroupKeyV0),
  offsetValue: compileGuarded(OffsetValueV0),
  groupValue: compileGuarded(GroupValueV0),
}

const OFFSET_KIND = 0
const GROUP_KIND = 1
const VERSION = 0

export function offsetRecord(key: OffsetKey, value: OffsetValue | null): { key: Buffer; value: Buffer | null } {
  return { key: prefixed(OFFSET_KIND, TYPES.offsetKey, key), value: value === null ? null : prefixed(VERSION, TYPES.offsetValue, value) }
}

export function groupRecord(group: string, value: GroupValue | null): { key: Buffer; value: Buffer | null } {
  return { key: prefixed(GROUP_KIND, TYPES.groupKey, { group }), value: value === null ? null : prefixed(VERSION, TYPES.groupValue, value) }
}

export type StoredGroupRecord =
  | { kind: 'offset'; key: OffsetKey; value: OffsetValue | null }
  | { kind: 'group'; group: string; value: GroupValue | null }

/** Decodes one stored record; null for one this version does not know (skipped on replay, with a log line by the caller). */
export function decodeStoredRecord(key: Buffer | null, value: Buffer | null): StoredGroupRecord | null {
  if (key === null || key.length < 1) return null
  if (value !== null && (value.length < 1 || value.readUInt8(0) !== VERSION)) return null
  const kind = key.readUInt8(0)
  if (kind === OFFSET_KIND) {
    return { kind: 'offset', key: TYPES.offsetKey.fromBuffer(key.subarray(1)) as OffsetKey, value: value === null ? null : (TYPES.offsetValue.fromBuffer(value.subarray(1)) as OffsetValue) }
  }
  if (kind === GROUP_KIND) {
    const { group } = TYPES.groupKey.fromBuffer(key.subarray(1)) as { group: string }
    return { kind: 'group', group, value: value === null ? null : (TYPES.groupValue.fromBuffer(value.subarray(1)) as GroupValue) }
  }
  return null
}
