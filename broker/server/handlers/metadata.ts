// Metadata: the brokers and, for the requested topics (all when null), every partition's leader,
// replicas and ISR. With one broker, it is every partition's leader.

import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { MetadataRequest, MetadataResponse } from '../../../client/protocol/messages/metadata.js'
import { topicNameProblem } from '../../topic-config.js'
import type { HandlerContext } from './context.js'

type TopicResponse = MetadataResponse['topics'][number]

function describe(ctx: HandlerContext, name: string): TopicResponse {
  const topic = ctx.replicas.topic(name)
  if (topic === undefined) {
    const code = topicNameProblem(name) === null ? errorCodeOf('UNKNOWN_TOPIC_OR_PARTITION') : errorCodeOf('INVALID_TOPIC')
    return { errorCode: code, name, internal: false, partitions: [] }
  }
  return {
    errorCode: 0,
    name,
    internal: name.startsWith('__'),
    partitions: topic.partitions.map((p) => ({
      errorCode: 0,
      partitionIndex: p.index,
      leaderId: ctx.nodeId,
      leaderEpoch: p.leaderEpoch,
      replicaNodes: [ctx.nodeId],
      isrNodes: [ctx.nodeId],
      offlineReplicas: [],
    })),
  }
}

export async function handleMetadata(ctx: HandlerContext, req: MetadataRequest): Promise<MetadataResponse> {
  const names = req.topics ?? ctx.replicas.topicNames()
  if (req.topics !== null && ctx.config.autoCreateTopics) {
    for (const name of names) {
      if (ctx.replicas.topic(name) === undefined && topicNameProblem(name) === null) {
        await ctx.replicas
          .createTopic({ name, partitions: ctx.config.numPartitions, configs: {} }, { replicationFactor: 1, validateOnly: false })
          .catch((err: unknown) => ctx.logger.warn({ err, topic: name }, 'auto-create failed'))
      }
    }
  }
  return {
    brokers: [{ nodeId: ctx.nodeId, host: ctx.advertised.host, port: ctx.advertised.port }],
    clusterId: ctx.clusterId,
    controllerId: ctx.nodeId,
    topics: names.map((n) => describe(ctx, n)),
  }
}
