// CreateTopics and DeleteTopics, answered by the active controller (others say NOT_CONTROLLER and
// the client retries against the controller named in Metadata). Each topic succeeds or fails on
// its own, with a message.

import { toWireCode } from '../../../client/protocol/errors.js'
import type { CreateTopicsRequest, CreateTopicsResponse } from '../../../client/protocol/messages/create-topics.js'
import type { DeleteTopicsRequest, DeleteTopicsResponse } from '../../../client/protocol/messages/delete-topics.js'
import type { HandlerContext } from './context.js'

export async function handleCreateTopics(ctx: HandlerContext, req: CreateTopicsRequest): Promise<CreateTopicsResponse> {
  const topics: CreateTopicsResponse['topics'] = []
  for (const t of req.topics) {
    const partitions = t.numPartitions === -1 ? ctx.config.numPartitions : t.numPartitions
    const replicationFactor = t.replicationFactor === -1 ? ctx.config.defaultReplicationFactor : t.replicationFactor
    const configs: Record<string, string> = {}
    for (const c of t.configs) configs[c.name] = c.value ?? ''
    try {
      await ctx.controller.createTopic({ name: t.name, partitions, replicationFactor, configs }, { validateOnly: req.validateOnly })
      topics.push({ name: t.name, errorCode: 0, errorMessage: null, numPartitions: partitions, replicationFactor })
    } catch (err) {
      topics.push({ name: t.name, errorCode: toWireCode(err), errorMessage: (err as Error).message, numPartitions: -1, replicationFactor: -1 })
    }
  }
  return { topics }
}

export async function handleDeleteTopics(ctx: HandlerContext, req: DeleteTopicsRequest): Promise<DeleteTopicsResponse> {
  const responses: DeleteTopicsResponse['responses'] = []
  for (const name of req.topicNames) {
    try {
      await ctx.controller.deleteTopic(name)
      responses.push({ name, errorCode: 0, errorMessage: null })
    } catch (err) {
      responses.push({ name, errorCode: toWireCode(err), errorMessage: (err as Error).message })
    }
  }
  return { responses }
}
