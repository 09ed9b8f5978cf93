// Leader-epoch fencing of requests (KIP-320), shared by the handlers of Fetch, ListOffsets,
// Produce and OffsetsForLeaderEpoch. A request names the leader epoch its sender's metadata gives
// the partition; a leader at another epoch refuses it rather than answer from a view the sender
// does not share: FENCED_LEADER_EPOCH when the sender's epoch is older (its metadata is stale: it
// refreshes and retries), UNKNOWN_LEADER_EPOCH when it is newer (this broker has not caught up
// with the leader change yet: the sender retries). Both are retriable.
//
// A client's -1 means "no check": clients before KIP-320, and a client whose metadata does not
// know the partition yet, are served as before. A follower's fetch is always checked (fetch.ts):
// a replica always knows the epoch it follows.

import type { Partition } from '../../replication/partition.js'

/** The epoch a client sends for "no check" (Kafka's RecordBatch.NO_PARTITION_LEADER_EPOCH). */
export const NO_LEADER_EPOCH = -1

/** Throws FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH unless `requested` is the leader's epoch. */
export function checkLeaderEpoch(partition: Partition, requested: number): void {
  partition.checkLeaderEpoch(requested)
}

/** A client's epoch: checked unless it is NO_LEADER_EPOCH (or any negative value). */
export function checkClientLeaderEpoch(partition: Partition, requested: number): void {
  if (requested > NO_LEADER_EPOCH) partition.checkLeaderEpoch(requested)
}
