// OffsetsForLeaderEpoch (23), v0-4, on the Kafka listener: a consumer validating its position
// after a leader change (KIP-320) asks where the epoch of the last records it read ends; if the
// answer is below its position, the log was truncated under it. Served by the Strand handler
// through the Strand listener's gate, so fencing (currentLeaderEpoch, v2+), leadership
// (NOT_LEADER_OR_FOLLOWER) and permissions (describe on the topic) are the Strand listener's.
//
// Always a consumer's request: Strand's handler is forwarded replica id -1 whatever the body says
// (v3+ carry one; v0-2 none, and their decoded default, -2, is Kafka's "debug consumer"). A Kafka
// client cannot pose as a follower here, as it cannot in Fetch: what a follower may see and do
// (the cluster_action path of the gate) is the Strand listener's alone. Kafka's broker, too,
// answers a follower's and a consumer's request the same way, from the leader's epoch cache up to
// its log end; the one difference is that Kafka also answers a principal with cluster_action but
// no describe on the topic, who gets TOPIC_AUTHORIZATION_FAILED here.

import { ApiKey } from '../../../client/protocol/apis.js'
import type { KafkaHandler } from '../context.js'

/** The replica id of a consumer (Kafka's CONSUMER_REPLICA_ID). */
const CONSUMER_REPLICA_ID = -1

type KafkaOffsetsForLeaderEpochRequest = {
  replicaId: number
  topics: Array<{ topic: string; partitions: Array<{ partition: number; currentLeaderEpoch: number; leaderEpoch: number }> }>
}

/**
 * Before v2 there is no current leader epoch (it decodes to -1: not checked); before v1 the
 * answer carries no epoch (the codec leaves it out).
 */
export const kafkaOffsetsForLeaderEpoch: KafkaHandler = async (req, body) => {
  // The cast is the decoder's boundary: the codec built the body from the spec at req.version.
  const request = body as unknown as KafkaOffsetsForLeaderEpochRequest
  const strand = await req.serve(ApiKey.OffsetsForLeaderEpoch, {
    replicaId: CONSUMER_REPLICA_ID,
    topics: request.topics.map((t) => ({
      name: t.topic,
      partitions: t.partitions.map((p) => ({ partition: p.partition, currentLeaderEpoch: p.currentLeaderEpoch, leaderEpoch: p.leaderEpoch })),
    })),
  })
  return {
    throttleTimeMs: strand.throttleTimeMs,
    topics: strand.topics.map((t) => ({
      topic: t.name,
      partitions: t.partitions.map((p) => ({ errorCode: p.errorCode, partition: p.partition, leaderEpoch: p.leaderEpoch, endOffset: p.endOffset })),
    })),
  }
}
