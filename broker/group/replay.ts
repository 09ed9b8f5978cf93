// Rebuilding the groups of one `__consumer_offsets` partition from its records (records.ts), as
// a coordinator does when it starts leading the partition: committed offsets, each group's last
// generation and assignment, and transactional offsets counted only once their producer's commit
// marker follows them in the log (an abort marker drops them; no marker yet leaves them pending).
//
// Only the GroupCoordinator's load calls it. It reads the log and builds new Group objects; it
// starts no timers and touches no live state, so a load whose leadership moved on meanwhile can
// drop its result unseen.

import type { Partition } from '../replication/partition.js'
import { replayPartition } from '../internal-partition.js'
import { applyMarker, Group, offsetKey, restoreGeneration, type CommittedOffset } from './group.js'
import { decodeStoredRecord, type GroupValue } from './records.js'

/** Replays offsets partition `partition` (index `index`) up to its log end as of the call. */
export async function replayGroups(partition: Partition, index: number): Promise<{ groups: Map<string, Group>; end: bigint }> {
  const groups = new Map<string, Group>()
  const values = new Map<string, GroupValue | null>()
  /** Groups with pending transactional offsets of a producer, so its marker finds them. */
  const pendingGroups = new Map<bigint, Set<Group>>()
  const end = await replayPartition(
    partition,
    (key, value, batch) => {
      const stored = decodeStoredRecord(key, value)
      if (stored === null) return
      const groupId = stored.kind === 'offset' ? stored.key.group : stored.group
      let g = groups.get(groupId)
      if (g === undefined) {
        g = new Group(groupId, index)
        groups.set(groupId, g)
      }
      if (stored.kind !== 'offset') {
        // The latest record of a group wins (a tombstone too): applied once the replay is done.
        values.set(groupId, stored.value)
        return
      }
      const k = offsetKey(stored.key.topic, stored.key.partition)
      if (batch.transactional && batch.producerId >= 0n) {
        // Counts only if the producer's commit marker follows (onMarker below).
        if (stored.value === null) return
        const pending = g.pendingTxnOffsets.get(batch.producerId) ?? new Map<string, CommittedOffset>()
        pending.set(k, { offset: stored.value.offset, leaderEpoch: stored.value.leaderEpoch, metadata: stored.value.metadata })
        g.pendingTxnOffsets.set(batch.producerId, pending)
        pendingGroups.set(batch.producerId, (pendingGroups.get(batch.producerId) ?? new Set<Group>()).add(g))
      } else if (stored.value === null) g.offsets.delete(k)
      else g.offsets.set(k, { offset: stored.value.offset, leaderEpoch: stored.value.leaderEpoch, metadata: stored.value.metadata })
    },
    {
      onMarker: ({ producerId, commit }) => {
        for (const g of pendingGroups.get(producerId) ?? []) applyMarker(g, producerId, commit)
        pendingGroups.delete(producerId)
      },
    },
  )
  for (const [id, value] of values) if (value !== null) restoreGeneration(groups.get(id)!, value)
  return { groups, end }
}
