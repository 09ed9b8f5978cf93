// Metadata: the registered, unfenced brokers and, for the requested topics (all when null), every
// partition's leader, replicas and ISR, all from this broker's metadata image. Any broker answers
// the same once it has applied the same entries, so clients may bootstrap from any of them.

import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { MetadataRequest, MetadataResponse } from '../../../client/protocol/messages/metadata.js'
import type { MetadataImage } from '../../metadata/image.js'
import { topicNameProblem } from '../../topic-config.js'
import type { HandlerContext } from './context.js'

type TopicResponse = MetadataResponse['topics'][number]

function describe(image: MetadataImage, name: string): TopicResponse {
  const topic = image.topics.get(name)
  if (topic === undefined) {
    const code = topicNameProblem(name) === null ? errorCodeOf('UNKNOWN_TOPIC_OR_PARTITION') : errorCodeOf('INVALID_TOPIC')
    return { errorCode: code, name, internal: false, partitions: [] }
  }
  return {
    errorCode: 0,
    name,
    internal: name.startsWith('__'),
    partitions: topic.partitions.map((p) => {
      const leaderLive = image.brokers.get(p.leader)?.fenced === false
      return {
        errorCode: leaderLive ? 0 : errorCodeOf('LEADER_NOT_AVAILABLE'),
        partitionIndex: p.partition,
        leaderId: leaderLive ? p.leader : -1,
        leaderEpoch: p.leaderEpoch,
        replicaNodes: p.replicas,
        isrNodes: p.isr,
        offlineReplicas: p.replicas.filter((r) => image.brokers.get(r)?.fenced !== false),
      }
    }),
  }
}

async function autoCreate(ctx: HandlerContext, image: MetadataImage, names: readonly string[]): Promise<void> {
  for (const name of names) {
    if (image.topics.has(name) || topicNameProblem(name) !== null) continue
    // Only the controller can create; elsewhere the client's retry finds the topic once the
    // controller (asked by another client, or by this one after a refresh) has made it.
    await ctx.controller
      .createTopic({ name, partitions: ctx.config.numPartitions, replicationFactor: ctx.config.defaultReplicationFactor, configs: {} }, { validateOnly: false })
      .catch((err: unknown) => ctx.logger.debug({ err: (err as Error).message, topic: name }, 'auto-create not done here'))
  }
}

export async function handleMetadata(ctx: HandlerContext, req: MetadataRequest): Promise<MetadataResponse> {
  const quorum = ctx.quorum
  const self = { nodeId: ctx.nodeId, host: ctx.advertised.host, port: ctx.advertised.port }
  const image = quorum.image
  if (req.topics !== null && ctx.config.autoCreateTopics) await autoCreate(ctx, image, req.topics)
  const names = req.topics ?? [...image.topics.keys()].sort()
  const live = [...image.brokers.values()].filter((b) => !b.fenced).map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port }))
  return {
    // Before any broker has registered, answer with this one so a client can keep asking it.
    brokers: live.length > 0 ? live : [self],
    // The quorum's id once chosen; until then this broker's local one (meta.json).
    clusterId: image.clusterId ?? ctx.clusterId,
    controllerId: quorum.leaderId ?? -1,
    topics: names.map((n) => describe(image, n)),
  }
}
